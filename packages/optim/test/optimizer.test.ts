import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { type Tensor, tensor } from '@tsgrad/tensor';
import { AdamW, CosineWithWarmup, type OptimizerStateDict, SGD, clipGradNorm } from '../src/index.js';
import { expectBitEqual, param, setGrad, values } from './helpers.js';

type MakeOpt = (ps: Tensor[]) => AdamW | SGD;
const makers: Array<[string, MakeOpt]> = [
  ['AdamW', (ps) => new AdamW([{ params: [ps[0]!] }, { params: ps.slice(1), weightDecay: 0 }], { lr: 0.01, betas: [0.9, 0.95], weightDecay: 0.1 })],
  ['SGD', (ps) => new SGD([{ params: [ps[0]!] }, { params: ps.slice(1), lr: 0.02 }], { lr: 0.01, momentum: 0.9, nesterov: true, weightDecay: 0.01 })],
];

// Runs `steps` steps of opt + schedule + clipping on deterministic pseudo-gradients; optionally saves
// everything through JSON at `resumeAt` and continues in fresh objects. Returns the parameter values.
function train(make: MakeOpt, init: number[][], steps: number, resumeAt: number | null, seed: number): number[][] {
  let ps = init.map((v) => param(v));
  let opt = make(ps);
  let sched = new CosineWithWarmup(opt, { warmupSteps: 2, totalSteps: steps });
  for (let t = 0; t < steps; t++) {
    if (t === resumeAt) {
      const saved = JSON.parse(JSON.stringify({ params: ps.map(values), opt: opt.stateDict(), sched: sched.stateDict() }));
      ps = (saved.params as number[][]).map((v) => param(v));
      opt = make(ps);
      opt.loadStateDict(saved.opt);
      sched = new CosineWithWarmup(opt, { warmupSteps: 2, totalSteps: steps });
      sched.loadStateDict(saved.sched);
    }
    ps.forEach((p, k) => {
      // parameter 2 has no gradient on odd steps, so per-parameter step counts differ
      if (k === 2 && t % 2 === 1) p.grad = null;
      else setGrad(p, values(p).map((x, i) => Math.sin(seed + 7 * t + 3 * k + i) + 0.5 * x));
    });
    clipGradNorm(ps, 1);
    opt.step();
    sched.step();
  }
  return ps.map(values);
}

const inits = fc.array(fc.array(fc.float({ min: -2, max: 2, noNaN: true, noDefaultInfinity: true }), { minLength: 1, maxLength: 5 }), { minLength: 3, maxLength: 3 });

