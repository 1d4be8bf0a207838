// Batches of different lengths: attentionMask and positionIds in forward, batched generate, and
// pad_token_id. The Hugging Face reference is the llama-hf-gqa-tied padded fixture (a copy of
// ../shared/fixtures/llama-hf-gqa-tied/padded.*, described in ../shared/fixtures/README.md): a
// left-padded batch through transformers' sdpa attention in float64, and batched greedy generate.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Generator, Tensor, loadSafetensors, tensor } from '@tsgrad/tensor';
import { type LlamaConfig, LlamaForCausalLM, llamaConfigFromHF, llamaConfigToHF } from '../src/index.js';
import { relativeError, tinyConfig as tinyLlama } from './helpers.js';

const FIXTURE = new URL('./fixtures/llama-hf-gqa-tied-padded/', import.meta.url).pathname;
const padded = loadSafetensors(new Uint8Array(readFileSync(join(FIXTURE, 'padded.safetensors'))));
const reference = JSON.parse(readFileSync(join(FIXTURE, 'padded.json'), 'utf8')) as {
  lengths: number[]; pad_id: number; max_new_tokens: number; generate_batched: number[][]; generate_alone: number[][];
};
const inputIds = padded.get('input_ids')!.to('int32'); // [3, 23], left-padded with 0
const attentionMask = padded.get('attention_mask')!.to('int32');
const T = inputIds.shape[1]!;

// Reached: 3.4e-7 relative on every row, real and padded positions (float32 against float64 math).
const LOGITS_TOL = 3e-6;

// Row b of logits [B, T, V], positions [from, T).
const realPart = (logits: Tensor, b: number, n: number) => logits.narrow(0, b, 1).narrow(1, T - n, n).reshape([n, -1]);

describe('a left-padded batch against Hugging Face transformers (llama-hf-gqa-tied padded)', () => {
  it(`gives the logits of forward(ids, { attentionMask }) (positions 0..T−1) within ${LOGITS_TOL} relative, padded rows included`, async () => {
    const model = await LlamaForCausalLM.fromPretrained(FIXTURE);
    const { logits } = model.forward(inputIds, { attentionMask });
    expect(relativeError(logits, padded.get('logits_default_positions')!)).toBeLessThan(LOGITS_TOL);
  });

  it(`gives the logits with positions from the mask within ${LOGITS_TOL}, and each prompt's real positions equal that prompt alone`, async () => {
    const model = await LlamaForCausalLM.fromPretrained(FIXTURE);
    const positionIds = padded.get('position_ids_from_mask')!.to('int32');
    const { logits } = model.forward(inputIds, { attentionMask, positionIds });
    expect(relativeError(logits, padded.get('logits_mask_positions')!)).toBeLessThan(LOGITS_TOL);
    reference.lengths.forEach((n, b) => {
      expect(relativeError(realPart(logits, b, n), padded.get(`logits_alone_${b}`)!), `row ${b}`).toBeLessThan(LOGITS_TOL);
      // and our own forward of the prompt alone
      const alone = model.forward(inputIds.narrow(0, b, 1).narrow(1, T - n, n)).logits.reshape([n, -1]);
      expect(relativeError(realPart(logits, b, n), alone), `row ${b} alone`).toBeLessThan(LOGITS_TOL);
    });
  });

  it('generates the batch as transformers does: each row is its prompt + the same 8 greedy tokens, no padding', async () => {
    const model = await LlamaForCausalLM.fromPretrained(FIXTURE);
    const prompts = reference.lengths.map((n, b) => Array.from(inputIds.narrow(0, b, 1).narrow(1, T - n, n).toTypedArray()));
    const batched = model.generate(prompts, { maxNewTokens: reference.max_new_tokens, padTokenId: reference.pad_id });
    expect(batched).toEqual(reference.generate_alone);
    // transformers' batched output is the padded prompt + the new tokens: the same new tokens
    batched.forEach((row, b) => expect(row.slice(reference.lengths[b])).toEqual(reference.generate_batched[b]!.slice(T)));
    // and each row equals our own one-prompt generate
    prompts.forEach((p, b) => expect(model.generate(p, { maxNewTokens: reference.max_new_tokens })).toEqual(batched[b]));
  });
});

