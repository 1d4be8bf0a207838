// The training and validation loop behind `pnpm train`, as Cerebras Model Zoo's run.py performs it:
// a Model-Zoo config in, checkpoints, metrics.jsonl and loss.svg out in model_dir; resumable from
// the latest checkpoint with bit-identical losses.
//
// `runTraining` takes model_dir's lock and then reads in four parts, in this order below: prepare the
// run (corpus, tokenizer, model or checkpoint, AdamW and its schedule, metrics.jsonl), `trainStep`
// (one optimizer step), the metrics logger, and the loop with its validation and checkpoint cadence.

import { mkdirSync } from 'node:fs';
import { freemem } from 'node:os';
import { join } from 'node:path';
import { type Backend, Generator, Tensor, getBackend, noGrad, withReleaseScope } from '@tsgrad/tensor';
import { AdamW, WarmupThenDecay, clipGradNorm, warmupThenDecayLr } from '@tsgrad/optim';
import { LlamaForCausalLM } from '../model.js';
import { type LlamaConfig, countParameters, estimateTrainingMemory, resolvedHeadDim, trainingFlopsPerStep } from '../config.js';
import type { LrSchedule, TrainConfig } from './zoo-config.js';
import { type Corpus, loadCorpus } from './corpus.js';
import {
  NonFiniteStateError, type TrainerState, checkCheckpointPath, newestIntactCheckpoint, openNewestIntact, readTrainingState,
  recoverInterruptedSaves, saveTrainingCheckpoint, verifyManifest,
} from './checkpoints.js';
import { acquireRunLock } from './run-lock.js';
import { prepareTokens } from './tokenizer-setup.js';
import type { Tokenizer } from '../hf-tokenizer.js';
import { writeLossSvg } from './loss-plot.js';
import { MetricsLog } from './metrics.js';
import { type RuntimeMemory, expectedPeakRss } from './peak-rss.js';

/** What `runTraining` is asked to do. */
export interface TrainRunOptions {
  /** The parsed config. */
  config: TrainConfig;
  /** Where checkpoints, metrics.jsonl and loss.svg go. */
  modelDir: string;
  /** 'train', 'eval' or 'train_and_eval' (as run.py). */
  mode: 'train' | 'eval' | 'train_and_eval';
  /** A checkpoint folder to start from instead of model_dir's latest. */
  checkpointPath?: string;
  /** Overrides runconfig.max_steps. */
  maxSteps?: number;
  /** Where progress lines go (default: stdout). */
  log?: (line: string) => void;
  /** Draw a progress bar (default: when stdout is a terminal). */
  progressBar?: boolean;
  /** Checked after every step: when it returns true the run saves a checkpoint and stops. */
  shouldStop?: () => boolean;
  /** A corpus to use instead of the configured one (tests). */
  corpus?: Corpus;
}

/** What a run reports back. */
export interface TrainRunResult {
  /** The step reached. */
  step: number;
  /** Training loss of every step run in this invocation, by step. */
  losses: Array<{ step: number; loss: number }>;
  /** The last validation loss, if any validation ran. */
  evalLoss: number | null;
  /** True when stopped early by shouldStop (Ctrl-C). */
  interrupted: boolean;
}

/** The Model-Zoo schedule: linear warmup initialLr → maxLr, then cosine maxLr → endLr, then flat (optim's warmupThenDecayLr). */
export function zooLearningRate(step: number, s: LrSchedule): number {
  return warmupThenDecayLr(step, s);
}