describe('Optimizer state dicts', () => {
  for (const [name, make] of makers) {
    it(`${name}: saving and loading mid-run through JSON gives a bit-identical trajectory`, () => {
      fc.assert(fc.property(inits, fc.integer({ min: 1, max: 9 }), fc.integer(), (init, resumeAt, seed) => {
        const straight = train(make, init, 10, null, seed);
        const resumed = train(make, init, 10, resumeAt, seed);
        straight.forEach((v, i) => expectBitEqual(resumed[i]!, v));
      }), { numRuns: 30 });
    });
  }

  it('holds group hyperparameters, per-parameter state and shapes as plain data', () => {
    const a = param([1, 2, 3, 4], 'float32', [2, 2]);
    const b = param([5]);
    const opt = new AdamW([['a', a], ['b', b]], { lr: 0.1 });
    setGrad(a, [1, 1, 1, 1]);
    opt.step();
    const sd = opt.stateDict();
    expect(sd.optimizer).toBe('AdamW');
    expect(Object.keys(sd.state)).toEqual(['0']);
    expect(sd.paramGroups).toEqual([{ lr: 0.1, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01, params: [0, 1], paramShapes: [[2, 2], [1]], paramNames: ['a', 'b'] }]);
    expect(Array.isArray(sd.state['0']!.expAvg)).toBe(true);
  });

  it('stateDictTyped holds stateDict\'s values as typed copies (AdamW and SGD): equal data, arrays detached from the live state', () => {
    for (const [, make] of makers) {
      const ps = [param([1, -2, 3]), param([0.5, 4])];
      const opt = make(ps);
      setGrad(ps[0]!, [0.1, 0.2, -0.3]);
      setGrad(ps[1]!, [1e-3, -7]);
      opt.step();
      const typed = opt.stateDictTyped();
      const plain = opt.stateDict();
      const arrays = Object.values(typed.state).flatMap((s) => Object.values(s).filter((v) => ArrayBuffer.isView(v)));
      expect(arrays.length).toBe(opt instanceof AdamW ? 4 : 2);
      expect(arrays.every((a) => a instanceof Float32Array)).toBe(true);
      const asPlain = Object.fromEntries(Object.entries(typed.state).map(([k, s]) => [k, Object.fromEntries(Object.entries(s).map(([n, v]) => [n, ArrayBuffer.isView(v) ? Array.from(v) : v]))]));
      expect({ ...typed, state: asPlain }).toEqual(plain);
      setGrad(ps[0]!, [5, 5, 5]);
      setGrad(ps[1]!, [5, 5]);
      opt.step();
      expect(Array.from(arrays[0]!)).toEqual(Object.values(plain.state['0']!).find(Array.isArray));
    }
  });

  it('restores group hyperparameters and accepts typed arrays for the moments', () => {
    const a = param([1, 2]);
    const opt = new AdamW([a], { lr: 0.1 });
    const sd = opt.stateDict();
    sd.paramGroups[0]!.lr = 0.5;
    sd.state['0'] = { step: 3, expAvg: new Float32Array([1, 2]) as unknown as number[], expAvgSq: [3, 4] };
    opt.loadStateDict(sd);
    expect(opt.paramGroups[0]!.lr).toBe(0.5);
    expect(opt.stateDict().state['0']).toEqual({ step: 3, expAvg: [1, 2], expAvgSq: [3, 4] });
  });

  it('zeroGrad sets gradients to null, or zeroes them in place', () => {
    const a = param([1, 2]);
    const opt = new SGD([a], { lr: 0.1 });
    setGrad(a, [3, 4]);
    const g = a.grad!;
    opt.zeroGrad(false);
    expect(a.grad).toBe(g);
    expect(values(g)).toEqual([0, 0]);
    opt.zeroGrad();
    expect(a.grad).toBeNull();
  });
});

