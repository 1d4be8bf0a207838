// Optimizers write parameters in place, so they bump their version (issue 16, item 1): a step
// between a forward and its backward makes the backward throw instead of using the new weights;
// a step after backward, followed by a fresh forward, is normal training and does not throw.

import { describe, expect, it } from 'vitest';
import { type Tensor, tensor } from '@tsgrad/tensor';
import { AdamW, SGD, clipGradNorm } from '../src/index.js';
import { param } from './helpers.js';

const makers: Array<[string, (p: Tensor) => { step(): void; zeroGrad(): void }]> = [
  ['AdamW', (p) => new AdamW([p], { lr: 0.1 })],
  ['SGD', (p) => new SGD([p], { lr: 0.1, momentum: 0.9 })],
];

describe('optimizer steps and version counters', () => {
  for (const [name, make] of makers) {
    it(`${name}.step() bumps each updated parameter's version by one`, () => {
      const w = param([1, 2]);
      const opt = make(w);
      w.mul(tensor([3, 4])).sum().backward();
      opt.step();
      expect(w.version).toBe(1);
    });

    it(`${name}.step() before the backward of a graph that saved the weights makes backward throw`, () => {
      const w = param([1, 2]);
      const x = param([3, 4]); // x requires grad, so mul saves w
      const opt = make(w);
      w.grad = tensor([1, 1]);
      const loss = w.mul(x).sum();
      opt.step();
      expect(() => loss.backward()).toThrow(/the tensor of shape \[2\] saved by 'mul' is at version 1; expected version 0/);
    });

    it(`${name}: backward, step, zeroGrad, then a fresh forward and backward run without error`, () => {
      const w = param([1, 2]);
      const x = param([3, 4]);
      const opt = make(w);
      for (let i = 0; i < 3; i++) {
        const current = Array.from(w.toTypedArray());
        const loss = w.mul(x).sum();
        expect(() => loss.backward()).not.toThrow();
        expect(Array.from(x.grad!.toTypedArray())).toEqual(current); // d/dx Σ w·x = w, the weights of this forward
        x.grad = null;
        opt.step();
        opt.zeroGrad();
      }
      expect(w.version).toBe(3);
    });
  }

  it('clipGradNorm scales the gradients in place and bumps their version', () => {
    const w = param([3, 4]);
    w.grad = tensor([3, 4]);
    clipGradNorm([w], 1);
    expect(w.grad.version).toBe(1);
    const [g0, g1] = Array.from(w.grad.toTypedArray());
    expect(g0).toBeCloseTo(0.6, 6);
    expect(g1).toBeCloseTo(0.8, 6);
  });
});
