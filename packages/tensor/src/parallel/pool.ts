// The worker pool and its job protocol: how one large call (a matmul by rows, parallel/matmul.ts;
// an attention call by slices, parallel/attention.ts) is split across worker threads that share
// memory with this one. The kernels themselves know nothing of threads.
//
// Browser-safe: this module uses only SharedArrayBuffer and Atomics. The workers are injected
// as a ThreadPool (Node: enableWorkerThreads in src/node/worker-pool.ts). A browser app can
// implement the pool over Web Workers that run posted jobs (runPostedJob in parallel/worker.ts),
// but must then call the ops from a worker itself: browsers forbid Atomics.wait on the main
// thread. Without SharedArrayBuffer (no cross-origin isolation) everything runs on one thread.
//
// One job: operands not already in shared memory are copied into the shared staging arena, the
// calling thread posts the whole job to every worker, and all threads claim units of work (row
// chunks, slice groups) from a shared counter until none are left, so a thread slowed down by
// other work on its core simply does fewer. The caller then sleeps in Atomics.wait until every
// worker has counted itself finished, and copies the results back.
//
// Why staging instead of allocating tensors in shared memory: V8 frees a SharedArrayBuffer only
// when a garbage collection finds it dead, and does not count its size as pressure to collect,
// so with every tensor shared a training process grew to 5–10× its working set. The copies are
// O(M·K + K·N + M·N) against O(M·N·K) work: about 1% at the sizes that are split.

import { type Backend, getBackend } from '../backend.js';
import type { FloatArray } from '../dtype.js';

/** A job several threads share. signal = [workers finished, workers failed, next unit]; units are claimed until `units` are taken. */
export interface SharedJob {
  /** Which runner a worker hands the job to. */
  kind: string;
  /** The counters, in shared memory. */
  signal: Int32Array;
  /** How many units of work the job has. */
  units: number;
  /** The kernels the workers run it on: the caller's backend, set by postJob. */
  backend?: Backend;
}

/** Worker threads sharing memory with this one; each runs the jobs posted to it. */
export interface ThreadPool {
  /** How many workers take jobs. */
  readonly size: number;
  /** Hands `job` to worker `index` and returns at once. */
  post(index: number, job: SharedJob): void;
}

/** Jobs with fewer multiply-adds than this stay on one thread (starting workers costs ~0.1 ms). */
export const PARALLEL_MIN_WORK = 2 ** 21;
/** Units of work per thread a job is cut into: enough to balance, few enough that each is big. */
export const UNITS_PER_THREAD = 3;
/**
 * The installed pool, null on one thread (the default). Read by the ops to take the one-thread path
 * without entering this module; set only through setThreadPool.
 */
export let threadPool: ThreadPool | null = null;
// The job in flight (one at a time: the caller blocks until it is done), its worker count, and
// what to do once the workers are done (copy results out of staging).
let job: SharedJob | null = null;
let posted = 0;
let onDone: (() => void) | null = null;

/** Installs the pool that large matmuls and attention calls split across, or with null goes back to one thread. */
export function setThreadPool(p: ThreadPool | null): void {
  // Atomics.wait throws where blocking is forbidden (a browser's main thread): fail now, not mid-matmul.
  if (p) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
  threadPool = p && p.size > 0 ? p : null;
}

/** How many threads a split job (a large matmul or attention call) runs on: this one plus the pool's workers. */
export function matmulThreads(): number {
  return 1 + (threadPool ? threadPool.size : 0);
}

/** True if `work` multiply-adds may be split now: a pool is installed, no job is in flight, and the work is large. */
export function canSplit(work: number): boolean {
  return threadPool !== null && job === null && work >= PARALLEL_MIN_WORK && typeof SharedArrayBuffer !== 'undefined';
}

/** True if the array lives in a SharedArrayBuffer, so worker threads can read and write it. */
export function isShared(x: ArrayBufferView): boolean {
  return typeof SharedArrayBuffer !== 'undefined' && x.buffer instanceof SharedArrayBuffer;
}

