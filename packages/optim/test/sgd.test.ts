import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { SGD } from '../src/index.js';
import { expectBitEqual, param, quadratics, setGrad, setQuadraticGrad, values } from './helpers.js';

// PyTorch's single-tensor SGD written out in float64 (the test's own copy of the formula).
function sgdReference(
  x: number[], grads: number[][], { lr = 0.1, momentum = 0, dampening = 0, weightDecay = 0, nesterov = false, round = (v: number) => v } = {},
): number[] {
  const p = [...x];
  let buf: number[] | null = null;
  for (const g of grads) {
    const d = g.map((gi, i) => gi + weightDecay * p[i]!);
    if (momentum !== 0) {
      buf = buf === null ? d.map(round) : buf.map((b, i) => round(round(b * momentum) + (1 - dampening) * d[i]!));
      for (let i = 0; i < d.length; i++) d[i] = nesterov ? d[i]! + momentum * buf[i]! : buf[i]!;
    }
    for (let i = 0; i < p.length; i++) p[i] = round(p[i]! - lr * d[i]!);
  }
  return p;
}

const grads = [[1, -2, 0.5], [0.5, 1, -0.25], [-1, 0, 2], [0.1, 0.2, 0.3]];
const x0 = [1, 2, -3];

describe('SGD', () => {
  it('takes plain steps p −= lr·g', () => {
    const p = param([1, 2], 'float64');
    const opt = new SGD([p], { lr: 0.5 });
    setGrad(p, [2, -4]);
    opt.step();
    expect(values(p)).toEqual([0, 4]);
    expect(opt.stateDict().state).toEqual({});
  });

  const cases = [
    { momentum: 0.9 },
    { momentum: 0.9, dampening: 0.1 },
    { momentum: 0.9, nesterov: true },
    { momentum: 0.5, weightDecay: 0.1, nesterov: true },
    { weightDecay: 0.2 },
  ];
  for (const c of cases) {
    it(`follows PyTorch's formula step by step with ${JSON.stringify(c)}`, () => {
      for (const dtype of ['float64', 'float32'] as const) {
        const p = param(x0, dtype);
        const opt = new SGD([p], { lr: 0.1, ...c });
        for (const g of grads) {
          setGrad(p, g);
          opt.step();
        }
        const round = dtype === 'float32' ? Math.fround : (v: number) => v;
        expectBitEqual(values(p), sgdReference(x0, grads, { lr: 0.1, ...c, round }));
      }
    });
  }

  it('starts the momentum buffer at the first gradient (with weight decay added)', () => {
    const p = param([2], 'float64');
    const opt = new SGD([p], { lr: 0.1, momentum: 0.9, dampening: 0.5, weightDecay: 0.5 });
    setGrad(p, [1]);
    opt.step();
    expect(opt.stateDict().state['0']!.momentumBuffer).toEqual([2]);
    expect(values(p)).toEqual([2 - 0.1 * 2]);
  });

  it('rejects nesterov without momentum or with dampening', () => {
    expect(() => new SGD([param([1])], { lr: 0.1, nesterov: true })).toThrow(/nesterov momentum requires a momentum > 0 and zero dampening/);
    expect(() => new SGD([param([1])], { lr: 0.1, momentum: 0.9, dampening: 0.1, nesterov: true })).toThrow(/nesterov/);
    expect(() => new SGD([param([1])], { lr: 0.1, momentum: -1 })).toThrow(/invalid momentum in options: -1/);
  });

  for (const variant of [{ momentum: 0 }, { momentum: 0.9 }, { momentum: 0.9, nesterov: true }]) {
    it(`drives any convex quadratic to its minimum (${JSON.stringify(variant)})`, () => {
      fc.assert(fc.property(quadratics, ({ a, c, x0 }) => {
        const p = param(x0, 'float64');
        const opt = new SGD([p], { lr: 0.1, ...variant });
        for (let t = 0; t < 400; t++) {
          setQuadraticGrad(p, a, c);
          opt.step();
        }
        values(p).forEach((v, i) => expect(Math.abs(v - c[i]!)).toBeLessThan(1e-6));
      }), { numRuns: 25 });
    });
  }
});