/** Mean validation loss (nats per token) over fixed validation batches, `rowsPerForward` rows per forward pass (default: a whole batch). */
export function evaluate(model: LlamaForCausalLM, batches: Tensor[], { rowsPerForward = Infinity }: { rowsPerForward?: number } = {}): number {
  const wasTraining = model.training;
  model.eval();
  let total = 0;
  noGrad(() => {
    for (const ids of batches) {
      const rows = ids.shape[0]!;
      const step = Math.min(rows, rowsPerForward);
      let batchLoss = 0;
      for (let r = 0; r < rows; r += step) {
        const n = Math.min(step, rows - r);
        const chunk = n === rows ? ids : ids.narrow(0, r, n);
        // in a release scope: each forward's buffers go back to the storage pool as it returns, and
        // chunks of the training micro-batch's shape reuse the training step's buffers, so a
        // validation pass adds no memory (a whole eval batch would grow the pool by its own sizes)
        const loss = withReleaseScope(() => model.forward(chunk, { labels: chunk }).loss!.item());
        // every row predicts seqLen − 1 tokens, so the batch's mean is the rows-weighted mean of the chunks'
        batchLoss += (loss * n) / rows;
      }
      total += batchLoss;
    }
  });
  model.train(wasTraining);
  return total / batches.length;
}

/**
 * A summary of a config: parameters, memory, tokens and FLOPs per step (what --dry_run prints).
 * `kernels`: the backend and thread count the run uses, which set the kernels' staging in the
 * memory estimate (default: this process's backend, one thread). With `runtime` (what the process
 * holds before training, measured where the run starts: measureRuntimeMemory) it also prints the
 * expected peak rss, term by term (see peak-rss.ts).
 */
export function describeConfig(config: TrainConfig, kernels: { threads: number; backend: Backend } = { threads: 1, backend: getBackend() }, runtime?: RuntimeMemory): string[] {
  const m = config.model;
  const params = countParameters(m);
  const shape = { batchSize: config.train.microBatchSize, seqLen: config.train.seqLen, ...kernels };
  const mem = estimateTrainingMemory(m, { ...shape, gradientCheckpointing: config.gradientCheckpointing });
  const other = estimateTrainingMemory(m, { ...shape, gradientCheckpointing: !config.gradientCheckpointing });
  const tokens = config.train.batchSize * config.train.seqLen;
  const flops = trainingFlopsPerStep(m, { tokens, seqLen: config.train.seqLen });
  const gib = (b: number) => `${(b / 2 ** 30).toFixed(b < 2 ** 30 ? 3 : 1)} GiB`;
  const peakLines = (r: RuntimeMemory): string[] => {
    const peak = expectedPeakRss(r, mem);
    const otherPeak = expectedPeakRss(r, other);
    const workers = `${r.workerCount} worker thread${r.workerCount === 1 ? '' : 's'}`;
    return [
      `expected peak rss: ${gib(peak.total)} = rss now ${gib(peak.rss)} (Node, tsx, this command's modules, the config) + ${workers}${r.workerCount === 1 ? "'s" : "'"} runtime ${gib(peak.workers)} (rss added by starting the pool) + training memory ${gib(peak.training)} + V8's young generation at its maximum ${gib(peak.youngGeneration)} (2 × ${r.semiSpace.bytes / 2 ** 20} MiB semi-spaces, ${r.semiSpace.source})`,
      `                   gradient checkpointing ${config.gradientCheckpointing ? 'off' : 'on'} it would be ${gib(otherPeak.total)}; not counted: the corpus and tokenizer, V8's old generation growing with the run, a checkpoint save's buffers`,
    ];
  };
  return [
    `config:            ${config.source}`,
    `model:             hidden ${m.hiddenSize}, layers ${m.numHiddenLayers}, heads ${m.numAttentionHeads} (kv ${m.numKeyValueHeads}), ffn ${m.intermediateSize}, vocab ${m.vocabSize}, context ${m.maxPositionEmbeddings}`,
    `parameters:        ${params.toLocaleString('en-US')}`,
    `training memory:   ${gib(mem.total)} float32 (weights ${gib(mem.weights)}, grads ${gib(mem.grads)}, AdamW moments ${gib(mem.adamMoments)}, activations ${gib(mem.activations)} for a micro-batch of ${config.train.microBatchSize}×${config.train.seqLen}, kernel staging ${gib(mem.kernelStaging)} on ${kernels.backend} with ${kernels.threads} thread${kernels.threads > 1 ? 's' : ''})`,
    `                   gradient checkpointing ${config.gradientCheckpointing ? 'on' : 'off'} (model.gradient_checkpointing); ${config.gradientCheckpointing ? 'off' : 'on'} it would be ${gib(other.total)} (activations ${gib(other.activations)})`,
    ...(runtime ? peakLines(runtime) : []),
    `tokens per step:   ${tokens.toLocaleString('en-US')} (batch ${config.train.batchSize} × ${config.train.seqLen}, micro-batches of ${config.train.microBatchSize})`,
    `FLOPs per step:    ${flops.toExponential(3)} (≈ 6·params·tokens + attention)`,
    `steps:             ${config.runconfig.maxSteps.toLocaleString('en-US')} (${(tokens * config.runconfig.maxSteps).toExponential(2)} tokens)`,
    ...(config.ignoredKeys.length > 0 ? [`ignored keys:      ${config.ignoredKeys.join(', ')}`] : []),
  ];
}

