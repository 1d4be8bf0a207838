import { describe, expect, it } from 'vitest';
import { type DType, Generator, Tensor, grad, loadSafetensors, noGrad, saveSafetensors, tensor, zeros } from '@tsgrad/tensor';
import {
  Embedding, Linear, Module, ModuleList, Parameter, RMSNorm, RotaryEmbedding,
} from '../src/index.js';
import { expectClose, randomTensor } from './helpers.js';

class Block extends Module {
  norm: RMSNorm;
  proj: Linear;
  constructor(gen: Generator) {
    super();
    this.norm = new RMSNorm(4);
    this.proj = new Linear(4, 3, { generator: gen });
  }
}

// Stand-ins for an attention block and an MLP (LLaMA's own live in @tsgrad/llama): projections,
// and a RotaryEmbedding whose tables must stay out of the parameters and the state dict.
class RotaryMix extends Module {
  q_proj: Linear;
  o_proj: Linear;
  rotary: RotaryEmbedding;
  constructor(generator: Generator) {
    super();
    this.q_proj = new Linear(8, 8, { bias: false, generator });
    this.o_proj = new Linear(8, 8, { bias: false, generator });
    this.rotary = new RotaryEmbedding(4);
  }
  forward(h: Tensor): Tensor {
    const [B, T] = h.shape as [number, number, number];
    const q = this.rotary.apply(this.q_proj.forward(h).reshape([B, T, 2, 4]).transpose(1, 2), 0); // [B, 2, T, 4]
    return this.o_proj.forward(q.transpose(1, 2).reshape([B, T, 8])); // [B, T, 8]
  }
}

class GatedFeedForward extends Module {
  gate_proj: Linear;
  down_proj: Linear;
  constructor(generator: Generator) {
    super();
    this.gate_proj = new Linear(8, 12, { bias: false, generator });
    this.down_proj = new Linear(12, 8, { bias: false, generator });
  }
  forward(h: Tensor): Tensor {
    return this.down_proj.forward(this.gate_proj.forward(h).silu());
  }
}

// A small model built from every layer, for state-dict round trips.
class Tiny extends Module {
  embed_tokens: Embedding;
  layers: ModuleList<RotaryMix | GatedFeedForward>;
  norm: RMSNorm;
  lm_head: Linear;
  constructor(seed: number) {
    super();
    const generator = new Generator(seed);
    this.embed_tokens = new Embedding(11, 8, { generator });
    this.layers = new ModuleList<RotaryMix | GatedFeedForward>([new RotaryMix(generator), new GatedFeedForward(generator)]);
    this.norm = new RMSNorm(8);
    this.lm_head = new Linear(8, 11, { bias: false, generator });
  }
  forward(ids: Tensor): Tensor {
    let h = this.embed_tokens.forward(ids);
    for (const layer of this.layers) h = h.add(layer.forward(h));
    return this.lm_head.forward(this.norm.forward(h));
  }
}

// An embedding and an output head sharing one weight, as a language model ties them.
class Tied extends Module {
  embed: Embedding;
  head: Linear;
  constructor(opts: { dtype?: DType; generator?: Generator } = {}) {
    super();
    this.embed = new Embedding(5, 3, opts);
    this.head = new Linear(3, 5, { bias: false, dtype: opts.dtype });
    this.head.weight = this.embed.weight;
  }
}

