import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { tensor } from '@tsgrad/tensor';
import { AdamW, ConstantLr, CosineWithWarmup, LinearWarmup, SGD, WarmupThenDecay, cosineWithWarmupLr, warmupThenDecayLr } from '../src/index.js';
import reference from './fixtures/reference.json' with { type: 'json' };

const opts = (o: typeof reference.optimizer) => ({ maxLr: o.lr, warmupSteps: o.warmup, totalSteps: o.total, minLrRatio: o.min_lr_rate });
const param = () => tensor([1, 2, 3], { requiresGrad: true });

// schedules with warmup ≤ total, as the options allow
const schedules = fc.record({
  maxLr: fc.double({ min: 1e-6, max: 10, noNaN: true }),
  warmupSteps: fc.integer({ min: 0, max: 3000 }),
  decaySteps: fc.integer({ min: 1, max: 100_000 }),
  minLrRatio: fc.double({ min: 0, max: 1, noNaN: true }),
}).map(({ decaySteps, ...o }) => ({ ...o, totalSteps: o.warmupSteps + decaySteps }));

describe('cosineWithWarmupLr', () => {
  it('gives the lr of every step of the Hugging Face reference run within 1e-12', () => {
    for (const s of reference.steps) {
      expect(Math.abs(cosineWithWarmupLr(s.step, opts(reference.optimizer)) - s.lr)).toBeLessThanOrEqual(1e-12);
    }
  });

  it('writes HF formula in its order of operations, so the reference lrs are bit-for-bit equal', () => {
    for (const s of reference.steps) expect(cosineWithWarmupLr(s.step, opts(reference.optimizer))).toBe(s.lr);
  });

  it('matches the closed form: linear warmup from 0, cosine from maxLr to minLrRatio·maxLr', () => {
    const o = { maxLr: 3e-4, warmupSteps: 2000, totalSteps: 102_000, minLrRatio: 0.1 };
    expect(cosineWithWarmupLr(0, o)).toBe(0);
    expect(cosineWithWarmupLr(500, o)).toBeCloseTo(3e-4 * 0.25, 18);
    expect(cosineWithWarmupLr(2000, o)).toBeCloseTo(3e-4, 18);
    expect(cosineWithWarmupLr(52_000, o)).toBeCloseTo(3e-4 * (0.1 + 0.9 * 0.5), 18);
    const t = 27_000; // a quarter of the decay
    expect(cosineWithWarmupLr(t, o)).toBeCloseTo(3e-4 * (0.1 + 0.9 * 0.5 * (1 + Math.cos(Math.PI / 4))), 18);
    expect(cosineWithWarmupLr(102_000, o)).toBe(3e-4 * 0.1);
  });

  it('defaults minLrRatio to 0.1 and holds the floor after totalSteps', () => {
    const o = { maxLr: 1, warmupSteps: 10, totalSteps: 100 };
    expect(cosineWithWarmupLr(100, o)).toBe(0.1);
    expect(cosineWithWarmupLr(150, o)).toBe(0.1);
    expect(cosineWithWarmupLr(1e9, o)).toBe(0.1);
  });

  it('is continuous at the warmup boundary for any schedule', () => {
    fc.assert(fc.property(schedules, (o) => {
      fc.pre(o.warmupSteps > 0);
      const atBoundary = cosineWithWarmupLr(o.warmupSteps, o);
      expect(atBoundary).toBeCloseTo(o.maxLr, 12);
      const justBefore = cosineWithWarmupLr(o.warmupSteps - 1e-9, o);
      expect(Math.abs(justBefore - atBoundary)).toBeLessThanOrEqual(1e-8 * o.maxLr);
    }), { numRuns: 200 });
  });

  it('never increases after the warmup, for any schedule', () => {
    fc.assert(fc.property(schedules, fc.array(fc.double({ min: 0, max: 1.2, noNaN: true }), { minLength: 2, maxLength: 20 }), (o, fractions) => {
      const steps = fractions.map((f) => o.warmupSteps + Math.floor(f * (o.totalSteps - o.warmupSteps))).sort((a, b) => a - b);
      for (let i = 1; i < steps.length; i++) {
        expect(cosineWithWarmupLr(steps[i]!, o)).toBeLessThanOrEqual(cosineWithWarmupLr(steps[i - 1]!, o));
      }
    }), { numRuns: 200 });
  });

  it('ends at exactly minLrRatio·maxLr and stays there, for any schedule', () => {
    fc.assert(fc.property(schedules, fc.integer({ min: 0, max: 1000 }), (o, extra) => {
      expect(cosineWithWarmupLr(o.totalSteps, o)).toBe(o.maxLr * o.minLrRatio);
      expect(cosineWithWarmupLr(o.totalSteps + extra, o)).toBe(o.maxLr * o.minLrRatio);
    }), { numRuns: 200 });
  });

  it('rejects bad options, naming the option', () => {
    const ok = { maxLr: 1, warmupSteps: 2, totalSteps: 10, minLrRatio: 0.1 };
    expect(() => cosineWithWarmupLr(0, { ...ok, warmupSteps: 11 })).toThrow(/warmupSteps \(11\) must not exceed totalSteps \(10\)/);
    expect(() => cosineWithWarmupLr(0, { ...ok, warmupSteps: -1 })).toThrow(/warmupSteps/);
    expect(() => cosineWithWarmupLr(0, { ...ok, totalSteps: 0, warmupSteps: 0 })).toThrow(/totalSteps/);
    expect(() => cosineWithWarmupLr(0, { ...ok, minLrRatio: 1.5 })).toThrow(/minLrRatio/);
    expect(() => cosineWithWarmupLr(0, { ...ok, minLrRatio: -0.1 })).toThrow(/minLrRatio/);
    expect(() => cosineWithWarmupLr(0, { ...ok, maxLr: -1 })).toThrow(/maxLr/);
    expect(() => cosineWithWarmupLr(-1, ok)).toThrow(/step/);
  });
});

