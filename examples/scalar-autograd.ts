// Autograd on one scalar neuron, checked against the chain rule done by hand.
// Run: pnpm tsx examples/scalar-autograd.ts
//
//   z = w·x + b,   y = tanh(z),   L = (y − t)²
//
// By hand, outputs first (each line multiplies the one above by a local derivative):
//   dL/dy = 2(y − t)
//   dL/dz = dL/dy · (1 − y²)          d/dz tanh(z) = 1 − tanh²(z)
//   dL/dw = dL/dz · x,   dL/db = dL/dz · 1,   dL/dx = dL/dz · w
// The engine does the same walk: each op's backward is one of these local derivatives.

import { tensor } from '@tsgrad/tensor';

const scalar = (v: number) => tensor(v, { dtype: 'float64', requiresGrad: true }); // a 0-d leaf
const x = scalar(0.8);
const w = scalar(-1.5);
const b = scalar(0.3);
const t = 0.25; // the target: a plain number, no gradient wanted

const z = w.mul(x).add(b);
const y = z.tanh();
const L = y.sub(t).square();
L.backward();

// the same quantities with plain numbers
const yv = Math.tanh(-1.5 * 0.8 + 0.3);
const dLdy = 2 * (yv - t);
const dLdz = dLdy * (1 - yv * yv);
const byHand = { x: dLdz * -1.5, w: dLdz * 0.8, b: dLdz };
const byAutograd = { x: x.grad!.item(), w: w.grad!.item(), b: b.grad!.item() };

console.log(`L = ${L.item().toFixed(6)} (by hand ${((yv - t) ** 2).toFixed(6)})`);
console.log('        autograd              by hand');
for (const name of ['x', 'w', 'b'] as const) {
  const a = byAutograd[name];
  const h = byHand[name];
  console.log(`dL/d${name}  ${a.toFixed(15).padStart(19)}  ${h.toFixed(15).padStart(19)}`);
  // float64 on both sides; the two may round differently in the last bit
  if (Math.abs(a - h) > 1e-12 * Math.max(1, Math.abs(h))) throw new Error(`dL/d${name}: autograd ${a} ≠ by hand ${h}`);
}
console.log('autograd matches the hand derivation');
