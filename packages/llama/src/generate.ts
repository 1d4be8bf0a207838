// Generation with a KV cache: the prompt is run once, then each new token is one position of
// compute that appends its keys and values to every layer's cache.

import { Generator, Tensor, noGrad } from '@tsgrad/tensor';
import type { LlamaConfig } from './config.js';
import type { KVCache } from './kv-cache.js';
import { type SamplingOptions, checkSamplingOptions, sampleToken } from './sampling.js';

/** Options of generate: how many tokens, how to pick each (temperature, topK, topP: SamplingOptions), when to stop. */
export interface GenerateOptions extends SamplingOptions {
  /** How many tokens to add at most. */
  maxNewTokens: number;
  /** Seed of the sampling generator (default 0). */
  seed?: number;
  /** Stop after producing any of these ids (the stop token is kept, as Hugging Face). */
  stopTokens?: number[];
  /** Called with each new id as it is produced (for streaming). */
  onToken?: (id: number) => void;
}

/**
 * What generation uses of a model: GenerativeModel, described here rather than imported so that
 * model.ts can delegate generate to this file without the two importing each other.
 */
export interface GenerativeModel {
  /** The model's configuration (vocabSize, maxPositionEmbeddings, padTokenId). */
  readonly config: LlamaConfig;
  /** True in training mode; generation switches to eval and back. */
  readonly training: boolean;
  /** Switches to eval mode. */
  eval(): unknown;
  /** Switches to training mode (or to eval with false). */
  train(mode?: boolean): unknown;
  /** One empty KV cache per layer. */
  createCaches(): KVCache[];
  /** ids [B, T] → logits [B, T, V], the tokens following those in kvCaches. */
  forward(ids: Tensor, opts: { kvCaches: KVCache[]; attentionMask?: number[][]; positionIds?: Tensor }): { logits: Tensor };
}

// Checks one prompt and the options shared by both forms of generate.
function checkPrompt(promptIds: number[], V: number, what = 'the prompt'): void {
  if (!Array.isArray(promptIds) || promptIds.length === 0) throw new Error(`generate: ${what} must be a non-empty array of token ids`);
  for (const id of promptIds) {
    if (!Number.isInteger(id) || id < 0 || id >= V) throw new Error(`generate: ${what} has token id ${id}, out of range for vocabSize ${V}`);
  }
}

function checkOptions(opts: GenerateOptions): void {
  const { maxNewTokens } = opts;
  if (!Number.isInteger(maxNewTokens) || maxNewTokens < 0) throw new Error(`generate: maxNewTokens must be a non-negative integer, got ${maxNewTokens}`);
  checkSamplingOptions(opts);
}

/** The prompt followed by the generated ids (see LlamaForCausalLM.generate). */
export function generateTokens(model: GenerativeModel, promptIds: number[], opts: GenerateOptions): number[] {
  const { maxNewTokens, seed = 0, stopTokens = [] } = opts;
  checkPrompt(promptIds, model.config.vocabSize);
  checkOptions(opts);
  const limit = model.config.maxPositionEmbeddings;
  if (promptIds.length > limit) throw new Error(`generate: the prompt has ${promptIds.length} tokens, more than maxPositionEmbeddings ${limit}`);
  const generator = new Generator(seed);
  const out = [...promptIds];
  const wasTraining = model.training;
  model.eval();
  try {
    noGrad(() => {
      const caches = model.createCaches();
      let input = new Tensor(Int32Array.from(promptIds), [1, promptIds.length]);
      for (let n = 0; n < maxNewTokens; n++) {
        const { logits } = model.forward(input, { kvCaches: caches }); // [1, T, V]
        const T = logits.shape[1]!;
        const last = logits.narrow(1, T - 1, 1).toTypedArray(); // [V]
        const next = sampleToken(last, opts, generator);
        out.push(next);
        opts.onToken?.(next);
        if (stopTokens.includes(next) || out.length >= limit) break;
        input = new Tensor(Int32Array.of(next), [1, 1]);
      }
    });
  } finally {
    model.train(wasTraining);
  }
  return out;
}

