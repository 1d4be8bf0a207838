// With createGraph, the seven fused ops run a composite backward written with tensor ops (so it can
// be differentiated again) instead of their fused kernel. gradgradcheck differentiates the composite
// against itself, so a composite off by a constant would pass it; here its first-order values are
// compared with the fast backward's, input by input (issue 16, item 13).

import { describe, expect, it } from 'vitest';
import {
  type Tensor, attention, crossEntropy, grad, logSoftmax, rmsNorm, rotary, softmax, swiglu, tensor,
} from '../../src/index.js';

// Deterministic float64 values in (−scale, scale).
function values(n: number, seed: number, scale = 1): number[] {
  let s = seed >>> 0;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32 - 0.5) * 2 * scale;
  });
}
const leaf = (shape: number[], seed: number, scale = 1) =>
  tensor(values(shape.reduce((a, b) => a * b, 1), seed, scale), { shape, dtype: 'float64', requiresGrad: true });

// Gradients of Σ out ⊙ w for every input: once fast (no createGraph), once through the composite.
function bothBackwards(f: (...xs: Tensor[]) => Tensor, inputs: Tensor[]) {
  const out = (xs: Tensor[]) => f(...xs);
  // w requires grad, so a gradient computed under createGraph is recorded even where f is linear
  const w = tensor(values(out(inputs).numel, 99), { shape: [...out(inputs).shape], dtype: 'float64', requiresGrad: true });
  const fast = grad(out(inputs), inputs, { gradOutputs: [w] });
  const composite = grad(out(inputs), inputs, { gradOutputs: [w], createGraph: true });
  return { fast, composite };
}

// Both backwards agree to float64 rounding (the fast kernels sum in another order), relative to
// the largest gradient element.
function expectSame(f: (...xs: Tensor[]) => Tensor, inputs: Tensor[]) {
  const { fast, composite } = bothBackwards(f, inputs);
  inputs.forEach((_, i) => {
    // the two paths really differ: only the composite is recorded for a second differentiation
    expect(fast[i]!.gradFn, `fast gradient ${i}`).toBeNull();
    expect(composite[i]!.requiresGrad, `composite gradient ${i}`).toBe(true);
    const a = Array.from(fast[i]!.toTypedArray());
    const b = Array.from(composite[i]!.toTypedArray());
    expect(b.length).toBe(a.length);
    const scale = Math.max(1, ...a.map(Math.abs));
    let worst = 0;
    for (let k = 0; k < a.length; k++) worst = Math.max(worst, Math.abs(a[k]! - b[k]!));
    expect(worst / scale, `input ${i}`).toBeLessThan(1e-15); // reached: 1e-16 at most
    expect(a.some((v) => v !== 0), `input ${i} has a nonzero gradient`).toBe(true);
  });
}

describe('composite backward (createGraph) equals the fast backward', () => {
  it('softmax, over the last dim and over dim 0', () => {
    expectSame((x) => softmax(x, -1), [leaf([3, 5], 1, 2)]);
    expectSame((x) => softmax(x, 0), [leaf([4, 3], 2, 2)]);
  });

  it('logSoftmax, over the last dim and over dim 0', () => {
    expectSame((x) => logSoftmax(x, -1), [leaf([3, 5], 3, 2)]);
    expectSame((x) => logSoftmax(x, 0), [leaf([4, 3], 4, 2)]);
  });

  it('rmsNorm, for x and the weight', () => {
    expectSame((x, w) => rmsNorm(x, w, 1e-5), [leaf([2, 3, 6], 5, 2), leaf([6], 6)]);
  });

  it('crossEntropy with mean, sum and none reductions and an ignored row', () => {
    const targets = tensor([2, -100, 0, 4], { dtype: 'int32' });
    for (const reduction of ['mean', 'sum', 'none'] as const) {
      expectSame((x) => crossEntropy(x, targets, { reduction }), [leaf([4, 5], 7, 3)]);
    }
  });

  it('swiglu, for the gate and the up projection', () => {
    expectSame((g, u) => swiglu(g, u), [leaf([3, 4], 8, 3), leaf([3, 4], 9, 2)]);
  });

  it('rotary, at an offset and on a transposed view', () => {
    const [T, D] = [5, 6];
    const angles = (p: number, i: number) => p / 10_000 ** ((2 * (i % (D / 2))) / D);
    const table = (f: (v: number) => number) =>
      tensor(Array.from({ length: 8 * D }, (_, k) => f(angles(Math.floor(k / D), k % D))), { shape: [8, D], dtype: 'float64' });
    const [cos, sin] = [table(Math.cos), table(Math.sin)];
    expectSame((x) => rotary(x, cos, sin, 2), [leaf([2, T, D], 10)]);
    expectSame((x) => rotary(x.transpose(1, 2), cos, sin, 1), [leaf([2, T, 3, D], 11)]);
  });

  it('attention: causal with fewer queries than keys, not causal, and grouped-query k and v', () => {
    expectSame((q, k, v) => attention(q, k, v, { causal: true }), [leaf([2, 3, 4], 12), leaf([2, 5, 4], 13), leaf([2, 5, 3], 14)]);
    expectSame((q, k, v) => attention(q, k, v), [leaf([2, 4, 4], 15, 2), leaf([2, 4, 4], 16, 2), leaf([2, 4, 4], 17)]);
    expectSame((q, k, v) => attention(q, k, v, { causal: true, scale: 0.7 }), [leaf([2, 2, 3, 4], 18), leaf([2, 1, 3, 4], 19), leaf([2, 1, 3, 4], 20)]);
  });
});
