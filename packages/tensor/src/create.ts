// Creation: tensors from data, constants, ranges and random draws.

import { type DType, type Storage, allocStorage, checkDType, dtypeOfStorage } from './dtype.js';
import { checkShape, formatShape, numelOf } from './shape.js';
import { Tensor } from './tensor.js';
import { type Generator, getDefaultGenerator } from './random.js';

/** Options shared by the creation functions. */
export interface CreateOptions {
  /** Element type (default float32, or the typed array's own type). */
  dtype?: DType;
  /** Mark the new tensor as a leaf that requires grad. */
  requiresGrad?: boolean;
}

/** Options of random creation. */
export interface RandomOptions extends CreateOptions {
  /** Source of randomness (default: the generator `manualSeed` sets). */
  generator?: Generator;
}

/** Nested arrays of numbers (or a single number). */
export type NestedArray = number | NestedArray[] | readonly number[];

function finish(t: Tensor, opts: CreateOptions): Tensor {
  if (opts.requiresGrad) t.setRequiresGrad(true);
  return t;
}

function shapeOfNested(data: NestedArray): number[] {
  const shape: number[] = [];
  let level: unknown = data;
  while (Array.isArray(level)) {
    shape.push(level.length);
    level = level[0];
  }
  return shape;
}

function flattenNested(data: NestedArray, shape: number[], out: number[], depth: number): void {
  if (depth === shape.length) {
    if (typeof data !== 'number') throw new Error(`tensor: expected a number at depth ${depth}, got ${Array.isArray(data) ? 'an array' : typeof data}`);
    out.push(data);
    return;
  }
  if (!Array.isArray(data) || data.length !== shape[depth]) {
    throw new Error(`tensor: ragged nested array: expected ${shape[depth]} elements at depth ${depth} (shape ${formatShape(shape)})`);
  }
  for (const item of data) flattenNested(item as NestedArray, shape, out, depth + 1);
}

/**
 * A tensor from nested arrays, a flat array with `shape`, or a typed array (copied).
 * With dtype int32, fractions truncate toward zero (as PyTorch); NaN, ±Infinity and values outside
 * int32's range throw, naming the value and its index.
 *
 * @example
 * ```ts
 * import { tensor } from '@tsgrad/tensor';
 *
 * const x = tensor([[1, 2], [3, 4]]); // float32 unless told otherwise
 * console.log(x.shape, x.dtype); // → [ 2, 2 ] float32
 * const y = tensor(new Float64Array([1, 2, 3, 4, 5, 6]), { shape: [2, 3] });
 * console.log(y.sum(1).toArray(), y.dtype); // → [ 6, 15 ] float64
 * const ids = tensor([2.9, -2.9], { dtype: 'int32' }); // truncates toward zero
 * console.log(ids.toString()); // → tensor([2, -2], shape=[2], dtype=int32)
 * ```
 */
export function tensor(data: NestedArray | Storage, opts: CreateOptions & { shape?: readonly number[] } = {}): Tensor {
  let flat: ArrayLike<number>;
  let shape: number[];
  let dtype: DType = opts.dtype !== undefined ? checkDType('tensor', opts.dtype) : 'float32';
  if (ArrayBuffer.isView(data)) {
    if (!(data instanceof Float32Array || data instanceof Float64Array || data instanceof Int32Array)) {
      throw new Error('tensor: typed arrays must be Float32Array, Float64Array or Int32Array');
    }
    if (opts.dtype === undefined) dtype = dtypeOfStorage(data);
    flat = data;
    shape = opts.shape ? checkShape('tensor', opts.shape) : [data.length];
  } else if (opts.shape && Array.isArray(data) && data.every((v) => typeof v === 'number')) {
    flat = data as number[];
    shape = checkShape('tensor', opts.shape);
  } else {
    shape = shapeOfNested(data);
    const values: number[] = [];
    flattenNested(data, shape, values, 0);
    flat = values;
    if (opts.shape) {
      const wanted = checkShape('tensor', opts.shape);
      if (numelOf(wanted) !== values.length) throw new Error(`tensor: shape ${formatShape(wanted)} needs ${numelOf(wanted)} values, got ${values.length}`);
      shape = wanted;
    }
  }
  if (numelOf(shape) !== flat.length) throw new Error(`tensor: shape ${formatShape(shape)} needs ${numelOf(shape)} values, got ${flat.length}`);
  const storage = allocStorage(dtype, flat.length);
  for (let i = 0; i < flat.length; i++) {
    const v = flat[i]!;
    if (typeof v !== 'number') throw new Error(`tensor: element ${i} is ${typeof v}, expected a number`);
    if (dtype === 'int32') {
      const t = Math.trunc(v);
      if (!(t >= INT32_MIN && t <= INT32_MAX)) throw int32Error('tensor', v, `${v} at index ${indexOf(shape, i)}`);
      storage[i] = t;
    } else {
      storage[i] = v;
    }
  }
  return finish(new Tensor(storage, shape, undefined, 0, dtype), opts);
}

