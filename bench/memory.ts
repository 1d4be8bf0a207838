// Memory of a long training run, measured in a process of its own: a child Node process that
// loads tsgrad and nothing else (no TensorFlow.js, no other benchmark's leftovers), trains the
// benchmark model with AdamW (forward and backward in a release scope that gives the forward's
// buffers back as the backward consumes them, as `pnpm train` runs them: tsgrad-train.ts), and
// samples its resident set size (rss) after the forward,
// backward and optimizer phases of every step. Reported: rss before the model exists (the
// runtime's own share), after the warm-up steps, its range over the measured steps (flat means
// within 10% of the post-warm-up figure), and the peak against the analytic training state
// (weights + gradients + AdamW moments + the step's activations and gradients in flight,
// estimateTrainingMemory).
// Runs differ in gradient checkpointing (one checkpoint per decoder layer), in the float storage
// pool (on as tsgrad ships, or off: every buffer waits for V8's collector), and in the context
// length (the long-context runs: sequence 2048 and 8192, batch 1). Pairs that differ only in
// checkpointing get a comparison: the activation part of each peak (peak − runtime − state) and
// the step-time ratio. Each run also checks --dry_run's expected peak rss (peak-rss.ts: the rss
// before the worker pool + what starting the pool added + the training memory + V8's young
// generation at its maximum), its terms measured in the child the way the training command measures
// them, against the child's own peak rss (VmHWM from /proc/self/status where there is one, else
// the largest rss sampled); one run is the default config's model and micro-batch
// (params_llama_tiny.yaml, read with loadZooConfig so it follows the file).
//
// The child is this file run with --child '<options as JSON>'; it prints one JSON line, the result.

import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type LlamaConfig, LlamaForCausalLM, estimateTrainingMemory } from '@tsgrad/llama';
import { Generator, Tensor, getBackend, setStoragePool } from '@tsgrad/tensor';
import { type Row, formatNumber } from './table.js';
import { enableWorkerThreads } from '@tsgrad/tensor/node';
import { tsgradTrainer } from './tsgrad-train.js';
import { seededInts } from './timing.js';
import { type ExpectedPeakRss, expectedPeakRss, measureRuntimeMemory } from '../packages/llama/src/node/peak-rss.js';

/** Options of one memory run. */
export interface MemoryOptions {
  /** The model shape. */
  config: LlamaConfig;
  /** Sequences per step. */
  batch: number;
  /** Tokens per sequence. */
  seqLen: number;
  /** Untimed, unmeasured steps first (allocation pools and JIT settle). */
  warmupSteps: number;
  /** Measured steps. */
  steps: number;
  /** Threads for the big matmuls (the worker pool, as the training CLI uses by default); 1 = none. */
  threads: number;
  /** One checkpoint per decoder layer (model.gradientCheckpointingEnable()); default off. */
  gradientCheckpointing?: boolean;
  /** The float storage pool (default on, as tsgrad ships); off, freed buffers wait for V8's collector. */
  pool?: boolean;
  /** What the run stands for, when it is more than its shape (e.g. 'the default config'). */
  label?: string;
}

/** What one memory run measured (bytes). */
export interface MemoryResult {
  /** The options it ran with. */
  options: MemoryOptions;
  /** rss before the model was built: the runtime, the modules and the worker threads. */
  baseline: number;
  /** rss after the last warm-up step. */
  afterWarmup: number;
  /** rss after the last measured step. */
  last: number;
  /** The smallest and largest rss over all phases of the measured steps. */
  min: number;
  /** See min. */
  max: number;
  /** Weights, gradients, AdamW moments, one step's activations and the kernels' staging, as estimateTrainingMemory counts them. */
  analytic: { state: number; activations: number; staging: number; total: number };
  /** Measured steps per second. */
  stepsPerSecond: number;
  /** The largest rss seen in each measured step (the curve over the run). */
  stepPeaks: number[];
  /** --dry_run's expected peak rss, its terms measured in this child as the training command measures them. */
  expectedPeak: ExpectedPeakRss;
  /** The process's peak rss as the kernel kept it (VmHWM), or null where /proc/self/status is missing. */
  hwm: number | null;
}

const MB = 1024 * 1024;