// The staging arena: one shared buffer that every split job's staged operands are carved from,
// front to back (beginStaging starts a job at its front). It is sized to the largest job seen, not
// per operand: per-operand buffers that each grew by doubling held the sum of every role's largest
// size with up to 2× slack (30 MB at sequence 2048, where the largest job needs 14 MB), and each
// replaced buffer waited for V8's collector. A job that does not fit takes what is missing from
// buffers of its own (dropped after the job) and the next job gets an arena as large as this
// one's total: so the arena grows only while the sizes seen still grow (the first steps of a
// training run), and never in the steady state.
const ARENA_STEP = 1 << 20;
// Regions start on a cache line.
const ALIGN = 64;
let arena: SharedArrayBuffer | null = null;
// bytes handed out to the job being staged, and the most any job needed
let used = 0;
let largestJob = 0;

/** Starts staging a new job: the regions stagingArray hands out from now on may reuse those of earlier jobs. */
export function beginStaging(): void {
  if (largestJob > (arena?.byteLength ?? 0)) arena = new SharedArrayBuffer(Math.ceil(largestJob / ARENA_STEP) * ARENA_STEP);
  used = 0;
}

/** A view of n elements of x's type in shared memory for the job being staged (contents left from earlier jobs): the next region of the arena. */
export function stagingArray(like: FloatArray, n: number): FloatArray {
  const bytes = n * like.BYTES_PER_ELEMENT;
  const start = used;
  used += Math.ceil(bytes / ALIGN) * ALIGN;
  largestJob = Math.max(largestJob, used);
  const fits = arena !== null && used <= arena.byteLength;
  const buffer = fits ? arena! : new SharedArrayBuffer(bytes);
  const offset = fits ? start : 0;
  return like instanceof Float32Array ? new Float32Array(buffer, offset, n) : new Float64Array(buffer, offset, n);
}

/** x itself if shared, else a copy of all of it in the job's staging (same indices). */
export function stageWhole(x: FloatArray): FloatArray {
  if (isShared(x)) return x;
  const copy = stagingArray(x, x.length);
  copy.set(x);
  return copy;
}

/** The bytes of the staging arena (the largest split job's staged operands, rounded up to 1 MiB; 0 before the first): for tests and diagnostics. */
export function stagingBytes(): number {
  return arena?.byteLength ?? 0;
}

/** A fresh signal for a job. */
export function newSignal(): Int32Array {
  return new Int32Array(new SharedArrayBuffer(12));
}

/** Posts `j` to every worker (check canSplit first); `done` runs after waitForWorkers sees them finish. Then claim units with nextUnit. */
export function postJob(j: SharedJob, done: (() => void) | null = null): void {
  if (!threadPool || job) throw new Error('parallel: no worker pool, or a job is already in flight');
  j.backend = getBackend();
  job = j;
  onDone = done;
  posted = threadPool.size;
  for (let i = 0; i < posted; i++) threadPool.post(i, j);
}

/** Claims the next unit of `j`: its index, or -1 when all are taken. */
export function claimUnit(j: SharedJob): number {
  const u = Atomics.add(j.signal, 2, 1);
  return u < j.units ? u : -1;
}

/** On the calling thread: the next unit of the job in flight, or -1 when none is left. */
export function nextUnit(): number {
  return job ? claimUnit(job) : -1;
}

/** Blocks until every worker has finished the job in flight; throws if one of them failed, else runs its `done`. */
export function waitForWorkers(): void {
  if (!job) return;
  const { signal } = job;
  for (let finished = Atomics.load(signal, 0); finished < posted; finished = Atomics.load(signal, 0)) {
    Atomics.wait(signal, 0, finished);
  }
  const done = onDone;
  job = null;
  onDone = null;
  if (Atomics.load(signal, 1) > 0) throw new Error('parallel: a worker thread failed (its error is logged)');
  done?.();
}

/** On a worker: runs `unit` on claimed units of `j` until none are left, then counts itself finished and wakes the caller. */
export function workOn(j: SharedJob, unit: (u: number) => void): void {
  try {
    for (let u = claimUnit(j); u >= 0; u = claimUnit(j)) unit(u);
  } catch (err) {
    // The caller is blocked in Atomics.wait and cannot receive a message: log, then flag it.
    console.error(err);
    Atomics.add(j.signal, 1, 1);
    // Leave no unit for anyone else: the job is failing anyway.
    Atomics.store(j.signal, 2, j.units);
  }
  Atomics.add(j.signal, 0, 1);
  Atomics.notify(j.signal, 0);
}
