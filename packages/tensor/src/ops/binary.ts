// Binary elementwise ops with NumPy/PyTorch broadcasting. The backward of every broadcasting op
// ends in sumToShape, which sums the gradient back over the dims the input was broadcast along.

import { type DType, allocStorage, promoteTypes } from '../dtype.js';
import { recordOp } from '../autograd/graph.js';
import { type BinaryKernel, binaryForward, binaryScalarForward, binaryStridedForward } from '../kernels/elementwise.js';
import { broadcastShapes, broadcastStrides, numelOf, sameShape } from '../shape.js';
import { Tensor, type TensorLike } from '../tensor.js';
import { asTensor, fromStorage } from './common.js';
import { where } from './indexing.js';

/** Runs a binary kernel with broadcasting (no autograd); output dtype as given or promoted. */
function mapBinary(kind: BinaryKernel, a: Tensor, b: Tensor, outDType?: DType): Tensor {
  const shape = broadcastShapes(kind, a.shape, b.shape);
  const dtype = outDType ?? promoteTypes(a.dtype, b.dtype);
  const n = numelOf(shape);
  const out = allocStorage(dtype, n);
  if (n === 0) return fromStorage(out, shape);
  const aDense = sameShape(a.shape, shape) && a.isContiguous();
  const bDense = sameShape(b.shape, shape) && b.isContiguous();
  if (aDense && bDense) {
    binaryForward(kind, out, a.storage, a.offset, b.storage, b.offset, n);
  } else if (aDense && b.numel === 1) {
    binaryScalarForward(kind, out, a.storage, a.offset, b.storage[b.offset]!, n, false);
  } else if (bDense && a.numel === 1) {
    binaryScalarForward(kind, out, b.storage, b.offset, a.storage[a.offset]!, n, true);
  } else {
    // rows, columns, leading dims and strided views: read in place through (broadcast) strides
    const aStrides = broadcastStrides(kind, a.shape, a.strides, shape);
    const bStrides = broadcastStrides(kind, b.shape, b.strides, shape);
    binaryStridedForward(kind, out, a.storage, a.offset, aStrides, b.storage, b.offset, bStrides, shape);
  }
  return fromStorage(out, shape);
}

/**
 * Sums a gradient back to the shape an input had before broadcasting: over the leading dims it
 * lacked and over the dims where it had size 1 (TensorFlow.js's getReductionAxes, then sum).
 */
export function sumToShape(grad: Tensor, shape: readonly number[]): Tensor {
  if (sameShape(grad.shape, shape)) return grad;
  const lead = grad.ndim - shape.length;
  const dims: number[] = [];
  for (let i = 0; i < grad.ndim; i++) {
    if (i < lead || (shape[i - lead] === 1 && grad.shape[i] !== 1)) dims.push(i);
  }
  let out = dims.length > 0 ? grad.sum(dims, true) : grad;
  if (lead > 0 || !sameShape(out.shape, shape)) out = out.reshape([...shape]);
  return out;
}

function operands(a: Tensor, b: TensorLike): [Tensor, Tensor] {
  return [a, asTensor(b, a)];
}

// ************* arithmetic *************

/** a + b. d/da = 1, d/db = 1 */
export function add(a: Tensor, other: TensorLike): Tensor {
  const [x, y] = operands(a, other);
  const out = mapBinary('add', x, y);
  return recordOp(out, 'add', [x, y], (grad) => [
    x.requiresGrad ? sumToShape(grad, x.shape) : null,
    y.requiresGrad ? sumToShape(grad, y.shape) : null,
  ]);
}

/** a − b. d/da = 1, d/db = −1 */
export function sub(a: Tensor, other: TensorLike): Tensor {
  const [x, y] = operands(a, other);
  const out = mapBinary('sub', x, y);
  return recordOp(out, 'sub', [x, y], (grad) => [
    x.requiresGrad ? sumToShape(grad, x.shape) : null,
    y.requiresGrad ? sumToShape(grad.neg(), y.shape) : null,
  ]);
}