/** Runs the measurement in this process (the child's side). */
export async function measureMemory(opts: MemoryOptions, log: (line: string) => void = () => {}): Promise<MemoryResult> {
  // the rss before the pool and what starting it adds, as the training command measures them
  const { threads, runtime } = await measureRuntimeMemory(async () => {
    const n = Math.max(1, opts.threads);
    if (n > 1) await enableWorkerThreads(n - 1);
    return n;
  });
  const rss = (): number => process.memoryUsage.rss();
  if (opts.pool === false) setStoragePool({ enabled: false });
  const baseline = rss();
  // a long-context run needs the rotary tables to reach its length
  const config = { ...opts.config, maxPositionEmbeddings: Math.max(opts.config.maxPositionEmbeddings, opts.seqLen) };
  const model = new LlamaForCausalLM(config, { generator: new Generator(0) });
  if (opts.gradientCheckpointing) model.gradientCheckpointingEnable();
  const ids = new Tensor(seededInts(opts.batch * opts.seqLen, opts.config.vocabSize, 21), [opts.batch, opts.seqLen]);
  let measuring = false;
  let min = Infinity;
  let max = 0;
  let stepMax = 0;
  const probe = (): void => {
    if (!measuring) return;
    const r = rss();
    min = Math.min(min, r);
    max = Math.max(max, r);
    stepMax = Math.max(stepMax, r);
  };
  const trainer = tsgradTrainer(model, ids, 1e-3, probe);
  for (let s = 0; s < opts.warmupSteps; s++) trainer.step();
  const afterWarmup = rss();
  measuring = true;
  const t0 = performance.now();
  let loss = NaN;
  const stepPeaks: number[] = [];
  for (let s = 1; s <= opts.steps; s++) {
    stepMax = 0;
    loss = trainer.step();
    stepPeaks.push(stepMax);
    if (s % 50 === 0 || s === opts.steps) log(`memory: step ${s}/${opts.steps}, rss ${(rss() / MB).toFixed(0)} MB, loss ${loss.toFixed(3)}`);
  }
  const seconds = (performance.now() - t0) / 1000;
  if (!Number.isFinite(loss)) throw new Error(`memory: the training loss became ${loss}`);
  // the kernels' staging too: the worker pool's arena and each thread's WebAssembly memory, as --dry_run counts them
  const est = estimateTrainingMemory(config, { batchSize: opts.batch, seqLen: opts.seqLen, gradientCheckpointing: opts.gradientCheckpointing, threads, backend: getBackend() });
  const state = est.weights + est.grads + est.adamMoments;
  return {
    options: opts, baseline, afterWarmup, last: rss(), min, max,
    analytic: { state, activations: est.activations, staging: est.kernelStaging, total: est.total },
    stepsPerSecond: opts.steps / seconds, stepPeaks, expectedPeak: expectedPeakRss(runtime, est), hwm: peakRssFromProc(),
  };
}

/** This process's peak rss (VmHWM, kB in /proc/self/status), or null off Linux. */
function peakRssFromProc(): number | null {
  if (!existsSync('/proc/self/status')) return null;
  const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) * 1024 : null;
}

/** Runs the measurement in a fresh child process and returns its result; its progress lines go to `log`. */
export function benchMemory(opts: MemoryOptions, log: (line: string) => void = () => {}): Promise<MemoryResult> {
  const script = fileURLToPath(import.meta.url);
  const child = spawn(process.execPath, ['--import', 'tsx', script, '--child', JSON.stringify(opts)], {
    cwd: fileURLToPath(new URL('..', import.meta.url)),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr.on('data', (d: Buffer) => {
    err += d.toString();
    for (const line of d.toString().split('\n')) if (line.startsWith('memory:')) log(line);
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      const last = out.trim().split('\n').pop() ?? '';
      if (code !== 0 || !last.startsWith('{')) {
        reject(new Error(`memory: the child process failed (exit code ${code}):\n${err.slice(-2000)}`));
        return;
      }
      resolve(JSON.parse(last) as MemoryResult);
    });
  });
}

const SECTION = 'training memory, in a child process of its own (MB of rss)';

