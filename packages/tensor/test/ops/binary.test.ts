import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Tensor, broadcastShapes, gradcheck, gradgradcheck, sumToShape, tensor } from '../../src/index.js';
import {
  GRAD_RUNS, GRADGRAD_RUNS, type ValueKind, broadcastPairArb, numelOf, tensorOfShapeArb,
} from '../arbitraries.js';

type Binary = (a: Tensor, b: Tensor) => Tensor;

// [name, op, values of a, values of b]: divisors away from 0, pow bases positive, and maximum /
// minimum operands on interleaved grids so they never tie
const OPS: Array<[string, Binary, ValueKind, ValueKind]> = [
  ['add', (a, b) => a.add(b), 'smooth', 'smooth'],
  ['sub', (a, b) => a.sub(b), 'smooth', 'smooth'],
  ['mul', (a, b) => a.mul(b), 'smooth', 'smooth'],
  ['div', (a, b) => a.div(b), 'smooth', 'nonzero'],
  ['pow', (a, b) => a.pow(b), 'positive', 'smooth'],
  ['maximum', (a, b) => a.maximum(b), 'grid', 'lattice'],
  ['minimum', (a, b) => a.minimum(b), 'grid', 'lattice'],
];

// Two leaves of broadcastable shapes (any layouts) and their broadcast shape.
function pairArb(ka: ValueKind, kb: ValueKind, maxSize = 4) {
  return broadcastPairArb({ maxSize }).chain(([sa, sb, out]) =>
    fc.tuple(tensorOfShapeArb(sa, { kind: ka }), tensorOfShapeArb(sb, { kind: kb }), fc.constant(out)));
}

describe('binary ops: gradients with broadcasting', () => {
  for (const [name, op, ka, kb] of OPS) {
    it(`${name} matches finite differences for broadcasting shapes and any layout`, () => {
      fc.assert(fc.property(pairArb(ka, kb), ([a, b]) => gradcheck(op, [a, b])), { numRuns: GRAD_RUNS });
    });
    it(`${name} matches finite differences on an expanded (stride-0) operand`, () => {
      fc.assert(fc.property(pairArb(ka, kb), ([a, b, out]) => gradcheck((p, q) => op(p.expand(out), q), [a, b])), { numRuns: GRAD_RUNS });
    });
    it(`${name} has correct second derivatives (gradgradcheck) for broadcasting shapes`, () => {
      fc.assert(fc.property(pairArb(ka, kb, 3), ([a, b]) => gradgradcheck(op, [a, b])), { numRuns: GRADGRAD_RUNS });
    });
  }

  const scalarOps: Array<[string, (x: Tensor) => Tensor, ValueKind]> = [
    ['x + 1.5', (x) => x.add(1.5), 'smooth'],
    ['x − 1.5', (x) => x.sub(1.5), 'smooth'],
    ['x · 3', (x) => x.mul(3), 'smooth'],
    ['x / 0.7', (x) => x.div(0.7), 'smooth'],
    ['x ** 3', (x) => x.pow(3), 'smooth'],
    ['x ** 0.5', (x) => x.pow(0.5), 'positive'],
    ['x ** −1.5', (x) => x.pow(-1.5), 'positive'],
    ['2 ** x', (x) => tensor(2, { dtype: 'float64' }).pow(x), 'smooth'],
    ['maximum(x, 0.1)', (x) => x.maximum(0.1), 'grid'],
    ['minimum(x, 0.1)', (x) => x.minimum(0.1), 'grid'],
  ];
  for (const [name, op, kind] of scalarOps) {
    it(`${name} with a number operand passes gradcheck and gradgradcheck`, () => {
      fc.assert(fc.property(broadcastPairArb().chain(([s]) => tensorOfShapeArb(s, { kind })), (x) =>
        gradcheck(op, [x]) && gradgradcheck(op, [x])), { numRuns: GRADGRAD_RUNS });
    });
  }
});

