import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type LlamaConfig, countParameters, estimateTrainingMemory, ffnHiddenSize, kernelStagingBytes, flopsPerToken, llamaConfigFromHF,
  llamaConfigToHF, llamaPreset, resolvedHeadDim, trainingFlopsPerStep, validateLlamaConfig,
} from '../src/config.js';

const fixture = (p: string): string => fileURLToPath(new URL(`./fixtures/${p}`, import.meta.url));
const hfTiny = JSON.parse(readFileSync(fixture('llama-hf-tiny/config.json'), 'utf8')) as Record<string, unknown>;

// The paper's parameter count written out independently of countParameters: untied embeddings,
// multi-head attention (4·d² per layer), SwiGLU (3·d·F), two norms per layer and one at the end.
const handCount = (V: number, d: number, L: number, F: number): number =>
  2 * V * d + L * (4 * d * d + 3 * d * F + 2 * d) + d;

describe('presets and sizes', () => {
  it('counts exactly 6,738,415,616 parameters for 7B and 65,285,660,672 for 65B', () => {
    expect(countParameters(llamaPreset('7b'))).toBe(6_738_415_616);
    expect(countParameters(llamaPreset('65b'))).toBe(65_285_660_672);
  });

  it('counts 13B and 33B as the hand formula does', () => {
    expect(countParameters(llamaPreset('13b'))).toBe(handCount(32000, 5120, 40, 13824));
    expect(countParameters(llamaPreset('33b'))).toBe(handCount(32000, 6656, 60, 17920));
    expect(countParameters(llamaPreset('13b'))).toBe(13_015_864_320);
    expect(countParameters(llamaPreset('33b'))).toBe(32_528_943_616);
  });

  it('rounds the FFN width up as Meta does', () => {
    expect([4096, 5120, 6656, 8192].map((d) => ffnHiddenSize(d))).toEqual([11008, 13824, 17920, 22016]);
    expect(ffnHiddenSize(128, 32)).toBe(352);
    expect(ffnHiddenSize(64, 32)).toBe(192);
    expect(() => ffnHiddenSize(0)).toThrow(/ffnHiddenSize: expected positive integers/);
  });

  it('gives the paper table for the large presets', () => {
    const shapes = (['7b', '13b', '33b', '65b'] as const).map((n) => {
      const c = llamaPreset(n);
      return [c.hiddenSize, c.numAttentionHeads, c.numHiddenLayers, c.vocabSize, c.maxPositionEmbeddings];
    });
    expect(shapes).toEqual([[4096, 32, 32, 32000, 2048], [5120, 40, 40, 32000, 2048], [6656, 52, 60, 32000, 2048],
      [8192, 64, 80, 32000, 2048]]);
  });

  it('returns valid fresh copies of every preset', () => {
    for (const name of ['7b', '13b', '33b', '65b', 'tiny', 'small'] as const) {
      const preset = llamaPreset(name);
      expect(validateLlamaConfig(preset), name).toBe(preset); // valid: returned as is, nothing thrown
    }
    const a = llamaPreset('tiny');
    a.hiddenSize = 1;
    expect(llamaPreset('tiny').hiddenSize).toBe(64);
  });

  it('lists the valid names for an unknown preset', () => {
    expect(() => llamaPreset('70b' as never)).toThrow(/llamaPreset: unknown preset "70b"; expected one of 7b, 13b, 33b, 65b, tiny, small$/);
    expect(() => llamaPreset('toString' as never)).toThrow(/unknown preset/);
  });

  it('drops lm_head from the count when embeddings are tied and shrinks k,v with grouped-query attention', () => {
    const c = llamaPreset('small');
    expect(countParameters({ ...c, tieWordEmbeddings: true })).toBe(countParameters(c) - 256 * 128);
    // k and v go from C·C to C·(Hkv·D) = C·C/4 each, in every layer.
    expect(countParameters({ ...c, numKeyValueHeads: 1 })).toBe(countParameters(c) - 4 * 2 * (128 * 128 * 3 / 4));
  });

  it('estimates memory as 16 bytes per parameter plus the documented activations', () => {
    const c = llamaPreset('tiny');
    const P = countParameters(c);
    const m = estimateTrainingMemory(c, { batchSize: 2, seqLen: 16 });
    expect([m.weights, m.grads, m.adamMoments]).toEqual([4 * P, 4 * P, 8 * P]);
    // per layer: 13·C + 3·F + 2·H floats per token (every forward tensor; no T×T probabilities),
    // counted L + 1 times (the last for the gradients in flight); per token once: 2·C + 2·V.
    const layer = 13 * 64 + 3 * 192 + 2 * 4; // C 64, F 192, 4 heads; 2 layers
    const perToken = 3 * layer + 2 * 64 + 2 * 256;
    expect(m.activations).toBe(4 * 2 * 16 * perToken);
    expect(m.total).toBe(16 * P + m.activations);
    const ck = estimateTrainingMemory(c, { batchSize: 2, seqLen: 16, gradientCheckpointing: true });
    expect(ck.total).toBe(16 * P + ck.activations);
  });

  it('estimates checkpointed activations as the kept layer outputs plus the largest of a recompute, an MLP backward and the head backward', () => {
    // floats per token, tensor by tensor, for C 64, 4 heads of 16, Hkv heads, FFN F, 2 layers, vocab V
    const floats = (Hkv: number, F: number, V: number) => {
      const [C, HD, KD] = [64, 64, 16 * Hkv];
      const kept = 3 * C; // the embedding output and the 2 layer outputs
      const everyTensor = [
        C, HD, KD, KD, HD, KD, HD, HD, C, C, 2 * 4, // attention: norm, q, k, v, rotated q, k, output, copy, o_proj, residual, lse
        C, F, F, F, C, C, // MLP: norm, gate, up, silu(gate)·up, down_proj, residual (the layer output)
      ].reduce((a, b) => a + b);
      const recompute = everyTensor + C; // and the gradient of the layer output
      const savedLeft = [C, C, C, HD, KD, KD, HD, F, F, 2 * 4].reduce((a, b) => a + b); // silu(gate)·up already consumed
      const mlpBackward = savedLeft + C + 3 * F; // gradients of the layer output, silu(gate)·up, gate and up
      const headBackward = C + 2 * V; // final norm output, logits and their gradient
      return { kept, recompute, mlpBackward, headBackward };
    };
    const estimate = (Hkv: number, F: number, V: number) => estimateTrainingMemory(
      { ...llamaPreset('tiny'), hiddenSize: 64, numAttentionHeads: 4, numKeyValueHeads: Hkv, intermediateSize: F, vocabSize: V, numHiddenLayers: 2 },
      { batchSize: 2, seqLen: 16, gradientCheckpointing: true },
    ).activations;
    const bytes = (n: number) => 4 * 2 * 16 * n;
    // the recompute dominates (multi-head attention, F = 2.7·C)
    const a = floats(4, 172, 64);
    expect(a.recompute).toBeGreaterThan(Math.max(a.mlpBackward, a.headBackward));
    expect(estimate(4, 172, 64)).toBe(bytes(a.kept + a.recompute));
    // the MLP's backward dominates (one key/value head, F = 4·C)
    const b = floats(1, 256, 64);
    expect(b.mlpBackward).toBeGreaterThan(Math.max(b.recompute, b.headBackward));
    expect(estimate(1, 256, 64)).toBe(bytes(b.kept + b.mlpBackward));
    // the head dominates (vocabulary 4096)
    const h = floats(4, 172, 4096);
    expect(h.headBackward).toBeGreaterThan(Math.max(h.recompute, h.mlpBackward));
    expect(estimate(4, 172, 4096)).toBe(bytes(h.kept + h.headBackward));
    // about a third of the plain figure at the bench shape's proportions
    const plain = estimateTrainingMemory({ ...llamaPreset('tiny'), hiddenSize: 64, intermediateSize: 172, vocabSize: 64 }, { batchSize: 2, seqLen: 16 }).activations;
    expect(estimate(4, 172, 64) / plain).toBeLessThan(0.4);
  });

  it('adds the kernels\' staging: the pool\'s arena for the largest split job and each thread\'s wasm memory for its largest call', () => {
    // the bench LLaMA at batch 8 × 128: n = 1024 tokens, C = H·D = 256 (8 heads), F = 688, V = 256
    const c: LlamaConfig = { ...llamaPreset('tiny'), hiddenSize: 256, numAttentionHeads: 8, numKeyValueHeads: 8, intermediateSize: 688, vocabSize: 256, numHiddenLayers: 4 };
    const shape = { batchSize: 8, seqLen: 128 };
    expect(kernelStagingBytes(c, { ...shape, threads: 1, backend: 'js' })).toBe(0);
    // the largest split job is attention's backward: q, k, v, dOut, dq, dk, dv (n·256 floats
    // each) and the float64 log-sum-exps (n·8), rounded up to whole MiB (the bench's arena: 8.0 MiB)
    const arena = 4 * 7 * 1024 * 256 + 8 * 1024 * 8;
    expect(arena).toBeGreaterThan(7 * 2 ** 20);
    expect(kernelStagingBytes(c, { ...shape, threads: 2, backend: 'js' })).toBe(8 * 2 ** 20);
    // on wasm each thread's largest call is a 24-row chunk of down_proj's weight gradient
    // (M = 256 rows of C in chunks of max(24, 256 / 16 rounded up to 12s), K = n, N = F): packed B
    // 1024·688, A 24·1024, C 24·688 and the 2¹⁶-float staging block (+8) (the bench: 3.1 MB rss each)
    const chunkCall = 4 * (1024 * 688 + 24 * 1024 + 24 * 688 + 2 ** 16 + 8);
    expect(kernelStagingBytes(c, { ...shape, threads: 2, backend: 'wasm' })).toBe(8 * 2 ** 20 + 2 * chunkCall);
    // one thread: nothing split, so the calling thread takes whole products (256 × 1024 · 1024 × 688)
    const wholeCall = 4 * (1024 * 688 + 256 * 1024 + 256 * 688 + 2 ** 16 + 8);
    expect(kernelStagingBytes(c, { ...shape, threads: 1, backend: 'wasm' })).toBe(wholeCall);
    const m = estimateTrainingMemory(c, { ...shape, threads: 2, backend: 'wasm' });
    expect(m.kernelStaging).toBe(8 * 2 ** 20 + 2 * chunkCall);
    expect(m.total).toBe(m.weights + m.grads + m.adamMoments + m.activations + m.kernelStaging);
  });

  it('counts training FLOPs as 6·N plus 12·L·T·C per token', () => {
    const c = llamaPreset('7b');
    const matmulParams = 6_738_415_616 - 32000 * 4096; // all but the input embedding lookup
    expect(flopsPerToken(c, { seqLen: 2048 })).toBe(6 * matmulParams + 12 * 32 * 2048 * 4096);
    expect(trainingFlopsPerStep(c, { tokens: 1000, seqLen: 2048 })).toBe(1000 * flopsPerToken(c, { seqLen: 2048 }));
  });
});

