import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type Tensor, crossEntropy, gradcheck, gradgradcheck, logSoftmax, rmsNorm, softmax, tensor,
} from '../../src/index.js';
import { GRAD_RUNS, GRADGRAD_RUNS, tensorArb, tensorOfShapeArb, valuesArb } from '../arbitraries.js';

// A leaf of at least one dim and a dim of it (either sign).
const withDimArb = (maxSize = 4) => tensorArb({ minDims: 1, maxSize }).chain((x) =>
  fc.tuple(fc.constant(x), fc.integer({ min: -x.ndim, max: x.ndim - 1 })));

// rmsNorm inputs: x [..., C] and weight [C].
const rmsArb = (maxSize = 4) => tensorArb({ minDims: 1, maxSize }).chain((x) =>
  fc.tuple(fc.constant(x), tensorOfShapeArb([x.shape[x.ndim - 1]!], { layouts: ['contiguous', 'strided'] })));

type Reduction = 'mean' | 'sum' | 'none';

// crossEntropy inputs: logits [N, C], int32 targets [N] with some rows ignored (−100 or a custom
// ignoreIndex), at least one counted row, and a reduction.
const ceArb = (maxSize = 4) => fc.tuple(fc.integer({ min: 1, max: maxSize }), fc.integer({ min: 2, max: maxSize }), fc.constantFrom<Reduction>('mean', 'sum', 'none'), fc.constantFrom(-100, -1))
  .chain(([n, c, reduction, ignoreIndex]) => fc.tuple(
    tensorOfShapeArb([n, c]),
    fc.array(fc.oneof({ arbitrary: fc.integer({ min: 0, max: c - 1 }), weight: 3 }, { arbitrary: fc.constant(ignoreIndex), weight: 1 }), { minLength: n, maxLength: n })
      .filter((ts) => ts.some((t) => t !== ignoreIndex))
      .map((ts) => tensor(Int32Array.from(ts))),
    fc.constant({ reduction, ignoreIndex }),
  ));

describe('fused ops: gradients', () => {
  const check = (fn: (...xs: Tensor[]) => Tensor, xs: Tensor[], second: boolean) =>
    gradcheck(fn, xs) && (!second || gradgradcheck(fn, xs));

  for (const second of [false, true]) {
    const what = second ? 'first and second derivatives (gradcheck and gradgradcheck)' : 'finite differences';
    const runs = second ? GRADGRAD_RUNS : GRAD_RUNS;
    const small = second ? 3 : 4;
    it(`softmax over any dim matches ${what}`, () => {
      fc.assert(fc.property(withDimArb(small), ([x, d]) => check((t) => softmax(t, d), [x], second)), { numRuns: runs });
    });
    it(`logSoftmax over any dim matches ${what}`, () => {
      fc.assert(fc.property(withDimArb(small), ([x, d]) => check((t) => t.logSoftmax(d), [x], second)), { numRuns: runs });
    });
    it(`rmsNorm with respect to x and weight matches ${what}`, () => {
      fc.assert(fc.property(rmsArb(small), ([x, w]) => check((p, q) => rmsNorm(p, q, 1e-5), [x, w], second)), { numRuns: runs });
    });
    it(`crossEntropy (mean, sum and none, with ignored rows) matches ${what}`, () => {
      fc.assert(fc.property(ceArb(small), ([logits, targets, opts]) =>
        check((t) => crossEntropy(t, targets, opts), [logits], second)), { numRuns: runs });
    });
  }
});

