import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Tensor, gradcheck, gradgradcheck, matmul, randn, tensor, Generator } from '../../src/index.js';
import { GRAD_RUNS, GRADGRAD_RUNS, type Layout, numelOf, tensorOfShapeArb } from '../arbitraries.js';

const size = fc.integer({ min: 1, max: 4 });

// Operand shapes of every form matmul accepts: 1-D on either side or both, plain 2-D, batched,
// broadcast batch dims (one side without batch, or size-1 batch dims), and [.., M, K] @ [K, N].
const shapesArb: fc.Arbitrary<[number[], number[]]> = fc.tuple(size, size, size, size, size).chain(([m, k, n, b, c]) =>
  fc.constantFrom<[number[], number[]]>(
    [[k], [k]],
    [[k], [k, n]],
    [[m, k], [k]],
    [[m, k], [k, n]],
    [[b, m, k], [b, k, n]],
    [[b, m, k], [k, n]],
    [[m, k], [b, k, n]],
    [[b, 1, m, k], [c, k, n]],
    [[1, m, k], [b, k, n]],
    [[b, m, k], [k]],
    [[k], [b, k, n]],
  ));

function operandsArb(layouts?: readonly Layout[]) {
  return shapesArb.chain(([sa, sb]) => fc.tuple(tensorOfShapeArb(sa, { layouts }), tensorOfShapeArb(sb, { layouts })));
}

// The product by the textbook triple loop over nested arrays, with PyTorch's 1-D and batch rules.
function naiveMatmul(a: Tensor, b: Tensor): { shape: number[]; values: number[] } {
  const as = a.ndim === 1 ? [1, a.shape[0]!] : [...a.shape];
  const bs = b.ndim === 1 ? [b.shape[0]!, 1] : [...b.shape];
  const av = a.toTypedArray();
  const bv = b.toTypedArray();
  const [M, K, N] = [as[as.length - 2]!, as[as.length - 1]!, bs[bs.length - 1]!];
  const aBatch = as.slice(0, -2);
  const bBatch = bs.slice(0, -2);
  const n = Math.max(aBatch.length, bBatch.length);
  const batch: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = aBatch[aBatch.length - n + i] ?? 1;
    const y = bBatch[bBatch.length - n + i] ?? 1;
    batch.push(x === 1 ? y : x);
  }
  const batchIndex = (s: number[], idx: number[]) => {
    let at = 0;
    for (let k = 0; k < s.length; k++) at = at * s[k]! + (s[k] === 1 ? 0 : idx[n - s.length + k]!);
    return at;
  };
  const values: number[] = [];
  const idx = new Array<number>(n).fill(0);
  for (let p = 0; p < numelOf(batch); p++) {
    const ao = batchIndex(aBatch, idx) * M * K;
    const bo = batchIndex(bBatch, idx) * K * N;
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += av[ao + i * K + k]! * bv[bo + k * N + j]!;
        values.push(s);
      }
    }
    for (let k = n - 1; k >= 0; k--) {
      if (++idx[k]! < batch[k]!) break;
      idx[k] = 0;
    }
  }
  const shape = [...batch, ...(a.ndim === 1 ? [] : [M]), ...(b.ndim === 1 ? [] : [N])];
  return { shape, values };
}