/** A duration for progress lines: 42s, 3m07s, 2h05m. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

function progressLine(step: number, maxSteps: number, loss: number, lr: number, tokensPerSec: number, elapsedSec: number, etaSec: number): string {
  const width = 24;
  const filled = Math.round((width * step) / maxSteps);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] step ${step}/${maxSteps} loss ${loss.toFixed(4)} lr ${lr.toExponential(2)} ${Math.round(tokensPerSec)} tok/s elapsed ${formatDuration(elapsedSec)} ETA ${formatDuration(etaSec)}`;
}

// The YAML's name for each LlamaConfig field that shapes the model (initializerRange only matters
// before the first step; token ids are not in the YAML).
const MODEL_KEYS: Array<[keyof LlamaConfig, string]> = [
  ['vocabSize', 'vocab_size'], ['hiddenSize', 'hidden_size'], ['intermediateSize', 'filter_size'],
  ['numHiddenLayers', 'num_hidden_layers'], ['numAttentionHeads', 'num_heads'],
  ['numKeyValueHeads', 'extra_attention_params.num_kv_groups (kv heads)'],
  ['maxPositionEmbeddings', 'max_position_embeddings'], ['rmsNormEps', 'layer_norm_epsilon'],
  ['ropeTheta', 'rope_theta'], ['tieWordEmbeddings', 'share_embedding_weights'],
];

/** Throws, listing every differing key, when the YAML's model section is not the checkpoint's model. */
export function checkSameModel(config: TrainConfig, checkpointModel: LlamaConfig, checkpointDir: string): void {
  const differ = MODEL_KEYS.filter(([k]) => config.model[k] !== checkpointModel[k])
    .map(([k, yamlKey]) => `model.${yamlKey}: ${String(config.model[k])} in the YAML, ${String(checkpointModel[k])} in the checkpoint`);
  const [yamlHead, ckptHead] = [resolvedHeadDim(config.model), resolvedHeadDim(checkpointModel)];
  // a head size of its own only in a Hugging Face config.json (head_dim); the YAML's is hidden_size / num_heads
  const sameShape = config.model.hiddenSize === checkpointModel.hiddenSize && config.model.numAttentionHeads === checkpointModel.numAttentionHeads;
  if (sameShape && yamlHead !== ckptHead) differ.push(`head size (model.rotary_dim): ${yamlHead} in the YAML, ${ckptHead} in the checkpoint`);
  if (differ.length === 0) return;
  throw new Error(`train: ${config.source} describes a different model than the checkpoint ${join(checkpointDir, 'config.json')} it would resume:\n  - ${differ.join('\n  - ')}\n`
    + 'Restore the model section, or train the new model into another --model_dir.');
}

