import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Tensor, grad, gradcheck, gradgradcheck, randn, Generator, swiglu } from '../../src/index.js';
import { GRAD_RUNS, GRADGRAD_RUNS, broadcastPairArb, shapeArb, tensorOfShapeArb } from '../arbitraries.js';

const bits = (t: Tensor) => Array.from(t.toTypedArray());

// gate and up of one shape (any layouts)
const pairArb = (maxSize = 4) => shapeArb({ maxSize }).chain((s) => fc.tuple(tensorOfShapeArb(s), tensorOfShapeArb(s)));

describe('swiglu', () => {
  it('matches finite differences for any shape and layout', () => {
    fc.assert(fc.property(pairArb(), ([g, u]) => gradcheck(swiglu, [g, u])), { numRuns: GRAD_RUNS });
  });

  it('has correct second derivatives (gradgradcheck)', () => {
    fc.assert(fc.property(pairArb(3), ([g, u]) => gradgradcheck(swiglu, [g, u])), { numRuns: GRADGRAD_RUNS });
  });

  it('broadcasting operands take the composite path and still match finite differences', () => {
    fc.assert(fc.property(broadcastPairArb().chain(([a, b]) => fc.tuple(tensorOfShapeArb(a), tensorOfShapeArb(b))), ([g, u]) =>
      gradcheck(swiglu, [g, u])), { numRuns: GRAD_RUNS });
  });

  it('equals silu(gate)·up bit for bit in float32, and its gradients agree with the composite', () => {
    fc.assert(fc.property(shapeArb({ maxSize: 9 }), fc.nat(), (shape, seed) => {
      const gen = new Generator(seed);
      const gate = randn(shape, { generator: gen, requiresGrad: true }).mul(3).detach().setRequiresGrad(true);
      const up = randn(shape, { generator: gen, requiresGrad: true });
      const fast = swiglu(gate, up);
      const slow = gate.silu().mul(up);
      expect(bits(fast)).toEqual(bits(slow));
      const go = randn(shape, { generator: gen });
      const gf = grad(fast, [gate, up], { gradOutputs: [go] });
      const gs = grad(slow, [gate, up], { gradOutputs: [go] });
      gf.forEach((t, i) => bits(t).forEach((x, j) => expect(Math.abs(x - bits(gs[i]!)[j]!)).toBeLessThanOrEqual(1e-6 * (1 + Math.abs(x)))));
    }), { numRuns: 40 });
  });

  it('rejects int32 operands', () => {
    const x = randn([2], { generator: new Generator(1) });
    expect(() => swiglu(x.to('int32'), x)).toThrow(/swiglu: expected a float tensor/);
  });
});
