// Threads for the tensor kernels inside a Web Worker. Large matmuls and attention calls split
// across kernel workers that share memory with the calling worker (the protocol is in
// @tsgrad/tensor's parallel/pool.ts). Shared memory needs a cross-origin isolated page (COOP
// and COEP headers); elsewhere everything runs on the calling worker's one thread.
//
// NOTE: @tsgrad/tensor exports its Node worker pool only (`@tsgrad/tensor/node`); the
// browser-safe pool interface lives in parallel/pool.ts and is reached by path here. The
// bundler resolves it to the same module the package entry uses, so setThreadPool takes effect.

import { setThreadPool } from '../../../tensor/src/parallel/pool.js';

/** How the kernels run: the thread count, and why when it is one. */
export interface ThreadInfo {
  /** Threads that large products run on (this one included). */
  threads: number;
  /** Why not more, or how the threads came about. */
  reason: string;
}

/** Starts kernel workers (one per core besides this thread, at most `max` threads in all) when shared memory is available. */
export async function startKernelThreads(max = 4): Promise<ThreadInfo> {
  if (!globalThis.crossOriginIsolated || typeof SharedArrayBuffer === 'undefined') {
    return { threads: 1, reason: 'one thread: the page is not cross-origin isolated (no COOP/COEP headers), so threads cannot share memory' };
  }
  const cores = navigator.hardwareConcurrency || 1;
  const n = Math.min(cores, max) - 1;
  if (n < 1) return { threads: 1, reason: `one thread: the browser reports ${cores} core` };
  const workers = await Promise.all(Array.from({ length: n }, () => new Promise<Worker>((resolve, reject) => {
    const w = new Worker(new URL('kernel-worker.js', location.href));
    w.onerror = (e) => reject(new Error(`kernel worker failed to start: ${e.message}`));
    w.onmessage = () => {
      w.onmessage = null;
      w.onerror = (e) => console.error('kernel worker:', e.message);
      resolve(w);
    };
  })));
  setThreadPool({ size: workers.length, post: (i, job) => workers[i]!.postMessage(job) });
  return { threads: 1 + workers.length, reason: `${1 + workers.length} threads: cross-origin isolated, ${cores} cores` };
}