/** The memory rows: one group per run (a long soak, a short run at the benchmark batch). */
export function memoryRows(runs: readonly MemoryResult[]): Row[] {
  const rows: Row[] = [];
  const mb = (x: number): string => formatNumber(x / MB);
  for (const r of runs) {
    const o = r.options;
    const what = describeRun(o);
    const drift = (r.max - r.afterWarmup) / r.afterWarmup;
    const added = r.max - r.baseline;
    const row = (benchmark: string, value: number, text: string): Row => ({ section: SECTION, benchmark: `${what}: ${benchmark}`, values: { tsgrad: value / MB }, tsgradText: text, ratios: false });
    rows.push(
      row('rss before the model (runtime, modules, workers)', r.baseline, mb(r.baseline)),
      row('rss after warm-up → after the last step', r.last, `${mb(r.afterWarmup)} → ${mb(r.last)}`),
      row('rss range over the measured steps', r.max, `${mb(r.min)}–${mb(r.max)} (max ${drift >= 0 ? '+' : ''}${(100 * drift).toFixed(1)}% vs after warm-up)`),
      row('analytic: weights + grads + AdamW moments + activations + kernel staging', r.analytic.total, `${mb(r.analytic.state)} + ${mb(r.analytic.activations)} + ${mb(r.analytic.staging)} = ${mb(r.analytic.total)}`),
      row('peak rss ÷ analytic (above the runtime\'s own rss)', r.max, `${(r.max / r.analytic.total).toFixed(2)}× (${(added / r.analytic.total).toFixed(2)}×)`),
      row('peak rss per measured step', r.max, r.stepPeaks.map((x) => mb(x)).join(', ')),
    );
    const e = r.expectedPeak;
    const peak = r.hwm ?? r.max;
    rows.push(row('--dry_run\'s expected peak rss (rss before the pool + workers\' runtime + training memory + V8\'s young generation) vs the measured peak',
      peak,
      `${mb(e.rss)} + ${mb(e.workers)} + ${mb(e.training)} + ${mb(e.youngGeneration)} = ${mb(e.total)} vs ${mb(peak)} (${r.hwm === null ? 'largest rss sampled' : 'VmHWM'}): measured ÷ estimate ${(peak / e.total).toFixed(2)}×`));
  }
  // checkpointing on against off, same everything else: the activation part of each peak
  for (const on of runs.filter((r) => r.options.gradientCheckpointing)) {
    const off = runs.find((r) => !r.options.gradientCheckpointing && sameRunBut(r.options, on.options));
    if (!off) continue;
    const activations = (r: MemoryResult): number => r.max - r.baseline - r.analytic.state;
    const what = describeRun({ ...on.options, gradientCheckpointing: false }).replace(/, \d+ steps after \d+ warm-up/, '');
    const row = (benchmark: string, value: number, text: string): Row => ({ section: SECTION, benchmark: `checkpointing on vs off, ${what}: ${benchmark}`, values: { tsgrad: value }, tsgradText: text, ratios: false });
    rows.push(
      row('activation part of the peak (peak − runtime − state), on ÷ off', activations(on) / activations(off),
        `${mb(activations(on))} ÷ ${mb(activations(off))} = ${(activations(on) / activations(off)).toFixed(2)} (analytic ${mb(on.analytic.activations)} ÷ ${mb(off.analytic.activations)} = ${(on.analytic.activations / off.analytic.activations).toFixed(2)}; the kernels' staging, in neither, is in both measured parts)`),
      row('step time, on ÷ off', off.stepsPerSecond / on.stepsPerSecond, `${(off.stepsPerSecond / on.stepsPerSecond).toFixed(2)}× (${(1 / on.stepsPerSecond).toFixed(2)} s vs ${(1 / off.stepsPerSecond).toFixed(2)} s per step, one run each)`),
    );
  }
  return rows;
}

/** A run's label: batch × sequence, threads, steps, and what differs from the default. */
function describeRun(o: MemoryOptions): string {
  const extras = [o.gradientCheckpointing ? 'checkpointing' : '', o.pool === false ? 'pool off' : ''].filter(Boolean);
  return `${o.label ? `${o.label}, ` : ''}batch ${o.batch} × ${o.seqLen}, ${o.threads} thread${o.threads > 1 ? 's' : ''}, ${o.steps} steps after ${o.warmupSteps} warm-up${extras.length ? `, ${extras.join(', ')}` : ''}`;
}

function sameRunBut(a: MemoryOptions, b: MemoryOptions): boolean {
  return a.batch === b.batch && a.seqLen === b.seqLen && a.threads === b.threads && (a.pool ?? true) === (b.pool ?? true) && JSON.stringify(a.config) === JSON.stringify(b.config);
}

async function childMain(): Promise<void> {
  const i = process.argv.indexOf('--child');
  const opts = JSON.parse(process.argv[i + 1]!) as MemoryOptions;
  const result = await measureMemory(opts, (line) => console.error(line));
  console.log(JSON.stringify(result));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1] && process.argv.includes('--child')) {
  childMain().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err instanceof Error ? err.stack ?? err.message : String(err));
      process.exit(1);
    },
  );
}
