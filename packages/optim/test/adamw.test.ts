import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { type DType, tensor } from '@tsgrad/tensor';
import { AdamW, CosineWithWarmup } from '../src/index.js';
import { expectBitEqual, expectF32Close, param, quadratics, setGrad, setQuadraticGrad, values } from './helpers.js';

// PyTorch's single-tensor AdamW written out in float64 (the test's own copy of the formula).
// `round` rounds what PyTorch writes in place (p, m, v) to the parameter's dtype.
function adamwReference(
  x: number[], grads: Array<number[] | null>, lrs: number[],
  { betas = [0.9, 0.999], eps = 1e-8, weightDecay = 0.01, round = (v: number) => v } = {},
): number[] {
  const [b1, b2] = betas as [number, number];
  const p = [...x];
  const m = x.map(() => 0);
  const v = x.map(() => 0);
  let step = 0;
  grads.forEach((g, t) => {
    if (g === null) return;
    const lr = lrs[t]!;
    step += 1;
    for (let i = 0; i < p.length; i++) {
      p[i] = round(p[i]! * (1 - lr * weightDecay));
      m[i] = round(m[i]! + (1 - b1) * (g[i]! - m[i]!));
      v[i] = round(round(b2 * v[i]!) + (1 - b2) * g[i]! * g[i]!);
      const denom = Math.sqrt(v[i]!) / Math.sqrt(1 - b2 ** step) + eps;
      p[i] = round(p[i]! - (lr / (1 - b1 ** step)) * m[i]! / denom);
    }
  });
  return p;
}

const grads4 = [[0.5, -1, 2e-3, 0], [0.25, -0.75, 1e-3, 3], [-1, 0.5, -4e-3, 1e-6], [2, 0, 1e-3, -2]];

