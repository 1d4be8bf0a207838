// Splitting one large matmul by rows across the worker pool (parallel/pool.ts): the caller
// stages the operands in shared memory and posts the job; every thread, this one included, then
// claims chunks of rows and runs the one-thread kernel (kernels/matmul.ts: js or wasm) on them.
// A row chunk changes which thread computes a row of C, not how: the result equals one thread's.

import type { FloatArray } from '../dtype.js';
import { matmulKernel } from '../kernels/matmul.js';
import {
  PARALLEL_MIN_WORK, type SharedJob, beginStaging, canSplit, claimUnit, isShared, matmulThreads, newSignal, postJob, stagingArray, waitForWorkers, workOn,
} from './pool.js';

/** The arguments of one matmulKernel call (arrays in shared memory). */
export interface MatmulTask {
  c: FloatArray; cOffset: number;
  a: FloatArray; aOffset: number; aRowStride: number; aColStride: number;
  b: FloatArray; bOffset: number; bRowStride: number; bColStride: number;
  M: number; N: number; K: number; accumulate: boolean;
}

/** A product shared by several threads, which claim `chunk` rows of C at a time (unit u = rows from u·chunk). */
export interface MatmulJob extends SharedJob { kind: 'matmul'; task: MatmulTask; chunk: number }

/** The kernel a worker runs on each chunk (matmulKernel; tests pass a recording one); `job` lets it keep B packed across chunks. */
export type MatmulFn = (
  c: FloatArray, cOffset: number,
  a: FloatArray, aOffset: number, aRowStride: number, aColStride: number,
  b: FloatArray, bOffset: number, bRowStride: number, bColStride: number,
  M: number, N: number, K: number, accumulate: boolean, job: object | null,
) => void;

// Matmul chunks: finer than other jobs (a thread packs B once for all its chunks, so small
// chunks cost little and balance the threads' finishing times), but at least MIN_ROWS rows so
// packed tiles stay mostly full.
const MATMUL_UNITS_PER_THREAD = 8;
const MIN_ROWS = 24;

// An operand [rows, cols] the workers can see: itself if shared, else a copy in the job's staging
// that keeps a row-major or column-major layout (whichever reads the source in order).
function stageMatrix(x: FloatArray, offset: number, rowStride: number, colStride: number, rows: number, cols: number) {
  if (isShared(x)) return { data: x, offset, rowStride, colStride };
  const data = stagingArray(x, rows * cols);
  // whole rows (or columns) that lie contiguously are copied with set(), a memcpy
  if (rowStride === 1 && colStride !== 1) {
    // column-major source (a transposed view): copy column by column
    for (let j = 0; j < cols; j++) data.set(x.subarray(offset + j * colStride, offset + j * colStride + rows), j * rows);
    return { data, offset: 0, rowStride: 1, colStride: rows };
  }
  if (colStride === 1) {
    for (let i = 0; i < rows; i++) data.set(x.subarray(offset + i * rowStride, offset + i * rowStride + cols), i * cols);
  } else {
    for (let i = 0, d = 0; i < rows; i++) for (let j = 0, s = offset + i * rowStride; j < cols; j++, s += colStride) data[d++] = x[s]!;
  }
  return { data, offset: 0, rowStride: cols, colStride: 1 };
}

/**
 * C[M,N] = A[M,K] · B[K,N] as matmulKernel (same arguments), split by rows across the worker pool when one is installed and the product is large.
 */
export function parallelMatmul(
  c: FloatArray, cOffset: number,
  a: FloatArray, aOffset: number, aRowStride: number, aColStride: number,
  b: FloatArray, bOffset: number, bRowStride: number, bColStride: number,
  M: number, N: number, K: number, accumulate = false,
): void {
  // A matrix times a column runs as one row (matmulKernel turns it around): nothing to split.
  const split = M > 1 && N > 1 && K > 0 && M * N * K >= PARALLEL_MIN_WORK
    ? startWorkers(c, cOffset, a, aOffset, aRowStride, aColStride, b, bOffset, bRowStride, bColStride, M, N, K, accumulate)
    : null;
  if (!split) {
    matmulKernel(c, cOffset, a, aOffset, aRowStride, aColStride, b, bOffset, bRowStride, bColStride, M, N, K, accumulate);
    return;
  }
  const t = split.task;
  for (let m0 = nextChunk(); m0 >= 0; m0 = nextChunk()) {
    matmulKernel(t.c, t.cOffset + m0 * N, t.a, t.aOffset + m0 * t.aRowStride, t.aRowStride, t.aColStride,
      t.b, t.bOffset, t.bRowStride, t.bColStride, Math.min(split.chunk, M - m0), N, K, accumulate, split);
  }
  waitForWorkers();
}

// The job this thread posted last and computes chunks of (nextChunk).
let current: MatmulJob | null = null;

/** Posts a large product to the workers and returns the job (compute the chunks nextChunk hands out on job.task, then waitForWorkers), or null when it stays on this thread. */
export function startWorkers(
  c: FloatArray, cOffset: number,
  a: FloatArray, aOffset: number, aRowStride: number, aColStride: number,
  b: FloatArray, bOffset: number, bRowStride: number, bColStride: number,
  M: number, N: number, K: number, accumulate: boolean,
): MatmulJob | null {
  if (!canSplit(M * N * K)) return null;
  // whole register tiles of both backends (3 rows in js, 4 in wasm)
  const chunk = Math.max(MIN_ROWS, Math.ceil(M / (matmulThreads() * MATMUL_UNITS_PER_THREAD) / 12) * 12);
  if (chunk >= M) return null;
  beginStaging();
  const A = stageMatrix(a, aOffset, aRowStride, aColStride, M, K);
  const B = stageMatrix(b, bOffset, bRowStride, bColStride, K, N);
  let C = c, cStart = cOffset;
  let done: (() => void) | null = null;
  if (!isShared(c)) {
    const staged = stagingArray(c, M * N);
    if (accumulate) staged.set(c.subarray(cOffset, cOffset + M * N));
    [C, cStart] = [staged, 0];
    done = () => c.set(staged, cOffset);
  }
  const task: MatmulTask = {
    c: C, cOffset: cStart, a: A.data, aOffset: A.offset, aRowStride: A.rowStride, aColStride: A.colStride,
    b: B.data, bOffset: B.offset, bRowStride: B.rowStride, bColStride: B.colStride, M, N, K, accumulate,
  };
  const j: MatmulJob = { kind: 'matmul', task, chunk, units: Math.ceil(M / chunk), signal: newSignal() };
  postJob(j, done);
  current = j;
  return j;
}

/** On the calling thread: the first row of the next unclaimed chunk of the product it posted, or -1 when none is left. */
export function nextChunk(): number {
  const u = current ? claimUnit(current) : -1;
  return u < 0 ? -1 : u * current!.chunk;
}

/** On a worker: computes chunks of the product with `kernel` until none are left (see workOn). */
export function runJob(j: MatmulJob, kernel: MatmulFn): void {
  const { task: t, chunk } = j;
  workOn(j, (u) => {
    const m0 = u * chunk;
    kernel(t.c, t.cOffset + m0 * t.N, t.a, t.aOffset + m0 * t.aRowStride, t.aRowStride, t.aColStride,
      t.b, t.bOffset, t.bRowStride, t.bColStride, Math.min(chunk, t.M - m0), t.N, t.K, t.accumulate, j);
  });
}
