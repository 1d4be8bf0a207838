// Indexing ops: gather/scatterAdd, indexSelect (the embedding lookup), where, maskedFill, tril/triu.

import { allocStorage, promoteTypes } from '../dtype.js';
import { recordOp } from '../autograd/graph.js';
import { indexSelectBackward, indexSelectForward, triangleForward, whereStridedForward } from '../kernels/indexing.js';
import { broadcastShapes, broadcastStrides, formatShape, normalizeDim, numelOf } from '../shape.js';
import { Tensor } from '../tensor.js';
import { sumToShape } from './binary.js';
import { asTensor, flatBuffer, requireInt } from './common.js';

// Walks every position of `shape`, calling visit(flatPosition, indexVector).
function forEachIndex(shape: readonly number[], visit: (flat: number, idx: number[]) => void): void {
  const n = numelOf(shape);
  const idx = new Array<number>(shape.length).fill(0);
  for (let flat = 0; flat < n; flat++) {
    visit(flat, idx);
    for (let k = shape.length - 1; k >= 0; k--) {
      if (++idx[k]! < shape[k]!) break;
      idx[k] = 0;
    }
  }
}

function checkGatherShapes(op: string, shape: readonly number[], d: number, index: Tensor): void {
  if (index.ndim !== shape.length) throw new Error(`${op}: index must have ${shape.length} dims like the input ${formatShape(shape)}, got ${formatShape(index.shape)}`);
  for (let k = 0; k < shape.length; k++) {
    if (k !== d && index.shape[k]! > shape[k]!) {
      throw new Error(`${op}: index ${formatShape(index.shape)} is larger than input ${formatShape(shape)} at dim ${k}`);
    }
  }
}

/** out[…i…] = x[…index[…i…]…] along dim (index int32, same rank as x). d: scatter-add the gradient back */
export function gather(x: Tensor, dim: number, index: Tensor): Tensor {
  requireInt('gather', 'index', index);
  const d = normalizeDim('gather', dim, x.ndim);
  checkGatherShapes('gather', x.shape, d, index);
  const [idx, idxOff] = flatBuffer(index);
  const out = allocStorage(x.dtype, index.numel);
  const size = x.shape[d]!;
  forEachIndex(index.shape, (flat, pos) => {
    const j = idx[idxOff + flat]!;
    if (j < 0 || j >= size) throw new Error(`gather: index ${j} is out of bounds for dim ${d} of size ${size}`);
    let at = x.offset;
    for (let k = 0; k < pos.length; k++) at += (k === d ? j : pos[k]!) * x.strides[k]!;
    out[flat] = x.storage[at]!;
  });
  const result = new Tensor(out, index.shape);
  return recordOp(result, 'gather', [x], (grad) => [scatterAdd(x.shape, d, index, grad)], [index]);
}

/** A zero tensor of `shape` with src added at out[…index[…i…]…] along dim. d/dsrc: gather */
export function scatterAdd(shape: readonly number[], dim: number, index: Tensor, src: Tensor): Tensor {
  requireInt('scatterAdd', 'index', index);
  const d = normalizeDim('scatterAdd', dim, shape.length);
  checkGatherShapes('scatterAdd', shape, d, index);
  const [idx, idxOff] = flatBuffer(index);
  const [values, valOff] = flatBuffer(src.expand([...index.shape]));
  const result = new Tensor(allocStorage(src.dtype, numelOf(shape)), shape);
  const strides = result.strides;
  const size = shape[d]!;
  forEachIndex(index.shape, (flat, pos) => {
    const j = idx[idxOff + flat]!;
    if (j < 0 || j >= size) throw new Error(`scatterAdd: index ${j} is out of bounds for dim ${d} of size ${size}`);
    let at = 0;
    for (let k = 0; k < pos.length; k++) at += (k === d ? j : pos[k]!) * strides[k]!;
    result.storage[at]! += values[valOff + flat]!;
  });
  return recordOp(result, 'scatterAdd', [src], (grad) => [gather(grad, d, index)], [index]);
}

/**
 * Slices of x picked by int32 indices along dim; the index may have any shape, which replaces that
 * dim (an embedding lookup is indexSelect(weight [V, C], 0, ids [B, T]) → [B, T, C]).
 * d: add each gradient slice back into the row it came from
 */