// the shared tiny config with room for 24 positions (prompts plus generated tokens)
const tinyConfig = (over: Partial<LlamaConfig> = {}): LlamaConfig => tinyLlama({ maxPositionEmbeddings: 24, ...over });

// 2–3 sequences of lengths 1–6 over token ids 1..15 (0 is the pad id), and a model seed
const sequencesArb = fc.record({
  lengths: fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 2, maxLength: 3 }),
  seed: fc.integer({ min: 0, max: 1000 }),
}).map(({ lengths, seed }) => {
  const gen = new Generator(seed + 1);
  return { seed, seqs: lengths.map((n) => Array.from({ length: n }, () => 1 + gen.randint(15))) };
});

// The sequences padded with 0 on one side to the longest, their mask, and positions cumsum(mask) − 1.
function pad(seqs: number[][], side: 'left' | 'right') {
  const L = Math.max(...seqs.map((s) => s.length));
  const fill = (s: number[], x: number) => Array.from({ length: L - s.length }, () => x);
  const ids = seqs.map((s) => (side === 'left' ? [...fill(s, 0), ...s] : [...s, ...fill(s, 0)]));
  const mask = seqs.map((s) => (side === 'left' ? [...fill(s, 0), ...s.map(() => 1)] : [...s.map(() => 1), ...fill(s, 0)]));
  const positions = mask.map((row) => {
    let seen = -1;
    return row.map((m) => Math.max(0, (seen += m)));
  });
  return { ids, mask, positions, L };
}

describe('padding changes no real position (float64 models)', () => {
  it('left padding: every real position gives the logits of its sequence alone (1e-12)', () => {
    fc.assert(fc.property(sequencesArb, ({ seed, seqs }) => {
      const model = new LlamaForCausalLM(tinyConfig(), { generator: new Generator(seed), dtype: 'float64' });
      const { ids, mask, positions, L } = pad(seqs, 'left');
      const { logits } = model.forward(ids, { attentionMask: mask, positionIds: positions });
      return seqs.every((s, b) => {
        const alone = model.forward([s]).logits;
        const real = logits.narrow(0, b, 1).narrow(1, L - s.length, s.length);
        return relativeError(real, alone) < 1e-12;
      });
    }), { numRuns: 20 });
  });

  it('left or right padding, labels −100 where no real token predicts them: the loss is the token-weighted mean of the sequences alone (1e-12)', () => {
    fc.assert(fc.property(sequencesArb, fc.constantFrom('left', 'right'), ({ seed, seqs }, side) => {
      fc.pre(seqs.some((s) => s.length >= 2)); // something to predict
      const model = new LlamaForCausalLM(tinyConfig(), { generator: new Generator(seed), dtype: 'float64' });
      const { ids, mask, positions } = pad(seqs, side);
      // a label counts when it and the token before it are real (left padding: the last pad
      // position would predict the first real token, which no sequence alone predicts)
      const labels = ids.map((row, b) => row.map((id, t) => (mask[b]![t] && (side === 'right' || mask[b]![t - 1]) ? id : -100)));
      const loss = model.forward(ids, { attentionMask: mask, positionIds: positions, labels }).loss!.item();
      // alone: each sequence predicts its n − 1 next tokens
      let total = 0;
      let count = 0;
      for (const s of seqs) {
        if (s.length < 2) continue;
        total += model.forward([s], { labels: [s] }).loss!.item() * (s.length - 1);
        count += s.length - 1;
      }
      return Math.abs(loss - total / count) < 1e-12 * Math.abs(total / count);
    }), { numRuns: 20 });
  });

  it('gradients reach no padded position: the pad token\'s embedding row gets exactly zero', () => {
    fc.assert(fc.property(sequencesArb, ({ seed, seqs }) => {
      fc.pre(seqs.some((s) => s.length < Math.max(...seqs.map((x) => x.length)))); // some padding
      fc.pre(seqs.some((s) => s.length >= 2)); // something to predict
      const model = new LlamaForCausalLM(tinyConfig(), { generator: new Generator(seed), dtype: 'float64' });
      const { ids, mask, positions } = pad(seqs, 'left');
      // no loss where the query is padding, nor on the first real token (a padded position predicts it)
      const labels = ids.map((row, b) => row.map((id, t) => (mask[b]![t] && mask[b]![t - 1] ? id : -100)));
      model.forward(ids, { attentionMask: mask, positionIds: positions, labels }).loss!.backward();
      const g = model.model.embed_tokens.weight.grad!.toArray() as number[][];
      // pad id 0 occurs only in the padding; the first token of a sequence with a counted label
      // (every one of length ≥ 2) does get a gradient
      return g[0]!.every((x) => x === 0) && seqs.filter((s) => s.length >= 2).every((s) => g[s[0]!]!.some((x) => x !== 0));
    }), { numRuns: 15 });
  });

  it('positionIds reach every layer: positions with a gap equal a masked token in the gap (1e-12)', () => {
    fc.assert(fc.property(sequencesArb, fc.nat(), ({ seed, seqs }, gapPick) => {
      const model = new LlamaForCausalLM(tinyConfig(), { generator: new Generator(seed), dtype: 'float64' });
      const s = [...seqs[0]!, 5];
      const gap = 1 + (gapPick % (s.length - 1));
      const kept = s.map((_, t) => t).filter((t) => t !== gap);
      const withGap = model.forward([kept.map((t) => s[t]!)], { positionIds: [kept] }).logits;
      const masked = model.forward([s], { attentionMask: [s.map((_, t) => (t === gap ? 0 : 1))] }).logits;
      return kept.every((t, i) => relativeError(withGap.narrow(1, i, 1), masked.narrow(1, t, 1)) < 1e-12);
    }), { numRuns: 15 });
  });

  it('without the mask the same batch does change the real positions (the tests above can fail)', () => {
    const seqs = [[3, 4, 5, 6], [7, 8]];
    const model = new LlamaForCausalLM(tinyConfig(), { generator: new Generator(4), dtype: 'float64' });
    const { ids, positions } = pad(seqs, 'left');
    const real = model.forward(ids, { positionIds: positions }).logits.narrow(0, 1, 1).narrow(1, 2, 2);
    expect(relativeError(real, model.forward([seqs[1]!]).logits)).toBeGreaterThan(1e-3);
  });
});

