// tsgrad on two threads: finds the tensor package's worker-thread switch, if it has one yet (looked
// up at run time, not imported statically, so the bench compiles and runs while it does not exist),
// and measures the speed-up of matmul and of a training step over one thread.

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { LlamaConfig } from '@tsgrad/llama';
import { Tensor, zeros } from '@tsgrad/tensor';
import { type Row, formatNumber } from './table.js';
import { tsgradTrainStep } from './train-step.js';
import { alternate, median, seededFloats } from './timing.js';

/** A way to turn tsgrad's worker pool on and off. */
export interface ThreadSwitch {
  /** Where the switch was found. */
  source: string;
  /** Runs tsgrad's big kernels on `threads` threads. */
  enable(threads: number): Promise<void>;
  /** Back to one thread (ends the workers). */
  disable(): Promise<void>;
}

// Modules that may export the switch, most specific first.
const CANDIDATES = [
  '../packages/tensor/src/node/index.ts',
  '../packages/tensor/src/node/threads.ts',
  '../packages/tensor/src/node/worker-pool.ts',
  '../packages/tensor/src/node/pool.ts',
  '../packages/tensor/src/kernels/parallel.ts',
];

type AnyFn = (...args: unknown[]) => unknown;

/** The switch, or null when no candidate module exports `enableWorkerThreads` (n workers besides this thread). */
export async function findThreadSwitch(): Promise<ThreadSwitch | null> {
  for (const rel of CANDIDATES) {
    const url = new URL(rel, import.meta.url);
    if (!existsSync(fileURLToPath(url))) continue;
    const mod = (await import(url.href)) as Record<string, unknown>;
    const enable = mod.enableWorkerThreads as AnyFn | undefined;
    if (typeof enable !== 'function') continue;
    const disable = mod.disableWorkerThreads as AnyFn | undefined;
    return {
      source: rel.replace('../', ''),
      // enableWorkerThreads(n) starts n workers besides the calling thread
      enable: async (threads) => { await enable(threads - 1); },
      disable: async () => { await (disable ? disable() : enable(0)); },
    };
  }
  return null;
}

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
export async function benchTwoThreads(sw: ThreadSwitch | null, opts: TwoThreadOptions, log: (line: string) => void = () => {}): Promise<Row[]> {
  if (!sw) return [{ section: SECTION, benchmark: 'two threads: not available (no enableWorkerThreads in @tsgrad/tensor yet)', values: {}, tsgradText: 'n/a', ratios: false }];
  const modes = [
    { name: '1 thread', before: () => sw.disable() },
    { name: '2 threads', before: () => sw.enable(2) },
  ] as const;
  try {
    // the pool only splits products whose operands live in shared memory, which is where float32
    // storage comes from while it is on: create the operands and the model with it on
    await sw.enable(2);
    const n = opts.matmulSize;
    const a = zeros([n, n]);
    const b = zeros([n, n]);
    a.storage.set(seededFloats(n * n, 1));
    b.storage.set(seededFloats(n * n, 2));
    // the same operands in ordinary (unshared) memory: the pool never splits those, so the matmul's
    // one-thread figure needs no restart of the workers (a restarted worker starts with a cold JIT)
    const a1 = new Tensor(Float32Array.from(a.storage), [n, n]);
    const b1 = new Tensor(Float32Array.from(b.storage), [n, n]);
    const step = tsgradTrainStep(opts.config, opts.batch, opts.seqLen);
    const mm = await alternate([
      { name: '1 thread', run: () => { a1.matmul(b1); } },
      { name: '2 threads', run: () => { a.matmul(b); } },
    ], { samples: opts.matmulSamples, minSampleMs: 200 });
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
    await sw.disable();
  }
}