describe('Module', () => {
  it('names parameters by field path in declaration order', () => {
    const block = new Block(new Generator(0));
    expect(block.namedParameters().map(([n]) => n)).toEqual(['norm.weight', 'proj.weight', 'proj.bias']);
    expect(block.namedModules().map(([n]) => n)).toEqual(['', 'norm', 'proj']);
    expect(block.children()).toEqual([block.norm, block.proj]);
    expect(block.parameters()).toEqual([block.norm.weight, block.proj.weight, block.proj.bias]);
  });

  it('follows the order fields are declared in, not the order they are assigned', () => {
    class Swapped extends Module {
      second: Linear;
      first: Linear;
      constructor() {
        super();
        this.first = new Linear(1, 1);
        this.second = new Linear(1, 1);
      }
    }
    expect(new Swapped().namedParameters().map(([n]) => n)).toEqual(['second.weight', 'second.bias', 'first.weight', 'first.bias']);
  });

  it('names the modules of a ModuleList by their index', () => {
    class Stack extends Module {
      layers = new ModuleList([new Block(new Generator(1)), new Block(new Generator(2))]);
      head = new Linear(3, 2, { bias: false });
    }
    const s = new Stack();
    expect(s.namedParameters().map(([n]) => n)).toEqual([
      'layers.0.norm.weight', 'layers.0.proj.weight', 'layers.0.proj.bias',
      'layers.1.norm.weight', 'layers.1.proj.weight', 'layers.1.proj.bias',
      'head.weight',
    ]);
    expect(s.namedModules().map(([n]) => n)).toEqual(['', 'layers', 'layers.0', 'layers.0.norm', 'layers.0.proj', 'layers.1', 'layers.1.norm', 'layers.1.proj', 'head']);
    expect(s.layers.length).toBe(2);
    expect(s.layers.get(-1)).toBe([...s.layers][1]);
    expect(() => s.layers.get(2)).toThrow('ModuleList: index 2 is out of range for 2 modules');
  });

  it('lists a shared parameter once, under its first name, and gives it the sum of both gradients', () => {
    const m = new Tied({ dtype: 'float64', generator: new Generator(3) });
    expect(m.namedParameters().map(([n]) => n)).toEqual(['embed.weight']);
    expect(m.namedParameters('', true, false).map(([n]) => n)).toEqual(['embed.weight', 'head.weight']);
    expect([...m.stateDict().keys()]).toEqual(['embed.weight']);

    const ids = tensor([[0, 3, 3, 1]], { dtype: 'int32' });
    const coef = randomTensor([1, 4, 5], 4);
    m.head.forward(m.embed.forward(ids)).mul(coef).sum().backward();
    // the same function with two independent copies of the weight: its gradients must add up
    const w1 = m.embed.weight.detach().clone().setRequiresGrad(true);
    const w2 = m.embed.weight.detach().clone().setRequiresGrad(true);
    const out = w1.indexSelect(0, ids).matmul(w2.transpose(0, 1)).mul(coef).sum();
    const [g1, g2] = grad(out, [w1, w2]);
    expectClose(m.embed.weight.grad!, g1!.add(g2!), 1e-12);
  });

  it('switches train and eval modes recursively', () => {
    const m = new Tiny(0);
    expect(m.modules().every((x) => x.training)).toBe(true);
    expect(m.eval()).toBe(m);
    expect(m.modules().every((x) => !x.training)).toBe(true);
    m.train();
    expect(m.layers.get(0).training && (m.layers.get(0) as RotaryMix).q_proj.training).toBe(true);
  });

  it('zeroGrad clears every gradient', () => {
    const m = new Tiny(0);
    m.forward(tensor([[1, 2, 3]], { dtype: 'int32' })).sum().backward();
    expect(m.parameters().every((p) => p.grad !== null)).toBe(true);
    m.zeroGrad();
    expect(m.parameters().every((p) => p.grad === null)).toBe(true);
  });

  it('round-trips a state dict through safetensors bytes into a fresh module with identical outputs', () => {
    const a = new Tiny(1);
    const b = new Tiny(2);
    const ids = tensor([[1, 5, 2, 9], [0, 10, 3, 3]], { dtype: 'int32' });
    expect(a.forward(ids).toArray()).not.toEqual(b.forward(ids).toArray());
    const bytes = saveSafetensors(a.stateDict());
    const result = b.loadStateDict(loadSafetensors(bytes));
    expect(result).toEqual({ missingKeys: [], unexpectedKeys: [], mismatched: [] });
    expect(b.forward(ids).toArray()).toEqual(a.forward(ids).toArray());
  });

  it('keeps rotary tables out of the state dict and the parameters', () => {
    const m = new Tiny(0);
    m.forward(tensor([[1, 2]], { dtype: 'int32' }));
    const keys = [...m.stateDict().keys()];
    expect(keys).toEqual(m.namedParameters().map(([n]) => n));
    expect(keys.some((k) => k.includes('rotary'))).toBe(false);
    expect(keys).toContain('layers.0.q_proj.weight');
    expect(keys).toContain('layers.1.gate_proj.weight');
  });

  it('gives state dict entries as detached views of the parameters', () => {
    const m = new Block(new Generator(0));
    const w = m.stateDict().get('proj.weight')!;
    expect(w).not.toBeInstanceOf(Parameter);
    expect(w.requiresGrad).toBe(false);
    expect(w.storage).toBe(m.proj.weight.storage);
  });

  it('fails a strict load with one error listing every missing, unexpected and mismatched key, copying nothing', () => {
    const m = new Block(new Generator(0));
    const before = m.proj.bias!.toArray();
    const sd = new Map<string, Tensor>([
      ['proj.weight', zeros([4, 3])],
      ['proj.bias', zeros([3])],
      ['extra.weight', zeros([1])],
      ['another', zeros([2])],
    ]);
    let message = '';
    try {
      m.loadStateDict(sd);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toContain('missing keys: norm.weight');
    expect(message).toContain('unexpected keys: extra.weight, another');
    expect(message).toContain('size mismatch for proj.weight: the checkpoint has shape [4, 3], the module [3, 4]');
    expect(m.proj.bias!.toArray()).toEqual(before);
  });

  it('loads what matches and reports the rest when not strict', () => {
    const m = new Block(new Generator(0));
    const result = m.loadStateDict({ 'proj.weight': zeros([4, 3]), 'proj.bias': tensor([1, 2, 3], { dtype: 'float64' }), extra: zeros([1]) }, { strict: false });
    expect(result).toEqual({
      missingKeys: ['norm.weight'],
      unexpectedKeys: ['extra'],
      mismatched: [{ key: 'proj.weight', expected: [3, 4], got: [4, 3] }],
    });
    expect(m.proj.bias!.dtype).toBe('float32');
    expect(m.proj.bias!.toArray()).toEqual([1, 2, 3]);
  });

  it('accepts a tied weight under its second name', () => {
    const m = new Tied();
    const w = randomTensor([5, 3], 9, { dtype: 'float32' });
    expect(m.loadStateDict({ 'head.weight': w })).toEqual({ missingKeys: [], unexpectedKeys: [], mismatched: [] });
    expect(m.embed.weight.toArray()).toEqual(w.toArray());
    expect(() => m.loadStateDict({ 'embed.weight': w, 'head.weight': w })).not.toThrow();
  });

  it('saves persistent buffers and leaves non-persistent ones out', () => {
    class WithBuffers extends Module {
      lin = new Linear(2, 2);
      constructor() {
        super();
        this.registerBuffer('steps', zeros([1]));
        this.registerBuffer('scratch', zeros([3]), { persistent: false });
      }
    }
    const m = new WithBuffers();
    expect([...m.stateDict().keys()]).toEqual(['lin.weight', 'lin.bias', 'steps']);
    expect(m.namedBuffers().map(([n]) => n)).toEqual(['steps', 'scratch']);
    m.loadStateDict({ 'lin.weight': zeros([2, 2]), 'lin.bias': zeros([2]), steps: tensor([7]) });
    expect((m as unknown as { steps: Tensor }).steps.item()).toBe(7);
  });

  it('converts every parameter to another dtype, keeping shared parameters shared', () => {
    const m = new Tied();
    const before = m.embed.weight.toArray();
    m.to('float64');
    expect(m.embed.weight.dtype).toBe('float64');
    expect(m.embed.weight).toBeInstanceOf(Parameter);
    expect(m.head.weight).toBe(m.embed.weight);
    expect(m.embed.weight.toArray()).toEqual(before);
    expect(m.parameters()).toHaveLength(1);
  });
});

describe('Parameter', () => {
  it('is a leaf that requires grad and shares the storage of contiguous data', () => {
    const data = zeros([2, 3]);
    const p = new Parameter(data);
    expect(p).toBeInstanceOf(Tensor);
    expect(p.requiresGrad).toBe(true);
    expect(p.isLeaf).toBe(true);
    expect(p.storage).toBe(data.storage);
    expect(new Parameter(data, false).requiresGrad).toBe(false);
  });

  it('copies non-contiguous data into its own contiguous storage', () => {
    const data = tensor([[1, 2, 3], [4, 5, 6]]).transpose(0, 1);
    const p = new Parameter(data);
    expect(p.isContiguous()).toBe(true);
    expect(p.toArray()).toEqual([[1, 4], [2, 5], [3, 6]]);
  });

  it('can be updated in place under noGrad as an optimizer does', () => {
    const lin = new Linear(3, 2, { generator: new Generator(0) });
    lin.forward(randomTensor([4, 3], 1, { dtype: 'float32' })).sum().backward();
    const w = lin.weight.toTypedArray();
    const g = lin.weight.grad!.toTypedArray();
    noGrad(() => lin.weight.add_(lin.weight.grad!, -0.1));
    const after = lin.weight.toTypedArray();
    for (let i = 0; i < w.length; i++) expect(after[i]).toBeCloseTo(w[i]! - 0.1 * g[i]!, 6);
    expect(() => lin.weight.add_(1)).toThrow(/noGrad/);
  });
});

describe('RotaryEmbedding as a module', () => {
  it('has no parameters', () => {
    expect(new RotaryEmbedding(4).parameters()).toEqual([]);
  });
});
