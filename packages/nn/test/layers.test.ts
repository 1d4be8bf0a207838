// The layers of src/layers.ts, one describe block each: Linear, Embedding, RMSNorm, RotaryEmbedding.

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Generator, gradcheck, tensor } from '@tsgrad/tensor';
import { Embedding, Linear, RMSNorm, RotaryEmbedding, normal_ } from '../src/index.js';
import { expectClose, maxAbsDiff, randomTensor, rotateHalf } from './helpers.js';

describe('Linear', () => {
  it('stores weight [out, in] and maps [..., in] to [..., out] as x·Wᵀ + b', () => {
    const lin = new Linear(3, 2, { dtype: 'float64', generator: new Generator(0) });
    expect([...lin.weight.shape]).toEqual([2, 3]);
    expect([...lin.bias!.shape]).toEqual([2]);
    const x = randomTensor([4, 5, 3], 1);
    const y = lin.forward(x);
    expect([...y.shape]).toEqual([4, 5, 2]);
    const w = lin.weight.toArray() as number[][];
    const xs = x.toArray() as number[][][];
    const ys = y.toArray() as number[][][];
    const b = lin.bias!.toArray() as number[];
    for (let i = 0; i < 4; i++) for (let j = 0; j < 5; j++) for (let o = 0; o < 2; o++) {
      const want = b[o]! + w[o]!.reduce((s, wk, k) => s + wk * xs[i]![j]![k]!, 0);
      expect(ys[i]![j]![o]).toBeCloseTo(want, 12);
    }
  });

  it('gradients match finite differences with and without bias, for any batch shape', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 2 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 4 }),
        fc.boolean(),
        fc.integer({ min: 0, max: 1000 }),
        (lead, inF, outF, bias, seed) => {
          const lin = new Linear(inF, outF, { bias, dtype: 'float64', std: 1, generator: new Generator(seed) });
          const x = randomTensor([...lead, inF], seed + 1, { requiresGrad: true });
          const inputs = bias ? [x, lin.weight, lin.bias!] : [x, lin.weight];
          return gradcheck((xi) => lin.forward(xi), inputs);
        },
      ),
      { numRuns: 20 },
    );
  });

  it('has no bias when asked', () => {
    const lin = new Linear(2, 2, { bias: false });
    expect(lin.bias).toBeNull();
    expect(lin.namedParameters().map(([n]) => n)).toEqual(['weight']);
  });

  it('initializes the weight from normal(0, std²) with the given generator, and the bias to zero', () => {
    const a = new Linear(64, 64, { generator: new Generator(7) });
    const b = new Linear(64, 64, { generator: new Generator(7) });
    expect(a.weight.toArray()).toEqual(b.weight.toArray());
    const w = a.weight.toTypedArray();
    let sum = 0;
    let sq = 0;
    for (const v of w) {
      sum += v;
      sq += v * v;
    }
    const mean = sum / w.length;
    expect(Math.abs(mean)).toBeLessThan(0.002);
    expect(Math.sqrt(sq / w.length - mean * mean)).toBeCloseTo(0.02, 3);
    expect([...a.bias!.toTypedArray()].every((v) => v === 0)).toBe(true);
    const wide = new Linear(64, 64, { std: 0.5, generator: new Generator(7) });
    expectClose(wide.weight, a.weight.mul(25), 1e-6);
  });

  it('rejects an input whose last dim is not inFeatures, naming the shapes', () => {
    const lin = new Linear(3, 2);
    expect(() => lin.forward(randomTensor([2, 4], 0, { dtype: 'float32' }))).toThrow(
      'Linear: input of shape [2, 4] does not end in inFeatures 3 (weight [2, 3])',
    );
    expect(() => new Linear(0, 2)).toThrow('Linear: inFeatures must be a positive integer, got 0');
  });
});