describe('Optimizer errors', () => {
  it('rejects bad options, naming the option', () => {
    const p = () => [param([1])];
    expect(() => new AdamW(p(), { lr: -1 })).toThrow(/AdamW: invalid lr in options: -1/);
    expect(() => new AdamW(p(), { lr: NaN })).toThrow(/invalid lr/);
    expect(() => new AdamW(p(), { lr: 0.1, betas: [1, 0.9] })).toThrow(/invalid betas\[0\] in options: 1 \(must be in \[0, 1\)\)/);
    expect(() => new AdamW(p(), { lr: 0.1, betas: [0.9, -0.1] })).toThrow(/invalid betas\[1\]/);
    expect(() => new AdamW(p(), { lr: 0.1, betas: [0.9] })).toThrow(/invalid betas in options: expected \[beta1, beta2\]/);
    expect(() => new AdamW(p(), { lr: 0.1, eps: -1e-8 })).toThrow(/invalid eps/);
    expect(() => new AdamW(p(), { lr: 0.1, weightDecay: -0.1 })).toThrow(/invalid weightDecay/);
    expect(() => new AdamW(p(), { lr: 0.1, nonFinite: 'warn' as 'skip' })).toThrow(/invalid nonFinite/);
    expect(() => new AdamW(p(), { lr: 0.1, weight_decay: 0.1 } as never)).toThrow(/unknown option 'weight_decay'/);
    expect(() => new AdamW([{ params: p(), lr: -2 }], { lr: 0.1 })).toThrow(/invalid lr in param group 0: -2/);
    expect(() => new AdamW([{ params: p(), momentum: 0.9 } as never], { lr: 0.1 })).toThrow(/unknown option 'momentum' in param group 0/);
    expect(() => new SGD(p(), { lr: -0.1 })).toThrow(/SGD: invalid lr/);
    const opt = new AdamW(p(), { lr: 0.1 });
    opt.paramGroups[0]!.lr = -1;
    expect(() => opt.step()).toThrow(/invalid lr in param group 0/);
  });

  it('rejects a non-contiguous, non-leaf, int32 or non-tensor parameter', () => {
    const base = param([1, 2, 3, 4], 'float32', [2, 2]);
    expect(() => new AdamW([base.detach().transpose(0, 1)], { lr: 0.1 })).toThrow(/AdamW: parameter 0 of param group 0 is not contiguous/);
    expect(() => new AdamW([base.mul(2)], { lr: 0.1 })).toThrow(/is not a leaf tensor/);
    expect(() => new AdamW([tensor([1], { dtype: 'int32' })], { lr: 0.1 })).toThrow(/is int32/);
    expect(() => new AdamW([5] as never, { lr: 0.1 })).toThrow(/parameter 0 of param group 0 is not a Tensor/);
    expect(() => new AdamW([[1, 2]] as never, { lr: 0.1 })).toThrow(/a named parameter must be a \[string, Tensor\] pair/);
    expect(() => new AdamW([], { lr: 0.1 })).toThrow(/empty parameter list/);
    expect(() => new AdamW(base as never, { lr: 0.1 })).toThrow(/params must be an iterable/);
  });

  it('rejects a parameter given twice, in one group or in two', () => {
    const a = param([1]);
    const b = param([2]);
    expect(() => new AdamW([a, b, a], { lr: 0.1 })).toThrow(/parameter 2 of param group 0 appears more than once/);
    expect(() => new SGD([{ params: [a] }, { params: [b, a] }], { lr: 0.1 })).toThrow(/parameter 1 of param group 1 appears more than once/);
    const opt = new SGD([a], { lr: 0.1 });
    expect(() => opt.addParamGroup({ params: [['a', a]] })).toThrow(/parameter 0 \('a'\) of param group 1 appears more than once/);
    expect(() => new SGD([['a', a], b] as never, { lr: 0.1 })).toThrow(/mixes named/);
  });

  it('rejects a gradient whose shape differs from its parameter', () => {
    const a = param([1, 2]);
    const opt = new SGD([a], { lr: 0.1 });
    a.grad = tensor([1, 2, 3]);
    expect(() => opt.step()).toThrow(/the gradient of parameter 0 of param group 0 has shape \[3\] but the parameter has shape \[2\]/);
  });

  it('rejects a mismatched state dict, saying what differs, and keeps its own state', () => {
    const make = () => {
      const ps = [param([1, 2]), param([3, 4, 5, 6], 'float32', [2, 2])];
      const opt = new AdamW([{ params: [ps[0]!] }, { params: [ps[1]!] }], { lr: 0.1 });
      ps.forEach((p) => setGrad(p, values(p)));
      opt.step();
      return opt;
    };
    const good = (): OptimizerStateDict => JSON.parse(JSON.stringify(make().stateDict()));
    const opt = make();
    const before = JSON.stringify(opt.stateDict());

    const oneGroup = good();
    oneGroup.paramGroups.pop();
    expect(() => opt.loadStateDict(oneGroup)).toThrow(/the state dict has 1 param groups but the optimizer has 2/);

    const moreParams = good();
    moreParams.paramGroups[1]!.params.push(7);
    expect(() => opt.loadStateDict(moreParams)).toThrow(/param group 1 has 2 parameters in the state dict but 1 in the optimizer/);

    const otherShape = good();
    otherShape.paramGroups[1]!.paramShapes = [[4]];
    expect(() => opt.loadStateDict(otherShape)).toThrow(/parameter 0 of param group 1 has shape \[4\] in the state dict but \[2, 2\] in the optimizer/);

    const shortMoment = good();
    (shortMoment.state['1']!.expAvg as number[]).pop();
    expect(() => opt.loadStateDict(shortMoment)).toThrow(/parameter 0 of param group 1: state 'expAvg' has 3 elements but the parameter has 4/);

    const badStep = good();
    badStep.state['0']!.step = 1.5;
    expect(() => opt.loadStateDict(badStep)).toThrow(/state 'step' must be a non-negative integer/);

    const badHyper = good();
    badHyper.paramGroups[0]!.betas = [0.9, 1];
    expect(() => opt.loadStateDict(badHyper)).toThrow(/invalid betas\[1\] in param group 0 of the state dict/);

    const named = new AdamW([['q', param([1, 2])], ['k', param([3, 4])]], { lr: 0.1 });
    const swapped = new AdamW([['k', param([1, 2])], ['q', param([3, 4])]], { lr: 0.1 }).stateDict();
    expect(() => named.loadStateDict(swapped)).toThrow(/parameter 0 \('q'\) of param group 0 is named 'k' in the state dict/);

    const sgd = new SGD([param([1, 2])], { lr: 0.1 }).stateDict();
    expect(() => opt.loadStateDict(sgd)).toThrow(/the state dict was written by "SGD", not AdamW/);

    expect(JSON.stringify(opt.stateDict())).toBe(before);
  });
});