describe('matmul: values', () => {
  it('matmul equals the naive triple loop for every operand form and layout', () => {
    fc.assert(fc.property(operandsArb(), ([a, b]) => {
      const ref = naiveMatmul(a, b);
      const out = a.matmul(b);
      expect(out.shape).toEqual(ref.shape);
      Array.from(out.toTypedArray()).forEach((v, i) => expect(v).toBeCloseTo(ref.values[i]!, 12));
    }), { numRuns: 100 });
  });

  it('a 1-D by 1-D product is a 0-d dot product', () => {
    const d = tensor([1, 2, 3]).matmul(tensor([4, 5, 6]));
    expect(d.shape).toEqual([]);
    expect(d.item()).toBe(32);
  });

  it('a 2-D product matches a hand-computed result', () => {
    const a = tensor([[1, 2], [3, 4], [5, 6]]);
    const b = tensor([[1, 0, -1], [2, 1, 0]]);
    expect(matmul(a, b).toArray()).toEqual([[5, 2, -1], [11, 4, -3], [17, 6, -5]]);
    expect(a.matmul(tensor([1, 1])).toArray()).toEqual([3, 7, 11]);
    expect(tensor([1, 1, 1]).matmul(a).toArray()).toEqual([9, 12]);
  });

  it('transposed operands are read through their strides and give the product of the transposes', () => {
    const a = tensor([[1, 2], [3, 4], [5, 6]]); // [3, 2]
    const at = a.transpose(0, 1); // [2, 3], not contiguous
    expect(at.isContiguous()).toBe(false);
    expect(at.matmul(a).toArray()).toEqual([[35, 44], [44, 56]]);
    expect(a.matmul(at).toArray()).toEqual([[5, 11, 17], [11, 25, 39], [17, 39, 61]]);
  });

  it('large products (past the blocked kernel\'s threshold) match the naive loop in float64', () => {
    const g = new Generator(7);
    const a = randn([3, 33, 40], { generator: g, dtype: 'float64' });
    const b = randn([40, 29], { generator: g, dtype: 'float64' }).transpose(0, 1).contiguous().transpose(0, 1);
    const ref = naiveMatmul(a, b);
    const out = a.matmul(b);
    expect(out.shape).toEqual([3, 33, 29]);
    Array.from(out.toTypedArray()).forEach((v, i) => expect(v).toBeCloseTo(ref.values[i]!, 10));
  });

  it('mixed float32 and float64 operands compute in float64', () => {
    expect(tensor([[1, 2]]).matmul(tensor([[3], [4]], { dtype: 'float64' })).dtype).toBe('float64');
  });

  it('inner-dimension mismatches raise an error naming both shapes', () => {
    expect(() => randn([2, 3]).matmul(randn([4, 5]))).toThrow('matmul: inner dimensions differ: [2, 3] @ [4, 5]');
    expect(() => randn([3]).matmul(randn([4]))).toThrow('matmul: inner dimensions differ: [3] @ [4]');
    expect(() => randn([2, 3]).matmul(randn([4]))).toThrow('matmul: inner dimensions differ: [2, 3] @ [4]');
    expect(() => randn([3]).matmul(randn([4, 2]))).toThrow('matmul: inner dimensions differ: [3] @ [4, 2]');
    expect(() => randn([2, 2, 3]).matmul(randn([3, 3, 2]))).toThrow(/^matmul: shapes \[2\] and \[3\] cannot be broadcast/);
  });

  it('matmul rejects 0-d and int32 operands naming the op', () => {
    expect(() => tensor(2).matmul(randn([2]))).toThrow('matmul: both operands need at least 1 dim, got [] @ [2]');
    expect(() => tensor([[1, 2]], { dtype: 'int32' }).matmul(randn([2, 1]))).toThrow(/^matmul: expected a float tensor .*got int32 of shape \[1, 2\]/);
  });
});

describe('matmul: gradients', () => {
  it('matmul matches finite differences for 1-D, batched and broadcast operands in any layout', () => {
    fc.assert(fc.property(operandsArb(), ([a, b]) => gradcheck(matmul, [a, b])), { numRuns: GRAD_RUNS * 2 });
  });

  it('matmul of transposed operands (A·Bᵀ and Aᵀ·C) matches finite differences', () => {
    fc.assert(fc.property(fc.tuple(size, size, size).chain(([m, k, n]) =>
      fc.tuple(tensorOfShapeArb([m, k]), tensorOfShapeArb([n, k]), tensorOfShapeArb([m, n]))),
    ([a, b, c]) => gradcheck((p, q) => p.matmul(q.transpose(0, 1)), [a, b]) && gradcheck((p, r) => p.transpose(0, 1).matmul(r), [a, c])),
    { numRuns: GRAD_RUNS });
  });

  it('matmul with an expanded operand (stride-0 batch) matches finite differences', () => {
    fc.assert(fc.property(fc.tuple(size, size, size, size).chain(([b, m, k, n]) =>
      fc.tuple(tensorOfShapeArb([1, m, k]), tensorOfShapeArb([b, k, n]), fc.constant(b))),
    ([x, w, b]) => gradcheck((p, q) => p.expand(b, -1, -1).matmul(q), [x, w])), { numRuns: GRAD_RUNS });
  });

  it('matmul has correct second derivatives (gradgradcheck)', () => {
    fc.assert(fc.property(operandsArb(), ([a, b]) => gradgradcheck(matmul, [a, b])), { numRuns: GRADGRAD_RUNS * 2 });
  });
});