/** a · b. d/da = b, d/db = a */
export function mul(a: Tensor, other: TensorLike): Tensor {
  const [x, y] = operands(a, other);
  const out = mapBinary('mul', x, y);
  return recordOp(out, 'mul', [x, y], (grad) => [
    x.requiresGrad ? sumToShape(grad.mul(y), x.shape) : null,
    y.requiresGrad ? sumToShape(grad.mul(x), y.shape) : null,
  ], [x.requiresGrad ? y : null, y.requiresGrad ? x : null]);
}

/** a / b (true division: int32 operands give float32). d/da = 1/b, d/db = −a/b² */
export function div(a: Tensor, other: TensorLike): Tensor {
  const [x, y] = operands(a, other);
  const dtype = promoteTypes(x.dtype, y.dtype);
  const out = mapBinary('div', x, y, dtype === 'int32' ? 'float32' : dtype);
  return recordOp(out, 'div', [x, y], (grad) => [
    x.requiresGrad ? sumToShape(grad.div(y), x.shape) : null,
    y.requiresGrad ? sumToShape(grad.mul(x).div(y.square()).neg(), y.shape) : null,
  ], [y, y.requiresGrad ? x : null]);
}

/**
 * a ** b. d/da = b·a^(b−1), d/db = a^b · ln a; at a zero base the formulas give 0·∞ = NaN
 * where PyTorch gives 0: d/da where b = 0, d/db where b ≥ 0. (Masked only at a = 0, so second
 * derivatives elsewhere stay exact.)
 */
export function pow(a: Tensor, exponent: TensorLike): Tensor {
  const [x, y] = operands(a, exponent);
  const out = mapBinary('pow', x, y);
  return recordOp(out, 'pow', [x, y], (grad) => [
    x.requiresGrad ? sumToShape(where(x.eq(0).mul(y.eq(0)), 0, grad.mul(y).mul(x.pow(y.sub(1)))), x.shape) : null,
    y.requiresGrad ? sumToShape(where(x.eq(0).mul(y.ge(0)), 0, grad.mul(out).mul(x.log())), y.shape) : null,
  ], [x, y, y.requiresGrad ? out : null]);
}

/** max(a, b) elementwise. d/da = 1 where a > b, ½ where equal (as PyTorch), else 0 */
export function maximum(a: Tensor, other: TensorLike): Tensor {
  return elementwiseExtremum('maximum', a, other);
}

/** min(a, b) elementwise. d/da = 1 where a < b, ½ where equal (as PyTorch), else 0 */
export function minimum(a: Tensor, other: TensorLike): Tensor {
  return elementwiseExtremum('minimum', a, other);
}

function elementwiseExtremum(kind: 'maximum' | 'minimum', a: Tensor, other: TensorLike): Tensor {
  const [x, y] = operands(a, other);
  const out = mapBinary(kind, x, y);
  return recordOp(out, kind, [x, y], (grad) => {
    const xd = x.detach();
    const yd = y.detach();
    const wins = kind === 'maximum' ? mapBinary('gt', xd, yd, grad.dtype) : mapBinary('lt', xd, yd, grad.dtype);
    const ties = mapBinary('eq', xd, yd, grad.dtype).mul(0.5);
    const xShare = wins.add(ties);
    return [
      x.requiresGrad ? sumToShape(grad.mul(xShare), x.shape) : null,
      y.requiresGrad ? sumToShape(grad.mul(xShare.neg().add(1)), y.shape) : null,
    ];
  }, [x, y]);
}

// ************* comparisons (not differentiable) *************

/** Elementwise comparison giving int32 0/1, broadcasting. */
export function compare(kind: 'gt' | 'lt' | 'ge' | 'le' | 'eq' | 'ne', a: Tensor, other: TensorLike): Tensor {
  const [x, y] = operands(a, other);
  return mapBinary(kind, x, y, 'int32');
}
