import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { type DType, Generator, type Tensor, cat, gradcheck, noGrad } from '@tsgrad/tensor';
import { RotaryEmbedding } from '@tsgrad/nn';
import { LlamaAttention } from '../src/model.js';
import { KVCache } from '../src/kv-cache.js';
import { expectClose, maxAbsDiff, randomTensor } from './helpers.js';

// LLaMA attention by plain loops in float64: projections, rotary on q and k (pairs (i, i + D/2)),
// causal softmax with query head h reading key/value head ⌊h / (H / Hkv)⌋, output projection.
function attentionReference(attn: LlamaAttention, x: Tensor, theta = 10000): Float64Array {
  const [B, T, C] = x.shape as [number, number, number];
  const { numHeads: H, numKeyValueHeads: Hkv, headDim: D } = attn;
  const xd = x.toTypedArray();
  const project = (w: Tensor, heads: number) => {
    const wd = w.toTypedArray();
    const out = new Float64Array(B * T * heads * D); // [B, T, heads, D]
    for (let bt = 0; bt < B * T; bt++) for (let o = 0; o < heads * D; o++) {
      let s = 0;
      for (let c = 0; c < C; c++) s += xd[bt * C + c]! * wd[o * C + c]!;
      out[bt * heads * D + o] = s;
    }
    return out;
  };
  const rotate = (v: Float64Array, heads: number) => {
    const out = new Float64Array(v.length);
    for (let bt = 0; bt < B * T; bt++) for (let h = 0; h < heads; h++) for (let i = 0; i < D / 2; i++) {
      const angle = (bt % T) * Math.pow(theta, (-2 * i) / D);
      const at = (bt * heads + h) * D;
      const [a, b] = [v[at + i]!, v[at + D / 2 + i]!];
      out[at + i] = a * Math.cos(angle) - b * Math.sin(angle);
      out[at + D / 2 + i] = b * Math.cos(angle) + a * Math.sin(angle);
    }
    return out;
  };
  const q = rotate(project(attn.q_proj.weight, H), H);
  const k = rotate(project(attn.k_proj.weight, Hkv), Hkv);
  const v = project(attn.v_proj.weight, Hkv);
  const y = new Float64Array(B * T * H * D); // [B, T, H, D]
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) {
    const g = Math.floor(h / (H / Hkv));
    for (let i = 0; i < T; i++) {
      const scores: number[] = [];
      for (let j = 0; j <= i; j++) {
        let s = 0;
        for (let d = 0; d < D; d++) s += q[((b * T + i) * H + h) * D + d]! * k[((b * T + j) * Hkv + g) * D + d]!;
        scores.push(s / Math.sqrt(D));
      }
      const max = Math.max(...scores);
      const e = scores.map((s) => Math.exp(s - max));
      const total = e.reduce((s, z) => s + z, 0);
      for (let d = 0; d < D; d++) {
        let acc = 0;
        for (let j = 0; j <= i; j++) acc += (e[j]! / total) * v[((b * T + j) * Hkv + g) * D + d]!;
        y[((b * T + i) * H + h) * D + d] = acc;
      }
    }
  }
  const wo = attn.o_proj.weight.toTypedArray();
  const out = new Float64Array(B * T * C);
  for (let bt = 0; bt < B * T; bt++) for (let c = 0; c < C; c++) {
    let s = 0;
    for (let j = 0; j < H * D; j++) s += y[bt * H * D + j]! * wo[c * H * D + j]!;
    out[bt * C + c] = s;
  }
  return out;
}

// batch 1–2, seq 1–4, heads 1–4, kv heads dividing heads, head dim 2 or 4, hidden 2–5
const configs = fc
  .record({
    batch: fc.integer({ min: 1, max: 2 }),
    seq: fc.integer({ min: 1, max: 4 }),
    heads: fc.integer({ min: 1, max: 4 }),
    kvPick: fc.nat(),
    headDim: fc.constantFrom(2, 4),
    hidden: fc.integer({ min: 2, max: 5 }),
    seed: fc.integer({ min: 0, max: 1000 }),
  })
  .map((c) => {
    const divisors = Array.from({ length: c.heads }, (_, i) => i + 1).filter((d) => c.heads % d === 0);
    return { ...c, kvHeads: divisors[c.kvPick % divisors.length]! };
  });

function makeAttention(c: { hidden: number; heads: number; kvHeads: number; headDim: number; seed: number }, dtype: DType = 'float64'): LlamaAttention {
  return new LlamaAttention(c.hidden, c.heads, c.kvHeads, { headDim: c.headDim, dtype, std: 0.5, generator: new Generator(c.seed) });
}

