// `pnpm bench`: tsgrad against TensorFlow.js ('cpu' and single-threaded 'wasm') in one process,
// alternating runs and reporting medians: matmul, softmax/RMSNorm, a LLaMA training step,
// generation and two threads; then training memory, measured in child processes of its own.
//
//   pnpm bench                  the full suite (~15 minutes on 2 cores); writes bench/results.md
//   pnpm bench --quick          tiny sizes, one sample each (< 1 minute); writes bench/results-quick.md
//   pnpm bench --only matmul    one family (matmul | norms | train | generate | memory | tokenizer); combine with --quick
//   pnpm bench --long           also one training step at sequence 8192 with checkpointing (slow: minutes)
//
// Every benchmark first checks tsgrad's outputs against tfjs's on the same data and aborts loudly
// (exit code 1) if they differ.

import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type LlamaConfig, ffnHiddenSize } from '@tsgrad/llama';
import { getBackend } from '@tsgrad/tensor';
import { FULL_SHAPES, QUICK_SHAPES, benchMatmul } from './matmul.js';
import { benchNorms } from './norms.js';
import { type TrainBenchOptions, benchTrainStep, trainRows } from './train-step.js';
import { type GenerateBenchOptions, benchGenerate, generateRows } from './generate.js';
import { benchTwoThreads } from './threads.js';
import { benchPytorchTrain, pytorchRows } from './pytorch.js';
import { type MemoryOptions, benchMemory, memoryRows } from './memory.js';
import { loadZooConfig } from '../packages/llama/src/node/zoo-config.js';
import { benchTokenizer } from './tokenizer.js';
import { type Row, renderMarkdown } from './table.js';
import { initTfjs, tfjsVersion, wasmHasSimd } from './tfjs-env.js';
import { largestErrors } from './timing.js';

/** The benchmark families `--only` selects. */
export type BenchName = 'matmul' | 'norms' | 'train' | 'generate' | 'memory' | 'tokenizer';

/** The families in run order. */
export const BENCH_NAMES: readonly BenchName[] = ['matmul', 'norms', 'train', 'generate', 'memory', 'tokenizer'];

/** Options of runSuite. */
export interface SuiteOptions {
  /** Tiny sizes and one sample each. */
  quick: boolean;
  /** Run only this family (the two-thread rows go with 'matmul' and 'train'). */
  only?: BenchName;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
  /** Also the memory run at sequence 8192 (batch 1, checkpointing): several minutes. */
  long?: boolean;
}

/** What runSuite returns. */
export interface SuiteResult {
  /** The table rows. */
  rows: Row[];
  /** The notes printed above the tables. */
  notes: string[];
  /** The whole report. */
  markdown: string;
}

/**
 * The benchmark model: a byte-level LLaMA of 3.3M parameters (dim 256, 8 heads, 4 layers, context
 * 128), its FFN width 2/3·4·dim rounded up to a multiple of 16 (688).
 */
export function benchConfig(): LlamaConfig {
  return {
    vocabSize: 256, hiddenSize: 256, intermediateSize: ffnHiddenSize(256, 16), numHiddenLayers: 4, numAttentionHeads: 8,
    numKeyValueHeads: 8, maxPositionEmbeddings: 128, rmsNormEps: 1e-6, ropeTheta: 10000, tieWordEmbeddings: false,
  };
}

/** The tiny model of --quick: the bench shape scaled down (dim 32, 2 layers, 2 heads, FFN 64). */
export function quickConfig(): LlamaConfig {
  return { ...benchConfig(), hiddenSize: 32, numHiddenLayers: 2, numAttentionHeads: 2, numKeyValueHeads: 2, intermediateSize: 64, maxPositionEmbeddings: 32 };
}

