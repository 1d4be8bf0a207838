// tsgrad on two threads: the speed-up of matmul and of a training step with the worker pool
// (@tsgrad/tensor/node) over one thread, alternating in one process. The workers start once:
// one-thread samples only uninstall the pool (a restarted worker would start with a cold JIT).

import type { LlamaConfig } from '@tsgrad/llama';
import { zeros } from '@tsgrad/tensor';
import { disableWorkerThreads, enableWorkerThreads } from '@tsgrad/tensor/node';
import { setThreadPool } from '../packages/tensor/src/parallel/pool.js';
import { type Row, formatNumber } from './table.js';
import { tsgradTrainStep } from './tsgrad-train.js';
import { alternate, median, seededFloats } from './timing.js';

/** Options of benchTwoThreads. */
export interface TwoThreadOptions {
  /** The square matmul size (512 in the full run). */
  matmulSize: number;
  /** Samples per thread count for the matmul. */
  matmulSamples: number;
  /** The training shape. */
  config: LlamaConfig;
  /** Sequences per step. */
  batch: number;
  /** Tokens per sequence. */
  seqLen: number;
  /** Timed training steps per thread count (after one warm-up each). */
  trainSteps: number;
}

const SECTION = 'two threads (tsgrad worker pool vs one thread, same process, alternating)';

/** tsgrad's matmul and training step with one thread and with two, alternating; the speed-up rows. */
export async function benchTwoThreads(opts: TwoThreadOptions, log: (line: string) => void = () => {}): Promise<Row[]> {
  const modes = [
    { name: '1 thread', before: () => setThreadPool(null) },
    { name: '2 threads', before: () => enableWorkerThreads(1) },
  ] as const;
  try {
    await enableWorkerThreads(1);
    const n = opts.matmulSize;
    const a = zeros([n, n]);
    const b = zeros([n, n]);
    a.storage.set(seededFloats(n * n, 1));
    b.storage.set(seededFloats(n * n, 2));
    const step = tsgradTrainStep(opts.config, opts.batch, opts.seqLen);
    const mm = await alternate(modes.map((m) => ({ ...m, run: () => { a.matmul(b); } })), { samples: opts.matmulSamples, minSampleMs: 200, warmupRuns: 3 });
    const tr = await alternate(modes.map((m) => ({ ...m, run: () => { step(); } })), { samples: opts.trainSteps });
    const gflops = (ms: number[]): number => (2 * n * n * n) / (median(ms) * 1e6);
    const tokens = (ms: number[]): number => (opts.batch * opts.seqLen) / (median(ms) / 1e3);
    const [g1, g2] = [gflops(mm.get('1 thread')!), gflops(mm.get('2 threads')!)];
    const [t1, t2] = [tokens(tr.get('1 thread')!), tokens(tr.get('2 threads')!)];
    log(`two threads: matmul ${g1.toFixed(2)} → ${g2.toFixed(2)} GFLOP/s, train ${t1.toFixed(1)} → ${t2.toFixed(1)} tokens/s`);
    const text = (two: number, one: number): string => `${formatNumber(two)} (×${(two / one).toFixed(2)} vs ${formatNumber(one)} on 1 thread)`;
    return [
      { section: SECTION, benchmark: `matmul ${n}³ A·B, 2 threads (GFLOP/s)`, values: { tsgrad: g2 }, tsgradText: text(g2, g1), ratios: false },
      { section: SECTION, benchmark: 'training step, 2 threads (tokens/s)', values: { tsgrad: t2 }, tsgradText: text(t2, t1), ratios: false },
    ];
  } finally {
    disableWorkerThreads();
  }
}
