// One full training step — forward, backward, optimizer update — of a LLaMA, in tokens per second
// (B·T tokens per step). tsgrad: LlamaForCausalLM + AdamW from @tsgrad/optim. tfjs: the same model
// in tfjs ops (tfjs-llama.ts) with tf.variableGrads + tf.train.adam (tfjs has no AdamW, so no
// weight decay there). All models start from the same weights and see the same batch; their losses
// and gradients on one sequence are compared before any step is timed.
// Resident memory (whole process) is sampled inside tsgrad's timed steps, after each phase.

import * as tf from '@tensorflow/tfjs';
import { type LlamaConfig, LlamaForCausalLM } from '@tsgrad/llama';
import { AdamW } from '@tsgrad/optim';
import { Generator, Tensor } from '@tsgrad/tensor';
import type { Row } from './table.js';
import { type NamedWeight, TfLlama } from './tfjs-llama.js';
import { useBackend } from './tfjs-env.js';
import { type Contender, type ContenderName, alternate, checkClose, median, seededInts } from './timing.js';

/** Options of benchTrainStep. */
export interface TrainBenchOptions {
  /** The model shape. */
  config: LlamaConfig;
  /** Sequences per step. */
  batch: number;
  /** Tokens per sequence. */
  seqLen: number;
  /** Timed steps per contender (after one warm-up step, except tfjs-cpu); tfjs-cpu is slow, give it fewer. */
  steps: Partial<Record<ContenderName, number>>;
  /** Learning rate of both optimizers. */
  lr?: number;
  /** Which contenders to time (default all three). */
  contenders?: readonly ContenderName[];
}

/** Resident-memory samples of tsgrad's timed steps, and the analytic size of the training state. */
export interface TrainMemory {
  /** rss (bytes) at the first sample of the timed steps. */
  first: number;
  /** rss at the last sample. */
  last: number;
  /** The largest sample. */
  peak: number;
  /** Bytes of weights + gradients + AdamW's two moments. */
  stateBytes: number;
}

/** What benchTrainStep measured. */
export interface TrainResult {
  /** Median tokens/s per contender. */
  tokensPerSecond: Partial<Record<ContenderName, number>>;
  /** Median step time (ms) per contender. */
  stepMs: Partial<Record<ContenderName, number>>;
  /** tsgrad's memory, when tsgrad was timed. */
  memory: TrainMemory | null;
  /** The checked loss per contender (equal weights and sequence, so equal up to float error). */
  firstLoss: Partial<Record<ContenderName, number>>;
}

/** A model's parameters as named float32 arrays (copies), to load into another implementation. */
export function namedWeights(model: LlamaForCausalLM): NamedWeight[] {
  return model.namedParameters().map(([name, p]) => ({ name, shape: [...p.shape], data: Float32Array.from(p.toTypedArray()) }));
}

// One contender's training step (returns the loss) and its gradient check: loss and gradients
// by HF name on a batch of its own, without updating anything.
interface Trainer {
  step: () => number;
  lossAndGrads: (checkIds: Int32Array, T: number) => { loss: number; grads: Map<string, Float32Array> };
}

function tsgradTrainer(model: LlamaForCausalLM, ids: Tensor, lr: number, probe: () => void): Trainer {
  const opt = new AdamW(model.namedParameters(), { lr });
  return {
    step: () => {
      opt.zeroGrad();
      const { loss } = model.forward(ids, { labels: ids });
      probe();
      loss!.backward();
      probe();
      opt.step();
      probe();
      return loss!.item();
    },
    lossAndGrads: (checkIds, T) => {
      const x = new Tensor(checkIds, [checkIds.length / T, T]);
      const { loss } = model.forward(x, { labels: x });
      loss!.backward();
      const grads = new Map(model.namedParameters().map(([n, p]) => [n, Float32Array.from(p.grad!.toTypedArray())]));
      model.zeroGrad();
      return { loss: loss!.item(), grads };
    },
  };
}

function tfjsTrainer(model: TfLlama, ids: tf.Tensor2D, lr: number): Trainer {
  const opt = tf.train.adam(lr, 0.9, 0.999, 1e-8);
  const vars = model.variables();
  const names = new Map([...model.weights].map(([hf, v]) => [v.name, hf]));
  return {
    step: () => {
      const { value, grads } = tf.variableGrads(() => model.loss(ids), vars);
      opt.applyGradients(Object.entries(grads).map(([name, tensor]) => ({ name, tensor })));
      tf.dispose(grads);
      const loss = value.dataSync()[0]!;
      value.dispose();
      return loss;
    },
    lossAndGrads: (checkIds, T) => {
      const x = tf.tensor2d(checkIds, [checkIds.length / T, T], 'int32');
      const { value, grads } = tf.variableGrads(() => model.loss(x), vars);
      const collected = new Map(Object.entries(grads).map(([v, g]) => [names.get(v)!, Float32Array.from(g.dataSync())]));
      const loss = value.dataSync()[0]!;
      tf.dispose([x, value, ...Object.values(grads)]);
      return { loss, grads: collected };
    },
  };
}

/** A tsgrad model, batch and AdamW ready to train: each call runs one step and returns its loss. */
export function tsgradTrainStep(config: LlamaConfig, batch: number, seqLen: number, lr = 1e-3): () => number {
  const model = new LlamaForCausalLM(config, { generator: new Generator(0) });
  const ids = new Tensor(seededInts(batch * seqLen, config.vocabSize, 21), [batch, seqLen]);
  return tsgradTrainer(model, ids, lr, () => {}).step;
}

