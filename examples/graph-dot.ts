// What autograd records: the graph behind a tensor as Graphviz DOT, and tensors printed as PyTorch
// prints them. Writes examples/out/graph.dot, and graph.svg beside it when Graphviz is installed.
// Run: pnpm tsx examples/graph-dot.ts

import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type Tensor, tensor, toDot } from '@tsgrad/tensor';

// one linear layer with a ReLU and a mean: loss = mean(relu(x·Wᵀ + b))
const x = tensor([[1, -2, 3], [0.5, 1, -1]]); // [2, 3], an input: no gradient wanted
const W = tensor([[0.1, 0.2, 0.3], [-0.3, 0.2, -0.1]], { requiresGrad: true }); // [2, 3]
const b = tensor([0.1, -0.05], { requiresGrad: true }); // [2]
const h = x.matmul(W.transpose(0, 1)).add(b); // [2, 2]
const loss = h.relu().mean(); // mean is a composite: it shows up as sum, then div

console.log('x    =', x.toString());
console.log('W    =', W.toString());
console.log('h    =', h.toString()); // gradFn=add: h was produced by an op
console.log('loss =', loss.toString());
loss.backward();
console.log('W.grad =', W.grad!.toString());

// Boxes are ops (with their output's shape); filled ellipses are leaves that require grad, dashed
// ones constants. Naming tensors labels them in the picture.
const names = new Map<Tensor, string>([[x, 'x'], [W, 'W'], [b, 'b'], [h, 'h'], [loss, 'loss']]);
const dot = toDot(loss, names);
const outDir = fileURLToPath(new URL('./out/', import.meta.url));
mkdirSync(outDir, { recursive: true });
writeFileSync(`${outDir}graph.dot`, dot + '\n');
console.log(`wrote examples/out/graph.dot (${dot.split('\n').length} lines)`);

const hasDot = spawnSync('dot', ['-V']).status === 0;
if (hasDot) {
  const svg = spawnSync('dot', ['-Tsvg', `${outDir}graph.dot`, '-o', `${outDir}graph.svg`]);
  if (svg.status !== 0) throw new Error(`dot failed: ${svg.stderr}`);
  console.log('wrote examples/out/graph.svg');
} else {
  console.log('Graphviz (dot) is not installed: render it with `dot -Tsvg examples/out/graph.dot -o examples/out/graph.svg`');
}
