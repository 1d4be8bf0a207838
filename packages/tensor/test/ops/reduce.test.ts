import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Tensor, gradcheck, gradgradcheck, tensor, zeros } from '../../src/index.js';
import { GRAD_RUNS, GRADGRAD_RUNS, type ValueKind, tensorArb } from '../arbitraries.js';

// A leaf and the dims to reduce: undefined (all), or a non-empty set written with either sign.
function reductionArb(kind: ValueKind, opts: { maxSize?: number; single?: boolean } = {}) {
  return tensorArb({ kind, minDims: 1, maxSize: opts.maxSize }).chain((x) => {
    const dimArb = fc.integer({ min: 0, max: x.ndim - 1 }).chain((d) => fc.constantFrom(d, d - x.ndim));
    const dims = opts.single
      ? dimArb.map((d): number | number[] => d)
      : fc.uniqueArray(fc.integer({ min: 0, max: x.ndim - 1 }), { minLength: 1, maxLength: x.ndim })
        .chain((ds) => fc.constantFrom<number | number[]>(ds, ds.length === 1 ? ds[0]! : ds, ds.map((d) => d - x.ndim)));
    return fc.tuple(fc.constant(x), fc.option(dims, { nil: undefined }), fc.boolean());
  });
}

function count(x: Tensor, dim: number | number[] | undefined): number {
  if (dim === undefined) return x.numel;
  return (Array.isArray(dim) ? dim : [dim]).reduce((n, d) => n * x.shape[d < 0 ? d + x.ndim : d]!, 1);
}

describe('reductions: gradients', () => {
  const cases: Array<[string, (x: Tensor, dim: number | number[] | undefined, keep: boolean) => Tensor, ValueKind, boolean]> = [
    ['sum', (x, d, k) => x.sum(d, k), 'smooth', false],
    ['mean', (x, d, k) => x.mean(d, k), 'smooth', false],
    ['var', (x, d, k) => x.var(d, k), 'smooth', false],
    ['max (values)', (x, d, k) => x.max(d as number | undefined, k), 'distinct', true],
    ['min (values)', (x, d, k) => x.min(d as number | undefined, k), 'distinct', true],
  ];
  for (const [name, op, kind, single] of cases) {
    // var divides by count − 1: reduce at least two elements
    const usable = ([x, d]: [Tensor, number | number[] | undefined, boolean]) => name !== 'var' || count(x, d) >= 2;
    it(`${name} over any dims, with or without keepdim, matches finite differences`, () => {
      fc.assert(fc.property(reductionArb(kind, { single }).filter(usable), ([x, d, k]) => gradcheck((t) => op(t, d, k), [x])), { numRuns: GRAD_RUNS });
    });
    it(`${name} has correct second derivatives (gradgradcheck)`, () => {
      fc.assert(fc.property(reductionArb(kind, { single, maxSize: 3 }).filter(usable), ([x, d, k]) => gradgradcheck((t) => op(t, d, k), [x])), { numRuns: GRADGRAD_RUNS });
    });
  }
});

