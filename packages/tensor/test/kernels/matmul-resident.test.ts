// Resident weights of the wasm few-row product (x·Wᵀ for M ≤ 4 rows, src/wasm/matmul.ts): a W used
// a second time is kept in a wasm memory of its own, interleaved by groups of four rows. Checked
// here: the kept copy gives exactly the bits of W staged per call, whatever the shape, view and
// accumulate; every kind of in-place write to W (copy_, add_, mul_, a direct write with
// incrementVersion as the optimizers do) is seen by the next product; storages in shared memory and
// views seen at a new length every call (a growing KV cache) are never kept; the thread's shared
// memory being replaced leaves kept copies right; a full region falls back to staging, then frees
// copies gone idle. (An AdamW step during generation: packages/llama/test/resident-weights.test.ts.)

import fc from 'fast-check';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { getBackend, setBackend } from '../../src/backend.js';
import { incrementVersion } from '../../src/autograd/graph.js';
import { matmulKernel } from '../../src/kernels/matmul.js';
import { Tensor } from '../../src/tensor.js';
import { residentWeightStats, setResidentWeights } from '../../src/wasm/matmul.js';
import { fill } from './operands.js';

const initialBackend = getBackend();
afterAll(() => setBackend(initialBackend));
afterEach(() => setResidentWeights(true));

/** W [N, K] as rows of `stride` floats from `offset` in a buffer filled from `seed`. */
interface Weight { data: Float32Array; offset: number; stride: number; N: number; K: number }

function makeWeight(N: number, K: number, stride: number, offset: number, seed: number): Weight {
  const data = new Float32Array(offset + (N - 1) * stride + K + 2);
  fill(data, seed);
  return { data, offset, stride, N, K };
}

// C [M, N] = x [M, K] · Wᵀ (+ C0 when accumulating) through the dispatch of kernels/matmul.ts,
// on the wasm backend; C sits at offset 1 of a buffer 2 longer, so writes outside it show.
function product(x: Float32Array, M: number, w: Weight, accumulate: boolean): Float32Array {
  setBackend('wasm');
  const c = new Float32Array(M * w.N + 2);
  fill(c, 99);
  matmulKernel(c, 1, x, 0, w.K, 1, w.data, w.offset, 1, w.stride, M, w.N, w.K, accumulate);
  return c;
}

function expectSameBits(got: Float32Array, want: Float32Array): void {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) if (!Object.is(got[i], want[i])) expect.fail(`element ${i}: ${got[i]} vs ${want[i]}`);
}