/** Runs the selected benchmarks and renders the report. */
export async function runSuite(opts: SuiteOptions): Promise<SuiteResult> {
  const log = opts.log ?? (() => {});
  const q = opts.quick;
  const wants = (b: BenchName): boolean => opts.only === undefined || opts.only === b;
  await initTfjs();
  largestErrors.clear();
  const rows: Row[] = [];

  if (wants('matmul')) {
    log('matmul …');
    const { rows: r } = await benchMatmul({ shapes: q ? QUICK_SHAPES : FULL_SHAPES, samples: q ? 1 : 3, minSampleMs: q ? 0 : 200 }, log);
    rows.push(...r);
  }
  if (wants('norms')) {
    log('softmax / RMSNorm …');
    rows.push(...(await benchNorms({ rows: q ? 16 : 8 * 128, cols: q ? 32 : 256, samples: q ? 1 : 7, minSampleMs: q ? 0 : 100 }, log)));
  }
  const config = q ? quickConfig() : benchConfig();
  const batch = q ? 2 : 8;
  const seqLen = q ? 16 : 128;
  if (wants('train')) {
    log('training step … (a tfjs-cpu step takes a minute or more)');
    const trainOpts: TrainBenchOptions = { config, batch, seqLen, steps: q ? { tsgrad: 1, 'tfjs-cpu': 1, 'tfjs-wasm': 1 } : { tsgrad: 3, 'tfjs-cpu': 2, 'tfjs-wasm': 3 } };
    const r = await benchTrainStep(trainOpts);
    log(`training: ${Object.entries(r.tokensPerSecond).map(([k, v]) => `${k} ${v.toFixed(1)} tokens/s`).join(', ')}`);
    const trainRowList = trainRows(r, trainOpts);
    rows.push(...trainRowList);
    log('training step: PyTorch reference …');
    const torch = benchPytorchTrain(config, batch, seqLen, q ? 1 : 5);
    log(torch.ran ? `PyTorch: ${torch.tokensPerSecond.toFixed(1)} tokens/s (OpenBLAS ${torch.blasCore})` : `PyTorch: skipped, ${torch.reason}`);
    rows.push(...pytorchRows(torch, r.tokensPerSecond.tsgrad, trainRowList[0]!.section));
  }
  let sameTokens = '';
  if (wants('generate')) {
    log('generation …');
    const genOpts: GenerateBenchOptions = { config, promptLength: q ? 4 : 16, maxNewTokens: q ? 8 : 64, samples: q ? 1 : 5, warmupRuns: q ? 1 : 3 };
    const r = await benchGenerate(genOpts);
    log(`generation: ${Object.entries(r.tokensPerSecond).map(([k, v]) => `${k} ${v.toFixed(1)} tokens/s`).join(', ')}`);
    rows.push(...generateRows(r, genOpts));
    sameTokens = Object.entries(r.sameTokens).map(([k, v]) => `${k} ${v ? 'yes' : 'no (a near-tie broke differently)'}`).join(', ');
  }
  if (wants('matmul') || wants('train')) {
    log('two threads …');
    rows.push(...(await benchTwoThreads({ matmulSize: q ? 128 : 512, matmulSamples: q ? 1 : 5, config, batch, seqLen, trainSteps: q ? 1 : 2 }, log)));
  }
  if (wants('memory')) {
    // the peak at the benchmark's batch (as shipped; with the storage pool off; with
    // checkpointing), a 500-step soak at batch 2 (500 steps at batch 8 would take half an hour),
    // and long contexts at batch 1 (sequence 2048 without and with checkpointing; 8192 with it
    // under --long); all with the worker pool, as the training command runs. First the default
    // config's model and micro-batch (`pnpm train` with no arguments), for --dry_run's expected peak.
    const tiny = loadZooConfig(fileURLToPath(new URL('../packages/llama/configs/params_llama_tiny.yaml', import.meta.url)));
    const defaultRun: MemoryOptions = {
      config: tiny.model, batch: tiny.train.microBatchSize, seqLen: tiny.train.seqLen, warmupSteps: q ? 1 : 5, steps: q ? 4 : 100, threads: 2,
      gradientCheckpointing: tiny.gradientCheckpointing, label: 'the default config (params_llama_tiny.yaml)',
    };
    const runs: MemoryOptions[] = [defaultRun, ...q
      ? [
        { config, batch, seqLen, warmupSteps: 2, steps: 10, threads: 2 },
        { config, batch, seqLen, warmupSteps: 2, steps: 10, threads: 2, gradientCheckpointing: true },
      ]
      : [
        { config, batch, seqLen, warmupSteps: 3, steps: 20, threads: 2 },
        { config, batch, seqLen, warmupSteps: 3, steps: 20, threads: 2, pool: false },
        { config, batch, seqLen, warmupSteps: 3, steps: 20, threads: 2, gradientCheckpointing: true },
        { config, batch: 2, seqLen, warmupSteps: 20, steps: 500, threads: 2 },
        { config, batch: 1, seqLen: 2048, warmupSteps: 1, steps: 3, threads: 2 },
        { config, batch: 1, seqLen: 2048, warmupSteps: 1, steps: 3, threads: 2, gradientCheckpointing: true },
      ]];
    if (opts.long) runs.push({ config, batch: 1, seqLen: 8192, warmupSteps: 0, steps: 2, threads: 2, gradientCheckpointing: true });
    const results = [];
    for (const run of runs) {
      log(`memory: batch ${run.batch} × ${run.seqLen}, ${run.steps} steps${run.gradientCheckpointing ? ', checkpointing' : ''}${run.pool === false ? ', pool off' : ''}, in a child process …`);
      results.push(await benchMemory(run, log));
    }
    rows.push(...memoryRows(results));
  }

  let tokenizerNote = '';
  if (wants('tokenizer')) {
    log('tokenizer …');
    const r = benchTokenizer(q ? { maxChars: 20_000, samples: 1 } : { samples: 3 }, log);
    rows.push(...r.rows);
    tokenizerNote = r.note;
  }

  const notes = [...buildNotes(q, sameTokens), ...(tokenizerNote ? [tokenizerNote] : [])];
  return { rows, notes, markdown: renderMarkdown(rows, notes) };
}