/**
 * Runs training and/or validation as configured; see TrainRunOptions. Holds model_dir's run lock
 * throughout, and first repairs what an interrupted save left there.
 */
export async function runTraining(opts: TrainRunOptions): Promise<TrainRunResult> {
  const log = opts.log ?? ((line: string) => console.log(line));
  mkdirSync(opts.modelDir, { recursive: true });
  const lock = acquireRunLock(opts.modelDir, log);
  try {
    for (const note of recoverInterruptedSaves(opts.modelDir)) log(note);
    const run = await prepareRun(opts, log);
    return await trainAndEvaluate(run, opts);
  } finally {
    lock.release();
  }
}

// ************* prepare the run: config, corpus, model, optimizer, resume *************

// Everything a run works with, made before its first step.
interface Run {
  config: TrainConfig;
  modelDir: string;
  log: (line: string) => void;
  // the training text as token ids, and the fixed validation batches
  trainTokens: ArrayLike<number>;
  evalBatches: Tensor[];
  tokenizer: Tokenizer;
  model: LlamaForCausalLM;
  optimizer: AdamW;
  schedule: WarmupThenDecay;
  // the step reached, the order of the training windows, tokens seen: saved with every checkpoint
  state: TrainerState;
  dataGenerator: Generator;
  metrics: MetricsLog;
}

async function prepareRun(opts: TrainRunOptions, log: (line: string) => void): Promise<Run> {
  const { config, modelDir, mode } = opts;
  const { microBatchSize, seqLen } = config.train;
  const rc = config.runconfig;
  const mem = estimateTrainingMemory(config.model, { batchSize: microBatchSize, seqLen, gradientCheckpointing: config.gradientCheckpointing });
  if (mode !== 'eval' && mem.total > freemem()) {
    throw new Error(`train: this config needs about ${(mem.total / 2 ** 30).toFixed(1)} GiB for training in float32 (weights, grads, AdamW moments, activations), but only ${(freemem() / 2 ** 30).toFixed(1)} GiB is free; use a smaller model or micro-batch (try --dry_run)`);
  }

  // the text, and the fixed validation batches
  const corpus = opts.corpus ?? loadCorpus(config.train.dataDir, config.eval?.dataDir);
  const evalCfg = config.eval ?? { batchSize: microBatchSize, seqLen };
  // the tokenizer (bytes, a tokenizer.json, or a BPE trained on the training text), saved with every checkpoint
  const tokens = await prepareTokens(config.train.tokenizer ?? { kind: 'bytes' }, corpus, modelDir, log);
  const tokenizer = tokens.tokenizer;
  const evalBatches = validationBatches(tokens.validation, Math.min(evalCfg.batchSize, 64), evalCfg.seqLen, rc.evalSteps > 0 ? rc.evalSteps : 0);
  if (config.model.vocabSize < tokenizer.vocabSize) {
    throw new Error(`train: model.vocab_size ${config.model.vocabSize} is smaller than the tokenizer's ${tokenizer.vocabSize} tokens (in ${config.source})`);
  }

  // the model and where training stands: a checkpoint's, or a fresh model at step 0
  const start = await resumeOrStart(opts, log);
  const { model, state } = start;
  if (config.gradientCheckpointing) model.gradientCheckpointingEnable();

  // AdamW, with weight decay on matrices only: norm weights are left out, as is usual for LLaMA training
  const o = config.optimizer;
  const optimizer = new AdamW([
    { params: model.namedParameters().filter(([, p]) => p.ndim >= 2) },
    { params: model.namedParameters().filter(([, p]) => p.ndim < 2), weightDecay: 0 },
  ], { lr: o.lr, betas: o.betas, eps: o.eps, weightDecay: o.weightDecay });
  if (start.optimizerState) optimizer.loadStateDict(start.optimizerState as Parameters<typeof optimizer.loadStateDict>[0]);
  // the Model-Zoo schedule sets every group's lr, from the step training stands at
  const schedule = new WarmupThenDecay(optimizer, o.schedule);
  if (state.step > 0) schedule.loadStateDict({ ...schedule.stateDict(), step: state.step });

  return {
    config, modelDir, log, trainTokens: tokens.train, evalBatches, tokenizer, model, optimizer, schedule, state,
    dataGenerator: new Generator(0).setState(state.dataGenerator),
    metrics: new MetricsLog(join(modelDir, 'metrics.jsonl'), state.step, log),
  };
}

