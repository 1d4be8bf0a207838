// Splitting one large matmul by rows across worker threads that share memory with this one.
//
// Browser-safe: this module uses only SharedArrayBuffer and Atomics. The workers are injected
// as a MatmulPool (Node: enableWorkerThreads in src/node/worker-pool.ts). A browser app can
// implement the pool over Web Workers that call runJob, but must then call matmuls from a
// worker itself: browsers forbid Atomics.wait on the main thread.
//
// One product: the calling thread posts the whole job to every worker, and all threads claim
// chunks of rows of C from a shared counter until none are left, so a thread slowed down by
// other work on its core simply computes fewer chunks. Chunks are disjoint rows of C written
// in place; nothing is copied back. The caller then sleeps in Atomics.wait until every worker
// has counted itself finished.

import type { FloatArray } from './matmul.js';
import { isShared } from './storage.js';

/** The arguments of one matmulKernel call (arrays in shared memory). */
export interface MatmulTask {
  c: FloatArray; cOffset: number;
  a: FloatArray; aOffset: number; aRowStride: number; aColStride: number;
  b: FloatArray; bOffset: number; bRowStride: number; bColStride: number;
  M: number; N: number; K: number; accumulate: boolean;
}

/** A task shared by several threads, which claim `chunk` rows at a time; signal = [workers finished, workers failed, next chunk]. */
export interface MatmulJob { task: MatmulTask; chunk: number; signal: Int32Array }

/** Worker threads sharing memory with this one; each runs posted jobs with runJob. */
export interface MatmulPool {
  /** How many workers take jobs. */
  readonly size: number;
  /** Hands `job` to worker `index` and returns at once. */
  post(index: number, job: MatmulJob): void;
}

/** The kernel a worker runs on each chunk (matmulKernel; passed in to keep this module free of it). */
export type MatmulFn = (
  c: FloatArray, cOffset: number,
  a: FloatArray, aOffset: number, aRowStride: number, aColStride: number,
  b: FloatArray, bOffset: number, bRowStride: number, bColStride: number,
  M: number, N: number, K: number, accumulate: boolean,
) => void;

/** Products with fewer multiply-adds than this stay on one thread (starting workers costs ~0.1 ms). */
export const PARALLEL_MIN_WORK = 2 ** 21;
// Rows per chunk: about CHUNKS_PER_THREAD chunks for each thread (each chunk repacks B, so
// not many), and at least MIN_ROWS so packed tiles stay mostly full.
const CHUNKS_PER_THREAD = 3;
const MIN_ROWS = 24;

let pool: MatmulPool | null = null;
// The job in flight (one at a time: the caller blocks until it is done) and its worker count.
let job: MatmulJob | null = null;
let posted = 0;

/** Installs the pool that large matmuls on shared storage split across, or with null goes back to one thread. */
export function setMatmulThreads(p: MatmulPool | null): void {
  // Atomics.wait throws where blocking is forbidden (a browser's main thread): fail now, not mid-matmul.
  if (p) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
  pool = p && p.size > 0 ? p : null;
}

/** How many threads a large product runs on: this one plus the pool's workers. */
export function matmulThreads(): number {
  return 1 + (pool ? pool.size : 0);
}

/** Posts a large product to the workers and returns its rows per chunk (then compute the chunks nextChunk hands out, and waitForWorkers), or 0 when it stays on this thread. */
export function startWorkers(
  c: FloatArray, cOffset: number,
  a: FloatArray, aOffset: number, aRowStride: number, aColStride: number,
  b: FloatArray, bOffset: number, bRowStride: number, bColStride: number,
  M: number, N: number, K: number, accumulate: boolean,
): number {
  // without a pool, for a small product, or with an array workers cannot see: stay here
  if (!pool || M * N * K < PARALLEL_MIN_WORK || !isShared(c) || !isShared(a) || !isShared(b)) return 0;
  const chunk = Math.max(MIN_ROWS, Math.ceil(M / (matmulThreads() * CHUNKS_PER_THREAD) / 3) * 3);
  if (chunk >= M) return 0;
  const task: MatmulTask = { c, cOffset, a, aOffset, aRowStride, aColStride, b, bOffset, bRowStride, bColStride, M, N, K, accumulate };
  job = { task, chunk, signal: new Int32Array(new SharedArrayBuffer(12)) };
  posted = pool.size;
  for (let i = 0; i < posted; i++) pool.post(i, job);
  return chunk;
}

/** The first row of the next unclaimed chunk of the job in flight, or -1 when none is left. */
export function nextChunk(): number {
  return job ? claim(job) : -1;
}

/** Blocks until every worker has finished the job in flight; throws if one of them failed. */
export function waitForWorkers(): void {
  if (!job) return;
  const { signal } = job;
  for (let done = Atomics.load(signal, 0); done < posted; done = Atomics.load(signal, 0)) {
    Atomics.wait(signal, 0, done);
  }
  job = null;
  if (Atomics.load(signal, 1) > 0) throw new Error('matmul: a worker thread failed (its error is logged)');
}

/** On a worker: computes chunks of the job with `kernel` until none are left, then counts itself finished and wakes the caller. */
export function runJob(job: MatmulJob, kernel: MatmulFn): void {
  const { task: t, chunk, signal } = job;
  try {
    for (let m0 = claim(job); m0 >= 0; m0 = claim(job)) {
      const rows = Math.min(chunk, t.M - m0);
      kernel(t.c, t.cOffset + m0 * t.N, t.a, t.aOffset + m0 * t.aRowStride, t.aRowStride, t.aColStride,
        t.b, t.bOffset, t.bRowStride, t.bColStride, rows, t.N, t.K, t.accumulate);
    }
  } catch (err) {
    // The caller is blocked in Atomics.wait and cannot receive a message: log, then flag it.
    console.error(err);
    Atomics.add(signal, 1, 1);
    // Leave no chunk for anyone else: the product is failing anyway.
    Atomics.store(signal, 2, t.M);
  }
  Atomics.add(signal, 0, 1);
  Atomics.notify(signal, 0);
}

// Claims the next chunk: returns its first row, or -1 when all rows are taken.
function claim({ task, chunk, signal }: MatmulJob): number {
  const m0 = Atomics.add(signal, 2, 1) * chunk;
  return m0 < task.M ? m0 : -1;
}
