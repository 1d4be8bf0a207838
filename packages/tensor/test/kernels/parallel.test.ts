// Splitting matmuls and attention across threads: the partition and signalling protocol with a
// recording in-thread pool, then real worker threads (src/node/worker-pool.ts) against one thread.
// Every reference is computed with no pool installed, so it never splits: a split that loses rows
// cannot agree with itself (issue 16, item 12: a mutant dropping the last row of every chunk).

import fc from 'fast-check';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { type Backend, getBackend, setBackend } from '../../src/backend.js';
import type { FloatArray } from '../../src/dtype.js';
import { matmulKernel } from '../../src/kernels/matmul.js';
import { type MatmulFn, type MatmulJob, nextChunk, parallelMatmul, runJob, startWorkers } from '../../src/parallel/matmul.js';
import { PARALLEL_MIN_WORK, type ThreadPool, isShared, matmulThreads, setThreadPool, stagingBytes, waitForWorkers } from '../../src/parallel/pool.js';
import { zeros } from '../../src/create.js';
import { type AttentionJob, runAttentionJob } from '../../src/parallel/attention.js';
import { runPostedJob } from '../../src/parallel/worker.js';
import { attention } from '../../src/ops/attention.js';
import { Tensor } from '../../src/tensor.js';
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

// One product C[M, N] = A·B in the given layout, operands in ordinary memory.
function product(layout: Layout, M: number, N: number, K: number) {
  const a = random(new Float32Array(M * K), 1), b = random(new Float32Array(K * N), 2);
  const [aRs, aCs] = layout === 'Aᵀ·B' ? [1, M] : [K, 1];
  const [bRs, bCs] = layout === 'A·Bᵀ' ? [1, K] : [N, 1];
  return { a, b, aRs, aCs, bRs, bCs };
}