// Resumes --checkpoint_path, else model_dir's newest intact checkpoint, else starts a fresh model.
// A damaged checkpoint in model_dir is refused by name and the one before it used; an explicit one must be intact.
async function resumeOrStart(opts: TrainRunOptions, log: (line: string) => void): Promise<{ model: LlamaForCausalLM; state: TrainerState; optimizerState: unknown }> {
  const { config, modelDir } = opts;
  const openCheckpoint = async (dir: string) => ({ model: await LlamaForCausalLM.fromPretrained(dir), ...readTrainingState(dir) });
  let resumed: { dir: string; value: Awaited<ReturnType<typeof openCheckpoint>> } | null;
  if (opts.checkpointPath) {
    checkCheckpointPath(opts.checkpointPath);
    try {
      const note = verifyManifest(opts.checkpointPath);
      if (note) log(`warning: ${note}`);
      resumed = { dir: opts.checkpointPath, value: await openCheckpoint(opts.checkpointPath) };
    } catch (err) {
      throw new Error(`train: cannot resume from --checkpoint_path ${opts.checkpointPath}: ${(err as Error).message}`);
    }
  } else {
    resumed = await openNewestIntact(modelDir, openCheckpoint, log,
      'Refusing to start over from step 0 on top of them: move them away to start afresh, or pass --checkpoint_path');
  }
  if (resumed) {
    const { model, state, optimizerState } = resumed.value;
    checkSameModel(config, model.config, resumed.dir);
    log(`resuming from ${resumed.dir} at step ${state.step}`);
    return { model, state, optimizerState };
  }
  if (opts.mode === 'eval') throw new Error(`train: --mode eval needs a checkpoint, but ${modelDir} has none (pass --checkpoint_path)`);
  const rc = config.runconfig;
  const model = new LlamaForCausalLM(config.model, { generator: new Generator(rc.seed) });
  // the order of the training windows: train_input.shuffle_seed when given, else derived from the seed
  const shuffleSeed = config.train.shuffleSeed ?? rc.seed + 1;
  const state = { step: 0, dataGenerator: new Generator(shuffleSeed).getState(), tokensSeen: 0, configSource: config.source };
  return { model, state, optimizerState: null };
}

// ************* one step *************

// The batches are windows of the token stream, drawn here as nanoGPT's train.py draws them
// (get_batch): random ones to train on, the same consecutive ones for every validation.

/**
 * A batch of random windows: inputs [B, T] int32 and the same windows as labels (the model shifts
 * labels inside, as Hugging Face). Windows are T tokens starting at uniform random offsets.
 */
export function randomBatch(tokens: ArrayLike<number>, batchSize: number, seqLen: number, generator: Generator): Tensor {
  if (tokens.length < seqLen + 1) throw new Error(`randomBatch: the text has ${tokens.length} tokens, fewer than one window of ${seqLen + 1}`);
  const ids = new Int32Array(batchSize * seqLen);
  for (let b = 0; b < batchSize; b++) {
    const start = generator.randint(tokens.length - seqLen + 1);
    for (let t = 0; t < seqLen; t++) ids[b * seqLen + t] = tokens[start + t]!;
  }
  return new Tensor(ids, [batchSize, seqLen]);
}