describe('batched generate', () => {
  it('gives each prompt its own greedy continuation, left padding and KV cache inside', () => {
    fc.assert(fc.property(sequencesArb, fc.integer({ min: 1, max: 6 }), ({ seed, seqs }, maxNewTokens) => {
      const model = new LlamaForCausalLM(tinyConfig(), { generator: new Generator(seed) });
      const batched = model.generate(seqs, { maxNewTokens });
      return seqs.every((s, b) => JSON.stringify(batched[b]) === JSON.stringify(model.generate(s, { maxNewTokens })));
    }), { numRuns: 15 });
  });

  it('stops each row at its own stop token, continuing the others', () => {
    const model = new LlamaForCausalLM(tinyConfig(), { generator: new Generator(11) });
    const prompts = [[1, 2, 3], [4, 5], [6]];
    const free = prompts.map((p) => model.generate(p, { maxNewTokens: 6 }));
    const stop = free[0]![3]!; // row 0's first new token
    const batched = model.generate(prompts, { maxNewTokens: 6, stopTokens: [stop] });
    prompts.forEach((p, b) => {
      const alone = model.generate(p, { maxNewTokens: 6, stopTokens: [stop] });
      expect(batched[b]).toEqual(alone);
    });
    expect(batched[0]).toEqual([1, 2, 3, stop]);
  });

  it('gives the same tokens whatever the pad id (config.padTokenId or padTokenId: never attended to); rejects a pad outside the vocabulary', () => {
    const model = new LlamaForCausalLM(tinyConfig({ padTokenId: 9 }), { generator: new Generator(12) });
    const prompts = [[1, 2, 3, 4], [5]];
    const a = model.generate(prompts, { maxNewTokens: 4 });
    expect(model.generate(prompts, { maxNewTokens: 4, padTokenId: 0 })).toEqual(a);
    expect(() => model.generate(prompts, { maxNewTokens: 4, padTokenId: 16 })).toThrow('generate: padTokenId 16 is out of range for vocabSize 16');
  });

  it('rejects an empty batch, an empty prompt and an out-of-range id, naming the prompt', () => {
    const model = new LlamaForCausalLM(tinyConfig(), { generator: new Generator(0) });
    expect(() => model.generate([[1], []], { maxNewTokens: 1 })).toThrow('generate: prompt 1 must be a non-empty array of token ids');
    expect(() => model.generate([[1], [2, 99]], { maxNewTokens: 1 })).toThrow('generate: prompt 1 has token id 99, out of range for vocabSize 16');
  });
});

