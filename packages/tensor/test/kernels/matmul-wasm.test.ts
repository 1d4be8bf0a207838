// The wasm SIMD matmul against its oracle, the js kernel (itself checked against a naive loop in
// matmul.test.ts): same calls under setBackend('wasm') and setBackend('js'), over random shapes
// (odd sizes, 1-wide dims, K up to 4096), every operand layout, accumulate, and at the tensor
// level over broadcast batches. Also the module builder's integer encodings.

import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { type Backend, getBackend, setBackend, wasmSimdSupported } from '../../src/backend.js';
import { matmulKernel } from '../../src/kernels/matmul.js';
import { sleb, uleb } from '../../src/wasm/builder.js';
import { matmul } from '../../src/ops/matmul.js';
import { Tensor } from '../../src/tensor.js';
import { type Layout, type View, fill, makeView } from './operands.js';

interface Case { M: number; N: number; K: number; aLayout: Layout; bLayout: Layout; cOffset: number; accumulate: boolean; seed: number }

// C = A·B (+ C) on one backend; C lives at cOffset in a buffer 5 longer, pre-filled.
function run(backend: Backend, t: Case): Float32Array {
  const a = makeView(t.aLayout, 'float32', t.M, t.K, t.seed);
  const b = makeView(t.bLayout, 'float32', t.K, t.N, t.seed + 1);
  const c = new Float32Array(t.cOffset + t.M * t.N + 5);
  fill(c, t.seed + 2);
  setBackend(backend);
  matmulKernel(c, t.cOffset, a.data, a.offset, a.rowStride, a.colStride, b.data, b.offset, b.rowStride, b.colStride, t.M, t.N, t.K, t.accumulate);
  return c;
}

// Frobenius norm of an [rows, cols] view.
function norm(v: View, rows: number, cols: number): number {
  let s = 0;
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) s += v.data[v.offset + i * v.rowStride + j * v.colStride]! ** 2;
  return Math.sqrt(s);
}

// The normwise error of the wasm product against the js one, as in the standard bound for a
// float product: ‖C_wasm − C_js‖ / (‖A‖·‖B‖ + ‖C₀‖) in Frobenius norms (C₀ the accumulated C).
// (Relative to ‖C‖ alone it would be unbounded: one dot product can cancel to about zero.)
// Returns a string when the buffers differ outside C.
function normwiseError(t: Case): number | string {
  const js = run('js', t), wasm = run('wasm', t);
  const end = t.cOffset + t.M * t.N;
  let diff = 0;
  for (let i = 0; i < js.length; i++) {
    if (i < t.cOffset || i >= end) {
      if (!Object.is(js[i], wasm[i])) return `differs outside C at ${i}`;
      continue;
    }
    diff += (wasm[i]! - js[i]!) ** 2;
  }
  const c0 = new Float32Array(t.cOffset + t.M * t.N + 5);
  fill(c0, t.seed + 2);
  const scale = norm(makeView(t.aLayout, 'float32', t.M, t.K, t.seed), t.M, t.K) * norm(makeView(t.bLayout, 'float32', t.K, t.N, t.seed + 1), t.K, t.N)
    + (t.accumulate ? norm({ data: c0, offset: t.cOffset, rowStride: t.N, colStride: 1 }, t.M, t.N) : 0);
  return Math.sqrt(diff) / scale;
}

// Reached: about 1e-8 (float32 sums in blocks of KC = 256, against sums in doubles).
const TOLERANCE = 1e-7;

function expectClose(t: Case): void {
  const err = normwiseError(t);
  expect(err, JSON.stringify(t)).toBeTypeOf('number');
  expect(err as number, JSON.stringify(t)).toBeLessThanOrEqual(TOLERANCE);
}

const layoutArb = fc.constantFrom<Layout>('rowMajor', 'transposed', 'subBlock', 'subBlockTransposed', 'expanded');
const sizeArb = (max: number) => fc.oneof(
  { weight: 5, arbitrary: fc.integer({ min: 1, max }) },
  { weight: 2, arbitrary: fc.constantFrom(1, 2, 3, 4, 5, 7, 8, 9) },
);
const caseArb = (maxSize: number, maxK = maxSize): fc.Arbitrary<Case> => fc.record({
  M: sizeArb(maxSize), N: sizeArb(maxSize), K: sizeArb(maxK),
  aLayout: layoutArb, bLayout: layoutArb,
  cOffset: fc.integer({ min: 0, max: 7 }), accumulate: fc.boolean(),
  seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
});