describe('AdamW', () => {
  it("takes PyTorch's first step on a scalar: decay, moments, bias correction", () => {
    const p = param([1], 'float64');
    const opt = new AdamW([p], { lr: 0.1 });
    setGrad(p, [0.5]);
    opt.step();
    // p = 1·(1 − 0.1·0.01) = 0.999; m = 0.05, v = 0.00025; m̂ = 0.5, √v̂ = 0.5
    // p = 0.999 − 0.1 · 0.5 / (0.5 + 1e-8)
    expect(values(p)[0]).toBeCloseTo(0.999 - 0.1 * 0.5 / (0.5 + 1e-8), 15);
    expect(values(p)[0]).toBeCloseTo(0.899000002, 9);
    const s = opt.stateDict().state['0']!;
    expect(s.step).toBe(1);
    expect((s.expAvg as number[])[0]).toBeCloseTo(0.05, 16);
    expect((s.expAvgSq as number[])[0]).toBeCloseTo(0.00025, 18);
  });

  for (const dtype of ['float64', 'float32'] as DType[]) {
    it(`follows the formula step by step from a first step with lr 0 (${dtype})`, () => {
      const x0 = [0.3, -1.2, 5, 0.01];
      const lrs = [0, 0.01, 0.02, 0.005];
      const p = param(x0, dtype);
      const opt = new AdamW([p], { lr: 0.02, betas: [0.9, 0.95], weightDecay: 0.1 });
      for (let t = 0; t < 4; t++) {
        opt.paramGroups[0]!.lr = lrs[t]!;
        setGrad(p, grads4[t]!);
        opt.step();
      }
      const opts = { betas: [0.9, 0.95], weightDecay: 0.1 };
      if (dtype === 'float64') {
        const expected = adamwReference(x0, grads4, lrs, opts);
        values(p).forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 15));
      } else {
        expectF32Close(values(p), adamwReference(x0, grads4, lrs, opts));
        // with PyTorch's in-place writes rounded to float32 the match is exact
        expectBitEqual(values(p), adamwReference(x0, grads4, lrs, { ...opts, round: Math.fround }));
      }
    });
  }

  it('updates the moments on a step whose lr is 0, leaving the parameter unchanged', () => {
    const p = param([1, 2], 'float64');
    const opt = new AdamW([p], { lr: 0.01, betas: [0.9, 0.95], weightDecay: 0.1 });
    const sched = new CosineWithWarmup(opt, { warmupSteps: 2, totalSteps: 6 });
    expect(sched.lastLr).toBe(0);
    setGrad(p, [0.5, -2]);
    opt.step();
    expect(values(p)).toEqual([1, 2]);
    const s = opt.stateDict().state['0']!;
    expect(s.step).toBe(1);
    // m = lerp(0, g, 1 − β1), v = β2·0 + (1 − β2)·g·g, in float64 as written
    expect(s.expAvg).toEqual([(1 - 0.9) * 0.5, (1 - 0.9) * -2]);
    expect(s.expAvgSq).toEqual([(1 - 0.95) * 0.5 * 0.5, (1 - 0.95) * -2 * -2]);
    // the next step uses bias corrections for step 2 and the moments of both steps
    sched.step();
    setGrad(p, [0.25, 1]);
    opt.step();
    const expected = adamwReference([1, 2], [[0.5, -2], [0.25, 1]], [0, 0.005], { betas: [0.9, 0.95], weightDecay: 0.1 });
    values(p).forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 15));
  });

  it('decays a parameter whose gradient is zero (decoupled weight decay)', () => {
    const p = param([2, -4]);
    const opt = new AdamW([p], { lr: 0.5, weightDecay: 0.1 });
    setGrad(p, [0, 0]);
    opt.step();
    expect(values(p)).toEqual([Math.fround(2 * 0.95), Math.fround(-4 * 0.95)]);
  });

  it('skips parameters without a gradient; bias correction counts each parameter\'s own steps', () => {
    const a = param([1, 1], 'float64');
    const b = param([1, 1], 'float64');
    const opt = new AdamW([a, b], { lr: 0.1 });
    const ga = [[1, 2], [3, 4], [5, 6]];
    for (let t = 0; t < 3; t++) {
      setGrad(a, ga[t]!);
      if (t === 2) setGrad(b, [1, -1]);
      opt.step();
      if (t < 2) expect(values(b)).toEqual([1, 1]);
    }
    const sd = opt.stateDict();
    expect(sd.state['0']!.step).toBe(3);
    expect(sd.state['1']!.step).toBe(1);
    const expectedB = adamwReference([1, 1], [[1, -1]], [0.1]);
    values(b).forEach((v, i) => expect(v).toBeCloseTo(expectedB[i]!, 15));
    const expectedA = adamwReference([1, 1], ga, [0.1, 0.1, 0.1]);
    values(a).forEach((v, i) => expect(v).toBeCloseTo(expectedA[i]!, 15));
  });

  it('applies each group\'s own weight decay, so norms and biases can be left out', () => {
    const w = param([1, 1]);
    const bias = param([1]);
    const opt = new AdamW([{ params: [['w', w]] }, { params: [['bias', bias]], weightDecay: 0 }], { lr: 0.1, weightDecay: 0.5 });
    setGrad(w, [0, 0]);
    setGrad(bias, [0]);
    opt.step();
    expect(values(w)).toEqual([0.949999988079071, 0.949999988079071]);
    expect(values(bias)).toEqual([1]);
    expect(opt.paramGroups.map((g) => g.weightDecay)).toEqual([0.5, 0]);
    expect(opt.paramGroups[0]!.paramNames).toEqual(['w']);
  });

  it('throws on a non-finite gradient naming the parameter, before changing anything', () => {
    const a = param([1, 2]);
    const b = param([3, 4]);
    const opt = new AdamW([['layer.weight', a], ['layer.bias', b]], { lr: 0.1 });
    setGrad(a, [1, 1]);
    setGrad(b, [1, NaN]);
    expect(() => opt.step()).toThrow(/AdamW\.step: the gradient of parameter 1 \('layer\.bias'\) of param group 0 is not finite \(NaN at element 1\)/);
    expect(values(a)).toEqual([1, 2]);
    expect(opt.stateDict().state).toEqual({});
    const c = param([1]);
    const unnamed = new AdamW([c], { lr: 0.1 });
    setGrad(c, [-Infinity]);
    expect(() => unnamed.step()).toThrow(/parameter 0 of param group 0 is not finite \(-Infinity at element 0\)/);
  });

  it("skips the whole step on a non-finite gradient with nonFinite: 'skip', and counts it", () => {
    const a = param([1, 2]);
    const b = param([3, 4]);
    const opt = new AdamW([a, b], { lr: 0.1, nonFinite: 'skip' });
    setGrad(a, [1, 1]);
    setGrad(b, [Infinity, 0]);
    opt.step();
    expect(values(a)).toEqual([1, 2]);
    expect(opt.skippedSteps).toBe(1);
    expect(opt.stateDict().state).toEqual({});
    setGrad(b, [1, 0]);
    opt.step();
    expect(values(a)).not.toEqual([1, 2]);
    expect(opt.stateDict().state['0']!.step).toBe(1);
    expect(opt.stateDict().skippedSteps).toBe(1);
  });

  it('reads a non-contiguous gradient through a copy', () => {
    const p = param([1, 2, 3, 4, 5, 6], 'float64', [2, 3]);
    const q = param([1, 2, 3, 4, 5, 6], 'float64', [2, 3]);
    const g = tensor([[1, 4], [2, 5], [3, 6]], { dtype: 'float64' });
    p.grad = g.transpose(0, 1);
    expect(p.grad.isContiguous()).toBe(false);
    setGrad(q, [1, 2, 3, 4, 5, 6]);
    const o1 = new AdamW([p], { lr: 0.1 });
    const o2 = new AdamW([q], { lr: 0.1 });
    o1.step();
    o2.step();
    expectBitEqual(values(p), values(q));
  });

  it('runs with gradients from backward()', () => {
    const x = param([3, -1], 'float64');
    const c = tensor([1, 1], { dtype: 'float64' });
    const opt = new AdamW([x], { lr: 0.1, weightDecay: 0 });
    for (let t = 0; t < 300; t++) {
      opt.zeroGrad();
      x.sub(c).square().sum().backward();
      opt.step();
    }
    values(x).forEach((v) => expect(v).toBeCloseTo(1, 2));
  });

  it('drives any convex quadratic to its minimum', () => {
    fc.assert(fc.property(quadratics, ({ a, c, x0 }) => {
      const p = param(x0, 'float64');
      const opt = new AdamW([p], { lr: 0.1, weightDecay: 0 });
      const sched = new CosineWithWarmup(opt, { warmupSteps: 10, totalSteps: 800, minLrRatio: 0 });
      for (let t = 0; t < 800; t++) {
        setQuadraticGrad(p, a, c);
        opt.step();
        sched.step();
      }
      values(p).forEach((v, i) => expect(Math.abs(v - c[i]!)).toBeLessThan(1e-6));
    }), { numRuns: 25 });
  });
});
