import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Generator, gradcheck } from '@tsgrad/tensor';
import { RMSNorm, normal_ } from '../src/index.js';
import { maxAbsDiff, randomTensor } from './helpers.js';

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
