import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Generator, gradcheck } from '@tsgrad/tensor';
import { Linear } from '../src/index.js';
import { expectClose, randomTensor } from './helpers.js';

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