export function indexSelect(x: Tensor, dim: number, index: Tensor): Tensor {
  requireInt('indexSelect', 'index', index);
  const d = normalizeDim('indexSelect', dim, x.ndim);
  const size = x.shape[d]!;
  const [idx, idxOff] = flatBuffer(index);
  for (let j = 0; j < index.numel; j++) {
    const v = idx[idxOff + j]!;
    if (v < 0 || v >= size) throw new Error(`indexSelect: index ${v} is out of range for dim ${d} of size ${size} (shape ${formatShape(x.shape)})`);
  }
  const outer = numelOf(x.shape.slice(0, d));
  const inner = numelOf(x.shape.slice(d + 1));
  const outShape = [...x.shape.slice(0, d), ...index.shape, ...x.shape.slice(d + 1)];
  const [data, off] = flatBuffer(x);
  const out = allocStorage(x.dtype, numelOf(outShape));
  indexSelectForward(out, data, off, idx, idxOff, index.numel, outer, size, inner);
  const result = new Tensor(out, outShape);
  return recordOp(result, 'indexSelect', [x], (grad) => [indexAdd(x.shape, d, index, grad)], [index]);
}

/** A zero tensor of `shape` with the slices of src added at the indexed positions of dim. d/dsrc: indexSelect */
function indexAdd(shape: readonly number[], d: number, index: Tensor, src: Tensor): Tensor {
  const [idx, idxOff] = flatBuffer(index);
  const [values, valOff] = flatBuffer(src);
  const out = allocStorage(src.dtype, numelOf(shape));
  indexSelectBackward(out, values, valOff, idx, idxOff, index.numel, numelOf(shape.slice(0, d)), shape[d]!, numelOf(shape.slice(d + 1)));
  return recordOp(new Tensor(out, shape), 'indexAdd', [src], (grad) => [indexSelect(grad, d, index)], [index]);
}

/** a where cond is nonzero, else b (all three broadcast). d/da = cond, d/db = 1 − cond */
export function where(cond: Tensor, a: Tensor | number, b: Tensor | number): Tensor {
  const ref = a instanceof Tensor ? a : b instanceof Tensor ? b : Tensor.zeros([], 'float32');
  const x = asTensor(a, ref);
  const y = asTensor(b, ref);
  const shape = broadcastShapes('where', broadcastShapes('where', cond.shape, x.shape), y.shape);
  const dtype = promoteTypes(x.dtype, y.dtype);
  const n = numelOf(shape);
  const out = allocStorage(dtype, n);
  const strides = (t: Tensor) => broadcastStrides('where', t.shape, t.strides, shape);
  whereStridedForward(out, cond.storage, cond.offset, strides(cond), x.storage, x.offset, strides(x), y.storage, y.offset, strides(y), shape);
  const result = new Tensor(out, shape);
  return recordOp(result, 'where', [x, y], (grad) => [
    x.requiresGrad ? sumToShape(where(cond, grad, 0), x.shape) : null,
    y.requiresGrad ? sumToShape(where(cond, 0, grad), y.shape) : null,
  ], [cond]);
}

/** x with value wherever mask (broadcast to x's shape) is nonzero. d/dx = 1 where the mask is 0 */
export function maskedFill(x: Tensor, mask: Tensor, value: number): Tensor {
  const shape = broadcastShapes('maskedFill', x.shape, mask.shape);
  if (shape.length !== x.ndim || shape.some((s, i) => s !== x.shape[i])) {
    throw new Error(`maskedFill: mask ${formatShape(mask.shape)} must broadcast to the input's shape ${formatShape(x.shape)}`);
  }
  return where(mask, value, x);
}

function triangle(op: 'tril' | 'triu', x: Tensor, k: number): Tensor {
  if (x.ndim < 2) throw new Error(`${op}: expected a tensor with at least 2 dims, got ${formatShape(x.shape)}`);
  const rows = x.shape[x.ndim - 2]!;
  const cols = x.shape[x.ndim - 1]!;
  const [data, off] = flatBuffer(x);
  const out = allocStorage(x.dtype, x.numel);
  triangleForward(out, data, off, x.numel / Math.max(rows * cols, 1), rows, cols, k, op === 'tril');
  // the op is a fixed mask, linear in x: its backward applies the same mask
  return recordOp(new Tensor(out, x.shape), op, [x], (grad) => [triangle(op, grad, k)]);
}

/** Keeps x[…, i, j] with j − i ≤ k (the lower triangle), zeroes the rest. d: the same mask applied to the gradient */
export function tril(x: Tensor, k = 0): Tensor {
  return triangle('tril', x, k);
}

/** Keeps x[…, i, j] with j − i ≥ k (the upper triangle), zeroes the rest. d: the same mask applied to the gradient */
export function triu(x: Tensor, k = 0): Tensor {
  return triangle('triu', x, k);
}
