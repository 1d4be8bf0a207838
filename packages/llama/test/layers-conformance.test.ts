// The layers assembled into Hugging Face's tiny LLaMA (the fixture made with transformers'
// LlamaForCausalLM) reproduce its logits, loss and gradients. Field names are HF's checkpoint keys.
// The fixture is llama-hf-tiny of ../shared/fixtures/README.md (the fixture README); a missing file
// fails the test. Tolerances are at most 10× what is reached (measured values below).

import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { type DType, type Tensor, loadSafetensors } from '@tsgrad/tensor';
import { Embedding, Linear, Module, ModuleList, RMSNorm, RotaryEmbedding, crossEntropy } from '@tsgrad/nn';
import { LlamaAttention, LlamaMLP } from '../src/model.js';
import { relativeError } from './helpers.js';

const fixtures = fileURLToPath(new URL('./fixtures/llama-hf-tiny/', import.meta.url));

function readFixture(file: string): Map<string, Tensor> {
  const path = `${fixtures}${file}`;
  if (!existsSync(path)) throw new Error(`hf-conformance: fixture ${path} is missing (llama-hf-tiny in ../shared/fixtures)`);
  return loadSafetensors(readFileSync(path));
}

class DecoderLayer extends Module {
  self_attn: LlamaAttention;
  mlp: LlamaMLP;
  input_layernorm: RMSNorm;
  post_attention_layernorm: RMSNorm;
  constructor(rotary: RotaryEmbedding) {
    super();
    this.self_attn = new LlamaAttention(32, 4, 4, { headDim: 8, rotary });
    this.mlp = new LlamaMLP(32, 96);
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

describe('the layers as Hugging Face LLaMA', () => {
  // reached (float32 / float64): logits 5.7e-7 / 5.9e-7, loss 0 / 1.7e-8, gradients 9.0e-7 / 8.4e-7.
  // float64 is no closer: the reference's rotary tables are float32 (transformers builds them so).
  const cases: Array<[DType, { logits: number; loss: number; grad: number }]> = [
    ['float32', { logits: 5e-6, loss: 1e-6, grad: 5e-6 }],
    ['float64', { logits: 5e-6, loss: 1e-7, grad: 5e-6 }],
  ];
  for (const [dtype, tol] of cases) {
    it(`reproduce the logits (within ${tol.logits}), loss (${tol.loss}) and gradients (${tol.grad}) of transformers' LlamaForCausalLM (${dtype})`, () => {
      const weights = readFixture('model.safetensors');
      const reference = readFixture('reference.safetensors');
      const m = new TinyLlama().to(dtype);
      expect(m.loadStateDict(weights)).toEqual({ missingKeys: [], unexpectedKeys: [], mismatched: [] });
      const ids = reference.get('input_ids')!.to('int32');
      const logits = m.forward(ids); // [2, 12, 64]
      expect(relativeError(logits, reference.get('logits')!)).toBeLessThan(tol.logits);
      // labels shifted as in Hugging Face: the logits at t predict token t + 1
      const loss = crossEntropy(logits.narrow(1, 0, 11), ids.narrow(1, 1, 11));
      // the loss of the fixture's reference.json
      expect(Math.abs(loss.item() - 4.790119647979736) / 4.790119647979736).toBeLessThan(tol.loss);
      loss.backward();
      for (const [name, p] of m.namedParameters()) expect(relativeError(p.grad!, reference.get(`grad.${name}`)!), name).toBeLessThan(tol.grad);
    });
  }
});
