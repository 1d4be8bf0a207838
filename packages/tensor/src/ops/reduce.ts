// Reductions: sum, mean, max/min, argmax, var. Backward of a reduction broadcasts the gradient
// back over the reduced dims (expand is the reverse of sum).

import { allocStorage } from '../dtype.js';
import { recordOp } from '../autograd/graph.js';
import { maxForward, sumForward } from '../kernels/reduce.js';
import { formatShape, normalizeDim, numelOf } from '../shape.js';
import { Tensor } from '../tensor.js';
import { flatBuffer, fromStorage, requireFloat } from './common.js';
import { scatterAdd } from './indexing.js';

function reducedDims(op: string, x: Tensor, dim: number | number[] | undefined): number[] {
  if (dim === undefined) return x.shape.map((_, i) => i);
  const list = (Array.isArray(dim) ? dim : [dim]).map((d) => normalizeDim(op, d, x.ndim));
  if (new Set(list).size !== list.length) throw new Error(`${op}: dim ${formatShape(list)} appears more than once`);
  // NOTE: a 0-d tensor accepts dim 0 or -1 (as PyTorch) but has no dim to reduce: it stays as is
  if (x.ndim === 0) return [];
  return list.sort((p, q) => p - q);
}

function keptShape(shape: readonly number[], dims: readonly number[]): number[] {
  return shape.map((s, i) => (dims.includes(i) ? 1 : s));
}

function squeezedShape(shape: readonly number[], dims: readonly number[]): number[] {
  return shape.filter((_, i) => !dims.includes(i));
}

// [outer, r, inner] sizes for reducing one dim of a shape
function splitAt(shape: readonly number[], dim: number): [number, number, number] {
  let outer = 1;
  let inner = 1;
  for (let i = 0; i < dim; i++) outer *= shape[i]!;
  for (let i = dim + 1; i < shape.length; i++) inner *= shape[i]!;
  return [outer, shape[dim]!, inner];
}

/** Sum over the given dims without autograd; keepdim shape. */
function sumKeep(x: Tensor, dims: readonly number[]): Tensor {
  let [data, off] = flatBuffer(x);
  const dtype = x.dtype;
  // Adjacent reduced dims are one dim of a row-major buffer: [B, T, C] summed over B and T is
  // [1, B·T, C], one column-sum pass. Runs are reduced from the last, so earlier ones keep their place.
  let shape = [...x.shape];
  for (let j = dims.length - 1; j >= 0; ) {
    let first = j;
    while (first > 0 && dims[first - 1] === dims[first]! - 1) first--;
    const lo = dims[first]!;
    const hi = dims[j]!;
    const outer = numelOf(shape.slice(0, lo));
    const r = numelOf(shape.slice(lo, hi + 1));
    const inner = numelOf(shape.slice(hi + 1));
    const out = allocStorage(dtype, outer * inner);
    sumForward(out, data, off, outer, r, inner);
    data = out;
    off = 0;
    for (let d = lo; d <= hi; d++) shape[d] = 1;
    j = first - 1;
  }
  if (dims.length === 0) {
    const copy = allocStorage(dtype, x.numel);
    copy.set(data.subarray(off, off + x.numel));
    data = copy;
  }
  shape = [...shape];
  return fromStorage(data, shape);
}

/** Σ over dims (all when omitted). d/dx Σx = 1: the gradient is broadcast back over the reduced dims */
export function sum(x: Tensor, dim?: number | number[], keepdim = false): Tensor {
  const dims = reducedDims('sum', x, dim);
  const kept = sumKeep(x, dims);
  const out = keepdim ? kept : kept.detach().reshape(squeezedShape(x.shape, dims));
  return recordOp(out, 'sum', [x], (grad) => [grad.reshape(keptShape(x.shape, dims)).expand([...x.shape])]);
}