describe('reductions: values', () => {
  const x = tensor([[1, 5, 3], [4, 2, 6]], { dtype: 'float64' });

  it('sum and mean over one dim, several dims, or all, with keepdim shapes', () => {
    expect(x.sum().item()).toBe(21);
    expect(x.sum().shape).toEqual([]);
    expect(x.sum(0).toArray()).toEqual([5, 7, 9]);
    expect(x.sum(-1).toArray()).toEqual([9, 12]);
    expect(x.sum(1, true).toArray()).toEqual([[9], [12]]);
    expect(x.sum([0, 1], true).shape).toEqual([1, 1]);
    expect(x.mean(0).toArray()).toEqual([2.5, 3.5, 4.5]);
    expect(x.mean().item()).toBe(3.5);
    expect(x.mean([1, 0]).item()).toBe(3.5);
  });

  it('sum equals a naive loop for any shape and dims, on non-contiguous inputs too', () => {
    fc.assert(fc.property(reductionArb('smooth'), ([t, d]) => {
      const dims = d === undefined ? t.shape.map((_, i) => i) : (Array.isArray(d) ? d : [d]).map((k) => (k < 0 ? k + t.ndim : k));
      const values = t.toTypedArray();
      const outShape = t.shape.map((s, i) => (dims.includes(i) ? 1 : s));
      const expected = new Float64Array(outShape.reduce((a, b) => a * b, 1));
      const idx = new Array<number>(t.ndim).fill(0);
      for (let n = 0; n < t.numel; n++) {
        let at = 0;
        for (let k = 0; k < t.ndim; k++) at = at * outShape[k]! + (dims.includes(k) ? 0 : idx[k]!);
        expected[at]! += values[n]!;
        for (let k = t.ndim - 1; k >= 0; k--) {
          if (++idx[k]! < t.shape[k]!) break;
          idx[k] = 0;
        }
      }
      const got = t.sum(d, true);
      expect(got.shape).toEqual(outShape);
      Array.from(got.toTypedArray()).forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 12));
    }), { numRuns: 50 });
  });

  it('var uses Bessel\'s correction by default and accepts correction 0', () => {
    const v = tensor([1, 2, 3, 4], { dtype: 'float64' });
    expect(v.var().item()).toBeCloseTo(5 / 3, 14);
    expect(v.var(0, false, 0).item()).toBeCloseTo(1.25, 14);
    expect(x.var(1).toArray()).toEqual([4, 4]);
    expect(x.var(0, true).toArray()).toEqual([[4.5, 4.5, 4.5]]);
  });

  it('var of a single element is NaN or infinite (division by zero), as PyTorch', () => {
    expect(Number.isFinite(tensor([3], { dtype: 'float64' }).var().item())).toBe(false);
  });

  it('max and min give the values over a dim; argmax gives the first index of the maximum', () => {
    expect(x.max().item()).toBe(6);
    expect(x.min().item()).toBe(1);
    expect(x.max(0).toArray()).toEqual([4, 5, 6]);
    expect(x.min(1).toArray()).toEqual([1, 2]);
    expect(x.max(1, true).toArray()).toEqual([[5], [6]]);
    expect(x.max(-1, true).shape).toEqual([2, 1]);
    expect(x.argmax(1).toArray()).toEqual([1, 2]);
    expect(x.argmax(1).dtype).toBe('int32');
    expect(x.argmax().item()).toBe(5);
    expect(tensor([3, 7, 7, 1]).argmax().item()).toBe(1);
    expect(x.max(1).dtype).toBe('float64');
  });

  it('the gradient of max over a dim goes to the element that won', () => {
    const t = tensor([[1, 5, 3], [4, 2, 6]], { dtype: 'float64', requiresGrad: true });
    t.max(1).sum().backward();
    expect(t.grad!.toArray()).toEqual([[0, 1, 0], [0, 0, 1]]);
    t.grad = null;
    t.min().backward();
    expect(t.grad!.toArray()).toEqual([[1, 0, 0], [0, 0, 0]]);
  });

  it('a 0-d tensor reduces over dim 0 or -1 to itself, as PyTorch', () => {
    const s = tensor(3, { dtype: 'float64', requiresGrad: true });
    expect(s.sum(0).item()).toBe(3);
    expect(s.sum(-1, true).shape).toEqual([]);
    expect(s.mean(0).item()).toBe(3);
    expect(s.max(0).item()).toBe(3);
    expect(() => s.sum(1)).toThrow(/^sum: dim 1 is out of range for a tensor with 0 dims/);
    expect(gradcheck((t) => t.sum(0).mul(t.mean(-1)), [s])).toBe(true);
  });

  it('sum of int32 stays int32; mean and var of int32 are refused', () => {
    const i = tensor([[1, 2], [3, 4]], { dtype: 'int32' });
    expect(i.sum().dtype).toBe('int32');
    expect(i.sum(0).toArray()).toEqual([4, 6]);
    expect(() => i.mean()).toThrow(/^mean: expected a float tensor .*got int32 of shape \[2, 2\]/);
    expect(() => i.var()).toThrow(/^var: expected a float tensor .*got int32/);
  });

  it('reductions reject out-of-range and repeated dims naming the op', () => {
    expect(() => x.sum(2)).toThrow('sum: dim 2 is out of range for a tensor with 2 dims (expected -2 to 1)');
    expect(() => x.mean(-3)).toThrow(/^mean: dim -3 is out of range for a tensor with 2 dims/);
    expect(() => x.max(5)).toThrow(/^max: dim 5 is out of range/);
    expect(() => x.argmax(2)).toThrow(/^argmax: dim 2 is out of range/);
    expect(() => x.sum([0, -2])).toThrow(/^sum: dim \[0, 0\] appears more than once/);
    expect(() => zeros([0]).max()).toThrow(/^max: cannot reduce an empty tensor of shape \[0\]/);
    expect(() => zeros([2, 0]).min(1)).toThrow(/^min: cannot reduce dim 1 of size 0 in shape \[2, 0\]/);
  });
});