/** Consecutive non-overlapping windows for validation, so every evaluation sees the same text. */
export function validationBatches(tokens: ArrayLike<number>, batchSize: number, seqLen: number, maxBatches: number): Tensor[] {
  const windows = Math.floor(tokens.length / seqLen);
  const out: Tensor[] = [];
  for (let w = 0; w + batchSize <= windows && (maxBatches <= 0 || out.length < maxBatches); w += batchSize) {
    const ids = new Int32Array(batchSize * seqLen);
    for (let i = 0; i < batchSize * seqLen; i++) ids[i] = tokens[w * seqLen + i]!;
    out.push(new Tensor(ids, [batchSize, seqLen]));
  }
  if (out.length === 0) throw new Error(`validationBatches: the validation text (${tokens.length} tokens) is shorter than one batch of ${batchSize}×${seqLen}`);
  return out;
}

// One optimizer step over batch_size sequences, in micro-batches whose gradients add up (each loss
// divided by their count, so the sum is the batch's mean); returns the batch's mean loss.
async function trainStep(run: Run): Promise<number> {
  const { model, optimizer, schedule } = run;
  const { batchSize, microBatchSize, seqLen } = run.config.train;
  const accumulation = batchSize / microBatchSize;
  let loss = 0;
  for (let micro = 0; micro < accumulation; micro++) {
    const ids = randomBatch(run.trainTokens, microBatchSize, seqLen, run.dataGenerator);
    // in a release scope: the forward's buffers go back to the storage pool as the backward
    // consumes them (deterministic reuse, not V8's collector); only the loss value leaves it
    const value = withReleaseScope(() => {
      const out = model.forward(ids, { labels: ids }).loss!;
      const v = out.item();
      if (Number.isFinite(v)) (accumulation > 1 ? out.div(accumulation) : out).backward();
      return v;
    }, { duringBackward: true });
    loss += (await checkFinite(value, run)) / accumulation;
  }
  const maxNorm = run.config.optimizer.maxGradientNorm;
  if (maxNorm !== null) clipGradNorm(model.parameters(), maxNorm);
  optimizer.step();
  optimizer.zeroGrad();
  schedule.step();
  return loss;
}

// A non-finite loss stops the run before its step is taken (nothing is saved), naming where to resume.
async function checkFinite(loss: number, run: Run): Promise<number> {
  if (Number.isFinite(loss)) return loss;
  throw new Error(`train: the loss is ${loss} at step ${run.state.step + 1}; stopping without saving; ${await newestIntactNote(run.modelDir)}`);
}

// ************* metrics, validation, checkpoints *************

// Reports each finished step: a progress bar (or, every log_steps, a line), and every log_steps a
// line of metrics.jsonl; elapsed time and tokens per second count this invocation only.
function stepLogger(run: Run, maxSteps: number, bar: boolean): (loss: number, lr: number) => void {
  const { logSteps } = run.config.runconfig;
  const tokensPerStep = run.config.train.batchSize * run.config.train.seqLen;
  const started = performance.now();
  let tokensThisRun = 0;
  return (loss, lr) => {
    const step = run.state.step;
    tokensThisRun += tokensPerStep;
    const elapsed = (performance.now() - started) / 1000;
    const tps = tokensThisRun / elapsed;
    const eta = ((maxSteps - step) * tokensPerStep) / tps;
    if (bar) process.stdout.write(`\r${progressLine(step, maxSteps, loss, lr, tps, elapsed, eta)}`);
    if (step % logSteps === 0 || step === maxSteps) {
      run.metrics.record({ step, loss, lr, tokens_per_sec: tps });
      if (!bar) run.log(`step ${step}/${maxSteps} loss ${loss.toFixed(4)} lr ${lr.toExponential(3)} ${Math.round(tps)} tok/s elapsed ${formatDuration(elapsed)} ETA ${formatDuration(eta)}`);
    }
  };
}

