// A two-layer MLP fits a noisy sine wave: nn.Linear, tanh, mean squared error, AdamW.
// Run: pnpm tsx examples/mlp-sine.ts
//
//   x [N, 1] → Linear(1, 32) → tanh → Linear(32, 1) → ŷ [N, 1],   loss = mean((ŷ − y)²)

import { Generator, type Tensor, arange, randn } from '@tsgrad/tensor';
import { Linear, Module } from '@tsgrad/nn';
import { AdamW } from '@tsgrad/optim';

const N = 128;
const STEPS = 300;
const gen = new Generator(0); // every random draw below comes from here: the run is reproducible

// the data: y = sin(x) + noise with standard deviation 0.1, for x evenly spaced over [−π, π]
const x = arange(0, N, 1, { dtype: 'float32' }).mul((2 * Math.PI) / (N - 1)).sub(Math.PI).unsqueeze(1); // [N, 1]
const y = x.sin().add(randn([N, 1], { generator: gen }).mul(0.1)); // [N, 1]

// A Module finds its parameters in its own fields: fc1.weight, fc1.bias, fc2.weight, fc2.bias
class MLP extends Module {
  fc1 = new Linear(1, 32, { generator: gen, std: 1 });
  fc2 = new Linear(32, 1, { generator: gen, std: 0.2 });

  forward(input: Tensor): Tensor {
    return this.fc2.forward(this.fc1.forward(input).tanh()); // [N, 1]
  }
}

const model = new MLP();
console.log('parameters:', model.namedParameters().map(([name, p]) => `${name} [${p.shape.join(', ')}]`).join(', '));
const opt = new AdamW(model.parameters(), { lr: 0.01, weightDecay: 0 });

let initial = NaN;
let loss = NaN;
for (let step = 0; step <= STEPS; step++) {
  const mse = model.forward(x).sub(y).square().mean(); // a 0-d tensor
  loss = mse.item();
  if (step === 0) initial = loss;
  if (step % 50 === 0) console.log(`step ${String(step).padStart(3)}  loss ${loss.toFixed(5)}`);
  if (step === STEPS) break;
  opt.zeroGrad(); // gradients accumulate, as in PyTorch: clear them before each backward
  mse.backward();
  opt.step();
}

console.log(`initial loss ${initial.toFixed(5)}, final loss ${loss.toFixed(5)} (${(initial / loss).toFixed(1)}x lower)`);
// the floor: the true sine itself scores the noise's mean square; far below it would be fitting the noise
console.log(`sin(x) itself scores ${y.sub(x.sin()).square().mean().item().toFixed(5)}`);
