// matmulKernel against a naive triple loop, over random shapes, dtypes and operand layouts:
// row-major, transposed, a strided sub-block of a bigger buffer, and expanded (stride 0).

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { FloatArray } from '../../src/dtype.js';
import { matmulKernel } from '../../src/kernels/matmul.js';
import { type Layout, type View, fill, makeView } from './operands.js';

type DTypeName = 'float32' | 'float64';
function alloc(dtype: DTypeName, n: number): FloatArray {
  return dtype === 'float32' ? new Float32Array(n) : new Float64Array(n);
}

// The reference: a dot product per element in doubles, plus Σ|a·b| (+|c|) to scale the tolerance.
function naive(c0: FloatArray, cOffset: number, a: View, b: View, M: number, N: number, K: number, accumulate: boolean) {
  const value = new Float64Array(M * N), scale = new Float64Array(M * N);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = accumulate ? c0[cOffset + i * N + j] : 0;
      let abs = Math.abs(s);
      for (let k = 0; k < K; k++) {
        const p = a.data[a.offset + i * a.rowStride + k * a.colStride] * b.data[b.offset + k * b.rowStride + j * b.colStride];
        s += p;
        abs += Math.abs(p);
      }
      value[i * N + j] = s;
      scale[i * N + j] = abs;
    }
  }
  return { value, scale };
}

/** One randomized case: shapes, dtype, layouts, C's offset in its buffer, accumulate. */
interface Case {
  M: number; N: number; K: number; dtype: DTypeName; aLayout: Layout; bLayout: Layout;
  cOffset: number; accumulate: boolean; seed: number;
}

// Runs one case and returns the worst error relative to Σ|a·b|, or a string when the kernel
// wrote outside C[cOffset, cOffset + M·N).
function worstError(t: Case): number | string {
  const { M, N, K, dtype, cOffset, accumulate, seed } = t;
  const a = makeView(t.aLayout, dtype, M, K, seed);
  const b = makeView(t.bLayout, dtype, K, N, seed + 1);
  const c = alloc(dtype, cOffset + M * N + 5);
  fill(c, seed + 2);
  const before = c.slice();
  const ref = naive(before, cOffset, a, b, M, N, K, accumulate);
  matmulKernel(c, cOffset, a.data, a.offset, a.rowStride, a.colStride, b.data, b.offset, b.rowStride, b.colStride, M, N, K, accumulate);
  for (let i = 0; i < c.length; i++) {
    if ((i < cOffset || i >= cOffset + M * N) && !Object.is(c[i], before[i])) return `wrote outside C at ${i}`;
  }
  let worst = 0;
  for (let i = 0; i < M * N; i++) {
    const err = Math.abs(c[cOffset + i] - ref.value[i]) / (ref.scale[i] + 1e-30);
    worst = Math.max(worst, err);
  }
  return worst;
}

const TOLERANCE: Record<DTypeName, number> = { float32: 1e-5, float64: 1e-12 };

const layoutArb = fc.constantFrom<Layout>('rowMajor', 'transposed', 'subBlock', 'subBlockTransposed', 'expanded');
const sizeArb = (max: number) => fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0, max }) },
  { weight: 1, arbitrary: fc.constantFrom(1, 2, 3, 4) },
);
const caseArb = (maxSize: number): fc.Arbitrary<Case> => fc.record({
  M: sizeArb(maxSize), N: sizeArb(maxSize), K: sizeArb(maxSize),
  dtype: fc.constantFrom<DTypeName>('float32', 'float64'),
  aLayout: layoutArb, bLayout: layoutArb,
  cOffset: fc.integer({ min: 0, max: 7 }), accumulate: fc.boolean(),
  seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
});

function expectClose(t: Case): void {
  const worst = worstError(t);
  expect(worst, JSON.stringify(t)).toBeTypeOf('number');
  expect(worst as number, JSON.stringify(t)).toBeLessThanOrEqual(TOLERANCE[t.dtype]);
}

