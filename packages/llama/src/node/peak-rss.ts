// Node only: the expected peak resident set size of a training run, as --dry_run prints it. Every
// term is a measurement or a documented runtime fact, none a fudge factor:
//   the process's rss now (measured: Node, tsx, the command's modules, the parsed config),
//   the worker threads' own runtime (measured: rss before and after starting the pool),
//   estimateTrainingMemory's total (weights, grads, AdamW moments, activations, kernel staging),
//   V8's young generation at its maximum: two semi-spaces (the scavenger copies the survivors from
//   one into the other, so both are committed at once), each --max-semi-space-size if the process
//   sets it, else V8's default, 16 MiB on 64-bit and 8 MiB on 32-bit systems (Node's CLI docs,
//   --max-semi-space-size). A training loop's allocation rate grows the young generation from
//   ~1 MiB to that maximum within a few steps (test/peak-rss.test.ts checks the sizes against
//   v8.getHeapSpaceStatistics()). Float storage lives in ArrayBuffers outside V8's heap, so the
//   young generation's third part, the new large-object space, stays empty.
// Not counted: what the run loads after the estimate (the corpus and tokenizer), V8's old
// generation growing with the run's long-lived objects, a checkpoint save's buffers.

import { arch } from 'node:os';
import type { TrainingMemory } from '../config.js';

const MiB = 2 ** 20;

/** The size of one of V8's semi-spaces in this process, and where the figure comes from. */
export interface SemiSpace {
  /** Bytes per semi-space. */
  bytes: number;
  /** '--max-semi-space-size=N' when the process sets it, else "V8's default on 64-bit" (or 32-bit). */
  source: string;
}

/**
 * The semi-space size of a Node process started with `execArgv` and NODE_OPTIONS `nodeOptions`
 * (default: this process's): the last --max-semi-space-size (or --max_semi_space_size) given, in
 * MiB (the command line comes after NODE_OPTIONS, so it wins), else V8's default for `cpuArch`.
 */
export function semiSpaceSize(execArgv: readonly string[] = process.execArgv, nodeOptions: string = process.env.NODE_OPTIONS ?? '', cpuArch: string = arch()): SemiSpace {
  const args = [...nodeOptions.split(/\s+/).filter(Boolean), ...execArgv];
  let mib: number | undefined;
  for (let i = 0; i < args.length; i++) {
    const m = /^--max[-_]semi[-_]space[-_]size(?:=(.*))?$/.exec(args[i]!);
    if (!m) continue;
    const value = m[1] ?? args[++i];
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`semiSpaceSize: --max-semi-space-size must be a positive number of MiB, got '${value}'`);
    mib = n;
  }
  if (mib !== undefined) return { bytes: mib * MiB, source: `--max-semi-space-size=${mib}` };
  const is32 = ['arm', 'ia32', 'mips', 'mipsel', 'ppc', 's390'].includes(cpuArch);
  return is32 ? { bytes: 8 * MiB, source: 'V8\'s default on 32-bit' } : { bytes: 16 * MiB, source: 'V8\'s default on 64-bit' };
}

/** What the process holds before training, measured where the run would start it. */
export interface RuntimeMemory {
  /** The process's rss before the worker pool starts (Node, the modules loaded, the parsed config). */
  rss: number;
  /** The rss the worker pool added when it started (each worker's isolate, modules and warmed-up kernels). */
  workers: number;
  /** How many worker threads that is (threads − 1). */
  workerCount: number;
  /** One semi-space of V8's young generation. */
  semiSpace: SemiSpace;
}

/** The expected peak rss and its terms (bytes). */
export interface ExpectedPeakRss {
  /** The process's rss before the pool. */
  rss: number;
  /** The worker threads' runtime. */
  workers: number;
  /** estimateTrainingMemory's total. */
  training: number;
  /** V8's young generation at its maximum: two semi-spaces. */
  youngGeneration: number;
  /** The sum. */
  total: number;
}

/** rss now + the workers' runtime + the training memory + V8's young generation at its maximum (2 semi-spaces). */
export function expectedPeakRss(runtime: RuntimeMemory, training: TrainingMemory): ExpectedPeakRss {
  const youngGeneration = 2 * runtime.semiSpace.bytes;
  return {
    rss: runtime.rss, workers: runtime.workers, training: training.total, youngGeneration,
    total: runtime.rss + runtime.workers + training.total + youngGeneration,
  };
}

/**
 * Measures this process's runtime memory around `startPool` (which starts the worker pool the way
 * the run does and resolves to the thread count in use): rss before, and what starting it added.
 */
export async function measureRuntimeMemory(startPool: () => Promise<number>): Promise<{ threads: number; runtime: RuntimeMemory }> {
  const before = process.memoryUsage.rss();
  const threads = await startPool();
  const after = process.memoryUsage.rss();
  return { threads, runtime: { rss: before, workers: Math.max(0, after - before), workerCount: threads - 1, semiSpace: semiSpaceSize() } };
}