describe('resident weights of the wasm few-row matmul', () => {
  it('a kept W gives exactly the bits of W staged per call (random shapes, row strides, offsets, accumulate)', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 4 }), fc.integer({ min: 5, max: 300 }), fc.integer({ min: 9, max: 300 }),
      fc.integer({ min: 0, max: 7 }), fc.integer({ min: 0, max: 5 }), fc.boolean(), fc.integer({ min: 1, max: 1e6 }),
      (M, N, K, extraStride, offset, accumulate, seed) => {
        fc.pre(M * N * K > 4096); // smaller products stay in js (kernels/matmul.ts)
        const w = makeWeight(N, K, K + extraStride, offset, seed);
        const x = new Float32Array(M * K);
        fill(x, seed + 1);
        setResidentWeights(false);
        const staged = product(x, M, w, accumulate);
        setResidentWeights(true);
        product(x, M, w, accumulate); // first use: staged, remembered
        expect(residentWeightStats().copies).toBe(0);
        expectSameBits(product(x, M, w, accumulate), staged); // second use: copied in, kept
        expect(residentWeightStats().copies).toBe(1);
        expectSameBits(product(x, M, w, accumulate), staged); // third: read from the kept copy
      }), { numRuns: 60 });
  });

  it('in-place writes to W (copy_, add_, mul_, a direct write with incrementVersion) are seen by the next product', () => {
    const N = 40, K = 128, M = 1;
    const storage = new Float32Array(N * K);
    fill(storage, 7);
    const w = new Tensor(storage, [N, K]);
    const view: Weight = { data: storage, offset: 0, stride: K, N, K };
    const x = new Float32Array(M * K);
    fill(x, 8);
    const fresh = () => {
      setResidentWeights(false);
      const c = product(x, M, { ...view, data: storage.slice() }, false);
      setResidentWeights(true);
      return c;
    };
    setResidentWeights(true);
    product(x, M, view, false);
    product(x, M, view, false);
    expect(residentWeightStats().copies).toBe(1);
    const other = new Float32Array(N * K);
    fill(other, 9);
    const writes: Array<[string, () => void]> = [
      ['copy_', () => w.copy_(new Tensor(other, [N, K]))],
      ['add_', () => w.add_(new Tensor(other, [N, K]), -0.5)],
      ['mul_', () => w.mul_(3)],
      ['direct write + incrementVersion (an optimizer step)', () => {
        for (let i = 0; i < storage.length; i++) storage[i] = storage[i]! * 0.9 - 0.01;
        incrementVersion(w);
      }],
    ];
    for (const [name, write] of writes) {
      const before = product(x, M, view, false);
      write();
      const after = product(x, M, view, false);
      expect(residentWeightStats().copies, name).toBe(1); // still served from the kept copy
      expectSameBits(after, fresh());
      expect(after.some((v, i) => v !== before[i]), name).toBe(true);
    }
  });

  it('a W in shared memory (the worker pool stages operands there, rewriting them unversioned) is never kept', () => {
    const N = 32, K = 256;
    const shared = new Float32Array(new SharedArrayBuffer(N * K * 4));
    fill(shared, 11);
    const w: Weight = { data: shared, offset: 0, stride: K, N, K };
    const x = new Float32Array(K);
    fill(x, 12);
    setResidentWeights(true);
    for (let i = 0; i < 3; i++) product(x, 1, w, false);
    expect(residentWeightStats().copies).toBe(0);
    fill(shared, 13); // rewritten as a staging buffer is, with no version bump
    setResidentWeights(false);
    const staged = product(x, 1, { ...w, data: shared.slice() }, false);
    setResidentWeights(true);
    expectSameBits(product(x, 1, w, false), staged);
  });

  it('a storage read as W at a new length every call (a growing KV cache) is never kept and stays right', () => {
    const K = 128, capacity = 64;
    const cache = new Float32Array(capacity * K);
    fill(cache, 14);
    const x = new Float32Array(K);
    fill(x, 15);
    setResidentWeights(true);
    for (let n = 40; n <= capacity; n++) {
      cache.fill(n / 7, (n - 1) * K, n * K); // row n − 1 written in place, unversioned, as kv-cache.ts does
      const w: Weight = { data: cache, offset: 0, stride: K, N: n, K };
      setResidentWeights(false);
      const staged = product(x, 1, { ...w, data: cache.slice() }, false);
      setResidentWeights(true);
      expectSameBits(product(x, 1, w, false), staged);
    }
    expect(residentWeightStats().copies).toBe(0);
  });

  it('kept copies stay right when a large call replaces the shared wasm memory', () => {
    const small = makeWeight(24, 100, 100, 0, 3);
    const x = new Float32Array(2 * 100);
    fill(x, 4);
    setResidentWeights(false);
    const staged = product(x, 2, small, true);
    setResidentWeights(true);
    product(x, 2, small, true);
    product(x, 2, small, true);
    expect(residentWeightStats().copies).toBe(1);
    // W of 4200 × 4096 floats (67 MB) is larger than the resident cap, so it is staged in the
    // shared memory, which (64 MiB steps) must be replaced to hold it
    const big = makeWeight(4200, 4096, 4096, 0, 5);
    const bx = new Float32Array(4096);
    fill(bx, 6);
    const bigOut = product(bx, 1, big, false);
    let s = 0;
    for (let k = 0; k < 4096; k++) s += bx[k]! * big.data[4199 * 4096 + k]!;
    expect(Math.abs(bigOut[4200]! - s)).toBeLessThan(1e-4); // the last row of the big product, against a double sum
    expect(residentWeightStats().copies).toBe(1);
    expectSameBits(product(x, 2, small, true), staged);
  });

  it('a full region stages new weights per call, then frees a copy once it has been idle for 4096 calls', () => {
    const K = 512;
    const ws = [[16, 1], [16, 2], [12, 3]].map(([N, seed]) => makeWeight(N!, K, K, 0, seed!)); // 32, 32 and 24 KiB
    const x = new Float32Array(K);
    fill(x, 10);
    setResidentWeights(false);
    const staged = ws.map((w) => product(x, 1, w, false));
    setResidentWeights(true, 64 << 10); // room for the first two
    for (let pass = 0; pass < 2; pass++) ws.forEach((w, i) => expectSameBits(product(x, 1, w, false), staged[i]!));
    expect(residentWeightStats()).toEqual({ bytes: 64 << 10, copies: 2 });
    // ws[1] (last used at call 5) goes idle while ws[0] and ws[2] alternate from call 7 on; ws[2],
    // staged per call meanwhile, takes ws[1]'s place at its first use 4096 calls after call 5
    let switchedAt = -1;
    for (let i = 0; i < 2100; i++) {
      expectSameBits(product(x, 1, ws[0]!, false), staged[0]!);
      expectSameBits(product(x, 1, ws[2]!, false), staged[2]!);
      if (switchedAt < 0 && residentWeightStats().bytes === 56 << 10) switchedAt = 8 + 2 * i;
    }
    expect(switchedAt).toBe(5 + 4096 + 1);
    expect(residentWeightStats().copies).toBe(2);
    expectSameBits(product(x, 1, ws[1]!, false), staged[1]!);
  });
});