describe('CosineWithWarmup', () => {
  it('sets the lr of step 0 on construction and follows the reference run step by step', () => {
    const o = reference.optimizer;
    const opt = new AdamW([param()], { lr: o.lr, betas: o.betas, weightDecay: o.weight_decay });
    const sched = new CosineWithWarmup(opt, { warmupSteps: o.warmup, totalSteps: o.total, minLrRatio: o.min_lr_rate });
    for (const s of reference.steps) {
      expect(sched.lastLr).toBe(s.lr);
      expect(opt.paramGroups[0]!.lr).toBe(s.lr);
      opt.step();
      sched.step();
    }
    expect(sched.lastStep).toBe(o.total);
    expect(sched.lastLr).toBe(o.lr * o.min_lr_rate);
  });

  it('scales every group from its own initial lr', () => {
    const opt = new SGD([{ params: [param()], lr: 1 }, { params: [param()], lr: 0.5 }], { lr: 0.1 });
    const sched = new CosineWithWarmup(opt, { warmupSteps: 4, totalSteps: 10 });
    sched.step();
    expect(sched.getLastLr()).toEqual([0.25, 0.125]);
    expect(opt.paramGroups.map((g) => g.initialLr)).toEqual([1, 0.5]);
  });

  it('resumes from its state dict (through JSON) with the same lrs', () => {
    const run = (resumeAt: number | null) => {
      const opt = new SGD([param()], { lr: 2 });
      let sched = new CosineWithWarmup(opt, { warmupSteps: 3, totalSteps: 12, minLrRatio: 0.2 });
      const lrs: number[] = [];
      for (let t = 0; t < 15; t++) {
        if (t === resumeAt) {
          const saved = JSON.parse(JSON.stringify({ opt: opt.stateDict(), sched: sched.stateDict() }));
          const opt2 = new SGD([param()], { lr: 2 });
          opt2.loadStateDict(saved.opt);
          sched = new CosineWithWarmup(opt2, { warmupSteps: 3, totalSteps: 12, minLrRatio: 0.2 });
          sched.loadStateDict(saved.sched);
          expect(opt2.paramGroups[0]!.lr).toBe(opt.paramGroups[0]!.lr);
        }
        lrs.push(sched.lastLr);
        sched.step();
      }
      return lrs;
    };
    expect(run(5)).toEqual(run(null));
  });

  it('rejects bad options and mismatched state, naming what is wrong', () => {
    const opt = new SGD([param()], { lr: 1 });
    expect(() => new CosineWithWarmup(opt, { warmupSteps: 20, totalSteps: 10 })).toThrow(/CosineWithWarmup: warmupSteps \(20\) must not exceed totalSteps \(10\)/);
    expect(() => new CosineWithWarmup(opt, { warmupSteps: 0, totalSteps: 0 })).toThrow(/totalSteps must be an integer > 0/);
    expect(() => new CosineWithWarmup(opt, { warmupSteps: -2, totalSteps: 10 })).toThrow(/warmupSteps must be an integer ≥ 0/);
    expect(() => new CosineWithWarmup(opt, { warmupSteps: 2, totalSteps: 10, minLrRatio: 2 })).toThrow(/minLrRatio must be in \[0, 1\]/);
    const sched = new CosineWithWarmup(opt, { warmupSteps: 2, totalSteps: 10 });
    expect(() => sched.loadStateDict({ step: 3, baseLrs: [1, 2] })).toThrow(/2 base lrs but the optimizer has 1 param groups/);
    expect(() => sched.loadStateDict({ step: -1, baseLrs: [1] })).toThrow(/step must be an integer/);
  });
});

describe('LinearWarmup and ConstantLr', () => {
  it('LinearWarmup rises linearly from 0 and then holds the initial lr', () => {
    const opt = new SGD([param()], { lr: 0.8 });
    const sched = new LinearWarmup(opt, { warmupSteps: 4 });
    const lrs = [];
    for (let t = 0; t < 7; t++) {
      lrs.push(sched.lastLr);
      sched.step();
    }
    expect(lrs).toEqual([0, 0.2, 0.4, 0.6000000000000001, 0.8, 0.8, 0.8]);
    expect(() => new LinearWarmup(opt, { warmupSteps: 1.5 })).toThrow(/LinearWarmup: warmupSteps/);
  });

  it('ConstantLr keeps the initial lr', () => {
    const opt = new SGD([param()], { lr: 0.3 });
    const sched = new ConstantLr(opt);
    opt.paramGroups[0]!.lr = 99;
    sched.step();
    expect(sched.lastLr).toBe(0.3);
    expect(opt.paramGroups[0]!.lr).toBe(0.3);
  });
});

