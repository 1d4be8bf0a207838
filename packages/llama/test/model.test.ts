// Properties of the model beyond the fixture: the KV cache equals a full forward, masking is
// causal, the whole model passes gradcheck in float64, ties and bad input behave.

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Generator, Tensor, gradcheck, noGrad } from '@tsgrad/tensor';
import { type LlamaConfig, LlamaForCausalLM, countParameters } from '../src/index.js';
import { tinyConfig } from './helpers.js';


const configArb = fc.record({
  heads: fc.constantFrom(1, 2, 4),
  kvDivisor: fc.constantFrom(1, 2, 4),
  headDim: fc.constantFrom(2, 4),
  layers: fc.integer({ min: 1, max: 2 }),
  tie: fc.boolean(),
  seed: fc.integer({ min: 0, max: 1000 }),
}).map(({ heads, kvDivisor, headDim, layers, tie, seed }) => ({
  config: tinyConfig({
    hiddenSize: heads * headDim, numAttentionHeads: heads, numKeyValueHeads: Math.max(1, heads / Math.min(kvDivisor, heads)),
    numHiddenLayers: layers, tieWordEmbeddings: tie, intermediateSize: 6,
  }),
  seed,
}));

function randomIds(gen: Generator, B: number, T: number, V: number): Tensor {
  return new Tensor(Int32Array.from({ length: B * T }, () => gen.randint(V)), [B, T]);
}

