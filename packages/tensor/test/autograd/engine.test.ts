import { describe, expect, it } from 'vitest';
import { type Tensor, grad, isGradEnabled, noGrad, tensor, toDot } from '../../src/index.js';

const f64 = (data: number | number[] | number[][], requiresGrad = true) => tensor(data, { dtype: 'float64', requiresGrad });

describe('backward', () => {
  it('a 10,000-op chain backward does not overflow the stack', () => {
    const x = f64(1);
    let y: Tensor = x;
    for (let i = 0; i < 10_000; i++) y = y.mul(1.0001);
    y.backward();
    expect(x.grad!.item()).toBeCloseTo(1.0001 ** 10_000, 8);
  });

  it('grad with createGraph through a 10,000-op chain does not overflow the stack either', () => {
    const x = f64(0.5);
    let y: Tensor = x;
    for (let i = 0; i < 10_000; i++) y = y.add(0.0001);
    const [g] = grad(y.square(), x, { createGraph: true });
    const [h] = grad(g!, x);
    expect(g!.item()).toBeCloseTo(2 * 1.5, 8);
    expect(h!.item()).toBeCloseTo(2, 12);
  });

  it('gradients accumulate when a tensor is used several times: d/dx (x·x + x) = 2x + 1', () => {
    const x = f64([1, -2, 3]);
    x.mul(x).add(x).sum().backward();
    expect(x.grad!.toArray()).toEqual([3, -3, 7]);
  });

  it('a diamond graph sums the gradients of both paths', () => {
    const x = f64(2);
    const a = x.exp();
    const b = a.mul(3);
    const c = a.square();
    b.add(c).backward();
    // d/dx (3eˣ + e²ˣ) = 3eˣ + 2e²ˣ
    expect(x.grad!.item()).toBeCloseTo(3 * Math.exp(2) + 2 * Math.exp(4), 10);
  });

  it('.grad accumulates across two backward calls', () => {
    const x = f64([1, 2]);
    x.mul(3).sum().backward();
    x.square().sum().backward();
    expect(x.grad!.toArray()).toEqual([3 + 2, 3 + 4]);
  });

  it('retainGraph allows a second backward through the same graph', () => {
    const x = f64([1, 2]);
    const y = x.square().sum();
    y.backward(undefined, { retainGraph: true });
    y.backward();
    expect(x.grad!.toArray()).toEqual([4, 8]);
  });

  it('without retainGraph a second backward throws a clear error naming the freed op', () => {
    const x = f64([1, 2]);
    const y = x.mul(x).sum();
    y.backward();
    expect(() => y.backward()).toThrow("backward: trying to backward through the graph a second time (through 'sum'); its buffers were freed after the first backward — pass { retainGraph: true } to the first call");
    expect(() => grad(y, x)).toThrow(/^grad: trying to backward through the graph a second time/);
  });

  it('a second backward through a freed shared subgraph also throws', () => {
    const x = f64([1, 2]);
    const h = x.exp();
    h.sum().backward();
    expect(() => h.mul(2).sum().backward()).toThrow(/through 'exp'/);
  });

  it('backward of a non-scalar needs a gradient of its shape, and says so without one', () => {
    const x = f64([1, 2, 3]);
    const y = x.mul(2);
    expect(() => y.backward()).toThrow('backward: output 0 has shape [3]; a gradient can be created implicitly only for scalar outputs (pass gradOutputs)');
    expect(() => y.backward(f64([1, 1], false))).toThrow('backward: gradOutputs[0] has shape [2] but output 0 has shape [3]');
    y.backward(f64([1, 10, 100], false));
    expect(x.grad!.toArray()).toEqual([2, 20, 200]);
  });

  it('backward of a tensor that does not require grad throws', () => {
    expect(() => f64(1, false).exp().backward()).toThrow('backward: output 0 does not require grad (no input it depends on requires grad)');
  });

  it('backward fills .grad of leaves only, as a contiguous tensor of the leaf\'s dtype and shape', () => {
    const x = tensor([[1, 2, 3]], { requiresGrad: true });
    const h = x.to('float64').expand(2, 3);
    h.sum().backward();
    expect(h.grad).toBeNull();
    expect(x.grad!.dtype).toBe('float32');
    expect(x.grad!.shape).toEqual([1, 3]);
    expect(x.grad!.isContiguous()).toBe(true);
    expect(x.grad!.toArray()).toEqual([[2, 2, 2]]);
  });

  it('.grad of a leaf does not alias the gradient that flowed through add', () => {
    const x = f64([1, 2]);
    const g = f64([5, 6], false);
    x.add(1).backward(g);
    expect(x.grad!.storage).not.toBe(g.storage);
  });
});