describe('bad masks and positions are clear errors', () => {
  const model = new LlamaForCausalLM(tinyConfig(), { generator: new Generator(0) });
  const ids = [[1, 2, 3], [4, 5, 6]];
  it('names the expected and the given shape', () => {
    expect(() => model.forward(ids, { attentionMask: [[1, 1, 1]] })).toThrow('LlamaForCausalLM.forward: attentionMask must be [2, 3] (batch, cached + new tokens), got [1, 3]');
    expect(() => model.forward(ids, { attentionMask: [[1, 1], [1, 1]] })).toThrow('attentionMask must be [2, 3] (batch, cached + new tokens), got [2, 2]');
    expect(() => model.forward(ids, { positionIds: [[0, 1, 2]] })).toThrow('LlamaForCausalLM.forward: positionIds must be [2, 3] like inputIds, got [1, 3]');
  });

  it('names a value other than 0 and 1 and where it is', () => {
    expect(() => model.forward(ids, { attentionMask: [[1, 1, 1], [0, 2, 1]] })).toThrow('LlamaForCausalLM.forward: attentionMask must hold only 0 (padding) and 1 (token), got 2 at [1, 1]');
    expect(() => model.forward(ids, { attentionMask: tensor([[1, 1, 1], [0, 0.5, 1]]) })).toThrow('got 0.5 at [1, 1]');
    expect(() => model.forward(ids, { attentionMask: [[1, 1, 1], [0, -1, 1]] })).toThrow('got -1 at [1, 1]');
  });

  it('names a row with no tokens', () => {
    expect(() => model.forward(ids, { attentionMask: [[1, 1, 1], [0, 0, 0]] })).toThrow('LlamaForCausalLM.forward: attentionMask row 1 has no tokens (all 3 entries are 0)');
  });

  it('names a position outside the rotary table', () => {
    expect(() => model.forward(ids, { positionIds: [[0, 1, 2], [0, 1, 24]] })).toThrow('LlamaForCausalLM.forward: position id 24 is outside 0..23 (maxPositionEmbeddings 24)');
    expect(() => model.forward(ids, { positionIds: [[0, 1, 2], [0, -1, 2]] })).toThrow('position id -1 is outside 0..23');
  });
});

describe('pad_token_id', () => {
  it('maps config.json pad_token_id to padTokenId and back; null means none', () => {
    const hf = JSON.parse(readFileSync(join(FIXTURE, 'config.json'), 'utf8'));
    expect(hf.pad_token_id).toBeNull();
    expect('padTokenId' in llamaConfigFromHF(hf)).toBe(false);
    const withPad = llamaConfigFromHF({ ...hf, pad_token_id: 0 });
    expect(withPad.padTokenId).toBe(0);
    expect(llamaConfigToHF(withPad).pad_token_id).toBe(0);
    expect(() => llamaConfigFromHF({ ...hf, pad_token_id: 80 })).toThrow(/padTokenId must be an integer in \[0, vocabSize\), got 80/);
  });

  it('makes the model\'s embedding row for it start at zero and get no gradient, as Hugging Face\'s padding_idx', () => {
    const model = new LlamaForCausalLM(tinyConfig({ padTokenId: 3 }), { generator: new Generator(5), dtype: 'float64' });
    const emb = model.model.embed_tokens;
    expect(emb.paddingIdx).toBe(3);
    expect((emb.weight.toArray() as number[][])[3]!.every((x) => x === 0)).toBe(true);
    model.forward([[1, 3, 2, 3]], { labels: [[1, 3, 2, 3]] }).loss!.backward();
    const g = emb.weight.grad!.toArray() as number[][];
    expect(g[3]!.every((x) => x === 0)).toBe(true);
    expect(g[1]!.some((x) => x !== 0)).toBe(true);
  });
});
