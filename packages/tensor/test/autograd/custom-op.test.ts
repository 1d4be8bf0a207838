import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Tensor, defineOp, grad, gradcheck, gradgradcheck, noGrad, tensor } from '../../src/index.js';
import { GRAD_RUNS, GRADGRAD_RUNS, tensorArb } from '../arbitraries.js';

// The docs' example: x³ with its backward written in tensor ops (so it is differentiable again).
const cube = defineOp('cube', (x: Tensor) => ({
  output: x.mul(x).mul(x),
  backward: (g) => [g.mul(x.square()).mul(3)],
}));

// A two-input op with a gradient only for its first input: a · stopGradient(b).
const scaleBy = defineOp('scaleBy', (a: Tensor, b: Tensor) => ({
  output: a.mul(b),
  backward: (g) => [g.mul(b), null],
}));

describe('defineOp', () => {
  it('a custom op with a correct backward passes gradcheck for any shape and layout', () => {
    fc.assert(fc.property(tensorArb(), (x) => gradcheck(cube, [x])), { numRuns: GRAD_RUNS });
  });

  it('a custom op whose backward is written in tensor ops passes gradgradcheck', () => {
    fc.assert(fc.property(tensorArb({ maxSize: 3 }), (x) => gradgradcheck(cube, [x])), { numRuns: GRADGRAD_RUNS });
  });

  it('the output is a new graph node named after the op, whose inputs are the op\'s inputs', () => {
    const x = tensor([1, 2], { dtype: 'float64', requiresGrad: true });
    const y = cube(x);
    expect(y.gradFn!.name).toBe('cube');
    expect(y.gradFn!.inputs).toEqual([x]);
    expect(y.requiresGrad).toBe(true);
  });

  it('createGraph through a custom op gives d²/dx² x³ = 6x', () => {
    const x = tensor([2, -1], { dtype: 'float64', requiresGrad: true });
    const [g] = grad(cube(x).sum(), x, { createGraph: true });
    expect(g!.toArray()).toEqual([12, 3]);
    const [h] = grad(g!.sum(), x);
    expect(h!.toArray()).toEqual([12, -6]);
  });

  it('a null gradient leaves that input without one', () => {
    const a = tensor([1, 2], { dtype: 'float64', requiresGrad: true });
    const b = tensor([3, 4], { dtype: 'float64', requiresGrad: true });
    scaleBy(a, b).sum().backward();
    expect(a.grad!.toArray()).toEqual([3, 4]);
    expect(b.grad).toBeNull();
  });

  it('a custom op on inputs that need no grad, or under noGrad, records nothing', () => {
    expect(cube(tensor([1, 2])).gradFn).toBeNull();
    const x = tensor([1, 2], { requiresGrad: true });
    expect(noGrad(() => cube(x)).gradFn).toBeNull();
  });

  it('a custom op that returns one of its inputs does not put its node on that input', () => {
    const identity = defineOp('identity', (x: Tensor) => ({ output: x, backward: (g) => [g] }));
    const x = tensor([1, 2], { requiresGrad: true });
    const y = identity(x);
    expect(y).not.toBe(x);
    expect(x.gradFn).toBeNull();
    expect(y.storage).toBe(x.storage);
    y.sum().backward();
    expect(x.grad!.toArray()).toEqual([1, 1]);
  });

  it('a backward returning the wrong shape is reported naming the op', () => {
    const bad = defineOp('badShape', (x: Tensor) => ({ output: x.sum(), backward: (g) => [g] }));
    const x = tensor([1, 2], { requiresGrad: true });
    expect(() => bad(x).backward()).toThrow("backward: the backward of 'badShape' returned a gradient of shape [] for input 0 of shape [2]");
  });
});
