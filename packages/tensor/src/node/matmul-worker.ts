// Node only: the body of a matmul worker thread (started by worker-pool.ts). It runs each
// posted MatmulJob with its own copy of the kernel module, writing rows of C in shared memory
// (the protocol is in kernels/parallel.ts).

import { parentPort } from 'node:worker_threads';
import { matmulKernel } from '../kernels/matmul.js';
import { type MatmulJob, runJob } from '../kernels/parallel.js';

const port = parentPort;
if (!port) throw new Error('matmul-worker: must run in a worker thread');

port.on('message', (job: MatmulJob) => runJob(job, matmulKernel));

// Compile the kernel before the first real job: a cold first call would run interpreted
// while the calling thread waits for it.
for (const Float of [Float32Array, Float64Array]) {
  const x = new Float(96 * 96).fill(1), y = new Float(96 * 96);
  for (let i = 0; i < 20; i++) matmulKernel(y, 0, x, 0, 96, 1, x, 0, 96, 1, 96, 96, 96);
}
port.postMessage('ready');