// The same product on this thread alone: the pool is uninstalled first (each test installs its
// own again afterwards), so the reference is never split, whatever the size.
// matmulKernel is one thread's loop (splitting is parallelMatmul's), so this reference never splits,
// whatever pool is installed
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
      const out = c.slice(cOffset, cOffset + M * N); // C's rows as they are: accumulate adds to them
      matmulKernel(out, 0, new Float32Array(a), aOffset, aRs, aCs, new Float32Array(b), bOffset, bRs, bCs, M, N, K, accumulate);
      c.set(out, cOffset);
    };
    const pool: ThreadPool = { size: 1, post: (_index, job) => runJob(job as MatmulJob, kernel) };
    return { pool, chunks };
  }

  afterAll(() => {
    setThreadPool(null);
  });

  it('workers claim disjoint row chunks that together cover C', () => {
    const [M, N, K] = [200, 130, 100];
    const p = product('A·Bᵀ', M, N, K);
    const expected = singleThread(new Float32Array(M * N), p, M, N, K, false);
    const { pool, chunks } = inlinePool();
    setThreadPool(pool);
    expect(matmulThreads()).toBe(2);
    const c = new Float32Array(M * N);
    parallelMatmul(c, 0, p.a, 0, p.aRs, p.aCs, p.b, 0, p.bRs, p.bCs, M, N, K);
    // 200 rows in chunks of at least 24 (eight per thread would be thinner)
    expect(chunks).toEqual([[0, 24], [24, 24], [48, 24], [72, 24], [96, 24], [120, 24], [144, 24], [168, 24], [192, 8]]);
    expect(nextChunk()).toBe(-1);
    expectClose(c, expected);
  });

  it('a thread keeps B packed across the row chunks of one product, and packs a new product\'s own B', () => {
    // the in-thread "worker" runs every chunk with the real kernel, keyed by the job
    const [M, N, K] = [301, 203, 97];
    const products = [5, 6, 7].map((seed) => ({ a: random(new Float32Array(M * K), 1), b: random(new Float32Array(K * N), seed), aRs: K, aCs: 1, bRs: N, bCs: 1 }));
    const expected = products.map((p) => singleThread(new Float32Array(M * N), p, M, N, K, false));
    // the products back to back, nothing else multiplied in between
    setThreadPool({ size: 1, post: (_index, job) => runPostedJob(job) });
    const results = products.map((p) => {
      const c = new Float32Array(M * N);
      parallelMatmul(c, 0, p.a, 0, p.aRs, p.aCs, p.b, 0, p.bRs, p.bCs, M, N, K);
      return c;
    });
    results.forEach((c, i) => expectClose(c, expected[i]!));
  });

  it('small products stay on the calling thread', () => {
    const { pool, chunks } = inlinePool();
    setThreadPool(pool);
    const x = new Float32Array(400 * 100);
    expect(20 * 100 * 100).toBeLessThan(PARALLEL_MIN_WORK);
    expect(startWorkers(x, 0, x, 0, 100, 1, x, 0, 100, 1, 20, 100, 100, false)).toBeNull();
    expect(chunks).toEqual([]);
  });

  it('stages operands of any layout in shared memory, copies C back to its offset, and leaves the rest of C alone', () => {
    const { pool, chunks } = inlinePool();
    setThreadPool(pool);
    const [M, N, K] = [150, 90, 160];
    const aBig = random(new Float32Array(2 * (M + 3) * K + 8), 4); // A: every other row of a bigger matrix, from offset 5
    const bRow = random(new Float32Array(N + 2), 5); // B: one row broadcast over K (row stride 0)
    for (const accumulate of [false, true]) {
      const c = random(new Float32Array(M * N + 10), 6);
      const before = c.slice();
      const expected = new Float32Array(c.subarray(7, 7 + M * N));
      setThreadPool(null); // the reference on this thread alone
      matmulKernel(expected, 0, aBig.slice(), 5, 2 * K, 1, bRow.slice(), 1, 0, 1, M, N, K, accumulate);
      setThreadPool(pool);
      chunks.length = 0;
      parallelMatmul(c, 7, aBig, 5, 2 * K, 1, bRow, 1, 0, 1, M, N, K, accumulate);
      expect(chunks.length).toBeGreaterThan(0);
      expectClose(c.subarray(7, 7 + M * N), expected);
      for (const i of [0, 6, 7 + M * N, c.length - 1]) expect(c[i]).toBe(before[i]);
    }
  });

  it('operands already in shared memory are used in place', () => {
    setThreadPool(inlinePool().pool);
    const [M, N, K] = [200, 130, 100];
    const a = random(new Float32Array(new SharedArrayBuffer(4 * M * K)), 1);
    const b = random(new Float32Array(K * N), 2);
    const c = new Float32Array(new SharedArrayBuffer(4 * M * N));
    const job = startWorkers(c, 0, a, 0, K, 1, b, 0, N, 1, M, N, K, false)!;
    expect(job.task.a).toBe(a);
    expect(job.task.c).toBe(c);
    expect(job.task.b).not.toBe(b);
    expect(isShared(job.task.b)).toBe(true);
    waitForWorkers();
  });

  it('stages a job in one shared arena: disjoint regions, reused by a smaller job, grown to exactly the largest job (rounded up to 1 MiB)', () => {
    setThreadPool(inlinePool().pool);
    // larger than any product before in this file: A, B and C take 3 · 600² floats = 4.32 MB
    const run = (n: number) => {
      const p = product('A·B', n, n, n);
      const c = new Float32Array(n * n);
      const job = startWorkers(c, 0, p.a, 0, p.aRs, p.aCs, p.b, 0, p.bRs, p.bCs, n, n, n, false)!;
      waitForWorkers();
      expectClose(c, singleThread(new Float32Array(n * n), p, n, n, n, false));
      return job.task;
    };
    run(600); // the first job of this size takes what the arena lacks from buffers of its own
    const big = run(600);
    expect(stagingBytes()).toBe(5 * 2 ** 20);
    const regions = [big.a, big.b, big.c].map((x) => [x.byteOffset, x.byteOffset + x.byteLength] as const);
    for (const x of [big.a, big.b, big.c]) expect(x.buffer).toBe(big.a.buffer);
    expect(regions[0]![1]).toBeLessThanOrEqual(regions[1]![0]);
    expect(regions[1]![1]).toBeLessThanOrEqual(regions[2]![0]);
    expect(regions[2]![1]).toBeLessThanOrEqual(5 * 2 ** 20);
    const small = run(300);
    expect(small.a.buffer).toBe(big.a.buffer);
    expect(stagingBytes()).toBe(5 * 2 ** 20);
    // a job of 3 · 680² floats = 5.55 MB: the arena becomes 6 MiB (doubling would make it 10)
    run(680);
    run(680);
    expect(stagingBytes()).toBe(6 * 2 ** 20);
  });

  it('a failed worker makes the waiting caller throw', () => {
    const quiet = vi.spyOn(console, 'error').mockImplementation(() => {});
    setThreadPool(inlinePool(true).pool);
    const x = new Float32Array(300 * 300);
    expect(() => parallelMatmul(x, 0, x, 0, 300, 1, x, 0, 300, 1, 300, 300, 300)).toThrow(/worker thread failed/);
    expect(quiet).toHaveBeenCalled();
    quiet.mockRestore();
  });
});

