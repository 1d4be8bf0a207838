// A kernel worker: runs the row chunks of large matmuls and the slices of attention calls that a
// training or generating worker posts (see threads.ts), writing into shared memory. What it does
// with a job is @tsgrad/tensor's parallel/worker.ts, the same as a Node worker thread.

import type { SharedJob } from '../../../tensor/src/parallel/pool.js';
import { runPostedJob, warmUpKernels } from '../../../tensor/src/parallel/worker.js';

const scope = globalThis as unknown as { onmessage: ((e: MessageEvent) => void) | null; postMessage(m: unknown): void };

scope.onmessage = (e: MessageEvent<SharedJob>) => runPostedJob(e.data);

// Compile the kernels before the first real job, so the calling thread does not wait on a cold one.
warmUpKernels(150);
scope.postMessage('ready');