describe('WarmupThenDecay (Model Zoo\'s schedule)', () => {
  // warmup 0.1 → 1 over 4 steps, then decay 1 → 0.2 over 8 steps (steps 4..12), then 0.2
  const zoo = { initialLr: 0.1, maxLr: 1, endLr: 0.2, warmupSteps: 4, decaySteps: 8 };

  it('warmupThenDecayLr: linear warmup from initialLr, cosine from maxLr to endLr, then endLr (values worked by hand)', () => {
    expect(warmupThenDecayLr(0, zoo)).toBe(0.1);
    expect(warmupThenDecayLr(2, zoo)).toBeCloseTo(0.1 + 0.9 * 2 / 4, 15); // 0.55
    expect(warmupThenDecayLr(4, zoo)).toBe(1); // the cosine's top: 0.2 + 0.8·½(1 + cos 0)
    expect(warmupThenDecayLr(6, zoo)).toBeCloseTo(0.2 + 0.4 * (1 + Math.SQRT1_2), 15); // a quarter: 0.8828427...
    expect(warmupThenDecayLr(8, zoo)).toBeCloseTo(0.6, 15); // half way: cos(π/2) = 0
    expect(warmupThenDecayLr(12, zoo)).toBe(0.2);
    expect(warmupThenDecayLr(1000, zoo)).toBe(0.2);
  });

  it('warmupThenDecayLr: decay "linear" falls in a straight line from maxLr to endLr', () => {
    const linear = { ...zoo, decay: 'linear' as const };
    expect(warmupThenDecayLr(2, linear)).toBeCloseTo(0.55, 15); // the warmup is the same
    const expected: Array<[number, number]> = [[4, 1], [5, 0.9], [6, 0.8], [8, 0.6], [10, 0.4], [11, 0.3], [12, 0.2], [13, 0.2]];
    for (const [k, lr] of expected) expect(warmupThenDecayLr(k, linear), `step ${k}`).toBeCloseTo(lr, 15);
  });

  it('warmupThenDecayLr: without a decay holds maxLr after the warmup; without a warmup starts at maxLr', () => {
    expect(warmupThenDecayLr(4, { ...zoo, decaySteps: 0 })).toBe(1);
    expect(warmupThenDecayLr(500, { ...zoo, decaySteps: 0 })).toBe(1);
    expect(warmupThenDecayLr(0, { ...zoo, warmupSteps: 0 })).toBe(1);
    expect(warmupThenDecayLr(4, { ...zoo, warmupSteps: 0 })).toBeCloseTo(0.6, 15);
  });

  it('sets every group to the same absolute lr, initialLr at construction, the next step\'s lr after each step(), and resumes from its state', () => {
    const opt = new SGD([{ params: [param()] }, { params: [param()], lr: 7 }], { lr: 5 });
    const sched = new WarmupThenDecay(opt, zoo);
    const lrs: number[] = [];
    for (let k = 0; k < 14; k++) {
      expect(opt.paramGroups.map((g) => g.lr)).toEqual([sched.lastLr, sched.lastLr]);
      lrs.push(sched.lastLr);
      sched.step();
    }
    expect(lrs).toEqual(Array.from({ length: 14 }, (_, k) => warmupThenDecayLr(k, zoo)));
    expect(lrs[0]).toBe(0.1);
    expect(lrs[13]).toBe(0.2);
    const resumed = new WarmupThenDecay(new SGD([{ params: [param()] }, { params: [param()] }], { lr: 5 }), zoo);
    resumed.loadStateDict(JSON.parse(JSON.stringify({ ...sched.stateDict(), step: 6 })));
    expect(resumed.getLastLr()).toEqual([lrs[6], lrs[6]]);
  });

  it('rejects bad options, naming the option', () => {
    const opt = new SGD([param()], { lr: 1 });
    expect(() => new WarmupThenDecay(opt, { ...zoo, endLr: -1 })).toThrow(/WarmupThenDecay: endLr must be a finite number ≥ 0, got -1/);
    expect(() => new WarmupThenDecay(opt, { ...zoo, maxLr: NaN })).toThrow(/maxLr must be a finite number/);
    expect(() => new WarmupThenDecay(opt, { ...zoo, warmupSteps: 1.5 })).toThrow(/warmupSteps must be an integer ≥ 0/);
    expect(() => new WarmupThenDecay(opt, { ...zoo, decaySteps: -3 })).toThrow(/decaySteps must be an integer ≥ 0, got -3/);
    expect(() => new WarmupThenDecay(opt, { ...zoo, decay: 'exponential' as 'linear' })).toThrow(/decay must be 'cosine' or 'linear', got "exponential"/);
    expect(() => warmupThenDecayLr(-1, zoo)).toThrow(/warmupThenDecayLr: step must be a finite number ≥ 0/);
  });
});