describe('Embedding', () => {
  it('looks up int32 ids of any shape, giving [...ids.shape, dim]', () => {
    const emb = new Embedding(6, 3, { generator: new Generator(0) });
    const rows = emb.weight.toArray() as number[][];
    const ids = tensor([[[5, 0]], [[2, 2]]], { dtype: 'int32' });
    const out = emb.forward(ids);
    expect([...out.shape]).toEqual([2, 1, 2, 3]);
    expect(out.toArray()).toEqual([[[rows[5], rows[0]]], [[rows[2], rows[2]]]]);
    expect([...emb.forward(tensor(4, { dtype: 'int32' })).shape]).toEqual([3]);
  });

  it('gradients with respect to the weight match finite differences, repeated ids included', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 3 }),
        fc.array(fc.nat(), { minLength: 1, maxLength: 5 }),
        fc.integer({ min: 0, max: 1000 }),
        (vocab, dim, raw, seed) => {
          const emb = new Embedding(vocab, dim, { dtype: 'float64', std: 1, generator: new Generator(seed) });
          const ids = tensor(raw.map((r) => r % vocab), { dtype: 'int32' });
          // weight each output differently so repeated ids still test the accumulation
          const coef = tensor(raw.map((_, i) => Array.from({ length: dim }, (_, j) => 1 + i + 0.5 * j)), { dtype: 'float64' });
          return gradcheck(() => emb.forward(ids).mul(coef), [emb.weight]);
        },
      ),
      { numRuns: 20 },
    );
  });

  it('rejects an out-of-range id, naming it and the vocabulary size', () => {
    const emb = new Embedding(64, 4);
    expect(() => emb.forward(tensor([[1, 70]], { dtype: 'int32' }))).toThrow('Embedding: token id 70 is out of range for 64 embeddings');
    expect(() => emb.forward(tensor([-1], { dtype: 'int32' }))).toThrow('Embedding: token id -1 is out of range for 64 embeddings');
  });

  it('rejects ids that are not int32', () => {
    const emb = new Embedding(8, 4);
    expect(() => emb.forward(tensor([1, 2]))).toThrow('Embedding: token ids must be int32, got float32 of shape [2]');
  });
});

// out[r][j] = x[r][j] / sqrt(mean_j x[r][j]² + eps) · w[j], by plain loops
function rmsNormReference(x: Float64Array, w: Float64Array, cols: number, eps: number): Float64Array {
  const out = new Float64Array(x.length);
  for (let r = 0; r < x.length / cols; r++) {
    let ms = 0;
    for (let j = 0; j < cols; j++) ms += x[r * cols + j]! ** 2;
    const scale = 1 / Math.sqrt(ms / cols + eps);
    for (let j = 0; j < cols; j++) out[r * cols + j] = x[r * cols + j]! * scale * w[j]!;
  }
  return out;
}

describe('RMSNorm', () => {
  it('starts with a weight of ones and eps 1e-6', () => {
    const norm = new RMSNorm(5);
    expect(norm.weight.toArray()).toEqual([1, 1, 1, 1, 1]);
    expect(norm.eps).toBe(1e-6);
  });

  it('equals the direct formula x / √(mean(x²) + eps) · w', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 2 }),
        fc.integer({ min: 1, max: 6 }),
        fc.constantFrom(1e-6, 1e-5, 0.1),
        fc.integer({ min: 0, max: 1000 }),
        (lead, dim, eps, seed) => {
          const norm = new RMSNorm(dim, { eps, dtype: 'float64' });
          normal_(norm.weight, 1, new Generator(seed));
          const x = randomTensor([...lead, dim], seed + 1);
          const want = rmsNormReference(x.toTypedArray() as Float64Array, norm.weight.toTypedArray() as Float64Array, dim, eps);
          return maxAbsDiff(norm.forward(x), want) < 1e-12;
        },
      ),
      { numRuns: 30 },
    );
  });

  it('gradients with respect to x and weight match finite differences', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 2 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 0, max: 1000 }),
        (lead, dim, seed) => {
          const norm = new RMSNorm(dim, { dtype: 'float64' });
          normal_(norm.weight, 1, new Generator(seed));
          const x = randomTensor([...lead, dim], seed + 1, { requiresGrad: true });
          return gradcheck((xi) => norm.forward(xi), [x, norm.weight]);
        },
      ),
      { numRuns: 20 },
    );
  });

  it('rejects an input whose last dim is not dim', () => {
    expect(() => new RMSNorm(4).forward(randomTensor([2, 3], 0, { dtype: 'float32' }))).toThrow('rmsNorm: weight [4] must be [C] with C the last dim of x [2, 3]');
  });
});

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
