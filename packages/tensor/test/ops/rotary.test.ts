import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Tensor, Generator, cat, grad, gradcheck, gradgradcheck, randn, rotary } from '../../src/index.js';
import { GRAD_RUNS, GRADGRAD_RUNS, shapeArb, tensorOfShapeArb } from '../arbitraries.js';

// The composite definition, with HF's rotateHalf(x) = cat(−x[..., D/2:], x[..., :D/2]).
function reference(x: Tensor, cos: Tensor, sin: Tensor, offset: number): Tensor {
  const T = x.shape[x.ndim - 2]!;
  const h = x.shape[x.ndim - 1]! / 2;
  const rotated = cat([x.narrow(-1, h, h).neg(), x.narrow(-1, 0, h)], -1);
  return x.mul(cos.narrow(0, offset, T)).add(rotated.mul(sin.narrow(0, offset, T)));
}

const bits = (t: Tensor) => Array.from(t.toTypedArray());

// Tables [maxT, D] of arbitrary values (not only true cos/sin, so every index is tested).
function tables(maxT: number, D: number, seed: number, dtype: 'float32' | 'float64' = 'float64'): [Tensor, Tensor] {
  const gen = new Generator(seed);
  return [randn([maxT, D], { generator: gen, dtype }), randn([maxT, D], { generator: gen, dtype })];
}

// x [...lead, T, D] (D even) in any layout, an offset and the number of table rows beyond it
const caseArb = (maxSize = 4) => fc.tuple(
  shapeArb({ maxDims: 2, maxSize: 3 }), fc.integer({ min: 1, max: maxSize }), fc.integer({ min: 1, max: 3 }),
  fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 2 }), fc.nat(),
).chain(([lead, T, half, offset, spare, seed]) => fc.tuple(
  tensorOfShapeArb([...lead, T, 2 * half]), fc.constant(offset), fc.constant(tables(offset + T + spare, 2 * half, seed)),
));

describe('rotary', () => {
  it('matches finite differences for any shape, layout and offset', () => {
    fc.assert(fc.property(caseArb(), ([x, offset, [c, s]]) => gradcheck((t) => rotary(t, c, s, offset), [x])), { numRuns: GRAD_RUNS });
  });

  it('has correct second derivatives (gradgradcheck)', () => {
    fc.assert(fc.property(caseArb(3), ([x, offset, [c, s]]) => gradgradcheck((t) => rotary(t, c, s, offset), [x])), { numRuns: GRADGRAD_RUNS });
  });

  it('with trainable tables takes the composite path and matches finite differences in x, cos and sin', () => {
    fc.assert(fc.property(caseArb(3), ([x, offset, [c, s]]) =>
      gradcheck((t, p, q) => rotary(t, p!, q!, offset), [x, c.setRequiresGrad(true), s.setRequiresGrad(true)])), { numRuns: 10 });
  });

  for (const dtype of ['float32', 'float64'] as const) {
    it(`equals x·cos + rotateHalf(x)·sin bit for bit, value and gradient, on a transposed [B, T, H, D] view (${dtype})`, () => {
      fc.assert(fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 0, max: 4 }), fc.nat(),
        (B, T, H, half, offset, seed) => {
          const D = 2 * half;
          const gen = new Generator(seed);
          const base = randn([B, T, H, D], { generator: gen, dtype, requiresGrad: true });
          const [c, s] = tables(offset + T, D, seed + 1, dtype);
          const x = base.transpose(1, 2); // [B, H, T, D], strided
          const fast = rotary(x, c, s, offset);
          const slow = reference(x, c, s, offset);
          expect(bits(fast)).toEqual(bits(slow));
          const go = randn([B, H, T, D], { generator: gen, dtype });
          const [gf] = grad(fast, [base], { gradOutputs: [go], retainGraph: true });
          const [gs] = grad(slow, [base], { gradOutputs: [go] });
          expect(bits(gf!)).toEqual(bits(gs!));
        }), { numRuns: 30 });
    });
  }

  it('lays the output out in the dims order of x: a rotated transposed view transposes back to contiguous', () => {
    const x = randn([2, 5, 3, 4], { generator: new Generator(1) }).transpose(1, 2); // [B, H, T, D]
    const [c, s] = tables(5, 4, 2, 'float32');
    const y = rotary(x, c, s);
    expect(y.transpose(1, 2).isContiguous()).toBe(true);
    expect(rotary(randn([3, 4], { generator: new Generator(3) }), c, s, 2).isContiguous()).toBe(true);
  });

  it('rejects an odd D, tables of another width or too few positions, and a bad offset', () => {
    const [c, s] = tables(4, 4, 1);
    const x = randn([2, 4], { generator: new Generator(0), dtype: 'float64' });
    expect(() => rotary(randn([2, 3], { generator: new Generator(0) }), c, s)).toThrow('rotary: expected x [..., T, D] with D even, got [2, 3]');
    expect(() => rotary(randn([2, 2], { generator: new Generator(0) }), c, s)).toThrow('rotary: cos [4, 4] and sin [4, 4] must both be [maxT, 2]');
    expect(() => rotary(x, c, s, 3)).toThrow('rotary: positions 3 to 4 are outside the tables of 4 positions');
    expect(() => rotary(x, c, s, -1)).toThrow(/rotary: positions -1/);
  });
});
