// tsgrad from another project, in plain Node (no TypeScript, no tsx): what `npm install
// @tsgrad/llama` gives you. The packaging test installs the packed tarballs into a fresh folder
// and runs this file there with `node app.mjs`.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Generator, gradcheck, randn, tensor } from '@tsgrad/tensor';
import { disableWorkerThreads, enableWorkerThreads } from '@tsgrad/tensor/node';
import { Linear } from '@tsgrad/nn';
import { AdamW, clipGradNorm } from '@tsgrad/optim';
import { ByteTokenizer, LlamaForCausalLM } from '@tsgrad/llama';

// 1. A gradient, checked against finite differences in float64
const x = tensor([[0.5, -1.5], [2, 0.25]], { dtype: 'float64', requiresGrad: true });
const w = tensor([0.3, -0.7], { dtype: 'float64', requiresGrad: true });
console.log('gradcheck', gradcheck((a, b) => a.mul(b).tanh().sum(), [x, w]));

// 2. nn: a layer's output shape
console.log('linear', new Linear(3, 2).forward(tensor([[1, 2, 3]])).shape.join('x'));

// 3. A tiny LLaMA trains a few steps on a sentence
const config = {
  vocabSize: 256, hiddenSize: 32, intermediateSize: 64, numHiddenLayers: 1, numAttentionHeads: 2,
  numKeyValueHeads: 2, maxPositionEmbeddings: 32, rmsNormEps: 1e-6, ropeTheta: 10000, tieWordEmbeddings: false,
};
const ids = new ByteTokenizer().encode('the cat sat on the mat. '.repeat(2)).slice(0, 24);
const model = new LlamaForCausalLM(config, { generator: new Generator(0) });
const opt = new AdamW(model.parameters(), { lr: 1e-2 });
const input = tensor([ids], { dtype: 'int32' });
let first = 0;
let last = 0;
for (let step = 0; step < 8; step++) {
  const { loss } = model.forward(input, { labels: input });
  opt.zeroGrad();
  loss.backward();
  clipGradNorm(model.parameters(), 1.0);
  opt.step();
  if (step === 0) first = loss.item();
  last = loss.item();
}
console.log(`loss ${first.toFixed(4)} -> ${last.toFixed(4)}`);

// 4. Save a Hugging Face folder and load it back: the same logits
const dir = mkdtempSync(join(tmpdir(), 'tsgrad-app-'));
try {
  await model.savePretrained(dir);
  const loaded = await LlamaForCausalLM.fromPretrained(dir);
  const a = model.forward(input).logits.toTypedArray();
  const b = loaded.forward(input).logits.toTypedArray();
  let maxDiff = 0;
  for (let i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));
  console.log(`reloaded max |logit difference| ${maxDiff}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}

// 5. The worker pool starts from the built files: a product split across a worker thread equals
// the same product on this thread alone
const gen = new Generator(1);
const a = randn([256, 192], { generator: gen });
const b = randn([192, 160], { generator: gen });
const alone = a.matmul(b).toTypedArray();
await enableWorkerThreads(1);
const split = a.matmul(b).toTypedArray();
disableWorkerThreads();
let same = alone.length === split.length;
for (let i = 0; i < alone.length && same; i++) same = alone[i] === split[i];
console.log(`worker pool product equals one thread: ${same}`);
