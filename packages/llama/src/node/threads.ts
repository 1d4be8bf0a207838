// Worker threads for the CLIs: big matmuls are split across cores when more than one is present.

import { availableParallelism } from 'node:os';
import { enableWorkerThreads } from '@tsgrad/tensor/node';

/** Enables the matmul worker pool (--threads N; default: every core); returns the number of threads in use. */
export async function setupThreads(flag: string | undefined): Promise<number> {
  const wanted = flag === undefined ? availableParallelism() : Number(flag);
  if (!Number.isInteger(wanted) || wanted < 1) throw new Error(`--threads must be a positive integer, got '${flag}'`);
  if (wanted > 1) await enableWorkerThreads(wanted - 1);
  return wanted;
}
