// What a worker thread does with a posted job: run it with the caller's backend, on its own copy
// of the kernel modules (and its own wasm memory), writing results in shared memory. Browser-safe:
// Node's worker_threads entry is src/node/worker-thread.ts; a Web Worker would call the same.

import { setBackend } from '../backend.js';
import { matmulKernel } from '../kernels/matmul.js';
import { type AttentionJob, runAttentionJob } from './attention.js';
import { type MatmulJob, runJob } from './matmul.js';
import type { SharedJob } from './pool.js';

/** On a worker: runs one posted job (a matmul's row chunks, an attention call's slices) until no unit is left. */
export function runPostedJob(job: SharedJob): void {
  if (job.backend) setBackend(job.backend);
  if (job.kind === 'attention') runAttentionJob(job as AttentionJob);
  else if (job.kind === 'matmul') runJob(job as MatmulJob, matmulKernel);
  else throw new Error(`worker: unknown job kind ${JSON.stringify(job.kind)}`);
}

/**
 * Compiles the kernels before the first real job: a cold first call would run unoptimized while
 * the calling thread waits for it, and V8 only reaches its fastest code for the packing and
 * micro-kernel loops (js, and the wasm module's tier-up) after some hundreds of milliseconds of
 * real-sized work in every layout. float32 runs the default backend, float64 the js loops.
 */
export function warmUpKernels(ms: number): void {
  const started = performance.now();
  for (const Float of [Float32Array, Float64Array]) {
    const n = 192;
    const x = new Float(n * n).fill(1), y = new Float(n * n);
    const until = started + (Float === Float32Array ? 0.6 : 1) * ms;
    do {
      matmulKernel(y, 0, x, 0, n, 1, x, 0, n, 1, n, n, n); // A·B
      matmulKernel(y, 0, x, 0, n, 1, x, 0, 1, n, n, n, n); // A·Bᵀ
      matmulKernel(y, 0, x, 0, 1, n, x, 0, n, 1, n, n, n); // Aᵀ·B
    } while (performance.now() < until);
  }
}
