import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { gradcheck } from '@tsgrad/tensor';
import { RotaryEmbedding } from '../src/index.js';
import { expectClose, maxAbsDiff, randomTensor, rotateHalf } from './helpers.js';

// Rotates each pair (x_i, x_{i+D/2}) of every row t by the angle (offset + t)·theta^(−2i/D), by loops.
function rotaryReference(x: Float64Array, shape: number[], offset: number, theta: number): Float64Array {
  const D = shape[shape.length - 1]!;
  const T = shape[shape.length - 2]!;
  const half = D / 2;
  const out = new Float64Array(x.length);
  for (let row = 0; row < x.length / D; row++) {
    const pos = offset + (row % T);
    for (let i = 0; i < half; i++) {
      const angle = pos * Math.pow(theta, (-2 * i) / D);
      const a = x[row * D + i]!;
      const b = x[row * D + half + i]!;
      out[row * D + i] = a * Math.cos(angle) - b * Math.sin(angle);
      out[row * D + half + i] = b * Math.cos(angle) + a * Math.sin(angle);
    }
  }
  return out;
}

const shapes = fc.record({
  batch: fc.integer({ min: 1, max: 2 }),
  heads: fc.integer({ min: 1, max: 3 }),
  seq: fc.integer({ min: 1, max: 4 }),
  headDim: fc.constantFrom(2, 4, 6),
  seed: fc.integer({ min: 0, max: 1000 }),
});

describe('RotaryEmbedding', () => {
  it('rotates the pairs (i, i + D/2) by the angle pos·theta^(−2i/D)', () => {
    fc.assert(
      fc.property(shapes, fc.integer({ min: 0, max: 40 }), fc.constantFrom(10000, 500000, 10), ({ batch, heads, seq, headDim, seed }, offset, theta) => {
        const rope = new RotaryEmbedding(headDim, { theta, maxPositions: 64 });
        const shape = [batch, heads, seq, headDim];
        const x = randomTensor(shape, seed);
        const want = rotaryReference(x.toTypedArray() as Float64Array, shape, offset, theta);
        return maxAbsDiff(rope.apply(x, offset), want) < 1e-12;
      }),
      { numRuns: 30 },
    );
  });

  it('at offset p equals rows p.. of the rotation at offset 0', () => {
    fc.assert(
      fc.property(shapes, fc.integer({ min: 0, max: 3 }), ({ batch, heads, seq, headDim, seed }, p) => {
        const rope = new RotaryEmbedding(headDim);
        const x = randomTensor([batch, heads, p + seq, headDim], seed);
        const full = rope.apply(x).narrow(2, p, seq);
        const part = rope.apply(x.narrow(2, p, seq), p);
        return maxAbsDiff(full, part) === 0;
      }),
      { numRuns: 20 },
    );
  });

  it('preserves the norm of every pair and leaves position 0 unchanged', () => {
    const rope = new RotaryEmbedding(4);
    const x = randomTensor([1, 1, 3, 4], 5);
    const y = rope.apply(x);
    expectClose(y.narrow(2, 0, 1), x.narrow(2, 0, 1), 0);
    const pairNorms = (t: typeof x) => t.square().reshape([3, 2, 2]).sum(1);
    expectClose(pairNorms(y), pairNorms(x), 1e-12);
  });

  it('builds float32 tables with float32 rounding at each step, as Hugging Face computes them', () => {
    const D = 8;
    const rope = new RotaryEmbedding(D, { maxPositions: 100 });
    const { cos, sin } = rope.tables('float32');
    expect(cos.dtype).toBe('float32');
    expect([...cos.shape]).toEqual([100, D]);
    const c = cos.toTypedArray();
    const s = sin.toTypedArray();
    for (const pos of [0, 1, 17, 99]) {
      for (let i = 0; i < D / 2; i++) {
        const invFreq = Math.fround(1 / Math.fround(Math.pow(10000, Math.fround((2 * i) / D))));
        const angle = Math.fround(pos * invFreq);
        for (const j of [i, i + D / 2]) {
          expect(c[pos * D + j]).toBe(Math.fround(Math.cos(angle)));
          expect(s[pos * D + j]).toBe(Math.fround(Math.sin(angle)));
        }
      }
    }
    expect(rope.tables('float32')).toBe(rope.tables('float32'));
    expect(rope.tables('float64').cos.dtype).toBe('float64');
  });

  it('gradients of apply match finite differences', () => {
    fc.assert(
      fc.property(shapes, fc.integer({ min: 0, max: 5 }), ({ batch, heads, seq, headDim, seed }, offset) => {
        const rope = new RotaryEmbedding(headDim, { maxPositions: 16 });
        const x = randomTensor([batch, heads, seq, headDim], seed, { requiresGrad: true });
        return gradcheck((xi) => rope.apply(xi, offset), [x]);
      }),
      { numRuns: 15 },
    );
  });

  it('the reference rotateHalf (test helper) moves the negated second half in front of the first', () => {
    const x = randomTensor([2, 4], 1);
    const [a, b] = [x.narrow(1, 0, 2), x.narrow(1, 2, 2)];
    expectClose(rotateHalf(x).narrow(1, 0, 2), b.neg(), 0);
    expectClose(rotateHalf(x).narrow(1, 2, 2), a, 0);
  });

  it('rejects positions beyond maxPositions', () => {
    const rope = new RotaryEmbedding(4, { maxPositions: 8 });
    expect(() => rope.apply(randomTensor([1, 1, 3, 4], 0), 6)).toThrow('rotary: positions 6 to 8 are outside the tables of 8 positions');
    expect(() => rope.apply(randomTensor([1, 1, 3, 4], 0), 5)).not.toThrow();
  });

  it('rejects an odd head dim', () => {
    expect(() => new RotaryEmbedding(5)).toThrow('RotaryEmbedding: headDim must be even to rotate pairs of halves, got 5');
  });

  it('rejects an input whose last dim is not headDim', () => {
    expect(() => new RotaryEmbedding(4).apply(randomTensor([1, 2, 6], 0))).toThrow('RotaryEmbedding: expected x [..., T, 4], got [1, 2, 6]');
  });
});
