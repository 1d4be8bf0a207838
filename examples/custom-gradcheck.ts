// A custom differentiable op, built the way the built-in ones are: a forward that returns its
// output and, right beside it, the backward. gradcheck then compares that backward with central
// finite differences in float64, and catches a deliberately wrong one.
// Run: pnpm tsx examples/custom-gradcheck.ts

import { Generator, type Tensor, defineOp, gradcheck, gradgradcheck, randn } from '@tsgrad/tensor';

// softplus(x) = ln(1 + eˣ), computed stably as max(x, 0) + ln(1 + e^−|x|).
// d/dx softplus(x) = eˣ / (1 + eˣ) = σ(x)
const softplus = defineOp('softplus', (x: Tensor) => ({
  output: x.relu().add(x.abs().neg().exp().add(1).log()),
  // written with tensor ops, so the backward is itself differentiable (gradgradcheck below)
  backward: (grad: Tensor) => [grad.mul(x.sigmoid())],
}));

// The same forward with a wrong backward: σ(x)(1 − σ(x)) is the derivative of σ, not of softplus
const softplusWrong = defineOp('softplusWrong', (x: Tensor) => ({
  output: x.relu().add(x.abs().neg().exp().add(1).log()),
  backward: (grad: Tensor) => [grad.mul(x.sigmoid().mul(x.sigmoid().neg().add(1)))],
}));

const x = randn([3, 4], { generator: new Generator(0), dtype: 'float64', requiresGrad: true });
const y = softplus(x);
console.log('softplus(x) =', y.toString()); // gradFn=softplus: the op is in the graph

// gradcheck needs float64: in float32 the finite differences themselves are too coarse
console.log('gradcheck(softplus):', gradcheck(softplus, [x]));
console.log('gradgradcheck(softplus):', gradgradcheck(softplus, [x]));

// raiseException: false returns false instead of throwing...
const wrong = gradcheck(softplusWrong, [x], { raiseException: false });
console.log('gradcheck(softplusWrong):', wrong);
if (wrong) throw new Error('gradcheck should have rejected the wrong backward');
// ...and the default (throw) says which element disagrees, and by how much
try {
  gradcheck(softplusWrong, [x]);
  throw new Error('gradcheck should have thrown');
} catch (err) {
  console.log((err as Error).message);
}