describe('grad modes and leaves', () => {
  it('noGrad records nothing and restores recording afterwards, even after a throw', () => {
    const x = f64([1, 2]);
    const y = noGrad(() => {
      expect(isGradEnabled()).toBe(false);
      return x.mul(2).exp();
    });
    expect(y.requiresGrad).toBe(false);
    expect(y.gradFn).toBeNull();
    expect(isGradEnabled()).toBe(true);
    expect(() => noGrad(() => { throw new Error('boom'); })).toThrow('boom');
    expect(isGradEnabled()).toBe(true);
    expect(x.mul(2).requiresGrad).toBe(true);
  });

  it('detach shares storage but cuts the graph', () => {
    const x = f64([1, 2]);
    const d = x.mul(3).detach();
    expect(d.requiresGrad).toBe(false);
    expect(d.gradFn).toBeNull();
    const y = x.detach();
    expect(y.storage).toBe(x.storage);
    // gradient flows only through the attached path
    x.mul(x.detach()).sum().backward();
    expect(x.grad!.toArray()).toEqual([1, 2]);
  });

  it('setRequiresGrad marks a leaf and returns it; int32 tensors and non-leaves refuse', () => {
    const x = tensor([1, 2], { dtype: 'float64' });
    expect(x.setRequiresGrad()).toBe(x);
    expect(x.requiresGrad).toBe(true);
    expect(x.isLeaf).toBe(true);
    expect(x.setRequiresGrad(false).requiresGrad).toBe(false);
    expect(() => tensor([1], { dtype: 'int32' }).setRequiresGrad(true)).toThrow('setRequiresGrad: only float tensors can require grad, got int32');
    expect(() => f64([1]).exp().setRequiresGrad(false)).toThrow(/^setRequiresGrad: cannot clear requiresGrad on a non-leaf tensor/);
    expect(() => tensor([1], { dtype: 'int32', requiresGrad: true })).toThrow(/only float tensors can require grad/);
  });

  it('ops on tensors that do not require grad record nothing', () => {
    const y = f64([1], false).exp().mul(2);
    expect(y.gradFn).toBeNull();
    expect(y.requiresGrad).toBe(false);
  });
});

describe('grad', () => {
  it('createGraph gives second derivatives: d²/dx² x³ = 6x', () => {
    const x = f64([0.5, -2, 3]);
    const [g] = grad(x.pow(3).sum(), x, { createGraph: true });
    expect(g!.toArray()).toEqual([0.75, 12, 27]);
    expect(g!.requiresGrad).toBe(true);
    const [h] = grad(g!.sum(), x);
    h!.toArray().forEach((v: number, i: number) => expect(v).toBeCloseTo(6 * [0.5, -2, 3][i]!, 12));
  });

  it('a Hessian-vector product matches the closed form for f(x) = (x·x)²', () => {
    // ∇f = 4(x·x)x, H = 4(x·x)I + 8xxᵀ, so Hv = 4(x·x)v + 8x(x·v)
    const xs = [0.3, -1.2, 0.7];
    const vs = [1, 0.5, -2];
    const x = f64(xs);
    const v = f64(vs, false);
    const [g] = grad(x.mul(x).sum().square(), x, { createGraph: true });
    const [hv] = grad(g!.mul(v).sum(), x);
    const xx = xs.reduce((a, b) => a + b * b, 0);
    const xv = xs.reduce((a, b, i) => a + b * vs[i]!, 0);
    hv!.toArray().forEach((val: number, i: number) => expect(val).toBeCloseTo(4 * xx * vs[i]! + 8 * xs[i]! * xv, 12));
  });

  it('backward with createGraph leaves a differentiable .grad', () => {
    const x = f64(2);
    x.pow(3).backward(undefined, { createGraph: true });
    expect(x.grad!.item()).toBe(12);
    const [h] = grad(x.grad!, x);
    expect(h!.item()).toBeCloseTo(12, 12);
  });

  it('grad returns gradients instead of accumulating into .grad', () => {
    const x = f64([1, 2]);
    const [g] = grad(x.square().sum(), [x]);
    expect(g!.toArray()).toEqual([2, 4]);
    expect(x.grad).toBeNull();
  });

  it('gradOutputs weight non-scalar outputs; without them grad says a scalar is needed', () => {
    const x = f64([1, 2, 3]);
    const y = x.square();
    expect(() => grad(y, x)).toThrow('grad: output 0 has shape [3]; a gradient can be created implicitly only for scalar outputs (pass gradOutputs)');
    const [g] = grad(y, x, { gradOutputs: [f64([1, 0, -1], false)] });
    expect(g!.toArray()).toEqual([2, 0, -6]);
  });

  it('several outputs sum their contributions', () => {
    const x = f64([1, 2]);
    const [g] = grad([x.sum(), x.square().sum()], x);
    expect(g!.toArray()).toEqual([3, 5]);
  });

  it('grad with respect to a non-leaf intermediate', () => {
    const x = f64([1, 2]);
    const h = x.mul(3);
    const y = h.square().sum();
    const [gh, gx] = grad(y, [h, x]);
    expect(gh!.toArray()).toEqual([6, 12]);
    expect(gx!.toArray()).toEqual([18, 36]);
  });

  it('an input the output does not depend on gets a zero gradient; an input that cannot get one is refused', () => {
    const x = f64([1, 2]);
    const unused = f64([5, 6, 7]);
    const [, gu] = grad(x.sum(), [x, unused]);
    expect(gu!.toArray()).toEqual([0, 0, 0]);
    expect(() => grad(x.sum(), [f64([1], false)])).toThrow('grad: input 0 does not require grad');
  });

  it('toDot draws the recorded graph with op names and shapes', () => {
    const x = f64([[1, 2]]);
    const dot = toDot(x.exp().sum(), new Map([[x, 'x']]));
    expect(dot).toMatch(/^digraph tsgrad \{/);
    expect(dot).toContain('sum\\n[]');
    expect(dot).toContain('exp\\n[1, 2]');
    expect(dot).toContain('x\\n[1, 2]\\nrequiresGrad');
  });
});