describe('LlamaForCausalLM properties', () => {
  it('the KV-cache path gives the same logits as a full forward (GQA and tied included)', () => {
    fc.assert(fc.property(configArb, fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 }), ({ config, seed }, prefix, rest) => {
      const model = new LlamaForCausalLM(config, { generator: new Generator(seed) });
      const ids = randomIds(new Generator(seed + 1), 2, prefix + rest, config.vocabSize);
      noGrad(() => {
        const full = model.forward(ids).logits.toTypedArray();
        const caches = model.createCaches();
        const first = model.forward(ids.narrow(1, 0, prefix).contiguous(), { kvCaches: caches }).logits;
        const pieces = [first];
        for (let t = prefix; t < prefix + rest; t++) pieces.push(model.forward(ids.narrow(1, t, 1).contiguous(), { kvCaches: caches }).logits);
        const V = config.vocabSize;
        for (let b = 0; b < 2; b++) {
          let t0 = 0;
          for (const piece of pieces) {
            const T = piece.shape[1]!;
            const data = piece.toTypedArray();
            for (let t = 0; t < T; t++) {
              for (let v = 0; v < V; v++) {
                const want = full[(b * (prefix + rest) + t0 + t) * V + v]!;
                expect(Math.abs(data[(b * T + t) * V + v]! - want)).toBeLessThan(1e-5 * Math.max(1, Math.abs(want)));
              }
            }
            t0 += T;
          }
        }
      });
    }), { numRuns: 15 });
  });

  it('later tokens never change earlier logits (causal masking)', () => {
    fc.assert(fc.property(configArb, fc.integer({ min: 2, max: 8 }), fc.integer({ min: 0, max: 100 }), ({ config, seed }, T, cutSeed) => {
      const model = new LlamaForCausalLM(config, { generator: new Generator(seed) });
      const gen = new Generator(seed + 7);
      const ids = randomIds(gen, 1, T, config.vocabSize);
      const cut = 1 + (cutSeed % (T - 1)); // positions ≥ cut are changed
      const changed = ids.clone();
      for (let t = cut; t < T; t++) changed.storage[t] = (ids.storage[t]! + 1 + gen.randint(config.vocabSize - 1)) % config.vocabSize;
      const a = noGrad(() => model.forward(ids).logits.narrow(1, 0, cut).toTypedArray());
      const b = noGrad(() => model.forward(changed).logits.narrow(1, 0, cut).toTypedArray());
      expect(Array.from(b)).toEqual(Array.from(a));
    }), { numRuns: 15 });
  });

  it('passes gradcheck as a whole model in float64 (loss with respect to every parameter)', () => {
    const config = tinyConfig({ hiddenSize: 4, intermediateSize: 6, vocabSize: 7, numHiddenLayers: 1, numAttentionHeads: 2, numKeyValueHeads: 1 });
    const model = new LlamaForCausalLM(config, { generator: new Generator(3), dtype: 'float64' });
    const ids = randomIds(new Generator(4), 2, 3, config.vocabSize);
    const params = model.parameters();
    // gradcheck perturbs the parameters' storage in place; the function reads them through the model
    expect(gradcheck(() => model.forward(ids, { labels: ids }).loss!, params)).toBe(true);
  });

  it('ties lm_head to the embedding: one parameter, no lm_head.weight key, both gradients summed', () => {
    const model = new LlamaForCausalLM(tinyConfig({ tieWordEmbeddings: true }), { generator: new Generator(1) });
    const names = model.namedParameters().map(([n]) => n);
    expect(names).not.toContain('lm_head.weight');
    expect(model.lm_head.weight).toBe(model.model.embed_tokens.weight);
    expect(model.parameters().reduce((n, p) => n + p.numel, 0)).toBe(countParameters(model.config));
    const ids = randomIds(new Generator(2), 1, 5, 16);
    model.forward(ids, { labels: ids }).loss!.backward();
    // the tied gradient is the sum of what an untied copy gives its embedding and its lm_head
    const untied = new LlamaForCausalLM(tinyConfig(), { generator: new Generator(3) });
    const weights = model.stateDict();
    weights.set('lm_head.weight', model.model.embed_tokens.weight);
    untied.loadStateDict(weights);
    untied.forward(ids, { labels: ids }).loss!.backward();
    const [asEmbedding, asHead] = [untied.model.embed_tokens.weight.grad!, untied.lm_head.weight.grad!].map((g) => Array.from(g.toTypedArray()));
    const tied = Array.from(model.model.embed_tokens.weight.grad!.toTypedArray());
    const scale = Math.max(...tied.map(Math.abs));
    tied.forEach((g, i) => expect(Math.abs(g - (asEmbedding[i]! + asHead[i]!)), `element ${i}`).toBeLessThan(1e-7 * scale)); // reached: 1.1e-8
    // both parts count: neither alone is the tied gradient
    for (const part of [asEmbedding, asHead]) expect(Math.max(...tied.map((g, i) => Math.abs(g - part[i]!)))).toBeGreaterThan(0.01 * scale);
  });

  it('counts its parameters as countParameters says, untied and with GQA', () => {
    const config = tinyConfig();
    const model = new LlamaForCausalLM(config, { generator: new Generator(1) });
    expect(model.parameters().reduce((n, p) => n + p.numel, 0)).toBe(countParameters(config));
  });

  it('ignores label −100 and takes the mean over the counted tokens', () => {
    const model = new LlamaForCausalLM(tinyConfig(), { generator: new Generator(5) });
    const ids = randomIds(new Generator(6), 1, 6, 16);
    const labels = ids.clone();
    labels.storage[3] = -100;
    const logits = noGrad(() => model.forward(ids).logits);
    const loss = noGrad(() => model.forward(ids, { labels }).loss!.item());
    // position t predicts label t+1: positions 0..4 with label 3 skipped → positions 0, 1, 3, 4
    const lp = logits.logSoftmax(-1);
    const counted = [0, 1, 3, 4].map((t) => -lp.toArray()[0][t][labels.storage[t + 1]!]);
    expect(loss).toBeCloseTo(counted.reduce((a, b) => a + b, 0) / counted.length, 5);
  });

  it('generates greedily and reproducibly with a seed, and stops at a stop token', () => {
    const model = new LlamaForCausalLM(tinyConfig(), { generator: new Generator(8) });
    const greedy = model.generate([1, 2, 3], { maxNewTokens: 5 });
    expect(greedy.slice(0, 3)).toEqual([1, 2, 3]);
    expect(greedy).toHaveLength(8);
    const s1 = model.generate([1, 2], { maxNewTokens: 8, temperature: 1.5, topK: 5, topP: 0.9, seed: 42 });
    const s2 = model.generate([1, 2], { maxNewTokens: 8, temperature: 1.5, topK: 5, topP: 0.9, seed: 42 });
    expect(s2).toEqual(s1);
    const stop = greedy[3]!;
    expect(model.generate([1, 2, 3], { maxNewTokens: 5, stopTokens: [stop] })).toEqual([1, 2, 3, stop]);
  });

  it('rejects bad input with errors that say what is wrong', () => {
    const model = new LlamaForCausalLM(tinyConfig(), { generator: new Generator(1) });
    expect(() => model.forward([[1, 99]])).toThrow(/99.*out of range|out of range.*99/);
    expect(() => model.forward(new Tensor(new Float32Array(4), [1, 4]))).toThrow(/int32/);
    expect(() => model.forward(new Tensor(new Int32Array(4), [4]))).toThrow(/\[B, T\]/);
    expect(() => model.forward(new Tensor(new Int32Array(17), [1, 17]))).toThrow(/maxPositionEmbeddings 16/);
    expect(() => model.forward([[1, 2]], { labels: [[1, 2, 3]] })).toThrow(/labels/);
    expect(() => model.generate([], { maxNewTokens: 2 })).toThrow(/prompt/);
    expect(() => model.generate([1], { maxNewTokens: 2, temperature: -1 })).toThrow(/temperature/);
    expect(() => model.generate([1], { maxNewTokens: 2, topP: 2 })).toThrow(/topP/);
    expect(() => new LlamaForCausalLM(tinyConfig({ numKeyValueHeads: 3 }))).toThrow(/numKeyValueHeads|kv/i);
  });
});