describe('matmulKernel', () => {
  it('matmulKernel equals the naive product for any shapes and layouts', () => {
    fc.assert(fc.property(caseArb(70), (t) => expectClose(t)), { numRuns: 500 });
  });

  it('matmulKernel equals the naive product for few-row products contiguous along K (x·Wᵀ in generation)', () => {
    const arb = caseArb(70).map((t) => ({ ...t, M: 1 + (t.M % 4), aLayout: 'rowMajor' as const, bLayout: 'transposed' as const }));
    fc.assert(fc.property(arb, (t) => expectClose(t)), { numRuns: 300 });
  });

  it('matmulKernel equals the naive product for sizes spanning several blocks and edge tiles', () => {
    const big = fc.constantFrom(97, 130, 257, 1600);
    const arb = fc.tuple(caseArb(40), big, fc.integer({ min: 0, max: 2 })).map(([t, size, dim]) =>
      ({ ...t, M: dim === 0 ? size : t.M + 1, N: dim === 1 ? size : t.N + 1, K: dim === 2 ? size + 400 : t.K + 1 }));
    fc.assert(fc.property(arb, (t) => expectClose(t)), { numRuns: 60 });
  });

  it('matmulKernel keeps float32 within 1e-5 of the exact product for K up to 1000', () => {
    for (const [aLayout, bLayout] of [['rowMajor', 'rowMajor'], ['rowMajor', 'transposed'], ['transposed', 'rowMajor']] as const) {
      for (const accumulate of [false, true]) {
        expectClose({ M: 37, N: 41, K: 1000, dtype: 'float32', aLayout, bLayout, cOffset: 3, accumulate, seed: 7 });
      }
    }
  });

  it('matmulKernel handles every layout pair on a product large enough to pack', () => {
    const layouts: Layout[] = ['rowMajor', 'transposed', 'subBlock', 'subBlockTransposed', 'expanded'];
    for (const aLayout of layouts) {
      for (const bLayout of layouts) {
        for (const dtype of ['float32', 'float64'] as const) {
          expectClose({ M: 50, N: 34, K: 65, dtype, aLayout, bLayout, cOffset: 2, accumulate: false, seed: 3 });
        }
      }
    }
  });

  it('matmulKernel with K = 0 zeroes C, or leaves it unchanged when accumulating', () => {
    for (const dtype of ['float32', 'float64'] as const) {
      const c = alloc(dtype, 12).fill(5);
      matmulKernel(c, 2, alloc(dtype, 0), 0, 0, 1, alloc(dtype, 0), 0, 3, 1, 2, 3, 0);
      expect(Array.from(c)).toEqual([5, 5, 0, 0, 0, 0, 0, 0, 5, 5, 5, 5]);
      c.fill(5);
      matmulKernel(c, 2, alloc(dtype, 0), 0, 0, 1, alloc(dtype, 0), 0, 3, 1, 2, 3, 0, true);
      expect(Array.from(c)).toEqual(new Array(12).fill(5));
    }
  });

  it('matmulKernel computes mixed float32 and float64 operands in double precision', () => {
    for (const [M, N, K] of [[2, 2, 3], [40, 41, 42]] as const) {
      const a = makeView('rowMajor', 'float32', M, K, 5);
      const b = makeView('transposed', 'float64', K, N, 6);
      const c = new Float64Array(M * N);
      const ref = naive(c, 0, a, b, M, N, K, false);
      matmulKernel(c, 0, a.data, a.offset, a.rowStride, a.colStride, b.data, b.offset, b.rowStride, b.colStride, M, N, K);
      for (let i = 0; i < M * N; i++) expect(Math.abs(c[i] - ref.value[i])).toBeLessThanOrEqual(1e-12 * ref.scale[i]);
    }
  });

  it('matmulKernel gives the same results when float32 and float64 calls interleave', () => {
    const t: Case = { M: 40, N: 40, K: 40, dtype: 'float64', aLayout: 'rowMajor', bLayout: 'transposed', cOffset: 0, accumulate: false, seed: 11 };
    for (let i = 0; i < 3; i++) {
      expectClose({ ...t, dtype: 'float32' });
      expectClose({ ...t, M: 60 + i });
    }
  });
});