// The validation loss, recorded in metrics.jsonl and logged.
function runEval(run: Run): number {
  const { step } = run.state;
  const evalLoss = evaluate(run.model, run.evalBatches, { rowsPerForward: run.config.train.microBatchSize });
  run.metrics.record({ step, eval_loss: evalLoss, eval_perplexity: Math.exp(evalLoss) });
  run.log(`step ${step}: validation loss ${evalLoss.toFixed(4)} (perplexity ${Math.exp(evalLoss).toFixed(2)}) over ${run.evalBatches.length} batches`);
  return evalLoss;
}

// Saves a checkpoint of the model, optimizer and trainer state (refused when any is not finite),
// and redraws loss.svg; returns its folder.
async function saveCheckpoint(run: Run): Promise<string> {
  run.state.dataGenerator = run.dataGenerator.getState();
  let dir: string;
  try {
    dir = await saveTrainingCheckpoint(run.modelDir, run.model, run.optimizer.stateDictTyped(), run.state, run.tokenizer);
  } catch (err) {
    if (err instanceof NonFiniteStateError) throw new Error(`${err.message}; stopping; ${await newestIntactNote(run.modelDir)}`);
    throw err;
  }
  writeLossSvg(join(run.modelDir, 'loss.svg'), run.metrics.entries);
  return dir;
}

// The newest checkpoint that verifies, named for an error message.
async function newestIntactNote(modelDir: string): Promise<string> {
  const dir = await newestIntactCheckpoint(modelDir);
  return dir ? `the newest intact checkpoint is ${dir}` : `${modelDir} holds no intact checkpoint`;
}

// ************* the loop *************

// Steps to max_steps, validating every eval_frequency steps (train_and_eval) and saving every
// checkpoint_steps, and at the end; a stop request (Ctrl-C) saves and ends after the current step.
async function trainAndEvaluate(run: Run, opts: TrainRunOptions): Promise<TrainRunResult> {
  const { mode } = opts;
  const { state } = run;
  const rc = run.config.runconfig;
  const maxSteps = opts.maxSteps ?? rc.maxSteps;
  const bar = opts.progressBar ?? Boolean(process.stdout.isTTY);
  const result: TrainRunResult = { step: state.step, losses: [], evalLoss: null, interrupted: false };
  if (mode === 'eval') {
    result.evalLoss = runEval(run);
    return result;
  }
  const evalEvery = rc.evalFrequency > 0 ? rc.evalFrequency : rc.checkpointSteps;
  const logStep = stepLogger(run, maxSteps, bar);
  if (state.step === 0 && rc.saveInitialCheckpoint) await saveCheckpoint(run);
  while (state.step < maxSteps) {
    const lr = run.schedule.lastLr; // the lr this step uses
    const loss = await trainStep(run);
    state.step++;
    state.tokensSeen += run.config.train.batchSize * run.config.train.seqLen;
    result.losses.push({ step: state.step, loss });
    logStep(loss, lr);
    // let pending signals (Ctrl-C) be delivered: the step itself never yields to the event loop
    await new Promise((resolve) => setImmediate(resolve));
    const stopping = opts.shouldStop?.() ?? false;
    if (bar && (stopping || state.step % evalEvery === 0 || state.step % rc.checkpointSteps === 0 || state.step === maxSteps)) process.stdout.write('\n');
    if (mode === 'train_and_eval' && state.step % evalEvery === 0 && state.step !== maxSteps) result.evalLoss = runEval(run);
    if (stopping) {
      const dir = await saveCheckpoint(run);
      run.log(`interrupted: saved ${dir} at step ${state.step}; rerun the same command to continue`);
      result.interrupted = true;
      break;
    }
    if (state.step % rc.checkpointSteps === 0 && state.step !== maxSteps) await saveCheckpoint(run);
  }
  if (!result.interrupted) {
    if (mode === 'train_and_eval') result.evalLoss = runEval(run);
    run.log(`saved ${await saveCheckpoint(run)}`);
  }
  result.step = state.step;
  return result;
}