function buildNotes(quick: boolean, sameTokens: string): string[] {
  const fmt = (x: number | undefined): string => (x === undefined ? '–' : x.toExponential(1));
  const errors = [...largestErrors].map(([k, v]) => `${k} ${fmt(v)}`).join(', ');
  const notes = [
    ...(quick ? ['**--quick**: tiny sizes, one sample each: a smoke test, not a measurement.'] : []),
    'Medians of alternating runs (tsgrad → tfjs-cpu → tfjs-wasm, the first contender rotating each round) in one process. ' +
      'Every figure is a throughput; ratio = tsgrad ÷ peer, so > 1 means tsgrad is faster.',
    `Peers: TensorFlow.js ${tfjsVersion}, backend 'cpu' (plain JS) and 'wasm' (${wasmHasSimd() ? 'SIMD' : 'non-SIMD'} build, ` +
      'one thread: WASM_HAS_MULTITHREAD_SUPPORT off), prod mode. tsgrad runs on one thread except in the two-thread section, ' +
      `on its '${getBackend()}' kernels (TSGRAD_BACKEND=js|wasm picks them).`,
    'matmul layouts: A·B; A·Bᵀ with B stored [N, K] (Linear forward); Aᵀ·B with A stored [K, M] (weight gradient). ' +
      'tsgrad multiplies transposed views, tfjs uses tf.matMul(a, b, transposeA, transposeB). The batched shape is [8, 128, 256] @ [8, 256, 128]. ' +
      'In the matmul cases each contender first runs for one sample\'s length (warm-up). In the matmul and norm cases each timed run frees its outputs: ' +
      'tfjs disposes them, tsgrad runs the op in withReleaseScope, which hands the buffers back to its storage pool.',
    `Checked before timing, on the same data (normwise max relative error, limit 1e-4; 1e-3 for training gradients): ${errors || 'no check ran'}.`,
    'Training: first every model computes the loss and gradients of the batch\'s first sequence from the same weights (the check; also tfjs-cpu\'s warm-up), ' +
      'then tsgrad and tfjs-wasm take one warm-up step, then the timed steps; tsgrad uses AdamW (lr 1e-3, weight decay 0.01), ' +
      'tfjs has no AdamW and uses tf.train.adam (lr 1e-3, no decay).',
    'Memory: a child process that loads only tsgrad trains the same model with AdamW (worker pool on, as `pnpm train` runs) and samples ' +
      'its rss after the forward, backward and optimizer phases of every step. The analytic figure is estimateTrainingMemory: float32 weights, ' +
      'gradients and AdamW\'s two moments, plus every tensor the forward makes until the backward consumes it and one layer of gradients in flight (with checkpointing: the kept layer outputs and the largest of a layer\'s recompute, its MLP backward and the head backward), plus the kernels\' staging (the worker pool\'s shared arena and each thread\'s WebAssembly memory, computed from the shapes). The runtime\'s own rss (Node, the modules, ' +
      'the worker) is measured before the model exists and shown apart. --dry_run\'s expected peak rss is checked in every run against the child\'s own peak (VmHWM): ' +
      'the rss before the worker pool + what starting the pool added (both measured in the child, as the training command measures them) + the analytic figure + V8\'s young generation at its maximum (two semi-spaces, 16 MiB each by default on 64-bit); ' +
      'the first run is the default config\'s model and micro-batch, read from params_llama_tiny.yaml.',
    ...(sameTokens ? [`Generation includes the prompt's forward pass; three untimed runs each first; greedy tokens identical to tsgrad's: ${sameTokens}.`] : []),
  ];
  return notes;
}

/** Parses `--quick`, `--long` and `--only NAME` (also `--only=NAME`). */
export function parseArgs(argv: readonly string[]): { quick: boolean; long: boolean; only?: BenchName } {
  let only: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--only') only = argv[++i];
    else if (a.startsWith('--only=')) only = a.slice('--only='.length);
    else if (a !== '--quick' && a !== '--long') throw new Error(`bench: unknown argument '${a}' (expected --quick, --long, --only ${BENCH_NAMES.join('|')})`);
  }
  if (only !== undefined && !BENCH_NAMES.includes(only as BenchName)) {
    throw new Error(`bench: --only expects one of ${BENCH_NAMES.join(', ')}, got '${only}'`);
  }
  return { quick: argv.includes('--quick'), long: argv.includes('--long'), only: only as BenchName | undefined };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const t0 = performance.now();
  const stamp = (): string => `${((performance.now() - t0) / 1000).toFixed(0).padStart(4)} s`;
  const { markdown } = await runSuite({ ...args, log: (line) => console.error(`[bench ${stamp()}] ${line}`) });
  const partial = args.quick || args.only !== undefined;
  const out = fileURLToPath(new URL(partial ? './results-quick.md' : './results.md', import.meta.url));
  writeFileSync(out, markdown);
  console.log(markdown);
  console.error(`[bench] done in ${((performance.now() - t0) / 1000).toFixed(0)} s; wrote ${out}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(`\n[bench] FAILED: ${err instanceof Error ? err.message : String(err)}`);
      if (err instanceof Error && err.stack) console.error(err.stack);
      process.exit(1);
    },
  );
}
