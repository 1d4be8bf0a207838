// Sampling does what its options say (issue 16, item 17): top-k 1 and a tiny top-p are greedy;
// draws over many seeds follow the tempered softmax; top-k and top-p never pick outside the k
// largest or the nucleus. The probabilities are computed here, independently of sampling.ts.

import { describe, expect, it } from 'vitest';
import { Generator } from '@tsgrad/tensor';
import { type LlamaConfig, LlamaForCausalLM } from '../src/index.js';
import { type SamplingOptions, sampleToken } from '../src/sampling.js';

const logits = [1.2, 3.0, -0.5, 2.1, 0.4, 2.6, -2.0, 1.9];
const V = logits.length;
// the ids from most to least likely: 1, 5, 3, 7, 0, 4, 2, 6
const byRank = [...logits.keys()].sort((a, b) => logits[b]! - logits[a]!);

// softmax(logits / T) over the ids kept (others 0), in float64.
function tempered(T: number, kept: readonly number[] = byRank): number[] {
  const m = Math.max(...kept.map((i) => logits[i]! / T));
  const e = logits.map((l, i) => (kept.includes(i) ? Math.exp(l / T - m) : 0));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
}

// The nucleus: the fewest most-likely ids whose probabilities (under p) add up to at least topP.
function nucleus(p: number[], topP: number): number[] {
  const order = [...p.keys()].filter((i) => p[i]! > 0).sort((a, b) => p[b]! - p[a]!);
  const kept: number[] = [];
  let cumulative = 0;
  for (const i of order) {
    kept.push(i);
    cumulative += p[i]!;
    if (cumulative >= topP) break;
  }
  return kept;
}

// One draw per seed 0..N−1, each from a fresh generator (as generate(..., { seed }) does).
const N = 20_000;
function frequencies(opts: SamplingOptions): number[] {
  const counts = new Array<number>(V).fill(0);
  for (let seed = 0; seed < N; seed++) counts[sampleToken(logits, opts, new Generator(seed))]!++;
  return counts.map((c) => c / N);
}

// Each frequency within 5 standard errors √(p(1−p)/N) of its probability: a correct sampler misses
// this bound for one of the 8 ids with probability below 8·5.7e-7 (two-sided normal tail at 5σ).
// At N = 20,000 the bound is at most 5·√(0.25/N) = 0.018. An id with probability 0 must never appear.
function expectFollows(freq: number[], p: number[]): void {
  p.forEach((pi, i) => {
    if (pi === 0) {
      expect(freq[i], `id ${i} has probability 0`).toBe(0);
      return;
    }
    const bound = 5 * Math.sqrt((pi * (1 - pi)) / N);
    expect(Math.abs(freq[i]! - pi), `id ${i}: frequency ${freq[i]} against probability ${pi}`).toBeLessThanOrEqual(bound);
  });
}

describe('sampling', () => {
  it('top-k 1 and a tiny top-p give the argmax at any temperature, for every seed', () => {
    for (const temperature of [0.3, 1, 5]) {
      for (let seed = 0; seed < 200; seed++) {
        expect(sampleToken(logits, { temperature, topK: 1 }, new Generator(seed))).toBe(1);
        expect(sampleToken(logits, { temperature, topP: 1e-9 }, new Generator(seed))).toBe(1);
      }
    }
  });

  for (const temperature of [0.5, 1, 2]) {
    it(`draws over ${N} seeds follow softmax(logits / ${temperature}) within 5 standard errors`, () => {
      expectFollows(frequencies({ temperature }), tempered(temperature));
    });
  }

  it('the temperature matters: at 0.5 the most likely id is drawn far more often than at 2', () => {
    const [cold, hot] = [frequencies({ temperature: 0.5 }), frequencies({ temperature: 2 })];
    // softmax(l/0.5)[1] = 0.568, softmax(l/2)[1] = 0.252: a gap of 0.32, each frequency within 0.018
    expect(cold[1]! - hot[1]!).toBeGreaterThan(0.28);
  });

  it('top-k 3 draws only the 3 largest logits, with the renormalized tempered probabilities', () => {
    const top3 = byRank.slice(0, 3);
    const freq = frequencies({ temperature: 1.5, topK: 3 });
    expectFollows(freq, tempered(1.5, top3));
    byRank.slice(3).forEach((i) => expect(freq[i], `id ${i} is outside the top 3`).toBe(0));
  });

  it('top-p 0.75 draws only from the nucleus of the tempered probabilities, renormalized', () => {
    const p = tempered(1.2);
    const kept = nucleus(p, 0.75);
    expect(kept.length).toBeGreaterThan(1);
    expect(kept.length).toBeLessThan(V);
    const freq = frequencies({ temperature: 1.2, topP: 0.75 });
    expectFollows(freq, tempered(1.2, kept));
    byRank.filter((i) => !kept.includes(i)).forEach((i) => expect(freq[i], `id ${i} is outside the nucleus`).toBe(0));
  });

  it('top-k then top-p: the nucleus of the top-k probabilities (renormalized), as Hugging Face orders its warpers', () => {
    const top5 = byRank.slice(0, 5);
    const kept = nucleus(tempered(2, top5), 0.7);
    // the order matters here: top-p over all ids would keep one more
    expect([kept.length, nucleus(tempered(2), 0.7).length]).toEqual([3, 4]);
    const freq = frequencies({ temperature: 2, topK: 5, topP: 0.7 });
    expectFollows(freq, tempered(2, kept));
  });

  it('through generate: top-k 1 and a tiny top-p reproduce greedy decoding, which plain sampling does not', () => {
    const config: LlamaConfig = {
      vocabSize: 16, hiddenSize: 8, intermediateSize: 12, numHiddenLayers: 2, numAttentionHeads: 2,
      numKeyValueHeads: 1, maxPositionEmbeddings: 16, rmsNormEps: 1e-6, ropeTheta: 10000,
      tieWordEmbeddings: false, initializerRange: 0.5,
    };
    const model = new LlamaForCausalLM(config, { generator: new Generator(3) });
    const prompt = [1, 2, 3];
    const greedy = model.generate(prompt, { maxNewTokens: 8 });
    let sampledDiffers = false;
    for (let seed = 0; seed < 10; seed++) {
      expect(model.generate(prompt, { maxNewTokens: 8, temperature: 1.5, topK: 1, seed })).toEqual(greedy);
      expect(model.generate(prompt, { maxNewTokens: 8, temperature: 1.5, topP: 1e-9, seed })).toEqual(greedy);
      if (model.generate(prompt, { maxNewTokens: 8, temperature: 1.5, seed }).join() !== greedy.join()) sampledDiffers = true;
    }
    expect(sampledDiffers).toBe(true);
  });
});
