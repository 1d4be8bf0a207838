// Node only: the worker threads that large matmuls and attention calls are split across. The
// tensor kernels stay platform-free; this module creates the workers (worker_threads, running
// worker-thread.ts) and installs them as the pool (setThreadPool in parallel/pool.ts).

import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { setThreadPool } from '../parallel/pool.js';
import { applyBackendFromEnv } from './backend-env.js';

export { applyBackendFromEnv } from './backend-env.js';

// TSGRAD_BACKEND takes effect for any Node program that loads this module (the CLIs, the bench).
applyBackendFromEnv();

let workers: Worker[] = [];

/** Starts n worker threads (default: one per core besides this one) that large matmuls are split across; with n workers already running it keeps them. */
export async function enableWorkerThreads(n = availableParallelism() - 1): Promise<void> {
  if (n >= 1 && workers.length === n) {
    installPool();
    return;
  }
  disableWorkerThreads();
  if (n < 1) return;
  workers = await Promise.all(Array.from({ length: n }, startWorker));
  installPool();
}

/** Stops the worker threads: products run on the calling thread again. */
export function disableWorkerThreads(): void {
  setThreadPool(null);
  for (const worker of workers) void worker.terminate();
  workers = [];
}

function installPool(): void {
  const running = workers;
  setThreadPool({ size: running.length, post: (index, job) => running[index]!.postMessage(job) });
}

// Resolves once the worker has loaded and warmed up its kernel.
function startWorker(): Promise<Worker> {
  const worker = spawn();
  return new Promise((resolve, reject) => {
    worker.once('error', reject);
    worker.once('message', () => {
      worker.off('error', reject);
      // NOTE: a worker error after start-up cannot be handled while the caller blocks in
      // Atomics.wait; the worker catches kernel errors itself (workOn in parallel/pool.ts), so this
      // only logs the unexpected.
      worker.on('error', (err) => console.error('tsgrad worker thread:', err));
      // Idle workers must not keep the process alive at exit.
      worker.unref();
      resolve(worker);
    });
  });
}

function spawn(): Worker {
  const fromSource = import.meta.url.endsWith('.ts');
  const url = new URL(fromSource ? './worker-thread.ts' : './worker-thread.js', import.meta.url);
  if (!fromSource) return new Worker(url);
  // Running from TypeScript sources (tsx, vitest). Node 20 does not apply ESM loader hooks
  // (`--import tsx`) inside workers (nodejs/node#47747), so load the worker through tsx's
  // CommonJS require hook instead, which does work there.
  const require = createRequire(import.meta.url);
  const code = `require(${JSON.stringify(require.resolve('tsx/cjs'))});\nrequire(${JSON.stringify(fileURLToPath(url))});`;
  return new Worker(code, { eval: true });
}