// out[i] = f(a[ia], b[ib]) by explicit broadcast indexing, independent of the library's kernels
function naive(a: Tensor, b: Tensor, f: (x: number, y: number) => number): { shape: number[]; values: number[] } {
  const shape = broadcastShapes('naive', a.shape, b.shape);
  const av = a.toTypedArray();
  const bv = b.toTypedArray();
  const flatIndex = (s: readonly number[], idx: number[]) => {
    let at = 0;
    const lead = idx.length - s.length;
    for (let k = 0; k < s.length; k++) at = at * s[k]! + (s[k] === 1 ? 0 : idx[lead + k]!);
    return at;
  };
  const values: number[] = [];
  const idx = new Array<number>(shape.length).fill(0);
  for (let n = 0; n < numelOf(shape); n++) {
    values.push(f(av[flatIndex(a.shape, idx)]!, bv[flatIndex(b.shape, idx)]!));
    for (let k = shape.length - 1; k >= 0; k--) {
      if (++idx[k]! < shape[k]!) break;
      idx[k] = 0;
    }
  }
  return { shape, values };
}

describe('binary ops: values and broadcasting', () => {
  const closed: Array<[string, Binary, (x: number, y: number) => number]> = [
    ['add', (a, b) => a.add(b), (x, y) => x + y],
    ['sub', (a, b) => a.sub(b), (x, y) => x - y],
    ['mul', (a, b) => a.mul(b), (x, y) => x * y],
    ['div', (a, b) => a.div(b), (x, y) => x / y],
    ['pow', (a, b) => a.abs().pow(b), (x, y) => Math.abs(x) ** y],
    ['maximum', (a, b) => a.maximum(b), Math.max],
    ['minimum', (a, b) => a.minimum(b), Math.min],
  ];
  for (const [name, op, f] of closed) {
    it(`${name} of broadcastable shapes has the NumPy broadcast shape and elementwise values`, () => {
      fc.assert(fc.property(pairArb('nonzero', 'nonzero'), ([a, b, out]) => {
        const y = op(a, b);
        const ref = naive(a, b, f);
        expect(y.shape).toEqual(out);
        expect(Array.from(y.toTypedArray())).toEqual(ref.values);
      }), { numRuns: 40 });
    });
  }

  it('broadcastShapes follows NumPy: align right, 1 stretches, missing leading dims are 1', () => {
    expect(broadcastShapes('t', [2, 1, 4], [3, 1])).toEqual([2, 3, 4]);
    expect(broadcastShapes('t', [], [2, 3])).toEqual([2, 3]);
    expect(broadcastShapes('t', [5, 1], [1])).toEqual([5, 1]);
    expect(broadcastShapes('t', [0, 1], [1, 3])).toEqual([0, 3]);
  });

  it('shapes that do not broadcast raise an error naming the op and both shapes', () => {
    const a = tensor([[1, 2, 3], [4, 5, 6]]);
    expect(() => a.add(tensor([1, 2]))).toThrow('add: shapes [2, 3] and [2] cannot be broadcast (dim 1: 3 vs 2)');
    expect(() => a.mul(tensor([[1, 2, 3], [1, 2, 3], [1, 2, 3]]))).toThrow(/^mul: shapes \[2, 3\] and \[3, 3\] cannot be broadcast/);
    expect(() => a.maximum(tensor([1, 2]))).toThrow(/^maximum: shapes \[2, 3\] and \[2\]/);
    expect(() => broadcastShapes('where', [4], [3])).toThrow('where: shapes [4] and [3] cannot be broadcast (dim 0: 4 vs 3)');
  });

  it('dtypes promote as PyTorch: int32 with int32 stays int32, with a float becomes the float, and true division gives float', () => {
    const i = tensor([1, 2, 3], { dtype: 'int32' });
    expect(i.add(i).dtype).toBe('int32');
    expect(i.add(2).dtype).toBe('int32');
    expect(i.add(0.5).dtype).toBe('float32');
    expect(i.add(0.5).toArray()).toEqual([1.5, 2.5, 3.5]);
    expect(i.div(2).dtype).toBe('float32');
    expect(i.div(2).toArray()).toEqual([0.5, 1, 1.5]);
    expect(tensor([1]).add(tensor([1], { dtype: 'float64' })).dtype).toBe('float64');
    expect(i.mul(tensor([2])).dtype).toBe('float32');
  });

  it('comparisons give int32 0/1 with broadcasting', () => {
    const a = tensor([[1, 2], [3, 4]]);
    expect(a.gt(2).toArray()).toEqual([[0, 0], [1, 1]]);
    expect(a.lt(tensor([2, 4])).toArray()).toEqual([[1, 1], [0, 0]]);
    expect(a.ge(2).dtype).toBe('int32');
    expect(a.le(3).toArray()).toEqual([[1, 1], [1, 0]]);
    expect(a.eq(tensor([[1], [4]])).toArray()).toEqual([[1, 0], [0, 1]]);
    expect(a.ne(1).toArray()).toEqual([[0, 1], [1, 1]]);
  });

  it('maximum and minimum split the gradient evenly on ties, as PyTorch', () => {
    const a = tensor([1, 2, 3], { dtype: 'float64', requiresGrad: true });
    const b = tensor([1, 1, 4], { dtype: 'float64', requiresGrad: true });
    a.maximum(b).sum().backward();
    expect(a.grad!.toArray()).toEqual([0.5, 1, 0]);
    expect(b.grad!.toArray()).toEqual([0.5, 0, 1]);
    a.grad = null;
    b.grad = null;
    a.minimum(b).sum().backward();
    expect(a.grad!.toArray()).toEqual([0.5, 0, 1]);
    expect(b.grad!.toArray()).toEqual([0.5, 1, 0]);
  });

  it('pow at a zero base: gradients are 0 where PyTorch masks the 0·∞ of the formulas', () => {
    // at a = 0: d/da = b·a^(b−1) is 0 where b = 0; d/db = a^b·ln a is 0 where b ≥ 0
    const a = tensor([0, 0, 0, 2, 0], { dtype: 'float64', requiresGrad: true });
    const b = tensor([0, 2, 0.5, 0, -1], { dtype: 'float64', requiresGrad: true });
    a.pow(b).sum().backward();
    expect(a.grad!.toArray()).toEqual([0, 0, Infinity, 0, -Infinity]);
    expect(b.grad!.toArray()).toEqual([0, 0, 0, Math.log(2), -Infinity]);
  });

  it('the gradient of a broadcast operand is summed back to its own shape', () => {
    const a = tensor([[1, 2, 3], [4, 5, 6]], { dtype: 'float64', requiresGrad: true });
    const b = tensor([[10], [20]], { dtype: 'float64', requiresGrad: true });
    const c = tensor([1, 2, 3], { dtype: 'float64', requiresGrad: true });
    a.mul(b).add(c).sum().backward();
    expect(a.grad!.toArray()).toEqual([[10, 10, 10], [20, 20, 20]]);
    expect(b.grad!.toArray()).toEqual([[6], [15]]);
    expect(c.grad!.toArray()).toEqual([2, 2, 2]);
  });

  it('sumToShape sums over added leading dims and stretched size-1 dims', () => {
    const g = tensor([[[1, 2], [3, 4]], [[5, 6], [7, 8]]]);
    expect(sumToShape(g, [2, 1]).toArray()).toEqual([[1 + 2 + 5 + 6], [3 + 4 + 7 + 8]]);
    expect(sumToShape(g, [2]).toArray()).toEqual([1 + 3 + 5 + 7, 2 + 4 + 6 + 8]);
    expect(sumToShape(g, []).item()).toBe(36);
    expect(sumToShape(g, [2, 2, 2])).toBe(g);
  });
});
