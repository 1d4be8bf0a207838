// Batches of different lengths through LlamaAttention: a key padding mask and per-row positions
// (moved from @tsgrad/nn with the layer).

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Generator, cat, gradcheck, noGrad, tensor } from '@tsgrad/tensor';
import { LlamaAttention } from '../src/model.js';
import { KVCache } from '../src/kv-cache.js';
import { maxAbsDiff, randomTensor } from './helpers.js';

// 2–3 sequences of lengths 1–5 padded on the left to the longest; heads, kv heads and sizes vary
const batches = fc
  .record({
    lengths: fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 2, maxLength: 3 }),
    heads: fc.constantFrom(1, 2, 4),
    kvPick: fc.nat(),
    headDim: fc.constantFrom(2, 4),
    hidden: fc.integer({ min: 2, max: 5 }),
    seed: fc.integer({ min: 0, max: 1000 }),
  })
  .map((c) => {
    const divisors = [1, 2, 4].filter((d) => d <= c.heads && c.heads % d === 0);
    return { ...c, kvHeads: divisors[c.kvPick % divisors.length]!, T: Math.max(...c.lengths) };
  });

type Batch = typeof batches extends fc.Arbitrary<infer X> ? X : never;

// Each sequence alone [1, n, C], the left-padded batch [B, T, C] (random vectors in the padding),
// its key mask [B, T] and positions cumsum(mask) − 1 (0 in the padding).
function leftPadded(c: Batch) {
  const alone = c.lengths.map((n, b) => randomTensor([1, n, c.hidden], c.seed + 10 + b));
  const rows = alone.map((x, b) => (c.T > c.lengths[b]! ? cat([randomTensor([1, c.T - c.lengths[b]!, c.hidden], c.seed + 20 + b), x], 1) : x));
  const mask = tensor(c.lengths.map((n) => Array.from({ length: c.T }, (_, t) => (t >= c.T - n ? 1 : 0))), { dtype: 'int32' });
  const positions = tensor(c.lengths.map((n) => Array.from({ length: c.T }, (_, t) => Math.max(0, t - (c.T - n)))), { dtype: 'int32' });
  return { alone, x: cat(rows, 0), mask, positions };
}

function makeAttention(c: Batch): LlamaAttention {
  return new LlamaAttention(c.hidden, c.heads, c.kvHeads, { headDim: c.headDim, dtype: 'float64', std: 0.5, generator: new Generator(c.seed) });
}

describe('LlamaAttention with a key padding mask and per-row positions', () => {
  it('gives every real position of a left-padded batch the output of its sequence alone (float64, 1e-12)', () => {
    fc.assert(fc.property(batches, (c) => {
      const attn = makeAttention(c);
      const { alone, x, mask, positions } = leftPadded(c);
      const out = attn.forward(x, { keyMask: mask, positionIds: positions }); // [B, T, C]
      return alone.every((xa, b) => {
        const n = c.lengths[b]!;
        return maxAbsDiff(out.narrow(0, b, 1).narrow(1, c.T - n, n), attn.forward(xa)) < 1e-12;
      });
    }), { numRuns: 30 });
  });

  it('gradients with respect to x and every projection match finite differences (gradcheck) through the mask', () => {
    fc.assert(fc.property(batches, (c) => {
      const attn = makeAttention(c);
      const { x, mask, positions } = leftPadded(c);
      x.requiresGrad = true;
      return gradcheck((xi) => attn.forward(xi, { keyMask: mask, positionIds: positions }), [x, ...attn.parameters()]);
    }), { numRuns: 8 });
  });

  it('positionIds with a gap equal default positions with a masked token in the gap (rotary sees only the offsets)', () => {
    fc.assert(fc.property(batches, fc.nat(), (c, gapPick) => {
      const attn = makeAttention(c);
      const n = c.lengths[0]! + 1;
      const gap = 1 + (gapPick % (n - 1)); // a position in 1..n−1 that no token takes
      const x = randomTensor([1, n, c.hidden], c.seed + 5);
      const kept = Array.from({ length: n }, (_, t) => t).filter((t) => t !== gap);
      const xs = cat(kept.map((t) => x.narrow(1, t, 1)), 1); // [1, n−1, C]
      const withGap = attn.forward(xs, { positionIds: tensor([kept], { dtype: 'int32' }) });
      const masked = attn.forward(x, { keyMask: tensor([Array.from({ length: n }, (_, t) => (t === gap ? 0 : 1))], { dtype: 'int32' }) });
      return maxAbsDiff(withGap, cat(kept.map((t) => masked.narrow(1, t, 1)), 1)) < 1e-12;
    }), { numRuns: 20 });
  });

  it('with a KV cache, a left-padded batch fed one token at a time equals the full masked forward and each sequence alone', () => {
    const c: Batch = { lengths: [4, 2], heads: 4, kvHeads: 2, headDim: 4, hidden: 5, seed: 3, kvPick: 0, T: 4 };
    const attn = makeAttention(c);
    const { alone, x, mask, positions } = leftPadded(c);
    const full = attn.forward(x, { keyMask: mask, positionIds: positions });
    const cache = new KVCache();
    const steps = noGrad(() => Array.from({ length: c.T }, (_, t) => attn.forward(x.narrow(1, t, 1), {
      kvCache: cache, keyMask: mask.narrow(1, 0, t + 1), positionIds: positions.narrow(1, t, 1),
    })));
    expect(maxAbsDiff(cat(steps, 1), full)).toBeLessThan(1e-12);
    expect(maxAbsDiff(cat(steps, 1).narrow(0, 1, 1).narrow(1, 2, 2), attn.forward(alone[1]!))).toBeLessThan(1e-12);
  });

  it('rejects a key mask that does not cover the cached and new tokens of every row', () => {
    const attn = new LlamaAttention(4, 2, 1, { generator: new Generator(0) });
    const x = randomTensor([2, 3, 4], 1, { dtype: 'float32' });
    expect(() => attn.forward(x, { keyMask: tensor([[1, 1, 1]], { dtype: 'int32' }) })).toThrow('LlamaAttention: keyMask must be [2, 3] (batch, cached + new tokens), got [1, 3]');
  });
});

