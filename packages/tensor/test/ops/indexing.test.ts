import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type Tensor, arange, gradcheck, gradgradcheck, indexSelect, scatterAdd, tensor, tril, triu, where, zeros,
} from '../../src/index.js';
import {
  GRAD_RUNS, GRADGRAD_RUNS, broadcastPairArb, indexArb, maskArb, shapeArb, tensorArb, tensorOfShapeArb,
} from '../arbitraries.js';

const size = (max: number) => fc.integer({ min: 1, max });

// gather/scatterAdd: a source shape, a dim, and an index of the same rank (no larger outside dim).
const gatherArb = shapeArb({ minDims: 1 }).chain((shape) => fc.integer({ min: 0, max: shape.length - 1 }).chain((d) =>
  fc.tuple(...shape.map((s, k) => (k === d ? size(4) : size(s)))).chain((ishape) =>
    fc.tuple(tensorOfShapeArb(shape), fc.constant(d), indexArb(ishape, shape[d]!), tensorOfShapeArb(ishape)))));

// indexSelect: a source, a dim, and an index of any shape (0..2 dims).
const indexSelectArb = tensorArb({ minDims: 1 }).chain((x) => fc.integer({ min: 0, max: x.ndim - 1 }).chain((d) =>
  shapeArb({ maxDims: 2 }).chain((ishape) => fc.tuple(fc.constant(x), fc.constant(d), indexArb(ishape, x.shape[d]!)))));

// where: a condition and two operands, all broadcasting to one shape.
const whereArb = broadcastPairArb().chain(([sa, sb, out]) =>
  fc.tuple(fc.array(fc.boolean(), { minLength: out.length, maxLength: out.length }), fc.nat(out.length)).chain(([ones, drop]) =>
    fc.tuple(maskArb(out.map((s, i) => (ones[i] ? 1 : s)).slice(drop)), tensorOfShapeArb(sa), tensorOfShapeArb(sb))));

// maskedFill: a leaf and a mask that broadcasts to its shape.
const maskedArb = tensorArb({ minDims: 1 }).chain((x) =>
  fc.tuple(fc.array(fc.boolean(), { minLength: x.ndim, maxLength: x.ndim }), fc.nat(x.ndim)).chain(([ones, drop]) =>
    fc.tuple(fc.constant(x), maskArb(x.shape.map((s, i) => (ones[i] ? 1 : s)).slice(drop)))));

const triangleArb = tensorArb({ minDims: 2 }).chain((x) => fc.tuple(fc.constant(x), fc.integer({ min: -3, max: 3 })));

describe('indexing ops: gradients', () => {
  const check = (fn: (...xs: Tensor[]) => Tensor, xs: Tensor[], second: boolean) =>
    gradcheck(fn, xs) && (!second || gradgradcheck(fn, xs));

  for (const second of [false, true]) {
    const what = second ? 'first and second derivatives (gradcheck and gradgradcheck)' : 'finite differences';
    const runs = second ? GRADGRAD_RUNS : GRAD_RUNS;
    it(`gather along any dim matches ${what}`, () => {
      fc.assert(fc.property(gatherArb, ([x, d, index]) => check((t) => t.gather(d, index), [x], second)), { numRuns: runs });
    });
    it(`scatterAdd (repeated indices accumulate) matches ${what}`, () => {
      fc.assert(fc.property(gatherArb, ([x, d, index, src]) =>
        check((s) => scatterAdd(x.shape, d, index, s), [src], second)), { numRuns: runs });
    });
    it(`indexSelect with an index of any shape matches ${what}`, () => {
      fc.assert(fc.property(indexSelectArb, ([x, d, index]) => check((t) => indexSelect(t, d, index), [x], second)), { numRuns: runs });
    });
    it(`where with broadcasting condition and operands matches ${what}`, () => {
      fc.assert(fc.property(whereArb, ([cond, a, b]) => check((p, q) => where(cond, p, q), [a, b], second)), { numRuns: runs });
    });
    it(`maskedFill with a broadcasting mask matches ${what}`, () => {
      fc.assert(fc.property(maskedArb, ([x, mask]) => check((t) => t.maskedFill(mask, -1e9), [x], second)), { numRuns: runs });
    });
    it(`tril and triu with any diagonal offset match ${what}`, () => {
      fc.assert(fc.property(triangleArb, ([x, k]) => check((t) => tril(t, k), [x], second) && check((t) => triu(t, k), [x], second)), { numRuns: runs });
    });
  }
});

