// The layers assembled into Hugging Face's tiny LLaMA (the fixture made with transformers'
// LlamaForCausalLM) reproduce its logits, loss and gradients. Field names are HF's checkpoint keys.

import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { type DType, type Tensor, loadSafetensors } from '@tsgrad/tensor';
import { Attention, Embedding, Linear, MLP, Module, ModuleList, RMSNorm, RotaryEmbedding, crossEntropy } from '../src/index.js';

const fixtures = fileURLToPath(new URL('../../tensor/test/fixtures/', import.meta.url));
const haveFixtures = existsSync(`${fixtures}model.safetensors`) && existsSync(`${fixtures}reference.safetensors`);

class DecoderLayer extends Module {
  self_attn: Attention;
  mlp: MLP;
  input_layernorm: RMSNorm;
  post_attention_layernorm: RMSNorm;
  constructor(rotary: RotaryEmbedding) {
    super();
    this.self_attn = new Attention(32, 4, 4, { headDim: 8, rotary });
    this.mlp = new MLP(32, 96);
    this.input_layernorm = new RMSNorm(32, { eps: 1e-6 });
    this.post_attention_layernorm = new RMSNorm(32, { eps: 1e-6 });
  }
  forward(h: Tensor): Tensor {
    h = h.add(this.self_attn.forward(this.input_layernorm.forward(h)));
    return h.add(this.mlp.forward(this.post_attention_layernorm.forward(h)));
  }
}

class TinyLlama extends Module {
  model: Module & { embed_tokens: Embedding; layers: ModuleList<DecoderLayer>; norm: RMSNorm };
  lm_head = new Linear(32, 64, { bias: false });
  constructor() {
    super();
    const rotary = new RotaryEmbedding(8, { theta: 10000, maxPositions: 64 });
    const inner = new Module() as TinyLlama['model'];
    inner.embed_tokens = new Embedding(64, 32);
    inner.layers = new ModuleList([new DecoderLayer(rotary), new DecoderLayer(rotary)]);
    inner.norm = new RMSNorm(32, { eps: 1e-6 });
    this.model = inner;
  }
  forward(ids: Tensor): Tensor {
    let h = this.model.embed_tokens.forward(ids);
    for (const layer of this.model.layers) h = layer.forward(h);
    return this.lm_head.forward(this.model.norm.forward(h));
  }
}

function relativeError(a: Tensor, b: Tensor): number {
  const [x, y] = [a.toTypedArray(), b.toTypedArray()];
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < x.length; i++) {
    diff = Math.max(diff, Math.abs(x[i]! - y[i]!));
    scale = Math.max(scale, Math.abs(y[i]!));
  }
  return diff / scale;
}

describe('the layers as Hugging Face LLaMA', () => {
  it('finds its fixtures (a missing fixture fails here, it never skips the suite)', () => expect(haveFixtures).toBe(true));
  const weights = haveFixtures ? loadSafetensors(readFileSync(`${fixtures}model.safetensors`)) : new Map<string, Tensor>();
  const reference = haveFixtures ? loadSafetensors(readFileSync(`${fixtures}reference.safetensors`)) : new Map<string, Tensor>();

  for (const [dtype, tol] of [['float32', 1e-4], ['float64', 1e-5]] as Array<[DType, number]>) {
    it(`reproduce the logits, loss and gradients of transformers' LlamaForCausalLM (${dtype})`, () => {
      const m = new TinyLlama().to(dtype);
      expect(m.loadStateDict(weights)).toEqual({ missingKeys: [], unexpectedKeys: [], mismatched: [] });
      const ids = reference.get('input_ids')!.to('int32');
      const logits = m.forward(ids); // [2, 12, 64]
      expect(relativeError(logits, reference.get('logits')!)).toBeLessThan(tol);
      // labels shifted as in Hugging Face: the logits at t predict token t + 1
      const loss = crossEntropy(logits.narrow(1, 0, 11), ids.narrow(1, 1, 11));
      expect(loss.item()).toBeCloseTo(4.790119647979736, 4);
      loss.backward();
      for (const [name, p] of m.namedParameters()) expect(relativeError(p.grad!, reference.get(`grad.${name}`)!), name).toBeLessThan(1e-3);
    });
  }
});
