// Movement ops: views over the same storage where the layout allows (reshape, transpose, permute,
// expand, unsqueeze, squeeze, narrow), copies where it does not (contiguous, cat). The backward of a
// movement is the inverse movement: "expand: this is sum in reverse".

import { allocStorage, promoteTypes } from '../dtype.js';
import { recordOp } from '../autograd/graph.js';
import { copyStrided } from '../kernels/elementwise.js';
import { broadcastStrides, checkShape, contiguousStrides, formatShape, inferShape, normalizeDim, numelOf, sameShape, viewStrides } from '../shape.js';
import { Tensor } from '../tensor.js';
import { sumToShape } from './binary.js';

function view(x: Tensor, shape: readonly number[], strides: readonly number[], offset: number): Tensor {
  return new Tensor(x.storage, shape, strides, offset, x.dtype);
}

/** The same elements in a new shape (one size may be −1); a view when the strides allow. d: reshape back */
export function reshape(x: Tensor, shape: number[]): Tensor {
  const target = inferShape('reshape', shape, x.numel, x.shape);
  if (sameShape(target, x.shape)) return x;
  const strides = viewStrides(x.shape, x.strides, target);
  const out = strides ? view(x, target, strides, x.offset) : view(contiguousCopy(x), target, contiguousStrides(target), 0);
  return recordOp(out, 'reshape', [x], (grad) => [grad.reshape([...x.shape])]);
}

/** Swaps two dims (a view). d: swap them back */
export function transpose(x: Tensor, dim0: number, dim1: number): Tensor {
  const d0 = normalizeDim('transpose', dim0, x.ndim);
  const d1 = normalizeDim('transpose', dim1, x.ndim);
  const order = x.shape.map((_, i) => i);
  order[d0] = d1;
  order[d1] = d0;
  return permute(x, order);
}

/** Reorders dims (a view). d: the inverse permutation */
export function permute(x: Tensor, dims: number[]): Tensor {
  if (dims.length !== x.ndim) throw new Error(`permute: expected ${x.ndim} dims for shape ${formatShape(x.shape)}, got ${formatShape(dims)}`);
  const order = dims.map((d) => normalizeDim('permute', d, x.ndim));
  if (new Set(order).size !== order.length) throw new Error(`permute: dims ${formatShape(dims)} repeat a dim`);
  if (order.every((d, i) => d === i)) return x;
  const out = view(x, order.map((d) => x.shape[d]!), order.map((d) => x.strides[d]!), x.offset);
  const inverse = new Array<number>(order.length);
  order.forEach((d, i) => (inverse[d] = i));
  return recordOp(out, 'permute', [x], (grad) => [grad.permute(inverse)]);
}

/** Repeats size-1 dims (and adds leading dims) with stride 0, no copy; −1 keeps a size. d: sum back */
export function expand(x: Tensor, shape: number[]): Tensor {
  const lead = shape.length - x.ndim;
  if (lead < 0) throw new Error(`expand: cannot expand ${formatShape(x.shape)} to ${formatShape(shape)} (fewer dims)`);
  const target = shape.map((s, i) => (s === -1 && i >= lead ? x.shape[i - lead]! : s));
  checkShape('expand', target);
  if (sameShape(target, x.shape)) return x;
  const out = view(x, target, broadcastStrides('expand', x.shape, x.strides, target), x.offset);
  return recordOp(out, 'expand', [x], (grad) => [sumToShape(grad, x.shape)]);
}

/** Inserts a size-1 dim at position dim (−1 appends). d: reshape back (it is a reshape) */
export function unsqueeze(x: Tensor, dim: number): Tensor {
  const d = normalizeDim('unsqueeze', dim, x.ndim + 1);
  const shape = [...x.shape];
  shape.splice(d, 0, 1);
  return reshape(x, shape);
}

/** Removes a size-1 dim, or all of them when dim is omitted (a size > 1 dim is left, as PyTorch). d: reshape back */
export function squeeze(x: Tensor, dim?: number): Tensor {
  if (dim === undefined) return reshape(x, x.shape.filter((s) => s !== 1));
  const d = normalizeDim('squeeze', dim, x.ndim);
  if (x.ndim === 0 || x.shape[d] !== 1) return x;
  return reshape(x, x.shape.filter((_, i) => i !== d));
}

/** Merges dims startDim..endDim into one. d: reshape back */
export function flatten(x: Tensor, startDim = 0, endDim = -1): Tensor {
  if (x.ndim === 0) return reshape(x, [1]);
  const s = normalizeDim('flatten', startDim, x.ndim);
  const e = normalizeDim('flatten', endDim, x.ndim);
  if (s > e) throw new Error(`flatten: startDim ${startDim} comes after endDim ${endDim}`);
  const merged = numelOf(x.shape.slice(s, e + 1));
  return reshape(x, [...x.shape.slice(0, s), merged, ...x.shape.slice(e + 1)]);
}

