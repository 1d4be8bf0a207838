// Unary elementwise ops. Each forward runs a kernel from kernels/elementwise.ts; each backward is
// written with tensor ops (so it is itself differentiable) and opens with its derivative.

import { allocStorage, type DType } from '../dtype.js';
import { recordOp } from '../autograd/graph.js';
import { type UnaryKernel, unaryForward } from '../kernels/elementwise.js';
import { Tensor } from '../tensor.js';
import { flatBuffer, fromStorage, requireFloat } from './common.js';

/** Runs a unary kernel over t (no autograd). */
function mapUnary(kind: UnaryKernel, t: Tensor, dtype: DType = t.dtype): Tensor {
  const [data, off] = flatBuffer(t);
  const out = allocStorage(dtype, t.numel);
  unaryForward(kind, out, data, off, t.numel);
  return fromStorage(out, t.shape);
}

function floatUnary(kind: UnaryKernel, x: Tensor): Tensor {
  requireFloat(kind, x);
  return mapUnary(kind, x);
}

// ************* sign and magnitude *************

/** −x. d/dx (−x) = −1 */
export function neg(x: Tensor): Tensor {
  const out = mapUnary('neg', x);
  return recordOp(out, 'neg', [x], (grad) => [grad.neg()]);
}

/** |x|. d/dx |x| = sign(x) (0 at 0, as PyTorch). */
export function abs(x: Tensor): Tensor {
  const out = mapUnary('abs', x);
  return recordOp(out, 'abs', [x], (grad) => [grad.mul(mapUnary('sign', x))], [x]);
}

/** x². d/dx x² = 2x */
export function square(x: Tensor): Tensor {
  const out = mapUnary('square', x);
  return recordOp(out, 'square', [x], (grad) => [grad.mul(x).mul(2)], [x]);
}

/** Clamps into [min, max]. d/dx clamp(x) = 1 inside the bounds (bounds included, as PyTorch), 0 outside */
export function clamp(x: Tensor, min?: number | null, max?: number | null): Tensor {
  if (min == null && max == null) throw new Error('clamp: at least one of min and max must be given');
  if (min != null && max != null && min > max) throw new Error(`clamp: min ${min} is greater than max ${max}`);
  let out = x.detach();
  if (min != null) out = out.maximum(min);
  if (max != null) out = out.minimum(max);
  return recordOp(out, 'clamp', [x], (grad) => {
    let inside = grad;
    if (min != null) inside = inside.mul(x.detach().ge(min));
    if (max != null) inside = inside.mul(x.detach().le(max));
    return [inside];
  }, [x]);
}

// ************* exponentials and powers *************

/** e^x. d/dx exp(x) = exp(x): reuse out */
export function exp(x: Tensor): Tensor {
  const out = floatUnary('exp', x);
  return recordOp(out, 'exp', [x], (grad) => [grad.mul(out)], [out]);
}

/** ln x. d/dx log(x) = 1/x */
export function log(x: Tensor): Tensor {
  const out = floatUnary('log', x);
  return recordOp(out, 'log', [x], (grad) => [grad.div(x)], [x]);
}

/** √x. d/dx √x = 1 / (2√x): reuse out */
export function sqrt(x: Tensor): Tensor {
  const out = floatUnary('sqrt', x);
  return recordOp(out, 'sqrt', [x], (grad) => [grad.div(out.mul(2))], [out]);
}

/** 1/√x. d/dx x^(−1/2) = −½ x^(−3/2) = −½ out³ */
export function rsqrt(x: Tensor): Tensor {
  const out = floatUnary('rsqrt', x);
  return recordOp(out, 'rsqrt', [x], (grad) => [grad.mul(out.pow(3)).mul(-0.5)], [out]);
}

// ************* trigonometric and activations *************

/** sin x. d/dx sin(x) = cos(x) */
export function sin(x: Tensor): Tensor {
  const out = floatUnary('sin', x);
  return recordOp(out, 'sin', [x], (grad) => [grad.mul(cos(x))], [x]);
}

/** cos x. d/dx cos(x) = −sin(x) */
export function cos(x: Tensor): Tensor {
  const out = floatUnary('cos', x);
  return recordOp(out, 'cos', [x], (grad) => [grad.mul(sin(x)).neg()], [x]);
}

/** tanh x. d/dx tanh(x) = 1 − tanh²(x): reuse out */
export function tanh(x: Tensor): Tensor {
  const out = floatUnary('tanh', x);
  return recordOp(out, 'tanh', [x], (grad) => [grad.mul(out.square().neg().add(1))], [out]);
}

/** σ(x) = 1/(1+e^−x). d/dx σ(x) = σ(x)(1 − σ(x)): reuse out */
export function sigmoid(x: Tensor): Tensor {
  const out = floatUnary('sigmoid', x);
  return recordOp(out, 'sigmoid', [x], (grad) => [grad.mul(out.mul(out.neg().add(1)))], [out]);
}

/** max(x, 0). d/dx relu(x) = 1 where x > 0, else 0 */
export function relu(x: Tensor): Tensor {
  const out = mapUnary('relu', x);
  // NOTE: the mask is taken from x, not out, so the gradient at exactly 0 is 0 (as PyTorch)
  return recordOp(out, 'relu', [x], (grad) => [grad.mul(x.detach().gt(0))], [x]);
}

/** x·σ(x). d/dx silu(x) = σ(x)(1 + x(1 − σ(x))) */
export function silu(x: Tensor): Tensor {
  const out = floatUnary('silu', x);
  return recordOp(out, 'silu', [x], (grad) => {
    const s = sigmoid(x);
    return [grad.mul(s.mul(x.mul(s.neg().add(1)).add(1)))];
  }, [x]);
}

// ************* dtype conversion *************

/** A copy in another dtype. d/dx cast(x) = 1, cast back to x's dtype */
export function cast(x: Tensor, dtype: DType): Tensor {
  const [data, off] = flatBuffer(x);
  const out = allocStorage(dtype, x.numel);
  if (dtype === 'int32') {
    // PyTorch truncates toward zero when converting floats to integers
    for (let i = 0; i < x.numel; i++) out[i] = Math.trunc(data[off + i]!);
  } else {
    for (let i = 0; i < x.numel; i++) out[i] = data[off + i]!;
  }
  const result = new Tensor(out, x.shape);
  if (dtype === 'int32') return result;
  return recordOp(result, 'cast', [x], (grad) => [x.dtype === 'int32' ? null : cast(grad, x.dtype)]);
}
