// Node only: the body of a worker thread (started by worker-pool.ts). It runs each posted job
// (a matmul's row chunks, an attention call's slices) with its own copy of the kernel modules,
// writing results in shared memory (the protocol is in kernels/parallel.ts).

import { parentPort } from 'node:worker_threads';
import { setBackend } from '../backend.js';
import { matmulKernel } from '../kernels/matmul.js';
import { type AttentionJob, runAttentionJob } from '../kernels/attention.js';
import { type MatmulJob, type SharedJob, runJob } from '../kernels/parallel.js';

const port = parentPort;
if (!port) throw new Error('matmul-worker: must run in a worker thread');

port.on('message', (job: SharedJob) => {
  if (job.backend) setBackend(job.backend);
  if (job.kind === 'attention') runAttentionJob(job as AttentionJob);
  else runJob(job as MatmulJob, matmulKernel);
});

// Compile the kernel before the first real job: a cold first call would run interpreted while
// the calling thread waits for it, and V8 only reaches its fastest code for the packing and
// micro-kernel loops after some hundreds of milliseconds of real-sized work in every layout.
const WARM_UP_MS = 400;
const started = performance.now();
for (const Float of [Float32Array, Float64Array]) {
  const n = 192;
  const x = new Float(n * n).fill(1), y = new Float(n * n);
  const until = started + (Float === Float32Array ? 0.8 : 1) * WARM_UP_MS;
  do {
    matmulKernel(y, 0, x, 0, n, 1, x, 0, n, 1, n, n, n); // A·B
    matmulKernel(y, 0, x, 0, n, 1, x, 0, 1, n, n, n, n); // A·Bᵀ
    matmulKernel(y, 0, x, 0, 1, n, x, 0, n, 1, n, n, n); // Aᵀ·B
  } while (performance.now() < until);
}
port.postMessage('ready');