describe('matmul on worker threads', () => {
  afterAll(() => disableWorkerThreads());

  it('matmulKernel split across a worker thread equals the single-thread result', async () => {
    const [M, N, K] = [301, 203, 97];
    for (const layout of ['A·B', 'A·Bᵀ', 'Aᵀ·B'] as const) {
      for (const accumulate of [false, true]) {
        const p = product(layout, M, N, K);
        const c = random(new Float32Array(M * N), 3);
        const expected = singleThread(c, p, M, N, K, accumulate);
        await enableWorkerThreads(1); // installs the running worker again (started once)
        expect(matmulThreads()).toBe(2);
        parallelMatmul(c, 0, p.a, 0, p.aRs, p.aCs, p.b, 0, p.bRs, p.bCs, M, N, K, accumulate);
        expectClose(c, expected);
      }
    }
  });

  it('on both backends, a product split across a worker thread equals the one-thread product exactly, for any layout and shape', async () => {
    await enableWorkerThreads(1);
    const before = getBackend();
    // the row chunks share the kernel's arithmetic: a split changes which thread computes a row, not how
    const arb = fc.record({
      layout: fc.constantFrom<Layout>('A·B', 'A·Bᵀ', 'Aᵀ·B'), M: fc.integer({ min: 150, max: 400 }), N: fc.integer({ min: 120, max: 300 }),
      K: fc.integer({ min: 120, max: 300 }), accumulate: fc.boolean(), backend: fc.constantFrom<Backend>('js', 'wasm'),
    });
    try {
      fc.assert(fc.property(arb, ({ layout, M, N, K, accumulate, backend }) => {
        setBackend(backend);
        const p = product(layout, M, N, K);
        const c = random(new Float32Array(M * N), 3);
        const expected = singleThread(c, p, M, N, K, accumulate);
        expect(startWorkers(c, 0, p.a, 0, p.aRs, p.aCs, p.b, 0, p.bRs, p.bCs, M, N, K, accumulate)).not.toBeNull();
        waitForWorkers();
        expect(c).toEqual(expected);
      }), { numRuns: 12 });
    } finally {
      setBackend(before);
    }
  });

  it('consecutive split products of the same shape pack their own B (no stale B kept from the last one)', async () => {
    const [M, N, K] = [301, 203, 97];
    const products = [5, 6, 7].map((seed) => ({ a: random(new Float32Array(M * K), 1), b: random(new Float32Array(K * N), seed), aRs: K, aCs: 1, bRs: N, bCs: 1 }));
    const expected = products.map((p) => singleThread(new Float32Array(M * N), p, M, N, K, false));
    await enableWorkerThreads(1);
    const results = products.map((p) => {
      const c = new Float32Array(M * N);
      parallelMatmul(c, 0, p.a, 0, p.aRs, p.aCs, p.b, 0, p.bRs, p.bCs, M, N, K);
      return c;
    });
    results.forEach((c, i) => expectClose(c, expected[i]!));
  });

  it('a worker thread computes every chunk the caller leaves to it', async () => {
    const [M, N, K] = [301, 203, 97];
    const p = product('A·Bᵀ', M, N, K);
    const expected = singleThread(new Float32Array(M * N), p, M, N, K, false);
    await enableWorkerThreads(1);
    const c = new Float32Array(M * N);
    expect(startWorkers(c, 0, p.a, 0, p.aRs, p.aCs, p.b, 0, p.bRs, p.bCs, M, N, K, false)).not.toBeNull();
    waitForWorkers();
    expectClose(c, expected);
  });

  it('tensors stay in ordinary memory with workers on, and disableWorkerThreads returns to one thread', async () => {
    await enableWorkerThreads(1);
    expect(isShared(zeros([4]).storage)).toBe(false);
    disableWorkerThreads();
    expect(matmulThreads()).toBe(1);
    const c: FloatArray = new Float32Array(4);
    parallelMatmul(c, 0, new Float32Array([1, 2, 3, 4]), 0, 2, 1, new Float32Array([1, 0, 0, 1]), 0, 2, 1, 2, 2, 2);
    expect(Array.from(c)).toEqual([1, 2, 3, 4]);
  });
});