/**
 * Times the training step of every contender. First, from the shared initial weights, each
 * computes the loss and gradients of the batch's first sequence, and the run aborts if they
 * disagree; that pass also warms tfjs-cpu up (a full warm-up step would cost it a minute and
 * more). tsgrad and tfjs-wasm then take one full warm-up step before the timed ones.
 */
export async function benchTrainStep(opts: TrainBenchOptions): Promise<TrainResult> {
  const names = opts.contenders ?? ['tsgrad', 'tfjs-cpu', 'tfjs-wasm'];
  const { config, batch: B, seqLen: T } = opts;
  const lr = opts.lr ?? 1e-3;
  const idsData = seededInts(B * T, config.vocabSize, 21);
  const model = new LlamaForCausalLM(config, { generator: new Generator(0) });
  const weights = namedWeights(model);

  const rss: number[] = [];
  let timing = false; // samples are taken in the timed steps only, not in the warm-up
  const probe = (): void => { if (timing) rss.push(process.memoryUsage().rss); };

  const checked = new Map<ContenderName, ReturnType<Trainer['lossAndGrads']>>();
  const disposers: Array<() => void> = [];
  const contenders: Contender[] = [];
  for (const name of names) {
    let trainer: Trainer;
    let before: (() => Promise<void>) | undefined;
    if (name === 'tsgrad') {
      trainer = tsgradTrainer(model, new Tensor(idsData, [B, T]), lr, probe);
    } else {
      const backend = name === 'tfjs-cpu' ? 'cpu' : 'wasm';
      await useBackend(backend);
      const tfModel = new TfLlama(config, weights);
      const ids = tf.tensor2d(idsData, [B, T], 'int32');
      disposers.push(() => { tfModel.dispose(); ids.dispose(); });
      trainer = tfjsTrainer(tfModel, ids, lr);
      before = () => useBackend(backend);
    }
    await before?.();
    checked.set(name, trainer.lossAndGrads(idsData.slice(0, T), T));
    let warmedUp = false;
    contenders.push({
      name,
      before,
      samples: opts.steps[name] ?? 3,
      warmup: name !== 'tfjs-cpu',
      run: () => {
        timing = name === 'tsgrad' && warmedUp;
        trainer.step();
        timing = false;
        warmedUp = true;
      },
    });
  }

  // same weights and sequence: losses and gradients must agree (tsgrad is the reference when
  // present; gradients are float32 sums over many products, so they get a looser 1e-3)
  const [refName, ref] = [...checked][0]!;
  for (const [name, r] of checked) {
    if (name === refName) continue;
    checkClose(`train loss: ${name} vs ${refName}`, [r.loss], [ref.loss], 1e-4, 'train-loss');
    for (const [param, g] of ref.grads) {
      checkClose(`train gradient of ${param}: ${name} vs ${refName}`, r.grads.get(param) ?? [], g, 1e-3, 'train-grads');
    }
  }
  const times = await alternate(contenders, { samples: 3 });
  for (const d of disposers) d();

  const tokensPerSecond: Partial<Record<ContenderName, number>> = {};
  const stepMs: Partial<Record<ContenderName, number>> = {};
  for (const [name, ms] of times) {
    stepMs[name] = median(ms);
    tokensPerSecond[name] = (B * T) / (median(ms) / 1e3);
  }
  const firstLoss: Partial<Record<ContenderName, number>> = {};
  for (const [name, r] of checked) firstLoss[name] = r.loss;
  let memory: TrainMemory | null = null;
  if (rss.length > 0) {
    const params = model.parameters().reduce((n, p) => n + p.numel, 0);
    // float32 weights, gradients, and AdamW's exp_avg and exp_avg_sq: four floats per parameter
    memory = { first: rss[0]!, last: rss[rss.length - 1]!, peak: Math.max(...rss), stateBytes: 4 * 4 * params };
  }
  return { tokensPerSecond, stepMs, memory, firstLoss };
}

/** The training rows: tokens/s per contender, then tsgrad's memory. */
export function trainRows(r: TrainResult, opts: TrainBenchOptions): Row[] {
  const c = opts.config;
  const shape = `dim ${c.hiddenSize}, ${c.numHiddenLayers} layers, ${c.numAttentionHeads} heads, FFN ${c.intermediateSize}, vocab ${c.vocabSize}`;
  const section = `training step, LLaMA ${shape}, batch ${opts.batch} × seq ${opts.seqLen}, one thread (tokens/s)`;
  const steps = Object.entries(opts.steps).map(([k, v]) => `${k} ${v}`).join(', ');
  const rows: Row[] = [{ section, benchmark: `forward + backward + optimizer (timed steps: ${steps})`, values: r.tokensPerSecond }];
  if (r.memory) {
    const mem = 'tsgrad memory during the timed training steps (MB)';
    const mb = (bytes: number): number => bytes / 2 ** 20;
    rows.push(
      { section: mem, benchmark: 'rss, first sample', values: { tsgrad: mb(r.memory.first) }, ratios: false },
      { section: mem, benchmark: 'rss, last sample', values: { tsgrad: mb(r.memory.last) }, ratios: false },
      { section: mem, benchmark: 'rss, peak', values: { tsgrad: mb(r.memory.peak) }, ratios: false },
      { section: mem, benchmark: 'weights + grads + AdamW moments (analytic)', values: { tsgrad: mb(r.memory.stateBytes) }, ratios: false },
    );
  }
  return rows;
}
