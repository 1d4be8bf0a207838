// The model and recipe the Train panel runs: `pnpm train`'s tiny LLaMA (packages/llama/configs/
// params_llama_tiny.yaml) shrunk to what a browser tab trains in a minute or two. Same byte-level
// vocabulary, same architecture rules (head dim 32 → here 16, FFN = 2/3·4·hidden rounded up to a
// multiple of 32), same recipe (AdamW 0.9/0.95, eps 1e-8, weight decay 0.1 on matrices only, clip
// 1.0, linear warmup then cosine to 10% of the peak); smaller model, context, batch and step count.

import type { LlamaConfig } from '@tsgrad/llama';

/** The tab-sized LLaMA: hidden 64, 2 layers, 4 heads, FFN 192, context 64, byte vocabulary (≈140k parameters). */
export const PLAYGROUND_MODEL: LlamaConfig = {
  vocabSize: 256,
  hiddenSize: 64,
  intermediateSize: 192,
  numHiddenLayers: 2,
  numAttentionHeads: 4,
  numKeyValueHeads: 4,
  maxPositionEmbeddings: 64,
  rmsNormEps: 1e-6,
  ropeTheta: 10000,
  tieWordEmbeddings: false,
};

/** The training recipe of the Train panel. */
export const PLAYGROUND_TRAINING = {
  /** Sequences per step. */
  batchSize: 8,
  /** Bytes per sequence (the model's context). */
  seqLen: 64,
  /** Steps of a full run. */
  maxSteps: 240,
  /** Linear warmup from 0 to the peak learning rate over this many steps. */
  warmupSteps: 10,
  /** Peak learning rate (the tiny config's 3e-3). */
  maxLr: 3e-3,
  /** Final learning rate after cosine decay (10% of the peak). */
  endLr: 3e-4,
  /** AdamW betas, eps and weight decay (matrices only), and the gradient-norm clip. */
  betas: [0.9, 0.95] as [number, number],
  eps: 1e-8,
  weightDecay: 0.1,
  maxGradientNorm: 1.0,
  /** Validation every this many steps, over this many fixed batches of held-out chapters. */
  evalEvery: 25,
  evalBatches: 4,
  /** A sample every this many steps, of this many new bytes after the prompt. */
  sampleEvery: 10,
  sampleTokens: 46,
  samplePrompt: 'Call me Ishmael. ',
  /** Seed of the weights (the batches use seed + 1, as `pnpm train`). */
  seed: 1,
};

/** The learning rate at `step`: linear warmup, then cosine decay to endLr (as `pnpm train`'s schedule). */
export function learningRate(step: number, t = PLAYGROUND_TRAINING): number {
  if (step < t.warmupSteps) return (t.maxLr * step) / t.warmupSteps;
  const decay = t.maxSteps - t.warmupSteps;
  const progress = Math.min(1, (step - t.warmupSteps) / decay);
  return t.endLr + (t.maxLr - t.endLr) * 0.5 * (1 + Math.cos(Math.PI * progress));
}
