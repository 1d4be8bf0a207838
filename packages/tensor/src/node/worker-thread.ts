// Node only: the entry of a worker thread (started by worker-pool.ts). It warms up the kernels,
// then runs each posted job (parallel/worker.ts; the protocol is in parallel/pool.ts).

import { parentPort } from 'node:worker_threads';
import type { SharedJob } from '../parallel/pool.js';
import { runPostedJob, warmUpKernels } from '../parallel/worker.js';

const port = parentPort;
if (!port) throw new Error('worker-thread: must run in a worker thread');

port.on('message', (job: SharedJob) => runPostedJob(job));

warmUpKernels(400);
port.postMessage('ready');