/** Mean over dims (all when omitted): the sum divided by the count. d/dx = 1/count, broadcast back over the reduced dims */
export function mean(x: Tensor, dim?: number | number[], keepdim = false): Tensor {
  requireFloat('mean', x);
  const dims = reducedDims('mean', x, dim);
  let count = 1;
  for (const d of dims) count *= x.shape[d]!;
  return sum(x, dims, keepdim).div(count);
}

/** Variance over dims: Σ(x − mean)² / (count − correction); correction 1 is Bessel's, as PyTorch. d/dx = 2(x − mean) / (count − correction) */
export function variance(x: Tensor, dim?: number | number[], keepdim = false, correction = 1): Tensor {
  requireFloat('var', x);
  const dims = reducedDims('var', x, dim);
  let count = 1;
  for (const d of dims) count *= x.shape[d]!;
  const centered = x.sub(x.mean(dims, true));
  return centered.square().sum(dims, keepdim).div(Math.max(count - correction, 0));
}

function extremumAlongDim(op: 'max' | 'min', x: Tensor, dim: number | undefined, keepdim: boolean): Tensor {
  if (dim === undefined) {
    if (x.numel === 0) throw new Error(`${op}: cannot reduce an empty tensor of shape ${formatShape(x.shape)}`);
    return extremumAlongDim(op, x.reshape([x.numel]), 0, false).reshape(keepdim ? x.shape.map(() => 1) : []);
  }
  const d = normalizeDim(op, dim, x.ndim);
  if (x.ndim > 0 && x.shape[d] === 0) throw new Error(`${op}: cannot reduce dim ${d} of size 0 in shape ${formatShape(x.shape)}`);
  const shape = x.ndim === 0 ? [1] : x.shape;
  const [outer, r, inner] = splitAt(shape, x.ndim === 0 ? 0 : d);
  const [data, off] = flatBuffer(x);
  const values = allocStorage(x.dtype, outer * inner);
  const index = new Int32Array(outer * inner);
  maxForward(values, index, data, off, outer, r, inner, op === 'max' ? 1 : -1);
  const kept = x.ndim === 0 ? [] : keptShape(x.shape, [d]);
  const keptIndex = new Tensor(index, kept);
  const out = new Tensor(values, keepdim || x.ndim === 0 ? kept : squeezedShape(x.shape, [d]));
  // d/dx max(x) = 1 at the index that won, 0 elsewhere: scatter the gradient there
  return recordOp(out, op, [x], (grad) => [
    x.ndim === 0 ? grad : scatterAdd(x.shape, d, keptIndex, grad.reshape(kept)),
  ]);
}

/** Maximum over a dim (or of all elements). d/dx = 1 at the index that won (the first on ties), 0 elsewhere */
export function max(x: Tensor, dim?: number, keepdim = false): Tensor {
  return extremumAlongDim('max', x, dim, keepdim);
}

/** Minimum over a dim (or of all elements). d/dx = 1 at the index that won (the first on ties), 0 elsewhere */
export function min(x: Tensor, dim?: number, keepdim = false): Tensor {
  return extremumAlongDim('min', x, dim, keepdim);
}

/** Index (int32) of the first maximum over a dim, or in the flattened tensor when dim is omitted. Not differentiable. */
export function argmax(x: Tensor, dim?: number, keepdim = false): Tensor {
  if (dim === undefined) {
    if (x.numel === 0) throw new Error(`argmax: cannot reduce an empty tensor`);
    return argmax(x.reshape([x.numel]), 0, false);
  }
  const d = normalizeDim('argmax', dim, x.ndim);
  const shape = x.ndim === 0 ? [1] : x.shape;
  const [outer, r, inner] = splitAt(shape, x.ndim === 0 ? 0 : d);
  if (r === 0) throw new Error(`argmax: cannot reduce dim ${d} of size 0 in shape ${formatShape(x.shape)}`);
  const [data, off] = flatBuffer(x);
  const index = new Int32Array(outer * inner);
  maxForward(null, index, data, off, outer, r, inner, 1);
  if (x.ndim === 0) return new Tensor(index, []);
  return new Tensor(index, keepdim ? keptShape(x.shape, [d]) : squeezedShape(x.shape, [d]));
}