describe('attention split across threads', () => {
  // q [B, Hkv, G, T, D] against k and v [B, Hkv, 1, T, D] broadcast over the G query heads
  // (grouped-query attention): 8 slices, large enough to be split.
  function inputs(G: number) {
    const [B, Hkv, T, D] = [2, 4 / G, 128, 32];
    const make = (shape: number[], seed: number) => {
      const t = new Tensor(random(new Float32Array(shape.reduce((a, b) => a * b, 1)), seed), shape);
      t.requiresGrad = true;
      return t;
    };
    return { q: make([B, Hkv, G, T, D], 1), k: make([B, Hkv, 1, T, D], 2), v: make([B, Hkv, 1, T, D], 3), weights: random(new Float32Array(B * Hkv * G * T * D), 4) };
  }

  // Key mask [B, 1, 1, T]: batch row 0 left-padded by 37 tokens, row 1 by none.
  const keyMask = new Tensor(Int32Array.from({ length: 2 * 128 }, (_, at) => (at >= 37 ? 1 : 0)), [2, 1, 1, 128]);

  // The output and the three gradients of Σ out ⊙ weights, as plain arrays.
  function run(G: number, causal: boolean, masked = false) {
    const { q, k, v, weights } = inputs(G);
    const out = attention(q, k, v, { causal, keyMask: masked ? keyMask : undefined });
    out.mul(new Tensor(weights, out.shape)).sum().backward();
    return [out, q.grad!, k.grad!, v.grad!].map((t) => Array.from(t.toTypedArray()));
  }

  afterAll(() => setThreadPool(null));

  it('cuts slices into units that never separate the query heads of one key/value head, and matches one thread exactly', () => {
    for (const G of [1, 2, 4]) {
      for (const causal of [true, false]) {
        setThreadPool(null);
        const expected = run(G, causal);
        const units: Array<[number, number]> = [];
        setThreadPool({
          size: 1,
          post: (_index, job) => {
            const j = job as AttentionJob;
            for (let u = 0; u < j.units; u++) units.push([j.unitStart[u]!, j.unitStart[u + 1]!]);
            runAttentionJob(j);
          },
        });
        units.length = 0;
        const actual = run(G, causal);
        expect(actual).toEqual(expected);
        // a forward and a backward job, each in several units; backward units hold whole groups of G
        expect(units.length).toBeGreaterThan(4);
        for (const [from, to] of units) expect(from < to).toBe(true);
        const backward = units.slice(units.findIndex(([from], i) => i > 0 && from === 0));
        for (const [from] of backward) expect(from % G).toBe(0);
      }
    }
  });

  it('with a key mask (left padding), split across units equals one thread exactly', () => {
    setThreadPool(null);
    const expected = run(2, true, true);
    let jobs = 0;
    setThreadPool({ size: 1, post: (_index, job) => { jobs++; runAttentionJob(job as AttentionJob); } });
    expect(run(2, true, true)).toEqual(expected);
    expect(jobs).toBe(2); // the forward and the backward were both split
    setThreadPool(null);
    expect(expected).not.toEqual(run(2, true, false)); // the mask matters here
  });

  it('on a real worker thread equals one thread exactly', async () => {
    setThreadPool(null);
    const expected = run(2, true);
    await enableWorkerThreads(1);
    try {
      expect(run(2, true)).toEqual(expected);
    } finally {
      disableWorkerThreads();
    }
  });
});
