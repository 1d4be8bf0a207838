// The training and validation loop behind `pnpm train`, as Cerebras Model Zoo's run.py performs it:
// a Model-Zoo config in, checkpoints, metrics.jsonl and loss.svg out in model_dir; resumable from
// the latest checkpoint with bit-identical losses.

import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { freemem } from 'node:os';
import { join } from 'node:path';
import { Generator, type Tensor, noGrad } from '@tsgrad/tensor';
import { AdamW, clipGradNorm } from '@tsgrad/optim';
import { LlamaForCausalLM } from '../index.js';
import { countParameters, estimateTrainingMemory, trainingFlopsPerStep } from '../config.js';
import { ByteTokenizer } from '../tokenizer.js';
import type { LrSchedule, TrainConfig } from './zoo-config.js';
import { type Corpus, loadCorpus, randomBatch, validationBatches } from './corpus.js';
import { type TrainerState, latestCheckpoint, readTrainingState, saveTrainingCheckpoint } from './checkpoints.js';
import { writeLossSvg } from './loss-plot.js';
import { writeFileAtomic } from './fs-source.js';

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

/** The Model-Zoo schedule: linear warmup initialLr → maxLr, then cosine maxLr → endLr, then flat. */
export function zooLearningRate(step: number, s: LrSchedule): number {
  if (step < s.warmupSteps) return s.initialLr + ((s.maxLr - s.initialLr) * step) / s.warmupSteps;
  const t = step - s.warmupSteps;
  if (s.decaySteps <= 0 || t >= s.decaySteps) return s.decaySteps <= 0 ? s.maxLr : s.endLr;
  return s.endLr + (s.maxLr - s.endLr) * 0.5 * (1 + Math.cos((Math.PI * t) / s.decaySteps));
}

/** Mean validation loss (nats per token) over fixed validation batches. */
export function evaluate(model: LlamaForCausalLM, batches: Tensor[]): number {
  const wasTraining = model.training;
  model.eval();
  let total = 0;
  noGrad(() => {
    for (const ids of batches) total += model.forward(ids, { labels: ids }).loss!.item();
  });
  model.train(wasTraining);
  return total / batches.length;
}

/** A summary of a config: parameters, memory, tokens and FLOPs per step (what --dry_run prints). */
export function describeConfig(config: TrainConfig): string[] {
  const m = config.model;
  const params = countParameters(m);
  const mem = estimateTrainingMemory(m, { batchSize: config.train.microBatchSize, seqLen: config.train.seqLen, gradientCheckpointing: config.gradientCheckpointing });
  const other = estimateTrainingMemory(m, { batchSize: config.train.microBatchSize, seqLen: config.train.seqLen, gradientCheckpointing: !config.gradientCheckpointing });
  const tokens = config.train.batchSize * config.train.seqLen;
  const flops = trainingFlopsPerStep(m, { tokens, seqLen: config.train.seqLen });
  const gib = (b: number) => `${(b / 2 ** 30).toFixed(b < 2 ** 30 ? 3 : 1)} GiB`;
  return [
    `config:            ${config.source}`,
    `model:             hidden ${m.hiddenSize}, layers ${m.numHiddenLayers}, heads ${m.numAttentionHeads} (kv ${m.numKeyValueHeads}), ffn ${m.intermediateSize}, vocab ${m.vocabSize}, context ${m.maxPositionEmbeddings}`,
    `parameters:        ${params.toLocaleString('en-US')}`,
    `training memory:   ${gib(mem.total)} float32 (weights ${gib(mem.weights)}, grads ${gib(mem.grads)}, AdamW moments ${gib(mem.adamMoments)}, activations ${gib(mem.activations)} for a micro-batch of ${config.train.microBatchSize}×${config.train.seqLen})`,
    `                   gradient checkpointing ${config.gradientCheckpointing ? 'on' : 'off'} (model.gradient_checkpointing); ${config.gradientCheckpointing ? 'off' : 'on'} it would be ${gib(other.total)} (activations ${gib(other.activations)})`,
    `tokens per step:   ${tokens.toLocaleString('en-US')} (batch ${config.train.batchSize} × ${config.train.seqLen}, micro-batches of ${config.train.microBatchSize})`,
    `FLOPs per step:    ${flops.toExponential(3)} (≈ 6·params·tokens + attention)`,
    `steps:             ${config.runconfig.maxSteps.toLocaleString('en-US')} (${(tokens * config.runconfig.maxSteps).toExponential(2)} tokens)`,
    ...(config.ignoredKeys.length > 0 ? [`ignored keys:      ${config.ignoredKeys.join(', ')}`] : []),
  ];
}

