// Picking the next token from a row of logits: greedy at temperature 0, otherwise temperature,
// top-k and top-p (nucleus) filtering, then a draw from a seeded generator — in that order, as
// Hugging Face's logits warpers apply them.

import type { Generator } from '@tsgrad/tensor';

/** Options of sampling. */
export interface SamplingOptions {
  /** 0 (default) is greedy; higher is more random. */
  temperature?: number;
  /** Keep only the k most likely tokens (0 or undefined: all). */
  topK?: number;
  /** Keep the smallest set of tokens whose probability reaches p (1 or undefined: all). */
  topP?: number;
}

/** Checks sampling options, naming the bad one. */
export function checkSamplingOptions(opts: SamplingOptions): void {
  const { temperature = 0, topK, topP } = opts;
  if (!(temperature >= 0) || !Number.isFinite(temperature)) throw new Error(`generate: temperature must be a finite number ≥ 0, got ${temperature}`);
  if (topK !== undefined && (!Number.isInteger(topK) || topK < 0)) throw new Error(`generate: topK must be a non-negative integer, got ${topK}`);
  if (topP !== undefined && !(topP > 0 && topP <= 1)) throw new Error(`generate: topP must be in (0, 1], got ${topP}`);
}

/** The index of the largest logit (the first one on ties, as torch.argmax). */
function argmaxOf(logits: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
  return best;
}

/** The next token id from one row of logits. */
export function sampleToken(logits: ArrayLike<number>, opts: SamplingOptions, generator: Generator): number {
  const temperature = opts.temperature ?? 0;
  if (temperature === 0) return argmaxOf(logits);
  const V = logits.length;
  let ids = Array.from({ length: V }, (_, i) => i).sort((a, b) => logits[b]! - logits[a]!);
  if (opts.topK && opts.topK < V) ids = ids.slice(0, opts.topK);
  const max = logits[ids[0]!]! / temperature;
  let probs = ids.map((i) => Math.exp(logits[i]! / temperature - max));
  let total = probs.reduce((s, p) => s + p, 0);
  if (opts.topP !== undefined && opts.topP < 1) {
    let cumulative = 0;
    let keep = 0;
    while (keep < probs.length) {
      cumulative += probs[keep]! / total;
      keep++;
      if (cumulative >= opts.topP) break;
    }
    ids = ids.slice(0, keep);
    probs = probs.slice(0, keep);
    total = probs.reduce((s, p) => s + p, 0);
  }
  let u = generator.uniform() * total;
  for (let k = 0; k < ids.length; k++) {
    u -= probs[k]!;
    if (u < 0) return ids[k]!;
  }
  return ids[ids.length - 1]!;
}
