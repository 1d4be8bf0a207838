import { describe, expect, it } from 'vitest';
import {
  type Tensor, checkpoint, getDefaultGenerator, grad, gradcheck, gradgradcheck, manualSeed, noGrad, rand, randn, tensor,
} from '../../src/index.js';

// A float64 leaf requiring grad, drawn from the default generator.
const f64 = (shape: number[]) => randn(shape, { dtype: 'float64' }).setRequiresGrad();

// A small layer closing over its weight, as a module's forward closes over its parameters.
function layer(w: Tensor) {
  return (x: Tensor) => x.matmul(w).tanh().mul(x).add(x.sum(-1, true).sin());
}

// Dropout-like: keeps each element with probability ½ (scaled by 2), the mask drawn from the
// default generator.
function dropoutLayer(w: Tensor) {
  return (x: Tensor) => {
    const h = x.matmul(w).silu();
    const keep = rand(h.shape, { dtype: h.dtype }).lt(0.5);
    return h.mul(keep).mul(2).add(x);
  };
}

const bits = (t: Tensor) => Array.from(t.toTypedArray());

describe('checkpoint', () => {
  it('passes float64 gradcheck and gradgradcheck for the inputs and a closed-over weight', () => {
    manualSeed(1);
    const x = f64([3, 4]);
    const w = f64([4, 4]);
    const fn = (xx: Tensor, ww: Tensor) => checkpoint(layer(ww), xx);
    expect(gradcheck(fn, [x, w])).toBe(true);
    expect(gradgradcheck(fn, [x, w])).toBe(true);
  });

  it('keeps only the tensors it depends on, not the intermediates, and runs the function again in backward', () => {
    manualSeed(2);
    const x = f64([2, 3]);
    const w = f64([3, 3]);
    let calls = 0;
    const y = checkpoint((xx: Tensor) => { calls++; return layer(w)(xx); }, x);
    expect(calls).toBe(1);
    expect(y.gradFn!.name).toBe('checkpoint');
    expect(new Set(y.gradFn!.inputs)).toEqual(new Set([x, w]));
    y.sum().backward();
    expect(calls).toBe(2);
  });

  it('gives gradients bit-identical to the plain run for a dropout-like function drawing from the default generator', () => {
    const run = (useCheckpoint: boolean) => {
      manualSeed(7);
      const w1 = f64([6, 6]);
      const w2 = f64([6, 6]);
      const x = f64([5, 6]);
      const block = (h: Tensor) => dropoutLayer(w2)(dropoutLayer(w1)(h));
      const y = useCheckpoint ? checkpoint(block, x) : block(x);
      // draws after the forward must see the stream the forward left, with or without checkpoint
      const after = rand([3], { dtype: 'float64' });
      const loss = y.square().sum();
      loss.backward();
      const afterBackward = rand([3], { dtype: 'float64' });
      return { loss: loss.item(), gx: bits(x.grad!), g1: bits(w1.grad!), g2: bits(w2.grad!), after: bits(after), afterBackward: bits(afterBackward) };
    };
    const plain = run(false);
    const ckpt = run(true);
    expect(ckpt.loss).toBe(plain.loss);
    expect(ckpt.gx).toEqual(plain.gx);
    expect(ckpt.g1).toEqual(plain.g1);
    expect(ckpt.g2).toEqual(plain.g2);
    expect(ckpt.after).toEqual(plain.after);
    expect(ckpt.afterBackward).toEqual(plain.afterBackward);
  });

  it('gives second derivatives bit-identical to the plain run under grad(..., { createGraph: true })', () => {
    const run = (useCheckpoint: boolean) => {
      manualSeed(3);
      const x = f64([3, 4]);
      const w = f64([4, 4]);
      const y = useCheckpoint ? checkpoint(layer(w), x) : layer(w)(x);
      const [gx] = grad(y.sum(), x, { createGraph: true });
      const [gw] = grad(gx!.square().sum(), w);
      return { gx: bits(gx!), gw: bits(gw!) };
    };
    const plain = run(false);
    const ckpt = run(true);
    expect(ckpt.gx).toEqual(plain.gx);
    expect(ckpt.gw).toEqual(plain.gw);
  });

  it('nests: a checkpoint inside a checkpoint gives the plain gradients bit for bit and passes gradgradcheck', () => {
    const run = (useCheckpoint: boolean) => {
      manualSeed(4);
      const x = f64([3, 4]);
      const w1 = f64([4, 4]);
      const w2 = f64([4, 4]);
      const inner = (h: Tensor) => (useCheckpoint ? checkpoint(dropoutLayer(w2), h) : dropoutLayer(w2)(h));
      const outer = (h: Tensor) => inner(layer(w1)(h)).exp();
      const y = useCheckpoint ? checkpoint(outer, x) : outer(x);
      y.sum().backward();
      return [x, w1, w2].map((t) => bits(t.grad!));
    };
    expect(run(true)).toEqual(run(false));
    manualSeed(5);
    const x = f64([2, 3]);
    const w = f64([3, 3]);
    const nested = (xx: Tensor, ww: Tensor) => checkpoint((h: Tensor) => checkpoint(layer(ww), h.cos()).mul(h), xx);
    expect(gradgradcheck(nested, [x, w])).toBe(true);
  });

  it('returns outputs that do not require grad as they are, and non-tensor inputs reach the function', () => {
    manualSeed(6);
    const x = f64([2, 3]);
    const constant = tensor([[1, 2, 3], [4, 5, 6]], { dtype: 'float64' });
    const outs = checkpoint((xx: Tensor, scale: number, opts: { shift: number }) => [
      xx.mul(scale).add(opts.shift), constant.mul(scale), xx.argmax(-1),
    ], x, 3, { shift: 1 });
    expect(outs[1]!.requiresGrad).toBe(false);
    expect(outs[1]!.toArray()).toEqual([[3, 6, 9], [12, 15, 18]]);
    expect(outs[2]!.requiresGrad).toBe(false);
    expect(outs[2]!.dtype).toBe('int32');
    outs[0]!.sum().backward();
    expect(x.grad!.toArray()).toEqual([[3, 3, 3], [3, 3, 3]]);
    // nothing requires grad: the result is the function's own
    const only = checkpoint((c: Tensor) => c.add(1), constant);
    expect(only.requiresGrad).toBe(false);
    expect(only.toArray()).toEqual([[2, 3, 4], [5, 6, 7]]);
  });

  it('passes gradcheck and gradgradcheck with several outputs that require grad', () => {
    manualSeed(8);
    const x = f64([2, 3]);
    const w = f64([3, 3]);
    const fn = (xx: Tensor, ww: Tensor) => checkpoint((h: Tensor) => [h.matmul(ww).sin(), h.square().sum(0)], xx);
    expect(gradcheck(fn, [x, w])).toBe(true);
    expect(gradgradcheck(fn, [x, w])).toBe(true);
  });

  it('simply runs the function under noGrad', () => {
    const x = f64([2, 2]);
    let calls = 0;
    const y = noGrad(() => checkpoint((h: Tensor) => { calls++; return h.exp(); }, x));
    expect(y.requiresGrad).toBe(false);
    expect(calls).toBe(1);
  });

  it('throws a clear error when the function returns something other than tensors', () => {
    const x = f64([2]);
    expect(() => checkpoint((() => 3) as unknown as (h: Tensor) => Tensor, x)).toThrow('checkpoint: the function must return a Tensor or an array of Tensors, but it is number');
    expect(() => checkpoint(((h: Tensor) => [h.exp(), null]) as unknown as (h: Tensor) => Tensor[], x)).toThrow('checkpoint: the function must return a Tensor or an array of Tensors, but element 1 of its result is null');
    expect(() => checkpoint((() => []) as unknown as (h: Tensor) => Tensor[], x)).toThrow('checkpoint: the function returned an empty array');
    expect(() => checkpoint(3 as unknown as (h: Tensor) => Tensor, x)).toThrow('checkpoint: expected a function as the first argument, got number');
  });

  it('throws naming the output when the recompute differs from the forward', () => {
    const x = f64([4]);
    let n = 4;
    const y = checkpoint((h: Tensor) => h.narrow(0, 0, n--).exp(), x);
    expect(() => y.sum().backward()).toThrow('checkpoint: the recomputed output 0 (shape [3]) differs from the forward\'s (shape [4])');
  });

  it('throws naming checkpoint when a tensor made inside escapes and is backpropagated', () => {
    const x = f64([3]);
    let leaked: Tensor | null = null;
    checkpoint((h: Tensor) => { leaked = h.exp(); return leaked.sin(); }, x);
    expect(() => leaked!.sum().backward()).toThrow(/checkpoint: a tensor made inside a checkpointed function escaped it/);
  });

  it('leaves the default generator object and stream as they were', () => {
    manualSeed(9);
    const before = getDefaultGenerator();
    const x = f64([3]);
    checkpoint((h: Tensor) => h.mul(rand([3], { dtype: 'float64' })), x).sum().backward();
    expect(getDefaultGenerator()).toBe(before);
  });
});