describe('validateLlamaConfig', () => {
  it('lists every problem in one error', () => {
    const bad = { ...llamaPreset('tiny'), hiddenSize: 0, numKeyValueHeads: 3, rmsNormEps: -1, eosTokenId: 999 };
    let message = '';
    try { validateLlamaConfig(bad); } catch (e) { message = (e as Error).message; }
    expect(message).toMatch(/^validateLlamaConfig: invalid LLaMA config/);
    expect(message).toMatch(/hiddenSize must be a positive integer, got 0/);
    expect(message).toMatch(/numKeyValueHeads \(3\) must divide numAttentionHeads \(4\)/);
    expect(message).toMatch(/rmsNormEps must be a positive finite number/);
    expect(message).toMatch(/eosTokenId must be an integer in \[0, vocabSize\)/);
  });

  it('rejects heads that do not divide the width, odd head dims and fractional sizes', () => {
    const tiny = llamaPreset('tiny');
    expect(() => validateLlamaConfig({ ...tiny, numAttentionHeads: 3, numKeyValueHeads: 3 })).toThrow(/must divide hiddenSize/);
    expect(() => validateLlamaConfig({ ...tiny, headDim: 7 })).toThrow(/must be even for rotary/);
    expect(() => validateLlamaConfig({ ...tiny, vocabSize: 2.5 })).toThrow(/vocabSize must be a positive integer/);
    expect(() => validateLlamaConfig({ ...tiny, headDim: 32 })).not.toThrow();
    expect(resolvedHeadDim({ ...tiny, headDim: 32 })).toBe(32);
    expect(resolvedHeadDim(tiny)).toBe(16);
  });
});

