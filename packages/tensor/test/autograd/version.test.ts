// Version counters (issue 16, item 1): an in-place write to a tensor an op saved for its backward
// makes that backward throw, as PyTorch's "one of the variables needed for gradient computation
// has been modified by an inplace operation"; writes to tensors nothing saved stay allowed.

import { describe, expect, it } from 'vitest';
import {
  type Tensor, attention, crossEntropy, defineOp, grad, incrementVersion, noGrad, rmsNorm, rotary, swiglu, tensor,
} from '../../src/index.js';

const f64 = (data: number[] | number[][], requiresGrad = true) => tensor(data, { dtype: 'float64', requiresGrad });

// The message names the op, the saved tensor's shape, and the version now and then.
const modified = (op: string, shape: string, now: number, then: number) =>
  new RegExp(`modified by an in-place operation: the tensor of shape \\${shape.replace(']', '\\]')} saved by '${op}' is at version ${now}; expected version ${then}`);

describe('version counters', () => {
  it('each in-place method bumps the version by one, shared by views and detach(), under noGrad too', () => {
    const base = tensor([[1, 2], [3, 4]]);
    const view = base.transpose(0, 1).narrow(0, 1, 1);
    const detached = base.detach();
    expect(base.version).toBe(0);
    view.copy_(tensor([9, 9]));
    expect([base.version, view.version, detached.version]).toEqual([1, 1, 1]);
    detached.add_(1);
    detached.add_(tensor([1, 2])); // the broadcast path
    view.mul_(2);
    view.mul_(tensor([1, 2])); // the strided path
    noGrad(() => base.fill_(3));
    base.zero_();
    expect(base.version).toBe(7);
    expect(base.reshape([4]).version).toBe(7);
    expect(tensor([1, 2]).version).toBe(0); // another storage has its own counter
  });

  it('a mul whose saved operand is then multiplied in place refuses to backward (w.mul(x); x.mul_(10))', () => {
    const w = f64([1, 2, 3]);
    const x = f64([4, 5, 6], false);
    const y = w.mul(x);
    x.mul_(10);
    expect(() => y.sum().backward()).toThrow(modified('mul', '[3]', 1, 0));
    expect(w.grad).toBeNull();
  });

  it('noGrad(() => w.mul_(100)) between forward and backward throws when mul saved w', () => {
    const w = f64([1, 2, 3]);
    const x = f64([4, 5, 6]); // x requires grad, so mul saves w for x's gradient
    const y = w.mul(x);
    noGrad(() => w.mul_(100));
    expect(() => y.sum().backward()).toThrow(modified('mul', '[3]', 1, 0));
  });

  it('writing through y.detach() throws when an op saved y (exp saves its output)', () => {
    const x = f64([0, 1]);
    const y = x.exp();
    const z = y.mul(2); // a product with a constant saves the constant, not y: only exp saved y
    y.detach().fill_(0);
    expect(() => z.sum().backward()).toThrow(modified('exp', '[2]', 1, 0));
  });

  it('a write through a narrow view of a saved tensor throws as well', () => {
    const x = f64([[1, 2], [3, 4]]);
    const y = x.square();
    x.detach().narrow(1, 0, 1).zero_();
    expect(() => y.sum().backward()).toThrow(modified('square', '[2, 2]', 1, 0));
  });

  it('grad() checks the versions as backward does', () => {
    const x = f64([1, 2]);
    const y = x.log();
    x.detach().add_(1);
    expect(() => grad(y.sum(), x)).toThrow(modified('log', '[2]', 1, 0));
  });

  it('in-place writes to tensors no op saved leave the gradients exact: add saves nothing, mul saves only what the other gradient needs', () => {
    const w = f64([1, 2, 3]);
    const x = f64([4, 5, 6], false);
    const y = w.add(x).sum().add(w.mul(x).sum()); // mul saves x (for w's gradient), not w
    noGrad(() => w.mul_(100));
    y.backward();
    expect(w.grad!.toArray()).toEqual([5, 6, 7]); // 1 + x
  });

  it('normal training does not throw: backward, an in-place update under noGrad, then a fresh forward', () => {
    const w = f64([1, -1]);
    const x = f64([2, 3], false);
    const losses: number[] = [];
    for (let step = 0; step < 3; step++) {
      const loss = w.mul(x).sum().square();
      losses.push(loss.item());
      loss.backward();
      noGrad(() => w.add_(w.grad!, -0.01));
      w.grad = null;
    }
    // loss = (2w0 + 3w1)², d/dw = 2(2w0 + 3w1)·x; from s = −1: s ← s − 0.01·2s·(4 + 9) = 0.74·s
    expect(losses[0]).toBe(1);
    expect(losses[1]).toBeCloseTo(0.74 ** 2, 12);
    expect(losses[2]).toBeCloseTo(0.74 ** 4, 12);
  });

  it('incrementVersion (what optimizers call after writing a storage directly) invalidates what was saved', () => {
    const w = f64([1, 2]);
    const y = w.sin();
    incrementVersion(w);
    expect(w.version).toBe(1);
    expect(() => y.sum().backward()).toThrow(modified('sin', '[2]', 1, 0));
  });

  it('defineOp saves the inputs and the output by default, and only what `saved` lists when given', () => {
    const square = (saved?: Tensor[]) => defineOp('mySquare', (x: Tensor) => ({
      output: x.mul(x), backward: (g) => [g.mul(x).mul(2)], ...(saved ? { saved } : {}),
    }));
    const a = f64([3]);
    const ya = square()(a);
    a.detach().mul_(2);
    expect(() => ya.backward()).toThrow(modified('mySquare', '[1]', 1, 0));
    const b = f64([3]);
    const yb = square([])(b);
    b.detach().mul_(2);
    yb.backward();
    expect(b.grad!.item()).toBe(12); // the user opted out: the backward reads the new value
  });

  describe('fused ops record what their fast backward reads', () => {
    const gen = (shape: number[], seed: number) => {
      const n = shape.reduce((p, q) => p * q, 1);
      return tensor(Array.from({ length: n }, (_, i) => Math.sin(seed * 7.1 + i * 1.3)), { shape, requiresGrad: true });
    };
    const cases: Array<[string, string, () => [Tensor, () => void]]> = [
      ['softmax', '[2, 3]', () => { const y = gen([2, 3], 1).softmax(-1); return [y, () => y.detach().mul_(2)]; }],
      ['logSoftmax', '[2, 3]', () => { const y = gen([2, 3], 2).logSoftmax(-1); return [y, () => y.detach().add_(1)]; }],
      ['rmsNorm', '[3]', () => { const w = gen([3], 3); const y = rmsNorm(gen([2, 3], 4), w); return [y, () => noGrad(() => w.mul_(2))]; }],
      ['crossEntropy', '[2]', () => {
        const targets = tensor([0, 2], { dtype: 'int32' });
        const y = crossEntropy(gen([2, 3], 5), targets);
        return [y, () => targets.copy_(tensor([1, 1], { dtype: 'int32' }))];
      }],
      ['swiglu', '[2, 3]', () => { const up = gen([2, 3], 6); const y = swiglu(gen([2, 3], 7), up); return [y, () => noGrad(() => up.zero_())]; }],
      ['rotary', '[4, 2]', () => {
        const cos = tensor([[1, 1], [0.5, 0.5], [0, 0], [-1, -1]]);
        const sin = tensor([[0, 0], [0.5, 0.5], [1, 1], [0, 0]]);
        const y = rotary(gen([1, 3, 2], 8), cos, sin);
        return [y, () => sin.fill_(0)];
      }],
      ['attention', '[1, 3, 2]', () => {
        const v = gen([1, 3, 2], 11);
        const y = attention(gen([1, 2, 2], 9), gen([1, 3, 2], 10), v, { causal: true });
        return [y, () => noGrad(() => v.mul_(3))];
      }],
    ];
    for (const [op, shape, make] of cases) {
      it(`${op} throws when a saved tensor is written before backward, with or without createGraph`, () => {
        const [y, write] = make();
        write();
        expect(() => y.sum().backward()).toThrow(modified(op, shape, 1, 0));
        const [y2, write2] = make();
        write2();
        const leaf = y2.gradFn!.inputs[0]!;
        expect(() => grad(y2.sum(), leaf, { createGraph: true })).toThrow(modified(op, shape, 1, 0));
      });
    }
  });
});
