// Splitting matmuls across threads: the row partition and signalling protocol with a recording
// in-thread pool, then real worker threads (src/node/worker-pool.ts) against one thread.

import { afterAll, describe, expect, it, vi } from 'vitest';
import { type FloatArray, matmulKernel } from '../../src/kernels/matmul.js';
import {
  type MatmulFn, type MatmulPool, PARALLEL_MIN_WORK, matmulThreads, nextChunk, runJob, setMatmulThreads, startWorkers, waitForWorkers,
} from '../../src/kernels/parallel.js';
import { allocFloat32, isShared, setSharedStorage } from '../../src/kernels/storage.js';
import { disableWorkerThreads, enableWorkerThreads } from '../../src/node/worker-pool.js';

type Layout = 'A·B' | 'A·Bᵀ' | 'Aᵀ·B';

function random(x: Float32Array, seed: number): Float32Array {
  let s = seed;
  for (let i = 0; i < x.length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    x[i] = s / 2 ** 31 - 1;
  }
  return x;
}

// One product C[M, N] = A·B in the given layout, with operands in shared memory.
function product(layout: Layout, M: number, N: number, K: number) {
  const a = random(allocFloat32(M * K), 1), b = random(allocFloat32(K * N), 2);
  const [aRs, aCs] = layout === 'Aᵀ·B' ? [1, M] : [K, 1];
  const [bRs, bCs] = layout === 'A·Bᵀ' ? [1, K] : [N, 1];
  return { a, b, aRs, aCs, bRs, bCs };
}

// The same product on ordinary (unshared) copies, which never leave this thread.
function singleThread(c0: Float32Array, p: ReturnType<typeof product>, M: number, N: number, K: number, accumulate: boolean) {
  const c = new Float32Array(c0);
  matmulKernel(c, 0, new Float32Array(p.a), 0, p.aRs, p.aCs, new Float32Array(p.b), 0, p.bRs, p.bCs, M, N, K, accumulate);
  return c;
}

function expectClose(actual: Float32Array, expected: Float32Array): void {
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]) / (Math.abs(expected[i]) + 1e-3));
  expect(worst).toBeLessThanOrEqual(1e-6);
}

describe('parallel matmul protocol', () => {
  // A pool whose one "worker" runs each job at once on this thread, recording the chunks it
  // computes. Its kernel works on unshared copies, so chunks are not split again.
  function inlinePool(fail = false) {
    const chunks: Array<[number, number]> = [];
    const kernel: MatmulFn = (c, cOffset, a, aOffset, aRs, aCs, b, bOffset, bRs, bCs, M, N, K, accumulate) => {
      if (fail) throw new Error('injected failure');
      chunks.push([cOffset / N, M]);
      const out = new Float32Array(M * N);
      matmulKernel(out, 0, new Float32Array(a), aOffset, aRs, aCs, new Float32Array(b), bOffset, bRs, bCs, M, N, K, accumulate);
      c.set(out, cOffset);
    };
    const pool: MatmulPool = { size: 1, post: (_index, job) => runJob(job, kernel) };
    return { pool, chunks };
  }

  afterAll(() => {
    setMatmulThreads(null);
    setSharedStorage(false);
  });

  it('workers claim disjoint row chunks that together cover C', () => {
    setSharedStorage(true);
    const { pool, chunks } = inlinePool();
    setMatmulThreads(pool);
    expect(matmulThreads()).toBe(2);
    const [M, N, K] = [200, 130, 100];
    const p = product('A·Bᵀ', M, N, K);
    const c = allocFloat32(M * N);
    matmulKernel(c, 0, p.a, 0, p.aRs, p.aCs, p.b, 0, p.bRs, p.bCs, M, N, K);
    // 200 rows in chunks of 36 (about three per thread, rounded to the 3-row tile)
    expect(chunks).toEqual([[0, 36], [36, 36], [72, 36], [108, 36], [144, 36], [180, 20]]);
    expect(nextChunk()).toBe(-1);
    expectClose(c, singleThread(new Float32Array(M * N), p, M, N, K, false));
  });

  it('products that are small or not in shared memory stay on the calling thread', () => {
    const { pool, chunks } = inlinePool();
    setMatmulThreads(pool);
    setSharedStorage(true);
    const shared = allocFloat32(400 * 100);
    expect(startWorkers(shared, 0, shared, 0, 100, 1, new Float32Array(100 * 100), 0, 100, 1, 400, 100, 100, false)).toBe(0);
    expect(20 * 100 * 100).toBeLessThan(PARALLEL_MIN_WORK);
    expect(startWorkers(shared, 0, shared, 0, 100, 1, shared, 0, 100, 1, 20, 100, 100, false)).toBe(0);
    expect(chunks).toEqual([]);
  });

  it('a failed worker makes the waiting caller throw', () => {
    const quiet = vi.spyOn(console, 'error').mockImplementation(() => {});
    setSharedStorage(true);
    setMatmulThreads(inlinePool(true).pool);
    const x = allocFloat32(300 * 300);
    expect(() => matmulKernel(x, 0, x, 0, 300, 1, x, 0, 300, 1, 300, 300, 300)).toThrow(/worker thread failed/);
    expect(quiet).toHaveBeenCalled();
    quiet.mockRestore();
  });

  it('shared storage hands out SharedArrayBuffer-backed arrays only while enabled', () => {
    setSharedStorage(true);
    expect(isShared(allocFloat32(4))).toBe(true);
    setSharedStorage(false);
    expect(isShared(allocFloat32(4))).toBe(false);
  });
});

describe('matmul on worker threads', () => {
  afterAll(() => disableWorkerThreads());

  it('matmulKernel split across a worker thread equals the single-thread result', async () => {
    await enableWorkerThreads(1);
    expect(matmulThreads()).toBe(2);
    const [M, N, K] = [301, 203, 97];
    for (const layout of ['A·B', 'A·Bᵀ', 'Aᵀ·B'] as const) {
      for (const accumulate of [false, true]) {
        const p = product(layout, M, N, K);
        const c = random(allocFloat32(M * N), 3);
        const expected = singleThread(c, p, M, N, K, accumulate);
        matmulKernel(c, 0, p.a, 0, p.aRs, p.aCs, p.b, 0, p.bRs, p.bCs, M, N, K, accumulate);
        expectClose(c, expected);
      }
    }
  });

  it('a worker thread computes every chunk the caller leaves to it', async () => {
    await enableWorkerThreads(1);
    const [M, N, K] = [301, 203, 97];
    const p = product('A·Bᵀ', M, N, K);
    const c = allocFloat32(M * N);
    expect(startWorkers(c, 0, p.a, 0, p.aRs, p.aCs, p.b, 0, p.bRs, p.bCs, M, N, K, false)).toBeGreaterThan(0);
    waitForWorkers();
    expectClose(c, singleThread(new Float32Array(M * N), p, M, N, K, false));
  });

  it('disableWorkerThreads returns to one thread and unshared storage', async () => {
    await enableWorkerThreads(1);
    disableWorkerThreads();
    expect(matmulThreads()).toBe(1);
    expect(isShared(allocFloat32(4))).toBe(false);
    const c: FloatArray = new Float32Array(4);
    matmulKernel(c, 0, new Float32Array([1, 2, 3, 4]), 0, 2, 1, new Float32Array([1, 0, 0, 1]), 0, 2, 1, 2, 2, 2);
    expect(Array.from(c)).toEqual([1, 2, 3, 4]);
  });
});
