import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  Generator, Tensor, arange, full, manualSeed, ones, onesLike, rand, randn, tensor, zeros, zerosLike,
} from '../src/index.js';
import { shapeArb } from './arbitraries.js';

describe('tensor()', () => {
  it('builds from nested arrays: shape from the nesting, float32 by default', () => {
    const t = tensor([[1, 2, 3], [4, 5, 6]]);
    expect(t.shape).toEqual([2, 3]);
    expect(t.dtype).toBe('float32');
    expect(t.ndim).toBe(2);
    expect(t.numel).toBe(6);
    expect(t.strides).toEqual([3, 1]);
    expect(t.toArray()).toEqual([[1, 2, 3], [4, 5, 6]]);
    expect(t.requiresGrad).toBe(false);
    expect(t.grad).toBeNull();
  });

  it('builds a 0-d tensor from a number and an empty tensor from an empty array', () => {
    const s = tensor(3.5);
    expect(s.shape).toEqual([]);
    expect(s.item()).toBe(3.5);
    expect(s.toArray()).toBe(3.5);
    expect(tensor([]).shape).toEqual([0]);
    expect(tensor([[], []]).shape).toEqual([2, 0]);
  });

  it('builds from a flat array with a shape, and reshapes nested data to a given shape', () => {
    expect(tensor([1, 2, 3, 4, 5, 6], { shape: [3, 2] }).toArray()).toEqual([[1, 2], [3, 4], [5, 6]]);
    expect(tensor([[1, 2], [3, 4]], { shape: [4] }).toArray()).toEqual([1, 2, 3, 4]);
    expect(() => tensor([1, 2, 3], { shape: [2, 2] })).toThrow('tensor: shape [2, 2] needs 4 values, got 3');
    expect(() => tensor([[1, 2], [3, 4]], { shape: [3] })).toThrow('tensor: shape [3] needs 3 values, got 4');
  });

  it('copies typed arrays, keeping their dtype unless told otherwise', () => {
    const src = new Float64Array([1, 2, 3, 4]);
    const t = tensor(src, { shape: [2, 2] });
    expect(t.dtype).toBe('float64');
    src[0] = 99;
    expect(t.toArray()).toEqual([[1, 2], [3, 4]]);
    expect(tensor(new Int32Array([1, 2])).dtype).toBe('int32');
    expect(tensor(new Float32Array([1, 2])).dtype).toBe('float32');
    expect(tensor(new Int32Array([1, 2]), { dtype: 'float64' }).dtype).toBe('float64');
    expect(() => tensor(new Uint8Array([1]) as unknown as Float32Array)).toThrow('tensor: typed arrays must be Float32Array, Float64Array or Int32Array');
  });

  it('dtype int32 truncates toward zero; float64 keeps full precision', () => {
    expect(tensor([1.9, -1.9], { dtype: 'int32' }).toArray()).toEqual([1, -1]);
    expect(tensor([0.1], { dtype: 'float64' }).item()).toBe(0.1);
    expect(tensor([0.1]).item()).toBe(Math.fround(0.1));
  });

  it('dtype int32 refuses NaN, ±Infinity and values outside int32, naming the value and its index (as PyTorch)', () => {
    expect(() => tensor([[1, 2], [NaN, 4]], { dtype: 'int32' })).toThrow('tensor: NaN at index [1, 0] cannot be converted to int32 (NaN has no integer value)');
    expect(() => tensor([1, 2 ** 31], { dtype: 'int32' })).toThrow('tensor: 2147483648 at index [1] cannot be converted to int32 (int32 holds −2147483648 to 2147483647)');
    expect(() => tensor([-Infinity], { dtype: 'int32' })).toThrow(/^tensor: -Infinity at index \[0\] cannot be converted to int32/);
    expect(() => tensor(new Float64Array([0, -(2 ** 31) - 1]), { dtype: 'int32' })).toThrow(/^tensor: -2147483649 at index \[1\]/);
    expect(() => full([2], NaN, { dtype: 'int32' })).toThrow('full: the fill value NaN cannot be converted to int32 (NaN has no integer value)');
    // the extremes themselves, and fractions just inside them, are kept (truncated)
    expect(tensor([2 ** 31 - 1, -(2 ** 31), 2 ** 31 - 0.5, -(2 ** 31) - 0.5], { dtype: 'int32' }).toArray()).toEqual([2 ** 31 - 1, -(2 ** 31), 2 ** 31 - 1, -(2 ** 31)]);
  });

  it('ragged nested arrays are rejected', () => {
    expect(() => tensor([[1, 2], [3]])).toThrow('tensor: ragged nested array: expected 2 elements at depth 1 (shape [2, 2])');
    expect(() => tensor([[1, 2], 3] as unknown as number[][])).toThrow(/^tensor: ragged nested array/);
    expect(() => tensor([1, [2, 3]] as unknown as number[])).toThrow('tensor: expected a number at depth 1, got an array');
    expect(() => tensor(['a'] as unknown as number[])).toThrow(/^tensor: expected a number at depth 1, got string/);
  });

  it('unknown dtypes and invalid shapes are rejected', () => {
    expect(() => tensor([1], { dtype: 'float16' as 'float32' })).toThrow(`tensor: unknown dtype "float16"; expected 'float32', 'float64' or 'int32'`);
    expect(() => tensor([1, 2], { shape: [-1, 2] })).toThrow('tensor: invalid shape [-1, 2]; sizes must be non-negative integers');
    expect(() => zeros([1.5])).toThrow('full: invalid shape [1.5]; sizes must be non-negative integers');
  });

  it('requiresGrad makes a leaf that requires grad', () => {
    const t = tensor([1, 2], { requiresGrad: true });
    expect(t.requiresGrad).toBe(true);
    expect(t.isLeaf).toBe(true);
  });

  it('toArray inverts tensor() for any shape', () => {
    fc.assert(fc.property(shapeArb({ maxDims: 4 }), (shape) => {
      const n = shape.reduce((a, b) => a * b, 1);
      const flat = Array.from({ length: n }, (_, i) => i - 3);
      const t = tensor(flat, { shape, dtype: 'int32' });
      expect(tensor(t.toArray(), { dtype: 'int32' }).shape).toEqual(shape);
      expect(Array.from(t.toTypedArray())).toEqual(flat);
    }), { numRuns: 50 });
  });
});