describe('Hugging Face config.json', () => {
  it('reads the fixture written by transformers 5 (rope_theta inside rope_parameters)', () => {
    expect(llamaConfigFromHF(hfTiny)).toEqual({
      vocabSize: 64, hiddenSize: 32, intermediateSize: 96, numHiddenLayers: 2, numAttentionHeads: 4,
      numKeyValueHeads: 4, maxPositionEmbeddings: 64, rmsNormEps: 1e-6, ropeTheta: 10000, tieWordEmbeddings: false,
      initializerRange: 0.2, bosTokenId: 1, eosTokenId: 2,
    });
  });

  it('reads an older config with rope_theta at the top level and no head_dim', () => {
    const old = {
      architectures: ['LlamaForCausalLM'], model_type: 'llama', vocab_size: 32000, hidden_size: 4096,
      intermediate_size: 11008, num_hidden_layers: 32, num_attention_heads: 32, num_key_value_heads: 8,
      rms_norm_eps: 1e-5, rope_theta: 500000.0, rope_scaling: null, tie_word_embeddings: false,
      torch_dtype: 'float16', transformers_version: '4.31.0', some_future_key: { x: 1 },
    };
    const c = llamaConfigFromHF(old);
    expect(c.ropeTheta).toBe(500000);
    expect(c.numKeyValueHeads).toBe(8);
    expect(c.headDim).toBeUndefined();
    expect(resolvedHeadDim(c)).toBe(128);
    expect(c.maxPositionEmbeddings).toBe(2048);
  });

  it('fills Hugging Face defaults for optional keys', () => {
    const c = llamaConfigFromHF({ vocab_size: 10, hidden_size: 8, intermediate_size: 16, num_hidden_layers: 1, num_attention_heads: 2 });
    expect(c).toEqual({
      vocabSize: 10, hiddenSize: 8, intermediateSize: 16, numHiddenLayers: 1, numAttentionHeads: 2, numKeyValueHeads: 2,
      maxPositionEmbeddings: 2048, rmsNormEps: 1e-6, ropeTheta: 10000, tieWordEmbeddings: false,
    });
  });

  it('keeps a head_dim that differs from hidden_size / heads', () => {
    const c = llamaConfigFromHF({ ...hfTiny, head_dim: 16 });
    expect(c.headDim).toBe(16);
    expect(countParameters(c)).toBe(2 * 64 * 32 + 2 * (4 * 32 * 64 + 3 * 32 * 96 + 2 * 32) + 32);
  });

  it('lists every missing required key in one error', () => {
    const { hidden_size: _h, num_hidden_layers: _l, vocab_size: _v, ...rest } = hfTiny;
    expect(() => llamaConfigFromHF(rest)).toThrow(
      'llamaConfigFromHF: config.json is missing required keys: vocab_size, hidden_size, num_hidden_layers');
    expect(() => llamaConfigFromHF([])).toThrow(/llamaConfigFromHF: expected a config.json object/);
  });

  it('rejects what this LLaMA does not implement', () => {
    const rejects = (patch: Record<string, unknown>, message: RegExp): void => {
      expect(() => llamaConfigFromHF({ ...hfTiny, ...patch })).toThrow(message);
    };
    rejects({ rope_parameters: { rope_type: 'llama3', rope_theta: 500000, factor: 8 } }, /rope_type must be "default"/);
    rejects({ rope_scaling: { type: 'linear', factor: 2 } }, /rope_scaling is not supported/);
    rejects({ attention_bias: true }, /attention_bias: true is not supported/);
    rejects({ hidden_act: 'gelu' }, /hidden_act must be "silu"/);
    rejects({ model_type: 'mistral' }, /model_type must be "llama"/);
    rejects({ hidden_size: '32' }, /hidden_size must be a number, got "32"/);
    rejects({ rope_theta: 500 }, /rope_theta \(500\) disagrees with rope_parameters.rope_theta \(10000\)/);
    rejects({ num_key_value_heads: 3 }, /config.json describes an invalid model: .*numKeyValueHeads \(3\) must divide/s);
  });

  it('takes the first of several eos ids', () => {
    expect(llamaConfigFromHF({ ...hfTiny, eos_token_id: [2, 3] }).eosTokenId).toBe(2);
  });

  it('writes what transformers needs to load LlamaForCausalLM', () => {
    const hf = llamaConfigToHF(llamaConfigFromHF(hfTiny));
    expect(hf).toMatchObject({
      architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_act: 'silu', attention_bias: false, mlp_bias: false,
      rope_theta: 10000, rope_parameters: { rope_theta: 10000, rope_type: 'default' }, head_dim: 8,
      tie_word_embeddings: false, torch_dtype: 'float32', dtype: 'float32', bos_token_id: 1, eos_token_id: 2,
      initializer_range: 0.2,
    });
    // Every key the fixture's model-defining fields have, with the same values.
    for (const k of ['vocab_size', 'hidden_size', 'intermediate_size', 'num_hidden_layers', 'num_attention_heads',
      'num_key_value_heads', 'max_position_embeddings', 'rms_norm_eps', 'head_dim']) {
      expect(hf[k], k).toBe(hfTiny[k]);
    }
    expect('bos_token_id' in llamaConfigToHF(llamaPreset('tiny'))).toBe(false);
    expect(() => llamaConfigToHF({ ...llamaPreset('tiny'), hiddenSize: -1 })).toThrow(/validateLlamaConfig/);
  });

  it('round-trips any valid config through toHF and fromHF', () => {
    const arbConfig: fc.Arbitrary<LlamaConfig> = fc
      .record({
        kv: fc.integer({ min: 1, max: 8 }), groups: fc.integer({ min: 1, max: 4 }), halfD: fc.integer({ min: 1, max: 32 }),
        headDimScale: fc.constantFrom(1, 2), vocab: fc.integer({ min: 1, max: 50000 }),
        ffn: fc.integer({ min: 1, max: 10000 }), layers: fc.integer({ min: 1, max: 100 }), ctx: fc.integer({ min: 1, max: 8192 }),
        eps: fc.double({ min: 1e-12, max: 1e-2, noNaN: true }), theta: fc.double({ min: 1, max: 1e7, noNaN: true }),
        tie: fc.boolean(), init: fc.option(fc.double({ min: 1e-4, max: 1, noNaN: true }), { nil: undefined }),
        bos: fc.option(fc.nat(), { nil: undefined }), eos: fc.option(fc.nat(), { nil: undefined }),
        pad: fc.option(fc.nat(), { nil: undefined }),
      })
      .map((r) => {
        const heads = r.kv * r.groups;
        const D = 2 * r.halfD;
        const c: LlamaConfig = {
          vocabSize: r.vocab, hiddenSize: heads * D * r.headDimScale, intermediateSize: r.ffn, numHiddenLayers: r.layers,
          numAttentionHeads: heads, numKeyValueHeads: r.kv, maxPositionEmbeddings: r.ctx, rmsNormEps: r.eps,
          ropeTheta: r.theta, tieWordEmbeddings: r.tie,
        };
        if (r.headDimScale !== 1) c.headDim = D; // fromHF keeps head_dim only when it is not C / H
        if (r.init !== undefined) c.initializerRange = r.init;
        if (r.bos !== undefined) c.bosTokenId = r.bos % r.vocab;
        if (r.eos !== undefined) c.eosTokenId = r.eos % r.vocab;
        if (r.pad !== undefined) c.padTokenId = r.pad % r.vocab;
        return c;
      });
    fc.assert(fc.property(arbConfig, (c) => {
      // Through JSON, as a file on disk would go; toHF writes HF's default 0.02 when no range is set.
      const back = llamaConfigFromHF(JSON.parse(JSON.stringify(llamaConfigToHF(c))));
      expect(back).toEqual({ initializerRange: 0.02, ...c });
    }));
  });
});