describe('fused ops: values', () => {
  it('softmax rows sum to one for any shape and dim', () => {
    fc.assert(fc.property(withDimArb(), ([x, d]) => {
      const sums = softmax(x, d).sum(d).toTypedArray();
      for (const s of sums) expect(s).toBeCloseTo(1, 12);
    }), { numRuns: 50 });
  });

  it('softmax is invariant to adding a constant along the dim', () => {
    fc.assert(fc.property(withDimArb(), fc.double({ min: -50, max: 50, noNaN: true }), ([x, d], c) => {
      const a = softmax(x, d).toTypedArray();
      const b = softmax(x.add(c), d).toTypedArray();
      a.forEach((v, i) => expect(b[i]).toBeCloseTo(v, 10));
    }), { numRuns: 50 });
  });

  it('logSoftmax equals log(softmax) for any shape and dim', () => {
    fc.assert(fc.property(withDimArb(), ([x, d]) => {
      const a = logSoftmax(x, d).toTypedArray();
      const b = softmax(x, d).log().toTypedArray();
      a.forEach((v, i) => expect(v).toBeCloseTo(b[i]!, 12));
    }), { numRuns: 50 });
  });

  it('softmax matches e^x / Σe^x by hand and stays finite for large logits', () => {
    const s = tensor([[0, Math.log(3)], [1000, 1000]], { dtype: 'float64' }).softmax(-1).toArray();
    expect(s[0][0]).toBeCloseTo(0.25, 15);
    expect(s[0][1]).toBeCloseTo(0.75, 15);
    expect(s[1]).toEqual([0.5, 0.5]);
    expect(tensor([-1000, 0]).logSoftmax(0).toArray()).toEqual([-1000, 0]);
    expect(tensor([[1, 2], [3, 4]]).softmax(0).toArray()[0][0]).toBeCloseTo(1 / (1 + Math.exp(2)), 6);
    expect(tensor(2).softmax(-1).item()).toBe(1);
  });

  it('rmsNorm equals x / √(mean(x²) + eps) · weight', () => {
    fc.assert(fc.property(rmsArb(), fc.constantFrom(1e-6, 1e-5, 0.1), ([x, w], eps) => {
      const direct = x.div(x.square().mean(-1, true).add(eps).sqrt()).mul(w).toTypedArray();
      const fused = rmsNorm(x, w, eps).toTypedArray();
      fused.forEach((v, i) => expect(v).toBeCloseTo(direct[i]!, 12));
    }), { numRuns: 50 });
  });

  it('crossEntropy equals −log softmax at the target, averaged over the counted rows', () => {
    fc.assert(fc.property(ceArb(), ([logits, targets, { ignoreIndex }]) => {
      const rows = logits.toArray() as number[][];
      const ts = Array.from(targets.toTypedArray());
      // −log softmax(x)_t = log Σ_j e^{x_j} − x_t, written out with Math
      const per = ts.map((t, r) => (t === ignoreIndex ? 0 : Math.log(rows[r]!.reduce((a, v) => a + Math.exp(v), 0)) - rows[r]![t]!));
      const counted = ts.filter((t) => t !== ignoreIndex).length;
      const none = crossEntropy(logits, targets, { ignoreIndex, reduction: 'none' }).toTypedArray();
      per.forEach((v, r) => expect(none[r]).toBeCloseTo(v, 12));
      const total = per.reduce((a, b) => a + b, 0);
      expect(crossEntropy(logits, targets, { ignoreIndex, reduction: 'sum' }).item()).toBeCloseTo(total, 12);
      expect(crossEntropy(logits, targets, { ignoreIndex }).item()).toBeCloseTo(total / counted, 12);
    }), { numRuns: 50 });
  });

  it('crossEntropy of uniform logits is log C, and ignored rows get zero gradient', () => {
    const logits = tensor([[0, 0, 0, 0], [5, 1, 2, 3]], { dtype: 'float64', requiresGrad: true });
    const loss = crossEntropy(logits, tensor([2, -100], { dtype: 'int32' }));
    expect(loss.item()).toBeCloseTo(Math.log(4), 15);
    loss.backward();
    expect(logits.grad!.toArray()).toEqual([[0.25, 0.25, -0.75, 0.25], [0, 0, 0, 0]]);
  });

  it('fused ops keep float32 in float32', () => {
    const x = tensor([[1, 2, 3]]);
    expect(x.softmax(-1).dtype).toBe('float32');
    expect(rmsNorm(x, tensor([1, 1, 1])).dtype).toBe('float32');
    expect(crossEntropy(x, tensor([0], { dtype: 'int32' })).dtype).toBe('float32');
  });

  it('fused ops reject bad inputs with errors naming the op, shapes and dtypes', () => {
    const i = tensor([[1, 2]], { dtype: 'int32' });
    expect(() => i.softmax(-1)).toThrow('softmax: expected a float tensor (float32 or float64), got int32 of shape [1, 2]');
    expect(() => i.logSoftmax(-1)).toThrow(/^logSoftmax: expected a float tensor .*int32/);
    expect(() => tensor([1, 2]).softmax(1)).toThrow(/^softmax: dim 1 is out of range for a tensor with 1 dims/);
    expect(() => rmsNorm(tensor([[1, 2, 3]]), tensor([1, 1]))).toThrow('rmsNorm: weight [2] must be [C] with C the last dim of x [1, 3]');
    expect(() => rmsNorm(tensor([[1, 2]]), tensor([1, 1], { dtype: 'float64' }))).toThrow('rmsNorm: x is float32 but weight is float64');
    const logits = tensor([[1, 2, 3], [4, 5, 6]]);
    expect(() => crossEntropy(logits, tensor([0, 3], { dtype: 'int32' }))).toThrow('crossEntropy: target 3 at row 1 is out of range for 3 classes (expected 0 to 2 or ignoreIndex -100)');
    expect(() => crossEntropy(logits, tensor([-2, 0], { dtype: 'int32' }))).toThrow(/^crossEntropy: target -2 at row 0 is out of range/);
    expect(() => crossEntropy(logits, tensor([0, 1]))).toThrow('crossEntropy: targets must be int32, got float32');
    expect(() => crossEntropy(logits, tensor([0], { dtype: 'int32' }))).toThrow('crossEntropy: expected logits [N, C] and targets [N], got [2, 3] and [1]');
    expect(() => crossEntropy(i, tensor([0], { dtype: 'int32' }))).toThrow(/^crossEntropy: expected a float tensor .*int32/);
    expect(() => crossEntropy(logits, tensor([-100, -100], { dtype: 'int32' }))).toThrow(/^crossEntropy: every target equals ignoreIndex -100/);
    expect(crossEntropy(logits, tensor([-100, -100], { dtype: 'int32' }), { reduction: 'sum' }).item()).toBe(0);
  });

  it('softmax of any values lies in [0, 1]', () => {
    fc.assert(fc.property(valuesArb(6).map((v) => tensor(Float64Array.from(v.map((a) => a * 100)))), (x) => {
      for (const p of x.softmax(0).toTypedArray()) expect(p >= 0 && p <= 1).toBe(true);
    }), { numRuns: 30 });
  });
});
