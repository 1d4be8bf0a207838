// Test helpers: seeded random tensors and element-wise comparison (the layer tests' as @tsgrad/nn's), and
// the fixture README's relative error (the Hugging Face comparisons).

import { type DType, Generator, type Tensor, randn } from '@tsgrad/tensor';
import { expect } from 'vitest';

/** A seeded standard-normal tensor (float64 by default) that requires grad when asked. */
export function randomTensor(shape: number[], seed: number, opts: { dtype?: DType; requiresGrad?: boolean } = {}): Tensor {
  return randn(shape, { generator: new Generator(seed), dtype: opts.dtype ?? 'float64', requiresGrad: opts.requiresGrad ?? false });
}

/** The largest |a − b| over the elements of two tensors (or flat arrays) of equal size. */
export function maxAbsDiff(a: Tensor | ArrayLike<number>, b: Tensor | ArrayLike<number>): number {
  const x = 'toTypedArray' in a ? a.toTypedArray() : a;
  const y = 'toTypedArray' in b ? b.toTypedArray() : b;
  expect(x.length).toBe(y.length);
  let worst = 0;
  for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i]! - y[i]!));
  return worst;
}

/** Asserts two tensors have the same shape and agree within tol everywhere. */
export function expectClose(a: Tensor, b: Tensor, tol: number): void {
  expect([...a.shape]).toEqual([...b.shape]);
  expect(maxAbsDiff(a, b)).toBeLessThanOrEqual(tol);
}

/** max |a − b| / max |b| over two tensors of the same shape: the fixture README's relative error. */
export function relativeError(a: Tensor, b: Tensor): number {
  expect([...a.shape]).toEqual([...b.shape]);
  const x = a.toTypedArray();
  const y = b.toTypedArray();
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < y.length; i++) {
    diff = Math.max(diff, Math.abs(x[i]! - y[i]!));
    scale = Math.max(scale, Math.abs(y[i]!));
  }
  return diff / scale;
}