// As PyTorch: a float truncates toward zero into int32, but NaN, ±Infinity and values outside
// [−2³¹, 2³¹ − 1] are errors (a typed array would store them as 0 or wrap them silently).
const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

// `what` names the value: "NaN at index [1, 0]", "the fill value NaN".
function int32Error(op: string, v: number, what: string): Error {
  return new Error(`${op}: ${what} cannot be converted to int32 (${Number.isNaN(v) ? 'NaN has no integer value' : 'int32 holds −2147483648 to 2147483647'})`);
}

// The index [i, j, …] of the flat position `flat` in a row-major tensor of `shape`.
function indexOf(shape: readonly number[], flat: number): string {
  const idx: number[] = [];
  for (let d = shape.length - 1; d >= 0; d--) {
    idx.unshift(flat % shape[d]!);
    flat = Math.floor(flat / shape[d]!);
  }
  return formatShape(idx);
}

/** A tensor filled with value. */
export function full(shape: readonly number[], value: number, opts: CreateOptions = {}): Tensor {
  const s = checkShape('full', shape);
  const dtype = opts.dtype !== undefined ? checkDType('full', opts.dtype) : 'float32';
  const t = new Tensor(allocStorage(dtype, numelOf(s)), s);
  if (dtype === 'int32') {
    value = Math.trunc(value);
    if (!(value >= INT32_MIN && value <= INT32_MAX)) throw int32Error('full', value, `the fill value ${value}`);
  }
  if (value !== 0) t.storage.fill(value);
  return finish(t, opts);
}

/** A tensor of zeros. */
export function zeros(shape: readonly number[], opts: CreateOptions = {}): Tensor {
  return full(shape, 0, opts);
}

/** A tensor of ones. */
export function ones(shape: readonly number[], opts: CreateOptions = {}): Tensor {
  return full(shape, 1, opts);
}

/** Zeros with another tensor's shape and dtype. */
export function zerosLike(t: Tensor, opts: CreateOptions = {}): Tensor {
  return zeros(t.shape, { dtype: t.dtype, ...opts });
}

/** Ones with another tensor's shape and dtype. */
export function onesLike(t: Tensor, opts: CreateOptions = {}): Tensor {
  return ones(t.shape, { dtype: t.dtype, ...opts });
}

/** Values start, start+step, … below end (`arange(n)` is 0..n−1); int32 when all arguments are integers. */
export function arange(start: number, end?: number, step = 1, opts: CreateOptions = {}): Tensor {
  if (end === undefined) [start, end] = [0, start];
  if (step === 0 || !Number.isFinite(step)) throw new Error(`arange: step must be a non-zero finite number, got ${step}`);
  const n = Math.max(0, Math.ceil((end - start) / step));
  const allInt = Number.isInteger(start) && Number.isInteger(end) && Number.isInteger(step);
  const dtype = opts.dtype !== undefined ? checkDType('arange', opts.dtype) : allInt ? 'int32' : 'float32';
  const t = new Tensor(allocStorage(dtype, n), [n]);
  for (let i = 0; i < n; i++) t.storage[i] = start + i * step;
  return finish(t, opts);
}

/** Standard normal samples. */
export function randn(shape: readonly number[], opts: RandomOptions = {}): Tensor {
  const gen = opts.generator ?? getDefaultGenerator();
  const t = full(shape, 0, { dtype: opts.dtype ?? 'float32' });
  if (t.dtype === 'int32') throw new Error('randn: dtype must be float32 or float64');
  for (let i = 0; i < t.numel; i++) t.storage[i] = gen.normal();
  return finish(t, opts);
}

/** Uniform samples in [0, 1). */
export function rand(shape: readonly number[], opts: RandomOptions = {}): Tensor {
  const gen = opts.generator ?? getDefaultGenerator();
  const t = full(shape, 0, { dtype: opts.dtype ?? 'float32' });
  if (t.dtype === 'int32') throw new Error('rand: dtype must be float32 or float64');
  for (let i = 0; i < t.numel; i++) t.storage[i] = gen.uniform();
  return finish(t, opts);
}
