// Splitting one large matmul by rows across worker threads that share memory with this one.
//
// Browser-safe: this module uses only SharedArrayBuffer and Atomics. The workers are injected
// as a MatmulPool (Node: enableWorkerThreads in src/node/worker-pool.ts). A browser app can
// implement the pool over Web Workers that call runJob, but must then call matmuls from a
// worker itself: browsers forbid Atomics.wait on the main thread.
//
// One product: operands not already in shared memory are copied into staging buffers that are
// (A, B, and C when accumulating; C is copied back at the end), the calling thread posts the
// whole job to every worker, and all threads claim chunks of rows of C from a shared counter
// until none are left, so a thread slowed down by other work on its core simply computes fewer
// chunks. The caller then sleeps in Atomics.wait until every worker has counted itself finished.
//
// Why staging instead of allocating tensors in shared memory: V8 frees a SharedArrayBuffer only
// when a garbage collection finds it dead, and does not count its size as pressure to collect,
// so with every tensor shared a training process grew to 5–10× its working set. The copies are
// O(M·K + K·N + M·N) against O(M·N·K) work: about 1% at the sizes that are split.

import type { FloatArray } from './matmul.js';

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

/** Installs the pool that large matmuls split across, or with null goes back to one thread. */
export function setMatmulThreads(p: MatmulPool | null): void {
  // Atomics.wait throws where blocking is forbidden (a browser's main thread): fail now, not mid-matmul.
  if (p) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
  pool = p && p.size > 0 ? p : null;
}

/** How many threads a large product runs on: this one plus the pool's workers. */
export function matmulThreads(): number {
  return 1 + (pool ? pool.size : 0);
}

/** True if the array lives in a SharedArrayBuffer, so worker threads can read and write it. */
export function isShared(x: ArrayBufferView): boolean {
  return typeof SharedArrayBuffer !== 'undefined' && x.buffer instanceof SharedArrayBuffer;
}

// The staging buffers (A, B, C), grown on demand and kept: reused by every split product.
const staging: SharedArrayBuffer[] = [];
// Where the job in flight must copy C back to (null when C was shared already).
let copyBack: { c: FloatArray; cOffset: number; staged: FloatArray } | null = null;

function stagingArray(slot: number, like: FloatArray, n: number): FloatArray {
  const bytes = n * like.BYTES_PER_ELEMENT;
  if (!staging[slot] || staging[slot]!.byteLength < bytes) staging[slot] = new SharedArrayBuffer(Math.max(bytes, 2 * (staging[slot]?.byteLength ?? 0)));
  return like instanceof Float32Array ? new Float32Array(staging[slot]!, 0, n) : new Float64Array(staging[slot]!, 0, n);
}

// An operand [rows, cols] the workers can see: itself if shared, else a copy in staging slot
// `slot` that keeps a row-major or column-major layout (whichever reads the source in order).
function stage(slot: number, x: FloatArray, offset: number, rowStride: number, colStride: number, rows: number, cols: number) {
  if (isShared(x)) return { data: x, offset, rowStride, colStride };
  const data = stagingArray(slot, x, rows * cols);
  if (rowStride === 1 && colStride !== 1) {
    // column-major source (a transposed view): copy column by column
    for (let j = 0, d = 0; j < cols; j++) for (let i = 0, s = offset + j * colStride; i < rows; i++, s++) data[d++] = x[s]!;
    return { data, offset: 0, rowStride: 1, colStride: rows };
  }
  for (let i = 0, d = 0; i < rows; i++) for (let j = 0, s = offset + i * rowStride; j < cols; j++, s += colStride) data[d++] = x[s]!;
  return { data, offset: 0, rowStride: cols, colStride: 1 };
}

/** Posts a large product to the workers and returns the job (compute the chunks nextChunk hands out on job.task, then waitForWorkers), or null when it stays on this thread. */
export function startWorkers(
  c: FloatArray, cOffset: number,
  a: FloatArray, aOffset: number, aRowStride: number, aColStride: number,
  b: FloatArray, bOffset: number, bRowStride: number, bColStride: number,
  M: number, N: number, K: number, accumulate: boolean,
): MatmulJob | null {
  // without a pool, for a small product, or inside a job already in flight: stay here
  if (!pool || job || M * N * K < PARALLEL_MIN_WORK || typeof SharedArrayBuffer === 'undefined') return null;
  const chunk = Math.max(MIN_ROWS, Math.ceil(M / (matmulThreads() * CHUNKS_PER_THREAD) / 3) * 3);
  if (chunk >= M) return null;
  const A = stage(0, a, aOffset, aRowStride, aColStride, M, K);
  const B = stage(1, b, bOffset, bRowStride, bColStride, K, N);
  let C = c, cStart = cOffset;
  copyBack = null;
  if (!isShared(c)) {
    C = stagingArray(2, c, M * N);
    cStart = 0;
    if (accumulate) C.set(c.subarray(cOffset, cOffset + M * N));
    copyBack = { c, cOffset, staged: C };
  }
  const task: MatmulTask = {
    c: C, cOffset: cStart, a: A.data, aOffset: A.offset, aRowStride: A.rowStride, aColStride: A.colStride,
    b: B.data, bOffset: B.offset, bRowStride: B.rowStride, bColStride: B.colStride, M, N, K, accumulate,
  };
  job = { task, chunk, signal: new Int32Array(new SharedArrayBuffer(12)) };
  posted = pool.size;
  for (let i = 0; i < posted; i++) pool.post(i, job);
  return job;
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
  const back = copyBack;
  copyBack = null;
  if (Atomics.load(signal, 1) > 0) throw new Error('matmul: a worker thread failed (its error is logged)');
  if (back) back.c.set(back.staged.subarray(0, back.staged.length), back.cOffset);
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