describe('indexing ops: values', () => {
  const x = tensor([[1, 2, 3], [4, 5, 6]]);

  it('gather picks x[i][index[i][j]] along dim 1 and x[index[i][j]][j] along dim 0', () => {
    const idx = tensor([[2, 0], [1, 1]], { dtype: 'int32' });
    expect(x.gather(1, idx).toArray()).toEqual([[3, 1], [5, 5]]);
    expect(x.gather(0, tensor([[1, 0, 1]], { dtype: 'int32' })).toArray()).toEqual([[4, 2, 6]]);
    expect(x.transpose(0, 1).gather(1, tensor([[1], [0], [1]], { dtype: 'int32' })).toArray()).toEqual([[4], [2], [6]]);
  });

  it('scatterAdd adds src at the indexed positions, accumulating repeats', () => {
    const idx = tensor([[0, 0, 2]], { dtype: 'int32' });
    expect(scatterAdd([2, 3], 1, idx, tensor([[1, 2, 3]])).toArray()).toEqual([[3, 0, 3], [0, 0, 0]]);
  });

  it('indexSelect is an embedding lookup: [V, C] with ids [B, T] gives [B, T, C]', () => {
    const weight = arange(12, undefined, 1, { dtype: 'float32' }).reshape(4, 3);
    const ids = tensor([[3, 0], [1, 1]], { dtype: 'int32' });
    const out = weight.indexSelect(0, ids);
    expect(out.shape).toEqual([2, 2, 3]);
    expect(out.toArray()).toEqual([[[9, 10, 11], [0, 1, 2]], [[3, 4, 5], [3, 4, 5]]]);
    expect(indexSelect(x, 1, tensor([2, 0], { dtype: 'int32' })).toArray()).toEqual([[3, 1], [6, 4]]);
  });

  it('the gradient of indexSelect adds each slice back into the row it came from', () => {
    const w = zeros([3, 2], { dtype: 'float64', requiresGrad: true });
    w.indexSelect(0, tensor([2, 0, 2], { dtype: 'int32' })).sum().backward();
    expect(w.grad!.toArray()).toEqual([[1, 1], [0, 0], [2, 2]]);
  });

  it('where selects by a broadcast condition and accepts numbers', () => {
    const cond = tensor([[1], [0]], { dtype: 'int32' });
    expect(where(cond, x, tensor([10, 20, 30])).toArray()).toEqual([[1, 2, 3], [10, 20, 30]]);
    expect(where(x.gt(3), x, 0).toArray()).toEqual([[0, 0, 0], [4, 5, 6]]);
    expect(where(x.gt(3), 1, 0).dtype).toBe('float32');
  });

  it('maskedFill replaces where the mask is nonzero, with the mask broadcast to the input', () => {
    const causal = triu(tensor([[1, 1, 1], [1, 1, 1], [1, 1, 1]]), 1);
    expect(zeros([3, 3]).maskedFill(causal, -Infinity).toArray()).toEqual([[0, -Infinity, -Infinity], [0, 0, -Infinity], [0, 0, 0]]);
    expect(x.maskedFill(tensor([1, 0, 1], { dtype: 'int32' }), 0).toArray()).toEqual([[0, 2, 0], [0, 5, 0]]);
  });

  it('tril and triu keep the band relative to diagonal k, over batch dims', () => {
    const m = arange(1, 10, 1, { dtype: 'float32' }).reshape(3, 3);
    expect(tril(m).toArray()).toEqual([[1, 0, 0], [4, 5, 0], [7, 8, 9]]);
    expect(triu(m).toArray()).toEqual([[1, 2, 3], [0, 5, 6], [0, 0, 9]]);
    expect(tril(m, -1).toArray()).toEqual([[0, 0, 0], [4, 0, 0], [7, 8, 0]]);
    expect(triu(m, 1).toArray()).toEqual([[0, 2, 3], [0, 0, 6], [0, 0, 0]]);
    expect(tril(m.unsqueeze(0).expand(2, 3, 3)).toArray()[1]).toEqual([[1, 0, 0], [4, 5, 0], [7, 8, 9]]);
    expect(tril(x, 5).toArray()).toEqual(x.toArray());
  });

  it('out-of-range indices raise errors naming the op, the index and the dim size', () => {
    expect(() => x.gather(1, tensor([[3]], { dtype: 'int32' }))).toThrow('gather: index 3 is out of bounds for dim 1 of size 3');
    expect(() => x.gather(0, tensor([[-1]], { dtype: 'int32' }))).toThrow('gather: index -1 is out of bounds for dim 0 of size 2');
    expect(() => x.indexSelect(0, tensor([2], { dtype: 'int32' }))).toThrow('indexSelect: index 2 is out of range for dim 0 of size 2 (shape [2, 3])');
    expect(() => scatterAdd([2], 0, tensor([5], { dtype: 'int32' }), tensor([1]))).toThrow('scatterAdd: index 5 is out of bounds for dim 0 of size 2');
  });

  it('indexing ops reject bad index dtypes, ranks, dims and masks', () => {
    expect(() => x.gather(1, tensor([[0]]))).toThrow('gather: index must be int32, got float32');
    expect(() => x.indexSelect(0, tensor([0]))).toThrow('indexSelect: index must be int32, got float32');
    expect(() => x.gather(1, tensor([0], { dtype: 'int32' }))).toThrow('gather: index must have 2 dims like the input [2, 3], got [1]');
    expect(() => x.gather(1, tensor([[0], [0], [0]], { dtype: 'int32' }))).toThrow('gather: index [3, 1] is larger than input [2, 3] at dim 0');
    expect(() => x.gather(2, tensor([[0]], { dtype: 'int32' }))).toThrow(/^gather: dim 2 is out of range/);
    expect(() => x.maskedFill(tensor([1, 0], { dtype: 'int32' }), 0)).toThrow(/^maskedFill: shapes \[2, 3\] and \[2\] cannot be broadcast/);
    expect(() => x.maskedFill(zeros([2, 2, 3]), 0)).toThrow('maskedFill: mask [2, 2, 3] must broadcast to the input\'s shape [2, 3]');
    expect(() => where(tensor([1, 0]), x, x)).toThrow(/^where: shapes \[2\] and \[2, 3\] cannot be broadcast/);
    expect(() => tril(tensor([1, 2]))).toThrow('tril: expected a tensor with at least 2 dims, got [2]');
  });
});
