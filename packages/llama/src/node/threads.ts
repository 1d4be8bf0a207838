// Worker threads for the CLIs: big matmul and attention calls are split across cores when more than one is present.

import { availableParallelism } from 'node:os';
import { enableWorkerThreads } from '@tsgrad/tensor/node';
import { integerFlag } from './flags.js';

/**
 * Enables the kernels' worker pool (--threads N; default: every core) and returns the number of
 * threads in use. More threads than cores only slow a run down: the count is capped at the cores,
 * with a warning.
 */
export async function setupThreads(command: string, flag: string | undefined, warn: (line: string) => void = (line) => console.error(line)): Promise<number> {
  const cores = availableParallelism();
  let wanted = integerFlag(command, 'threads', flag, 1, Number.MAX_SAFE_INTEGER, cores);
  if (wanted > cores) {
    warn(`${command}: --threads ${wanted} is more than the ${cores} cores here; using ${cores}`);
    wanted = cores;
  }
  if (wanted > 1) await enableWorkerThreads(wanted - 1);
  return wanted;
}