/** Options of batched generation: those of generate, plus the id the prompts are padded with. */
export interface BatchGenerateOptions extends GenerateOptions {
  /** Id put in the padding (never attended to; default config.padTokenId, else 0). */
  padTokenId?: number;
}

/**
 * A batch of prompts of different lengths, as Hugging Face's generate with an attention mask:
 * left-padded to the longest, the mask hiding the padding, positions cumsum(mask) − 1, so each
 * row's greedy continuation is that prompt's alone. Rows that stop early are fed the pad id
 * (their output ends at the stop token) until all stop. Returns each prompt + its new ids.
 * Sampling draws each step's rows in order from one generator (so only greedy rows equal
 * generating alone). onToken is not called (which row a token belongs to would be lost).
 */
export function generateBatch(model: GenerativeModel, prompts: number[][], opts: BatchGenerateOptions): number[][] {
  const { maxNewTokens, seed = 0, stopTokens = [] } = opts;
  const V = model.config.vocabSize;
  if (!Array.isArray(prompts) || prompts.length === 0) throw new Error('generate: the batch must be a non-empty array of prompts');
  prompts.forEach((p, b) => checkPrompt(p, V, `prompt ${b}`));
  checkOptions(opts);
  const pad = opts.padTokenId ?? model.config.padTokenId ?? 0;
  if (!Number.isInteger(pad) || pad < 0 || pad >= V) throw new Error(`generate: padTokenId ${pad} is out of range for vocabSize ${V}`);
  const B = prompts.length;
  const T = Math.max(...prompts.map((p) => p.length));
  const limit = model.config.maxPositionEmbeddings;
  if (T > limit) throw new Error(`generate: the longest prompt has ${T} tokens, more than maxPositionEmbeddings ${limit}`);
  // left padding: row b is (T − n_b) pads, then its prompt
  const ids = new Int32Array(B * T).fill(pad);
  const mask: number[][] = [];
  const positions = new Int32Array(B * T);
  prompts.forEach((p, b) => {
    ids.set(p, b * T + T - p.length);
    mask.push(Array.from({ length: T }, (_, t) => (t >= T - p.length ? 1 : 0)));
    // Hugging Face: cumsum(mask) − 1, padding at 0 (its keys are never seen, so any value does)
    for (let t = T - p.length, pos = 0; t < T; t++) positions[b * T + t] = pos++;
  });
  const next = prompts.map((p) => p.length); // each row's next position
  const out = prompts.map((p) => [...p]);
  const done = new Array<boolean>(B).fill(false);
  const generator = new Generator(seed);
  const wasTraining = model.training;
  model.eval();
  try {
    noGrad(() => {
      const caches = model.createCaches();
      let input = new Tensor(ids, [B, T]);
      let positionIds = new Tensor(positions, [B, T]);
      for (let n = 0; n < maxNewTokens && T + n < limit; n++) {
        const { logits } = model.forward(input, { kvCaches: caches, attentionMask: mask, positionIds }); // [B, t, V]
        const t = logits.shape[1]!;
        const last = logits.narrow(1, t - 1, 1).toTypedArray(); // [B, V]
        const step = new Int32Array(B);
        for (let b = 0; b < B; b++) {
          step[b] = pad;
          if (done[b]) continue;
          const id = sampleToken(last.subarray(b * V, (b + 1) * V), opts, generator);
          out[b]!.push(id);
          step[b] = id;
          if (stopTokens.includes(id)) done[b] = true;
        }
        if (done.every(Boolean)) break;
        // the new token of every row is a real key (a finished row's pad is too: nothing reads it)
        for (const row of mask) row.push(1);
        input = new Tensor(step, [B, 1]);
        positionIds = new Tensor(Int32Array.from(next.map((p) => p + n)), [B, 1]);
      }
    });
  } finally {
    model.train(wasTraining);
  }
  return out;
}