/** The slice [start, start + length) of a dim, as a view. d: the gradient padded with zeros */
export function narrow(x: Tensor, dim: number, start: number, length: number): Tensor {
  const d = normalizeDim('narrow', dim, x.ndim);
  const size = x.shape[d]!;
  if (!Number.isInteger(start) || !Number.isInteger(length) || start < 0 || length < 0 || start + length > size) {
    throw new Error(`narrow: range [${start}, ${start + length}) is out of bounds for dim ${d} of size ${size} (shape ${formatShape(x.shape)})`);
  }
  if (start === 0 && length === size) return x;
  const shape = [...x.shape];
  shape[d] = length;
  const out = view(x, shape, x.strides, x.offset + start * x.strides[d]!);
  return recordOp(out, 'narrow', [x], (grad) => [padNarrowed(grad, d, start, size)]);
}

/** Python-style slice of one dim (negative indices count from the end; clipped like Python). d: as narrow, the gradient padded with zeros */
export function slice(x: Tensor, dim: number, start = 0, end?: number): Tensor {
  const d = normalizeDim('slice', dim, x.ndim);
  const size = x.shape[d]!;
  const norm = (i: number) => Math.min(Math.max(i < 0 ? i + size : i, 0), size);
  const s = norm(start);
  const e = norm(end ?? size);
  return narrow(x, d, s, Math.max(e - s, 0));
}

/** Places grad at [start, start + len) of a zero tensor whose dim has `size`: the inverse of narrow. */
function padNarrowed(grad: Tensor, dim: number, start: number, size: number): Tensor {
  const shape = [...grad.shape];
  shape[dim] = size;
  const out = new Tensor(allocStorage(grad.dtype, numelOf(shape)), shape);
  const target = view(out, grad.shape, out.strides, start * out.strides[dim]!);
  copyStrided(target.storage, target.offset, target.strides, grad.storage, grad.offset, grad.strides, grad.shape);
  // d/dgrad pad(grad) = narrow: the two are each other's backward
  return recordOp(out, 'pad', [grad], (g) => [g.narrow(dim, start, grad.shape[dim]!)]);
}

function contiguousCopy(x: Tensor): Tensor {
  const out = allocStorage(x.dtype, x.numel);
  copyStrided(out, 0, contiguousStrides(x.shape), x.storage, x.offset, x.strides, x.shape);
  return new Tensor(out, x.shape);
}

/** x itself when contiguous, else a contiguous copy. d: identity */
export function contiguous(x: Tensor): Tensor {
  if (x.isContiguous()) return x;
  return clone(x);
}

/** A contiguous copy in fresh storage. d: identity */
export function clone(x: Tensor): Tensor {
  return recordOp(contiguousCopy(x), 'clone', [x], (grad) => [grad]);
}

/** Joins tensors along an existing dim. d: each input gets its slice of the gradient */
export function cat(tensors: readonly Tensor[], dim = 0): Tensor {
  if (tensors.length === 0) throw new Error('cat: expected at least one tensor');
  const first = tensors[0]!;
  if (first.ndim === 0) throw new Error('cat: zero-dimensional tensors cannot be concatenated; use stack');
  const d = normalizeDim('cat', dim, first.ndim);
  const shape = [...first.shape];
  let total = 0;
  let dtype = first.dtype;
  for (const [i, t] of tensors.entries()) {
    if (t.ndim !== first.ndim || t.shape.some((s, k) => k !== d && s !== first.shape[k])) {
      throw new Error(`cat: tensor ${i} has shape ${formatShape(t.shape)}, which does not match ${formatShape(first.shape)} outside dim ${d}`);
    }
    total += t.shape[d]!;
    dtype = promoteTypes(dtype, t.dtype);
  }
  shape[d] = total;
  const out = new Tensor(allocStorage(dtype, numelOf(shape)), shape);
  let at = 0;
  for (const t of tensors) {
    const len = t.shape[d]!;
    copyStrided(out.storage, at * out.strides[d]!, out.strides, t.storage, t.offset, t.strides, t.shape);
    at += len;
  }
  return recordOp(out, 'cat', tensors, (grad) => {
    let start = 0;
    return tensors.map((t) => {
      const piece = t.requiresGrad ? grad.narrow(d, start, t.shape[d]!) : null;
      start += t.shape[d]!;
      return piece;
    });
  });
}

/** Joins tensors of one shape along a new dim. d: as cat of the unsqueezed inputs, each gets its slice */
export function stack(tensors: readonly Tensor[], dim = 0): Tensor {
  if (tensors.length === 0) throw new Error('stack: expected at least one tensor');
  const first = tensors[0]!;
  for (const [i, t] of tensors.entries()) {
    if (!sameShape(t.shape, first.shape)) throw new Error(`stack: tensor ${i} has shape ${formatShape(t.shape)}, expected ${formatShape(first.shape)}`);
  }
  const d = normalizeDim('stack', dim, first.ndim + 1);
  return cat(tensors.map((t) => t.unsqueeze(d)), d);
}
