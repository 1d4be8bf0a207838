// Shared test helpers: parameters from flat values, gradients set by hand, float32 comparisons,
// and the quadratic f(x) = ½ Σ a_i (x_i − c_i)² whose gradient is a_i (x_i − c_i).

import { expect } from 'vitest';
import fc from 'fast-check';
import { type DType, type Tensor, tensor } from '@tsgrad/tensor';

/** A leaf parameter from flat values. */
export function param(values: number[], dtype: DType = 'float32', shape: number[] = [values.length]): Tensor {
  return tensor(values, { dtype, shape, requiresGrad: true });
}

/** Sets p.grad to the given flat values (in p's dtype and shape). */
export function setGrad(p: Tensor, values: number[]): void {
  p.grad = tensor(values, { dtype: p.dtype, shape: [...p.shape] });
}

/** The elements of a tensor as a plain array. */
export function values(t: Tensor): number[] {
  return Array.from(t.toTypedArray());
}

/** Expects a float32 result to equal a float64 reference up to float32 rounding (a few ulps). */
export function expectF32Close(actual: ArrayLike<number>, expected: ArrayLike<number>, ulps = 4): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i]!;
    const tol = ulps * Math.max(Math.abs(e), 1e-30) * 2 ** -23 + 1e-12;
    if (!(Math.abs(actual[i]! - e) <= tol)) expect.fail(`element ${i}: ${actual[i]} differs from ${e} by more than ${ulps} float32 ulps`);
  }
}

/** Expects two arrays to be equal bit for bit. */
export function expectBitEqual(actual: ArrayLike<number>, expected: ArrayLike<number>): void {
  expect(Array.from(actual)).toEqual(Array.from(expected));
}

/** A random convex quadratic: curvatures a > 0, minimum c, start x0. */
export const quadratics = fc.integer({ min: 1, max: 8 }).chain((n) => fc.record({
  a: fc.array(fc.double({ min: 0.5, max: 4, noNaN: true }), { minLength: n, maxLength: n }),
  c: fc.array(fc.double({ min: -2, max: 2, noNaN: true }), { minLength: n, maxLength: n }),
  x0: fc.array(fc.double({ min: -3, max: 3, noNaN: true }), { minLength: n, maxLength: n }),
}));

/** Sets the gradient of ½ Σ a_i (x_i − c_i)² at p's current values. */
export function setQuadraticGrad(p: Tensor, a: number[], c: number[]): void {
  const x = values(p);
  setGrad(p, x.map((xi, i) => a[i]! * (xi - c[i]!)));
}
