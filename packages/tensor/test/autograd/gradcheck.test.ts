import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Tensor, defineOp, gradcheck, gradgradcheck, tensor } from '../../src/index.js';
import { tensorArb } from '../arbitraries.js';

// x² with a backward that is off by a factor (2.5x instead of 2x).
const wrongSquare = defineOp('wrongSquare', (x: Tensor) => ({
  output: x.square(),
  backward: (g) => [g.mul(x).mul(2.5)],
}));

// x² with a correct first derivative whose backward cuts x out of the graph: right in gradcheck,
// wrong in gradgradcheck (the second derivative comes out 0 instead of 2).
const detachedSquare = defineOp('detachedSquare', (x: Tensor) => ({
  output: x.square(),
  backward: (g) => [g.mul(x.detach()).mul(2)],
}));

const f64 = (data: number[] | number[][], requiresGrad = true) => tensor(data, { dtype: 'float64', requiresGrad });

describe('gradcheck', () => {
  it('a deliberately wrong backward makes gradcheck throw naming the input, the element, and both values', () => {
    const x = f64([0.5, -1, 2]);
    let message = '';
    try {
      gradcheck(wrongSquare, [x]);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/^gradcheck: Jacobian mismatch for output 0 \(element 0\) with respect to input 0 \(shape \[3\]\), element 0: analytic 1\.25, numeric (0\.9999|1\.0000)\d* \(atol 0\.00001, rtol 0\.001\)$/);
    expect(message).toMatch(/input 0/);
    expect(message).toMatch(/element/);
    expect(message).toMatch(/analytic/);
    expect(message).toMatch(/numeric/);
  });

  it('a deliberately wrong backward makes gradcheck return false with raiseException: false', () => {
    expect(gradcheck(wrongSquare, [f64([0.5, -1, 2])], { raiseException: false })).toBe(false);
  });

  it('a wrong backward fails for any nonzero input', () => {
    fc.assert(fc.property(tensorArb({ kind: 'nonzero', minDims: 1 }), (x) =>
      gradcheck(wrongSquare, [x], { raiseException: false }) === false), { numRuns: 20 });
  });

  it('the mismatch names the second input when only its gradient is wrong', () => {
    const badMul = defineOp('badMul', (a: Tensor, b: Tensor) => ({
      output: a.mul(b),
      backward: (g) => [g.mul(b), g.mul(a).neg()],
    }));
    expect(() => gradcheck(badMul, [f64([1, 2]), f64([3, 4])])).toThrow(/with respect to input 1 \(shape \[2\]\), element 0: analytic -1, numeric 1/);
  });

  it('a backward that is right to first order but not differentiable passes gradcheck and fails gradgradcheck', () => {
    const x = f64([0.5, -1, 2]);
    expect(gradcheck(detachedSquare, [x])).toBe(true);
    expect(gradgradcheck(detachedSquare, [x], { raiseException: false })).toBe(false);
    expect(() => gradgradcheck(detachedSquare, [x])).toThrow(/^gradcheck: Jacobian mismatch .* with respect to input 0 .*analytic 0, numeric/);
  });

  it('correct ops pass gradcheck and gradgradcheck, with several inputs and several outputs', () => {
    const a = f64([[0.3, -0.2], [1.1, 0.4]]);
    const b = f64([0.5, 1.5]);
    expect(gradcheck((p, q) => [p.mul(q).sin(), p.sum(1).exp()], [a, b])).toBe(true);
    expect(gradgradcheck((p, q) => [p.mul(q).sin(), p.sum(1).exp()], [a, b])).toBe(true);
  });

  it('inputs that do not require grad (int32 indices, constants) are passed through untouched', () => {
    const x = f64([[1, 2], [3, 4]]);
    const idx = tensor([[1], [0]], { dtype: 'int32' });
    const c = f64([10, 20], false);
    expect(gradcheck((t, i, k) => t.gather(1, i).mul(k), [x, idx, c])).toBe(true);
  });

  it('an output that depends on no input must have a zero numeric derivative', () => {
    const x = f64([1, 2]);
    const constant = tensor([5], { dtype: 'float64' });
    expect(gradcheck((t) => [t.mul(2), constant], [x])).toBe(true);
  });

  it('gradcheck rejects float32 inputs that require grad', () => {
    expect(() => gradcheck((t) => t.exp(), [tensor([1, 2], { requiresGrad: true })]))
      .toThrow('gradcheck: input 0 is float32; gradcheck needs float64 inputs (finite differences in float32 are too coarse)');
    expect(() => gradgradcheck((t) => t.exp(), [f64([1]), tensor([1], { requiresGrad: true })]))
      .toThrow(/^gradgradcheck: input 1 is float32; gradcheck needs float64 inputs/);
  });

  it('gradcheck rejects expanded (stride-0) inputs with a clear error', () => {
    const e = tensor([1], { dtype: 'float64' }).expand(3).setRequiresGrad(true);
    expect(() => gradcheck((t) => t.exp(), [e]))
      .toThrow('gradcheck: input 0 of shape [3] is expanded (a stride is 0): perturbing one element would move several; pass a contiguous copy');
    // the same values made contiguous are fine
    expect(gradcheck((t) => t.exp(), [e.detach().contiguous().setRequiresGrad(true)])).toBe(true);
  });

  it('gradcheck rejects calls where nothing requires grad or an input is not a tensor', () => {
    expect(() => gradcheck((t) => t.exp(), [f64([1], false)])).toThrow('gradcheck: no input requires grad');
    expect(() => gradcheck((t) => t, [1 as unknown as Tensor])).toThrow('gradcheck: input 0 is not a Tensor');
  });

  it('a tolerance loose enough accepts a slightly wrong backward, the defaults do not', () => {
    const slightlyOff = defineOp('slightlyOff', (x: Tensor) => ({ output: x.mul(1), backward: (g) => [g.mul(1.01)] }));
    const x = f64([1, 2]);
    expect(gradcheck(slightlyOff, [x], { raiseException: false })).toBe(false);
    expect(gradcheck(slightlyOff, [x], { rtol: 0.02 })).toBe(true);
  });

  it('gradcheck leaves its inputs as it found them', () => {
    const x = f64([[0.1, 0.2], [0.3, 0.4]]).transpose(0, 1).detach().setRequiresGrad(true);
    const before = Array.from(x.toTypedArray());
    gradcheck((t) => t.tanh(), [x]);
    expect(Array.from(x.toTypedArray())).toEqual(before);
    expect(x.grad).toBeNull();
  });
});
