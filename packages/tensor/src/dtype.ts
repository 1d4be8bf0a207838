import { allocFloat } from './storage-pool.js';

/** The element types a tensor can hold. */
export type DType = 'float32' | 'float64' | 'int32';

/** The typed array behind a float tensor (float32 or float64): what kernels compute in. */
export type FloatArray = Float32Array | Float64Array;

/** The typed array behind a tensor. */
export type Storage = FloatArray | Int32Array;

/** Allocates storage for `n` elements of a dtype, zero-filled (float storage may come from the pool: storage-pool.ts). */
export function allocStorage(dtype: DType, n: number): Storage {
  if (dtype === 'int32') return new Int32Array(n);
  return allocFloat(dtype, n);
}

/** True for float32 and float64. */
export function isFloatDType(dtype: DType): boolean {
  return dtype !== 'int32';
}

/** The dtype two operands are computed in: float64 over float32 over int32, as PyTorch. */
export function promoteTypes(a: DType, b: DType): DType {
  if (a === 'float64' || b === 'float64') return 'float64';
  if (a === 'float32' || b === 'float32') return 'float32';
  return 'int32';
}

/** The dtype of a typed array. */
export function dtypeOfStorage(data: Storage): DType {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  return 'int32';
}

/** Checks a user-supplied dtype name. */
export function checkDType(op: string, dtype: unknown): DType {
  if (dtype === 'float32' || dtype === 'float64' || dtype === 'int32') return dtype;
  throw new Error(`${op}: unknown dtype ${JSON.stringify(dtype)}; expected 'float32', 'float64' or 'int32'`);
}

/**
 * Float storage for a kernel that writes every element: a buffer the pool hands back is not
 * zeroed first (a 1 MB fill costs as much as a quarter of a softmax). Use allocStorage otherwise.
 */
export function allocOverwritten(dtype: DType, n: number): Storage {
  if (dtype === 'int32') return new Int32Array(n);
  return allocFloat(dtype, n, false);
}