describe('constants and ranges', () => {
  it('zeros, ones and full fill a shape in the requested dtype', () => {
    expect(zeros([2, 2]).toArray()).toEqual([[0, 0], [0, 0]]);
    expect(ones([3], { dtype: 'int32' }).toArray()).toEqual([1, 1, 1]);
    expect(ones([3], { dtype: 'int32' }).dtype).toBe('int32');
    expect(full([2], 7.5, { dtype: 'float64' }).toArray()).toEqual([7.5, 7.5]);
    expect(full([], -1).item()).toBe(-1);
    expect(zeros([0, 3]).numel).toBe(0);
    expect(ones([2], { requiresGrad: true }).requiresGrad).toBe(true);
  });

  it('zerosLike and onesLike copy shape and dtype', () => {
    const t = tensor([[1, 2]], { dtype: 'float64' });
    expect(zerosLike(t).shape).toEqual([1, 2]);
    expect(onesLike(t).dtype).toBe('float64');
    expect(onesLike(t).toArray()).toEqual([[1, 1]]);
  });

  it('arange gives int32 for integer arguments and float32 otherwise', () => {
    expect(arange(5).toArray()).toEqual([0, 1, 2, 3, 4]);
    expect(arange(5).dtype).toBe('int32');
    expect(arange(2, 8, 3).toArray()).toEqual([2, 5]);
    expect(arange(5, 0, -2).toArray()).toEqual([5, 3, 1]);
    expect(arange(0, 1, 0.25).toArray()).toEqual([0, 0.25, 0.5, 0.75]);
    expect(arange(0, 1, 0.25).dtype).toBe('float32');
    expect(arange(0.5, 3).toArray()).toEqual([0.5, 1.5, 2.5]);
    expect(arange(3, undefined, 1, { dtype: 'float64' }).dtype).toBe('float64');
    expect(arange(3, 3).numel).toBe(0);
    expect(arange(3, 0).numel).toBe(0);
    expect(() => arange(0, 3, 0)).toThrow('arange: step must be a non-zero finite number, got 0');
    expect(() => arange(3, undefined, 1, { dtype: 'float16' as 'float32' })).toThrow(/^arange: unknown dtype "float16"/);
  });
});

