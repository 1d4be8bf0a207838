// AdamW's float32 update in wasm (adamwStepWasm from @tsgrad/tensor) against its reference, the js
// loop of src/adamw.ts: the same steps under setBackend('wasm') and setBackend('js') must leave
// parameters and moments equal bit for bit (the wasm kernel computes in float64 as the loop does).

import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { type Backend, type Tensor, getBackend, setBackend, tensor } from '@tsgrad/tensor';
import { AdamW } from '../src/index.js';

// deterministic values in [−scale, scale)
function seeded(n: number, seed: number, scale: number): number[] {
  const out: number[] = [];
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    out.push(((s / 2 ** 32) * 2 - 1) * scale);
  }
  return out;
}

interface Case { n: number; viewOffset: number; steps: number; lr: number; beta1: number; beta2: number; eps: number; weightDecay: number; seed: number; gradScale: number }

// Runs `steps` AdamW steps on a float32 parameter of n elements (a view at viewOffset into a
// bigger leaf when viewOffset > 0, so p.offset is not 0) under one backend; returns p, m and v.
function train(backend: Backend, c: Case): { p: number[]; m: number[]; v: number[] } {
  setBackend(backend);
  const base = tensor(seeded(c.viewOffset + c.n, c.seed, 1), { dtype: 'float32' });
  const p: Tensor = c.viewOffset > 0 ? base.slice(0, c.viewOffset, c.viewOffset + c.n).detach().setRequiresGrad(true) : base.setRequiresGrad(true);
  const opt = new AdamW([p], { lr: c.lr, betas: [c.beta1, c.beta2], eps: c.eps, weightDecay: c.weightDecay });
  for (let t = 0; t < c.steps; t++) {
    p.grad = tensor(seeded(c.n, c.seed + 7 * (t + 1), c.gradScale), { dtype: 'float32' });
    opt.step();
  }
  const s = opt.stateDict().state['0']! as { expAvg: number[]; expAvgSq: number[] };
  return { p: Array.from(p.toTypedArray()), m: s.expAvg, v: s.expAvgSq };
}

describe('AdamW float32 update in wasm', () => {
  const before = getBackend();
  afterAll(() => setBackend(before));

  it('leaves parameters and moments equal bit for bit to the js loop (odd sizes, offsets, across staging blocks, any hyperparameters)', () => {
    const arb = fc.record({
      n: fc.oneof(fc.integer({ min: 1, max: 300 }), fc.constantFrom(16383, 16385, 33000)),
      viewOffset: fc.constantFrom(0, 0, 3),
      steps: fc.integer({ min: 1, max: 3 }),
      lr: fc.constantFrom(1e-3, 0.1, 3e-4),
      beta1: fc.constantFrom(0.9, 0.5, 0.8, 0.3), // 0.3: weight 0.7, torch.lerp's other form (the js loop runs)
      beta2: fc.constantFrom(0.999, 0.95, 0),
      eps: fc.constantFrom(1e-8, 1e-6),
      weightDecay: fc.constantFrom(0, 0.01, 0.1),
      seed: fc.integer({ min: 1, max: 2 ** 30 }),
      gradScale: fc.constantFrom(1e-4, 1, 30),
    });
    fc.assert(fc.property(arb, (c) => {
      const js = train('js', c), wasm = train('wasm', c);
      expect(wasm.p).toEqual(js.p);
      expect(wasm.m).toEqual(js.m);
      expect(wasm.v).toEqual(js.v);
    }), { numRuns: 60 });
  });
});
