// The layers run on fused tensor ops (attention, rotary); each is checked here against the
// composite it replaced, on the shapes the layers pass: grouped-query heads broadcast over G,
// transposed [B, T, H, D] views, float32 and float64.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { type DType, type Tensor, grad, tensor } from '@tsgrad/tensor';
import { RotaryEmbedding, scaledDotProductAttention } from '../src/index.js';
import { maxAbsDiff, randomTensor, rotateHalf } from './helpers.js';

const bits = (t: Tensor) => Array.from(t.toTypedArray());

// An int32 mask [Tq, Tk] keeping the keys query i may see (0..Tk−Tq+i): the composite's causal mask.
function causalKeep(Tq: number, Tk: number): Tensor {
  return tensor(Int32Array.from({ length: Tq * Tk }, (_, at) => (at % Tk <= Tk - Tq + Math.floor(at / Tk) ? 1 : 0)), { shape: [Tq, Tk] });
}

describe('scaledDotProductAttention: fused path against the masked composite', () => {
  it('agrees on grouped-query shapes (k, v [B, Hkv, 1, Tk, D] broadcast, or expanded over G), values and gradients', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }),
      fc.integer({ min: 1, max: 40 }), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 1, max: 5 }), fc.boolean(), fc.nat(),
      (B, Hkv, G, Tq, extra, D, expanded, seed) => {
        const Tk = Tq + extra;
        const q = randomTensor([B, Hkv, G, Tq, D], seed, { requiresGrad: true });
        const k = randomTensor([B, Hkv, 1, Tk, D], seed + 1, { requiresGrad: true });
        const v = randomTensor([B, Hkv, 1, Tk, D], seed + 2, { requiresGrad: true });
        const [kk, vv] = expanded ? [k.expand([B, Hkv, G, Tk, D]), v.expand([B, Hkv, G, Tk, D])] : [k, v];
        const fast = scaledDotProductAttention(q, kk, vv, { causal: true });
        const slow = scaledDotProductAttention(q, kk, vv, { mask: causalKeep(Tq, Tk) });
        const gf = grad(fast.square().sum(), [q, k, v], { retainGraph: true });
        const gs = grad(slow.square().sum(), [q, k, v]);
        return maxAbsDiff(fast, slow) < 1e-12 && gf.every((t, i) => maxAbsDiff(t, gs[i]!) < 1e-11);
      }), { numRuns: 30 });
  });

  it('agrees in float32 to float32 rounding at training size (T = 128, D = 32)', () => {
    const q = randomTensor([2, 2, 2, 128, 32], 1, { dtype: 'float32' });
    const k = randomTensor([2, 2, 1, 128, 32], 2, { dtype: 'float32' });
    const v = randomTensor([2, 2, 1, 128, 32], 3, { dtype: 'float32' });
    const fast = scaledDotProductAttention(q, k, v, { causal: true });
    expect(maxAbsDiff(fast, scaledDotProductAttention(q, k, v, { mask: causalKeep(128, 128) }))).toBeLessThan(2e-6);
  });
});

describe('RotaryEmbedding: fused path against its composite', () => {
  for (const dtype of ['float32', 'float64'] as DType[]) {
    it(`RotaryEmbedding.apply on a transposed [B, T, H, D] view equals x·cos + rotateHalf(x)·sin bit for bit (${dtype})`, () => {
      const rotary = new RotaryEmbedding(8, { maxPositions: 16 });
      const x = randomTensor([2, 5, 3, 8], 4, { dtype }).transpose(1, 2); // [B, H, T, D]
      const { cos, sin } = rotary.tables(dtype);
      const want = x.mul(cos.narrow(0, 7, 5)).add(rotateHalf(x).mul(sin.narrow(0, 7, 5)));
      expect(bits(rotary.apply(x, 7))).toEqual(bits(want));
    });
  }

});