describe('random creation', () => {
  it('randn and rand are reproducible with a seeded Generator', () => {
    const a = randn([4, 3], { generator: new Generator(42) });
    const b = randn([4, 3], { generator: new Generator(42) });
    expect(a.toArray()).toEqual(b.toArray());
    expect(randn([4, 3], { generator: new Generator(43) }).toArray()).not.toEqual(a.toArray());
    expect(rand([5], { generator: new Generator(1), dtype: 'float64' }).toArray()).toEqual(rand([5], { generator: new Generator(1), dtype: 'float64' }).toArray());
  });

  it('randn and rand are reproducible after manualSeed', () => {
    manualSeed(123);
    const a = randn([6]).toArray();
    const u = rand([6]).toArray();
    manualSeed(123);
    expect(randn([6]).toArray()).toEqual(a);
    expect(rand([6]).toArray()).toEqual(u);
  });

  it('randn has mean ≈ 0 and standard deviation ≈ 1 over 10,000 samples', () => {
    const x = randn([10_000], { generator: new Generator(2024), dtype: 'float64' });
    const mean = x.mean().item();
    const std = Math.sqrt(x.var().item());
    // 5 standard errors: 5/√10000 for the mean, about 5/√20000 for the std
    expect(Math.abs(mean)).toBeLessThan(0.05);
    expect(Math.abs(std - 1)).toBeLessThan(0.036);
  });

  it('rand lies in [0, 1) with mean ≈ ½', () => {
    const x = rand([10_000], { generator: new Generator(5), dtype: 'float64' });
    const v = x.toTypedArray();
    expect(v.every((u) => u >= 0 && u < 1)).toBe(true);
    expect(Math.abs(x.mean().item() - 0.5)).toBeLessThan(5 * Math.sqrt(1 / 12 / 10_000));
  });

  it('random creation honours dtype and requiresGrad and refuses int32', () => {
    expect(randn([2], { dtype: 'float64' }).dtype).toBe('float64');
    expect(rand([2], { requiresGrad: true }).requiresGrad).toBe(true);
    expect(() => randn([2], { dtype: 'int32' })).toThrow('randn: dtype must be float32 or float64');
    expect(() => rand([2], { dtype: 'int32' })).toThrow('rand: dtype must be float32 or float64');
  });
});

describe('reading tensors out', () => {
  it('toTypedArray is a flat row-major copy, also of non-contiguous views', () => {
    const t = tensor([[1, 2, 3], [4, 5, 6]]);
    const flat = t.toTypedArray();
    expect(flat).toBeInstanceOf(Float32Array);
    expect(flat).not.toBe(t.storage);
    expect(Array.from(t.transpose(0, 1).toTypedArray())).toEqual([1, 4, 2, 5, 3, 6]);
    expect(Array.from(t.narrow(1, 1, 2).toTypedArray())).toEqual([2, 3, 5, 6]);
    expect(t.toArray()).toEqual([[1, 2, 3], [4, 5, 6]]);
  });

  it('item reads a one-element tensor of any rank and refuses others', () => {
    expect(tensor([[7]]).item()).toBe(7);
    expect(tensor([1, 2, 3]).narrow(0, 2, 1).item()).toBe(3);
    expect(() => tensor([1, 2]).item()).toThrow('item: expected a tensor with one element, got shape [2]');
  });

  it('toString shows values, shape and dtype as PyTorch does', () => {
    expect(tensor([[1, 2], [3, 4]]).toString()).toBe('tensor([[1.0000, 2.0000],\n        [3.0000, 4.0000]], shape=[2, 2], dtype=float32)');
    expect(tensor([1, 2], { dtype: 'int32' }).toString()).toBe('tensor([1, 2], shape=[2], dtype=int32)');
    expect(tensor(2.5, { dtype: 'float64' }).toString()).toBe('tensor(2.5000, shape=[], dtype=float64)');
    expect(tensor([1], { requiresGrad: true }).toString()).toBe('tensor([1.0000], shape=[1], dtype=float32, requiresGrad=true)');
    expect(tensor([1], { requiresGrad: true }).exp().toString()).toMatch(/gradFn=exp\)$/);
    expect(`${arange(10)}`).toBe('tensor([0, 1, 2, ..., 7, 8, 9], shape=[10], dtype=int32)');
    expect(tensor([-Infinity, NaN]).toString()).toBe('tensor([-Infinity, NaN], shape=[2], dtype=float32)');
  });

  it('Tensor.zeros allocates zeros of a shape and dtype', () => {
    const t = Tensor.zeros([2, 3], 'float64');
    expect(t.dtype).toBe('float64');
    expect(t.toArray()).toEqual([[0, 0, 0], [0, 0, 0]]);
  });
});