describe('LlamaAttention', () => {
  it('has Hugging Face field names and weight shapes [H·D, C], [Hkv·D, C], [Hkv·D, C], [C, H·D]', () => {
    const attn = new LlamaAttention(8, 4, 2);
    expect(attn.namedParameters().map(([n, p]) => [n, [...p.shape]])).toEqual([
      ['q_proj.weight', [8, 8]],
      ['k_proj.weight', [4, 8]],
      ['v_proj.weight', [4, 8]],
      ['o_proj.weight', [8, 8]],
    ]);
    expect(new LlamaAttention(8, 2, 1, { headDim: 6 }).q_proj.weight.shape).toEqual([12, 8]);
  });

  it('equals a plain-loop LLaMA attention, grouped-query heads included', () => {
    fc.assert(
      fc.property(configs, (c) => {
        const attn = makeAttention(c);
        const x = randomTensor([c.batch, c.seq, c.hidden], c.seed + 1);
        return maxAbsDiff(attn.forward(x), attentionReference(attn, x)) < 1e-12;
      }),
      { numRuns: 30 },
    );
  });

  it('gradients with respect to x and every projection match finite differences', () => {
    fc.assert(
      fc.property(configs, (c) => {
        const attn = makeAttention(c);
        const x = randomTensor([c.batch, c.seq, c.hidden], c.seed + 1, { requiresGrad: true });
        return gradcheck((xi) => attn.forward(xi), [x, ...attn.parameters()]);
      }),
      { numRuns: 10 },
    );
  });

  it('is causal: changing later tokens leaves the outputs at earlier positions unchanged', () => {
    fc.assert(
      fc.property(configs, fc.nat(), (c, cutPick) => {
        fc.pre(c.seq >= 2);
        const cut = 1 + (cutPick % (c.seq - 1)); // positions < cut stay, the rest change
        const attn = makeAttention(c);
        const x = randomTensor([c.batch, c.seq, c.hidden], c.seed + 1);
        const changed = cat([x.narrow(1, 0, cut), randomTensor([c.batch, c.seq - cut, c.hidden], c.seed + 2)], 1);
        return maxAbsDiff(attn.forward(x).narrow(1, 0, cut), attn.forward(changed).narrow(1, 0, cut)) === 0;
      }),
      { numRuns: 20 },
    );
  });

  for (const [dtype, tol] of [['float32', 1e-5], ['float64', 1e-10]] as const) {
    it(`fed one token at a time through a KV cache, equals the full causal forward (${dtype})`, () => {
      fc.assert(
        fc.property(configs, (c) => {
          const attn = makeAttention(c, dtype);
          const x = randomTensor([c.batch, c.seq, c.hidden], c.seed + 1, { dtype });
          const full = attn.forward(x);
          const cache = new KVCache();
          const steps = noGrad(() => Array.from({ length: c.seq }, (_, t) => attn.forward(x.narrow(1, t, 1), { kvCache: cache })));
          expect([...cache.k!.shape]).toEqual([c.batch, c.kvHeads, c.seq, c.headDim]);
          expect([...cache.v!.shape]).toEqual([c.batch, c.kvHeads, c.seq, c.headDim]);
          return maxAbsDiff(cat(steps, 1), full) < tol;
        }),
        { numRuns: 15 },
      );
    });
  }

  it('with a KV cache, a block of new tokens sees the cached ones and its own past', () => {
    const c = { hidden: 6, heads: 4, kvHeads: 2, headDim: 2, seed: 3 };
    const attn = makeAttention(c);
    const x = randomTensor([2, 7, 6], 4);
    const cache = new KVCache();
    const first = attn.forward(x.narrow(1, 0, 3), { kvCache: cache });
    const second = attn.forward(x.narrow(1, 3, 4), { kvCache: cache, positionOffset: 3 });
    expectClose(cat([first, second], 1), attn.forward(x), 1e-12);
  });

  it('appends to the KV cache in place under noGrad: one buffer, earlier views unchanged, same keys as a full pass', () => {
    const c = { hidden: 8, heads: 4, kvHeads: 2, headDim: 2, seed: 5 };
    const attn = makeAttention(c);
    const x = randomTensor([2, 20, 8], 6);
    const cache = new KVCache();
    const views = noGrad(() => Array.from({ length: 20 }, (_, t) => {
      attn.forward(x.narrow(1, t, 1), { kvCache: cache });
      return { k: cache.k!, copy: cache.k!.contiguous().toTypedArray().slice() };
    }));
    // capacity 16 first, then 2·17: the storage changes once, at the 17th token
    const storages = new Set(views.map((s) => s.k.storage));
    expect(storages.size).toBe(2);
    expect(views[15]!.k.storage).toBe(views[0]!.k.storage);
    expect(views[16]!.k.storage).toBe(views[19]!.k.storage);
    for (const s of views) expect(s.k.contiguous().toTypedArray()).toEqual(s.copy);
    const whole = new KVCache();
    noGrad(() => attn.forward(x, { kvCache: whole }));
    expect(maxAbsDiff(cache.k!, whole.k!)).toBeLessThan(1e-12);
    expect(maxAbsDiff(cache.v!, whole.v!)).toBeLessThan(1e-12);
  });

  it('an in-place append bumps the cache buffer\'s version, so kernels that keep copies keyed by version see the new rows', () => {
    const cache = new KVCache();
    noGrad(() => cache.append(randomTensor([1, 2, 3, 4], 1), randomTensor([1, 2, 3, 4], 2)));
    const [k, v] = [cache.k!.version, cache.v!.version];
    noGrad(() => cache.append(randomTensor([1, 2, 1, 4], 3), randomTensor([1, 2, 1, 4], 4)));
    expect(cache.k!.version).toBeGreaterThan(k);
    expect(cache.v!.version).toBeGreaterThan(v);
  });

  it('while gradients are recorded, a cached forward backpropagates into the earlier tokens as the full forward does', () => {
    const attn = makeAttention({ hidden: 8, heads: 2, kvHeads: 1, headDim: 4, seed: 8 });
    const x = randomTensor([1, 5, 8], 9);
    const gradsOf = (run: () => Tensor): Float64Array[] => {
      attn.zeroGrad();
      run().square().sum().backward();
      return attn.parameters().map((p) => Float64Array.from(p.grad!.toTypedArray()));
    };
    const full = gradsOf(() => attn.forward(x));
    const cached = gradsOf(() => {
      const cache = new KVCache();
      const first = attn.forward(x.narrow(1, 0, 2), { kvCache: cache });
      return cat([first, attn.forward(x.narrow(1, 2, 3), { kvCache: cache })], 1);
    });
    full.forEach((g, i) => g.forEach((value, j) => expect(cached[i]![j]).toBeCloseTo(value, 10)));
  });

  it('shares one rotary embedding across layers and keeps it out of the parameters', () => {
    const rotary = new RotaryEmbedding(2, { theta: 500000 });
    const a = new LlamaAttention(4, 2, 1, { rotary });
    const b = new LlamaAttention(4, 2, 2, { rotary });
    expect(a.rotary).toBe(b.rotary);
    expect(a.parameters()).toHaveLength(4);
    const attn = new LlamaAttention(4, 2, 1, { rotary, dtype: 'float64', std: 0.5 });
    const x = randomTensor([1, 3, 4], 1);
    expect(maxAbsDiff(attn.forward(x), attentionReference(attn, x, 500000))).toBeLessThan(1e-12);
  });

  it('rejects kv heads that do not divide the heads', () => {
    expect(() => new LlamaAttention(12, 4, 3)).toThrow('LlamaAttention: numKeyValueHeads 3 must divide numAttentionHeads 4');
  });

  it('rejects an odd head dim, a rotary for another head dim, and a hidden size the heads do not divide', () => {
    expect(() => new LlamaAttention(6, 2, 1)).toThrow('RotaryEmbedding: headDim must be even to rotate pairs of halves, got 3');
    expect(() => new LlamaAttention(8, 2, 1, { rotary: new RotaryEmbedding(2) })).toThrow('LlamaAttention: the rotary embedding is for headDim 2, but the heads have 4');
    expect(() => new LlamaAttention(10, 4, 1)).toThrow('LlamaAttention: hiddenSize 10 is not divisible by numHeads 4; pass headDim');
  });

  it('rejects inputs of the wrong shape, positions beyond the rotary table, and an offset that contradicts the cache', () => {
    const attn = new LlamaAttention(4, 2, 1, { rotary: new RotaryEmbedding(2, { maxPositions: 4 }) });
    expect(() => attn.forward(randomTensor([1, 2, 5], 0, { dtype: 'float32' }))).toThrow('LlamaAttention: expected x [B, T, 4], got [1, 2, 5]');
    expect(() => attn.forward(randomTensor([1, 5, 4], 0, { dtype: 'float32' }))).toThrow('rotary: positions 0 to 4 are outside the tables of 4 positions');
    const cache = new KVCache();
    attn.forward(randomTensor([1, 2, 4], 0, { dtype: 'float32' }), { kvCache: cache });
    expect(() => attn.forward(randomTensor([1, 1, 4], 0, { dtype: 'float32' }), { kvCache: cache, positionOffset: 0 })).toThrow(
      'LlamaAttention: positionOffset 0 differs from the 2 tokens in the KV cache',
    );
    expect(() => attn.forward(randomTensor([2, 1, 4], 0, { dtype: 'float32' }), { kvCache: cache })).toThrow(/the KV cache holds \[1, 1, 2, 2\]/);
  });
});