describe('wasm matmul kernel', () => {
  const before = getBackend();
  afterAll(() => setBackend(before));

  it('WebAssembly SIMD validates here, so the wasm backend is the default', () => {
    expect(wasmSimdSupported()).toBe(true);
    expect(before).toBe(process.env.TSGRAD_BACKEND ?? 'wasm');
  });

  it('wasm equals the js kernel within float32 rounding for any shapes and layouts', () => {
    fc.assert(fc.property(caseArb(70), expectClose), { numRuns: 400 });
  });

  it('wasm equals the js kernel on few-row products contiguous along K (x·Wᵀ in generation)', () => {
    const arb = caseArb(300).map((t) => ({ ...t, M: 1 + (t.M % 4), aLayout: 'rowMajor' as const, bLayout: 'transposed' as const }));
    fc.assert(fc.property(arb, expectClose), { numRuns: 200 });
  });

  it('wasm equals the js kernel for K up to 4096 and sizes spanning several blocks', () => {
    const arb = fc.tuple(caseArb(40), fc.constantFrom(129, 257, 700), fc.integer({ min: 1000, max: 4096 })).map(([t, size, K]) =>
      ({ ...t, M: t.M + (t.seed % 2 ? size : 0), N: t.N + (t.seed % 2 ? 0 : size), K }));
    fc.assert(fc.property(arb, expectClose), { numRuns: 25 });
  });

  it('wasm equals the js kernel in every layout pair at 4096-long K', () => {
    for (const [aLayout, bLayout] of [['rowMajor', 'rowMajor'], ['rowMajor', 'transposed'], ['transposed', 'rowMajor']] as const) {
      expectClose({ M: 37, N: 45, K: 4096, aLayout, bLayout, cOffset: 3, accumulate: false, seed: 7 });
    }
  });

  it('matmul of tensors gives the same result on both backends over broadcast batches and transposed views', () => {
    const shapes: Array<[number[], number[]]> = [[[3, 1, 9, 33], [2, 33, 17]], [[1, 65], [4, 65, 13]], [[2, 3, 20, 40], [40, 31]]];
    for (const [i, [sa, sb]] of shapes.entries()) {
      const a = new Float32Array(sa.reduce((x, y) => x * y)), b = new Float32Array(sb.reduce((x, y) => x * y));
      fill(a, i);
      fill(b, i + 10);
      // B as the transpose of a contiguous [.., N, K]: the A·Bᵀ layout
      const bT = new Tensor(b, [...sb.slice(0, -2), sb[sb.length - 1]!, sb[sb.length - 2]!]).transpose(-1, -2);
      for (const right of [new Tensor(b, sb), bT]) {
        setBackend('js');
        const js = matmul(new Tensor(a, sa), right).toTypedArray();
        setBackend('wasm');
        const wasm = matmul(new Tensor(a, sa), right).toTypedArray();
        let diff = 0, norm = 0;
        for (let j = 0; j < js.length; j++) [diff, norm] = [diff + (wasm[j]! - js[j]!) ** 2, norm + js[j]! ** 2];
        // relative to ‖C‖ (these fixed products do not cancel): reached 1.1e-7
        expect(Math.sqrt(diff / norm)).toBeLessThanOrEqual(1e-6);
      }
    }
  });

  it('NaN left in the wasm staging memory by one product does not leak into the next one\'s zero padding', () => {
    // the same M, N and K rounded up to 4, so both calls stage at the same addresses; the first
    // fills them with NaN, the second (K = 13) must pad steps 13 … 15 with zeros again
    const [M, N] = [24, 24];
    setBackend('wasm');
    const nan = new Float32Array(M * 16).fill(NaN);
    matmulKernel(new Float32Array(M * N), 0, nan, 0, 16, 1, nan, 0, N, 1, M, N, 16, false);
    const t: Case = { M, N, K: 13, aLayout: 'rowMajor', bLayout: 'rowMajor', cOffset: 0, accumulate: false, seed: 5 };
    const wasm = run('wasm', t), js = run('js', t);
    expect(wasm.every(Number.isFinite)).toBe(true);
    expectClose(t);
    expect(js.slice(0, M * N).some((x, i) => x !== wasm[i])).toBe(true); // two implementations, not one
  });

  it('setBackend rejects an unknown name', () => {
    expect(() => setBackend('gpu' as Backend)).toThrow(/setBackend: unknown backend "gpu"; expected 'js' or 'wasm'/);
  });
});

describe('wasm module builder', () => {
  it('encodes LEB128 integers as the spec\'s examples', () => {
    expect(uleb(0)).toEqual([0]);
    expect(uleb(127)).toEqual([0x7f]);
    expect(uleb(128)).toEqual([0x80, 0x01]);
    expect(uleb(624485)).toEqual([0xe5, 0x8e, 0x26]);
    expect(sleb(-1)).toEqual([0x7f]);
    expect(sleb(63)).toEqual([0x3f]);
    expect(sleb(64)).toEqual([0xc0, 0x00]);
    expect(sleb(-64)).toEqual([0x40]);
    expect(sleb(-123456)).toEqual([0xc0, 0xbb, 0x78]);
  });
});
