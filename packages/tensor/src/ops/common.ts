// Helpers every op family uses: turning numbers into tensors, reading a tensor as a flat buffer,
// and the dtype checks that make errors name the op.

import { type DType, type Storage, allocStorage, isFloatDType } from '../dtype.js';
import { contiguousStrides, formatShape } from '../shape.js';
import { copyStrided } from '../kernels/elementwise.js';
import { Tensor, type TensorLike } from '../tensor.js';

/** A number as a 0-d tensor computed in the dtype it will meet (ints stay int only beside ints). */
export function asTensor(value: TensorLike, like: Tensor): Tensor {
  if (value instanceof Tensor) return value;
  if (typeof value !== 'number') throw new Error(`expected a Tensor or a number, got ${typeof value}`);
  const dtype: DType = like.dtype === 'int32' && !Number.isInteger(value) ? 'float32' : like.dtype;
  const out = Tensor.zeros([], dtype);
  out.storage[0] = value;
  return out;
}

/** A new contiguous tensor over fresh storage. */
export function fromStorage(storage: Storage, shape: readonly number[]): Tensor {
  return new Tensor(storage, shape);
}

/**
 * The elements of t in row-major order as (storage, offset): its own storage when contiguous, else
 * a copy. For code that reads a tensor's elements directly: the ops, an optimizer, a checkpoint writer.
 */
export function flatBuffer(t: Tensor): [Storage, number] {
  if (t.isContiguous()) return [t.storage, t.offset];
  const out = allocStorage(t.dtype, t.numel);
  copyStrided(out, 0, contiguousStrides(t.shape), t.storage, t.offset, t.strides, t.shape);
  return [out, 0];
}

/** Throws unless t is a float tensor: for ops that have no meaning on integers. */
export function requireFloat(op: string, t: Tensor): void {
  if (!isFloatDType(t.dtype)) {
    throw new Error(`${op}: expected a float tensor (float32 or float64), got ${t.dtype} of shape ${formatShape(t.shape)}`);
  }
}

/** Throws unless t is int32: for index arguments. */
export function requireInt(op: string, what: string, t: Tensor): void {
  if (t.dtype !== 'int32') throw new Error(`${op}: ${what} must be int32, got ${t.dtype}`);
}