function progressLine(step: number, maxSteps: number, loss: number, lr: number, tokensPerSec: number, etaSec: number): string {
  const width = 24;
  const filled = Math.round((width * step) / maxSteps);
  const eta = etaSec > 3600 ? `${(etaSec / 3600).toFixed(1)}h` : etaSec > 60 ? `${Math.floor(etaSec / 60)}m${Math.round(etaSec % 60)}s` : `${Math.round(etaSec)}s`;
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] step ${step}/${maxSteps} loss ${loss.toFixed(4)} lr ${lr.toExponential(2)} ${Math.round(tokensPerSec)} tok/s ETA ${eta}`;
}

/** Runs training and/or validation as configured; see TrainRunOptions. */
export async function runTraining(opts: TrainRunOptions): Promise<TrainRunResult> {
  const { config, modelDir, mode } = opts;
  const log = opts.log ?? ((line: string) => console.log(line));
  const bar = opts.progressBar ?? Boolean(process.stdout.isTTY);
  const maxSteps = opts.maxSteps ?? config.runconfig.maxSteps;
  const { batchSize, microBatchSize, seqLen } = config.train;
  const rc = config.runconfig;
  mkdirSync(modelDir, { recursive: true });

  const mem = estimateTrainingMemory(config.model, { batchSize: microBatchSize, seqLen, gradientCheckpointing: config.gradientCheckpointing });
  if (mode !== 'eval' && mem.total > freemem()) {
    throw new Error(`train: this config needs about ${(mem.total / 2 ** 30).toFixed(1)} GiB for training in float32 (weights, grads, AdamW moments, activations), but only ${(freemem() / 2 ** 30).toFixed(1)} GiB is free; use a smaller model or micro-batch (try --dry_run)`);
  }
  const corpus = opts.corpus ?? loadCorpus(config.train.dataDir);
  const evalCfg = config.eval ?? { batchSize: microBatchSize, seqLen };
  const evalBatches = validationBatches(corpus.validation, Math.min(evalCfg.batchSize, 64), evalCfg.seqLen, rc.evalSteps > 0 ? rc.evalSteps : 0);
  const tokenizer = new ByteTokenizer();
  if (config.model.vocabSize < tokenizer.vocabSize) {
    throw new Error(`train: model.vocab_size ${config.model.vocabSize} is smaller than the byte-level tokenizer's ${tokenizer.vocabSize} tokens (in ${config.source})`);
  }

  // start fresh, or resume from a checkpoint
  const resumeDir = opts.checkpointPath ?? latestCheckpoint(modelDir);
  let model: LlamaForCausalLM;
  let state: TrainerState;
  let optimizerState: unknown = null;
  if (resumeDir) {
    model = await LlamaForCausalLM.fromPretrained(resumeDir);
    ({ state, optimizerState } = readTrainingState(resumeDir));
    log(`resuming from ${resumeDir} at step ${state.step}`);
  } else {
    if (mode === 'eval') throw new Error(`train: --mode eval needs a checkpoint, but ${modelDir} has none (pass --checkpoint_path)`);
    model = new LlamaForCausalLM(config.model, { generator: new Generator(rc.seed) });
    state = { step: 0, dataGenerator: new Generator(rc.seed + 1).getState(), tokensSeen: 0, configSource: config.source };
  }
  if (config.gradientCheckpointing) model.gradientCheckpointingEnable();
  const dataGenerator = new Generator(0).setState(state.dataGenerator);
  // weight decay on matrices only: norm weights are left out, as is usual for LLaMA training
  const decay = model.namedParameters().filter(([, p]) => p.ndim >= 2);
  const noDecay = model.namedParameters().filter(([, p]) => p.ndim < 2);
  const o = config.optimizer;
  const optimizer = new AdamW(
    [{ params: decay }, { params: noDecay, weightDecay: 0 }],
    { lr: o.lr, betas: o.betas, eps: o.eps, weightDecay: o.weightDecay },
  );
  if (optimizerState) optimizer.loadStateDict(optimizerState as Parameters<typeof optimizer.loadStateDict>[0]);

  const metricsPath = join(modelDir, 'metrics.jsonl');
  const metrics = readMetrics(metricsPath).filter((m) => m.step <= state.step);
  writeFileAtomic(metricsPath, metrics.map((m) => JSON.stringify(m) + '\n').join(''));
  const record = (entry: MetricEntry) => {
    metrics.push(entry);
    appendFileSync(metricsPath, JSON.stringify(entry) + '\n');
  };
  const checkpoint = async () => {
    state.dataGenerator = dataGenerator.getState();
    const dir = await saveTrainingCheckpoint(modelDir, model, optimizer.stateDict(), state, tokenizer);
    writeLossSvg(join(modelDir, 'loss.svg'), metrics);
    return dir;
  };
  const runEval = () => {
    const evalLoss = evaluate(model, evalBatches);
    record({ step: state.step, eval_loss: evalLoss, eval_perplexity: Math.exp(evalLoss) });
    log(`step ${state.step}: validation loss ${evalLoss.toFixed(4)} (perplexity ${Math.exp(evalLoss).toFixed(2)}) over ${evalBatches.length} batches`);
    return evalLoss;
  };

  const result: TrainRunResult = { step: state.step, losses: [], evalLoss: null, interrupted: false };
  if (mode === 'eval') {
    result.evalLoss = runEval();
    return result;
  }
  const accumulation = batchSize / microBatchSize;
  const evalEvery = rc.evalFrequency > 0 ? rc.evalFrequency : rc.checkpointSteps;
  const started = performance.now();
  let tokensThisRun = 0;
  if (state.step === 0 && rc.saveInitialCheckpoint) await checkpoint();
  while (state.step < maxSteps) {
    const lr = zooLearningRate(state.step, o.schedule);
    for (const group of optimizer.paramGroups) group.lr = lr;
    let loss = 0;
    for (let micro = 0; micro < accumulation; micro++) {
      const ids = randomBatch(corpus.train, microBatchSize, seqLen, dataGenerator);
      const out = model.forward(ids, { labels: ids }).loss!;
      const value = out.item();
      if (!Number.isFinite(value)) {
        const last = latestCheckpoint(modelDir);
        throw new Error(`train: the loss is ${value} at step ${state.step + 1}; stopping${last ? ` (the last good checkpoint, ${last}, is intact)` : ''}`);
      }
      loss += value / accumulation;
      (accumulation > 1 ? out.div(accumulation) : out).backward();
    }
    if (o.maxGradientNorm !== null) clipGradNorm(model.parameters(), o.maxGradientNorm);
    optimizer.step();
    optimizer.zeroGrad();
    state.step++;
    state.tokensSeen += batchSize * seqLen;
    tokensThisRun += batchSize * seqLen;
    result.losses.push({ step: state.step, loss });
    const elapsed = (performance.now() - started) / 1000;
    const tps = tokensThisRun / elapsed;
    if (bar) process.stdout.write(`\r${progressLine(state.step, maxSteps, loss, lr, tps, ((maxSteps - state.step) * batchSize * seqLen) / tps)}`);
    if (state.step % rc.logSteps === 0 || state.step === maxSteps) {
      record({ step: state.step, loss, lr, tokens_per_sec: tps });
      if (!bar) log(`step ${state.step}/${maxSteps} loss ${loss.toFixed(4)} lr ${lr.toExponential(3)} ${Math.round(tps)} tok/s`);
    }
    // let pending signals (Ctrl-C) be delivered: the step itself never yields to the event loop
    await new Promise((resolve) => setImmediate(resolve));
    const stopping = opts.shouldStop?.() ?? false;
    if (bar && (stopping || state.step % evalEvery === 0 || state.step % rc.checkpointSteps === 0 || state.step === maxSteps)) process.stdout.write('\n');
    if (mode === 'train_and_eval' && state.step % evalEvery === 0 && state.step !== maxSteps) result.evalLoss = runEval();
    if (stopping) {
      const dir = await checkpoint();
      log(`interrupted: saved ${dir} at step ${state.step}; rerun the same command to continue`);
      result.interrupted = true;
      break;
    }
    if (state.step % rc.checkpointSteps === 0 && state.step !== maxSteps) await checkpoint();
  }
  if (!result.interrupted) {
    if (mode === 'train_and_eval') result.evalLoss = runEval();
    const dir = await checkpoint();
    log(`saved ${dir}`);
  }
  result.step = state.step;
  return result;
}

/** One line of metrics.jsonl. */
export interface MetricEntry {
  /** The step the line describes. */
  step: number;
  /** Training loss of that step. */
  loss?: number;
  /** Validation loss at that step. */
  eval_loss?: number;
  [key: string]: number | undefined;
}

function readMetrics(path: string): MetricEntry[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as MetricEntry);
}


