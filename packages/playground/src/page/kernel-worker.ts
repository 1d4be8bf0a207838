// A kernel worker: runs the row chunks of large matmuls and the slices of attention calls that a
// training or generating worker posts (see threads.ts), writing into shared memory.

import { matmulKernel } from '../../../tensor/src/kernels/matmul.js';
import { type AttentionJob, runAttentionJob } from '../../../tensor/src/kernels/attention.js';
import { type MatmulJob, type SharedJob, runJob } from '../../../tensor/src/kernels/parallel.js';

const scope = globalThis as unknown as { onmessage: ((e: MessageEvent) => void) | null; postMessage(m: unknown): void };

scope.onmessage = (e: MessageEvent<SharedJob>) => {
  const job = e.data;
  if (job.kind === 'attention') runAttentionJob(job as AttentionJob);
  else runJob(job as MatmulJob, matmulKernel);
};

// Compile the kernel before the first real job, so the calling thread does not wait on a cold one.
const started = performance.now();
const n = 128;
const x = new Float32Array(n * n).fill(1), y = new Float32Array(n * n);
do matmulKernel(y, 0, x, 0, n, 1, x, 0, n, 1, n, n, n, false, null);
while (performance.now() < started + 150);
scope.postMessage('ready');
