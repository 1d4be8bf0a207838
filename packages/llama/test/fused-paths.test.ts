// LlamaMLP and LlamaAttention run on fused tensor ops (swiglu, attention): checked here against the
// composite they replaced (moved from @tsgrad/nn with the layers).
import { describe, expect, it } from 'vitest';
import { Generator, type Tensor, cat } from '@tsgrad/tensor';
import { LlamaAttention, LlamaMLP } from '../src/model.js';
import { KVCache } from '../src/kv-cache.js';
import { maxAbsDiff, randomTensor } from './helpers.js';

const bits = (t: Tensor) => Array.from(t.toTypedArray());

describe('LlamaMLP and LlamaAttention: fused paths against their composites', () => {
  it('LlamaMLP equals down(silu(gate(x)) ⊙ up(x)) bit for bit in float32', () => {
    const mlp = new LlamaMLP(6, 10, { generator: new Generator(1), std: 0.5 });
    const x = randomTensor([3, 5, 6], 2, { dtype: 'float32' });
    const h = mlp.gate_proj.forward(x).silu().mul(mlp.up_proj.forward(x));
    expect(bits(mlp.forward(x))).toEqual(bits(mlp.down_proj.forward(h)));
  });

  it('LlamaAttention with a KV cache still equals the full forward when blocks cross 32 queries', () => {
    const attn = new LlamaAttention(16, 4, 2, { dtype: 'float64', std: 0.3, generator: new Generator(5) });
    const x = randomTensor([1, 70, 16], 6);
    const cache = new KVCache();
    const first = attn.forward(x.narrow(1, 0, 33), { kvCache: cache });
    const second = attn.forward(x.narrow(1, 33, 37), { kvCache: cache });
    expect(maxAbsDiff(cat([first, second], 1), attn.forward(x))).toBeLessThan(1e-12);
  });
});
