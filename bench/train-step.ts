// One full training step — forward, backward, optimizer update — of a LLaMA, in tokens per second
// (B·T tokens per step). tsgrad: LlamaForCausalLM + AdamW from @tsgrad/optim. tfjs: the same model
// in tfjs ops (tfjs-llama.ts) with tf.variableGrads + tf.train.adam (tfjs has no AdamW, so no
// weight decay there). All models start from the same weights and see the same batch; their losses
// and gradients on one sequence are compared before any step is timed.
// Memory is measured apart, in a process of its own (memory.ts).

import * as tf from '@tensorflow/tfjs';
import { type LlamaConfig, LlamaForCausalLM } from '@tsgrad/llama';
import { Generator, Tensor } from '@tsgrad/tensor';
import type { Row } from './table.js';
import { type Trainer, tsgradTrainer } from './tsgrad-train.js';
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

/** What benchTrainStep measured. */
export interface TrainResult {
  /** Median tokens/s per contender. */
  tokensPerSecond: Partial<Record<ContenderName, number>>;
  /** Median step time (ms) per contender. */
  stepMs: Partial<Record<ContenderName, number>>;
  /** The checked loss per contender (equal weights and sequence, so equal up to float error). */
  firstLoss: Partial<Record<ContenderName, number>>;
}

/** A model's parameters as named float32 arrays (copies), to load into another implementation. */
export function namedWeights(model: LlamaForCausalLM): NamedWeight[] {
  return model.namedParameters().map(([name, p]) => ({ name, shape: [...p.shape], data: Float32Array.from(p.toTypedArray()) }));
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

  const checked = new Map<ContenderName, ReturnType<Trainer['lossAndGrads']>>();
  const disposers: Array<() => void> = [];
  const contenders: Contender[] = [];
  for (const name of names) {
    let trainer: Trainer;
    let before: (() => Promise<void>) | undefined;
    if (name === 'tsgrad') {
      trainer = tsgradTrainer(model, new Tensor(idsData, [B, T]), lr, () => {});
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
    contenders.push({
      name,
      before,
      samples: opts.steps[name] ?? 3,
      warmup: name !== 'tfjs-cpu',
      run: () => { trainer.step(); },
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
  return { tokensPerSecond, stepMs, firstLoss };
}

/** The training row: tokens/s per contender. */
export function trainRows(r: TrainResult, opts: TrainBenchOptions): Row[] {
  const c = opts.config;
  const shape = `dim ${c.hiddenSize}, ${c.numHiddenLayers} layers, ${c.numAttentionHeads} heads, FFN ${c.intermediateSize}, vocab ${c.vocabSize}`;
  const section = `training step, LLaMA ${shape}, batch ${opts.batch} × seq ${opts.seqLen}, one thread (tokens/s)`;
  const steps = Object.entries(opts.steps).map(([k, v]) => `${k} ${v}`).join(', ');
  return [{ section, benchmark: `forward + backward + optimizer (timed steps: ${steps})`, values: r.tokensPerSecond }];
}
