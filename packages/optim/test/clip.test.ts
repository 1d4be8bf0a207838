import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { type Tensor, tensor } from '@tsgrad/tensor';
import { clipGradNorm } from '../src/index.js';
import { param, setGrad, values } from './helpers.js';

function norm2(ts: Tensor[]): number {
  let s = 0;
  for (const t of ts) for (const v of values(t.grad!)) s += v * v;
  return Math.sqrt(s);
}

// a few float32 parameters with random gradients, and a limit
const clipCases = fc.record({
  grads: fc.array(fc.array(fc.float({ min: -10, max: 10, noNaN: true }), { minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 4 }),
  maxNorm: fc.double({ min: 0.01, max: 20, noNaN: true }),
});

function withGrads(grads: number[][]): Tensor[] {
  return grads.map((g) => {
    const p = param(g.map(() => 0));
    setGrad(p, g);
    return p;
  });
}

describe('clipGradNorm', () => {
  it('returns the total 2-norm and scales the gradients by maxNorm / (total + 1e-6)', () => {
    const a = param([0, 0], 'float64');
    const b = param([0], 'float64');
    setGrad(a, [3, 0]);
    setGrad(b, [4]);
    expect(clipGradNorm([a, b], 1)).toBe(5);
    const coef = 1 / (5 + 1e-6);
    expect(values(a.grad!)).toEqual([3 * coef, 0]);
    expect(values(b.grad!)).toEqual([4 * coef]);
  });

  it('supports the infinity norm and other orders', () => {
    const a = param([0, 0, 0], 'float64');
    setGrad(a, [3, -4, 1]);
    expect(clipGradNorm([a], 100, Infinity)).toBe(4);
    expect(clipGradNorm([a], 100, 1)).toBe(8);
    expect(clipGradNorm([a], 100, 3)).toBeCloseTo((27 + 64 + 1) ** (1 / 3), 14);
    expect(clipGradNorm(a, 2, Infinity)).toBe(4);
    expect(values(a.grad!)).toEqual([3, -4, 1].map((v) => v * (2 / (4 + 1e-6))));
  });

  it('ignores parameters without a gradient and returns 0 when none has one', () => {
    const a = param([1]);
    expect(clipGradNorm([a], 1)).toBe(0);
    const b = param([1]);
    setGrad(b, [-2]);
    expect(clipGradNorm([a, b], 10)).toBe(2);
  });

  it('returns a non-finite total without touching the gradients, or throws with errorIfNonfinite', () => {
    const a = param([0, 0]);
    const b = param([0]);
    setGrad(a, [3, 4]);
    setGrad(b, [NaN]);
    expect(clipGradNorm([a, b], 1)).toBeNaN();
    expect(values(a.grad!)).toEqual([3, 4]);
    expect(clipGradNorm([a, b], 1, Infinity)).toBeNaN();
    setGrad(b, [Infinity]);
    expect(clipGradNorm([a, b], 1)).toBe(Infinity);
    expect(() => clipGradNorm([a, b], 1, 2, { errorIfNonfinite: true })).toThrow(/clipGradNorm: the total norm of order 2 of the gradients is Infinity/);
  });

  it('scales a non-contiguous gradient through its view, and a gradient shared by two parameters once', () => {
    const p = param([0, 0, 0, 0], 'float64', [2, 2]);
    p.grad = tensor([[3, 0], [4, 0]], { dtype: 'float64' }).transpose(0, 1);
    expect(clipGradNorm([p], 1)).toBe(5);
    expect(values(p.grad)).toEqual([3, 4, 0, 0].map((v) => v * (1 / (5 + 1e-6))));
    const a = param([0]);
    const b = param([0]);
    a.grad = b.grad = tensor([4], { dtype: 'float32' });
    expect(clipGradNorm([a, b], 1)).toBeCloseTo(Math.sqrt(32), 12);
    expect(values(a.grad)[0]).toBeCloseTo(4 / (Math.sqrt(32) + 1e-6), 6);
  });

  it('rejects a negative maxNorm and a bad normType', () => {
    expect(() => clipGradNorm([param([1])], -1)).toThrow(/maxNorm must be a number ≥ 0/);
    expect(() => clipGradNorm([param([1])], 1, 0)).toThrow(/normType must be a number > 0 or Infinity/);
  });

  it('never increases the norm, and leaves norms under the limit untouched', () => {
    fc.assert(fc.property(clipCases, ({ grads, maxNorm }) => {
      const ps = withGrads(grads);
      const before = ps.map((p) => values(p.grad!));
      const normBefore = norm2(ps);
      const total = clipGradNorm(ps, maxNorm);
      expect(total).toBeCloseTo(normBefore, 4);
      expect(norm2(ps)).toBeLessThanOrEqual(normBefore);
      if (total + 1e-6 <= maxNorm) ps.forEach((p, i) => expect(values(p.grad!)).toEqual(before[i]));
    }), { numRuns: 200 });
  });

  it('brings a norm above the limit to maxNorm', () => {
    fc.assert(fc.property(clipCases, ({ grads, maxNorm }) => {
      const ps = withGrads(grads);
      const total = clipGradNorm(ps, maxNorm);
      fc.pre(total > maxNorm);
      const after = norm2(ps);
      // exactly maxNorm·total/(total + 1e-6) up to float32 rounding of the gradients
      expect(Math.abs(after - maxNorm * total / (total + 1e-6))).toBeLessThanOrEqual(1e-6 * maxNorm);
      expect(Math.abs(after - maxNorm)).toBeLessThanOrEqual(1e-4 * maxNorm);
    }), { numRuns: 200 });
  });
});
