// Fused ops: a hand-written kernel for the forward and the backward (one pass over memory, no
// intermediates), each with its composite backward written with tensor ops beside it, which
// recordFusedOp runs instead when a graph of the backward is asked for (autograd/graph.ts).

import { type Storage, allocOverwritten, allocStorage } from '../dtype.js';
import { recordFusedOp } from '../autograd/graph.js';
import {
  crossEntropyBackward, crossEntropyForward, logSoftmaxBackward, logSoftmaxForward, rmsNormBackward,
  rmsNormForward, rotaryBackward, rotaryForward, softmaxBackward, softmaxForward, swigluBackward, swigluForward,
} from '../kernels/fused.js';
import { contiguousStrides, formatShape, normalizeDim, sameShape, stridedOffsets } from '../shape.js';
import { Tensor } from '../tensor.js';
import { flatBuffer, requireFloat, requireInt } from './common.js';
import { cat } from './movement.js';

function lastDimRows(x: Tensor): [number, number] {
  const cols = x.ndim === 0 ? 1 : x.shape[x.ndim - 1]!;
  return [cols === 0 ? 0 : x.numel / cols, cols];
}

// ************* softmax and logSoftmax *************

/** The kernels and the composite backward of a row-wise op over the last dim whose backward reads only its output y. */
interface RowwiseOp {
  forward: (y: Storage, x: Storage, xOff: number, rows: number, cols: number) => void;
  backward: (dx: Storage, g: Storage, gOff: number, y: Storage, rows: number, cols: number) => void;
  composite: (grad: Tensor, y: Tensor) => Tensor;
}

// softmax and logSoftmax: along any dim by transposing it last, then one kernel call over the rows.
function rowwise(name: string, x: Tensor, dim: number, op: RowwiseOp): Tensor {
  requireFloat(name, x);
  const d = normalizeDim(name, dim, x.ndim);
  if (x.ndim > 0 && d !== x.ndim - 1) return rowwise(name, x.transpose(d, -1), -1, op).transpose(d, -1);
  const [rows, cols] = lastDimRows(x);
  const [data, off] = flatBuffer(x);
  const y = new Tensor(allocOverwritten(x.dtype, x.numel), x.shape);
  op.forward(y.storage, data, off, rows, cols);
  return recordFusedOp(y, name, [x], {
    backward: (grad) => {
      const [g, gOff] = flatBuffer(grad);
      const dx = allocOverwritten(x.dtype, x.numel);
      op.backward(dx, g, gOff, y.storage, rows, cols);
      return [new Tensor(dx, x.shape)];
    },
    composite: (grad) => [op.composite(grad, y)],
    saved: [y],
  });
}

const SOFTMAX: RowwiseOp = { forward: softmaxForward, backward: softmaxBackward, composite: (g, y) => y.mul(g.sub(g.mul(y).sum(-1, true))) };
const LOG_SOFTMAX: RowwiseOp = { forward: logSoftmaxForward, backward: logSoftmaxBackward, composite: (g, y) => g.sub(y.exp().mul(g.sum(-1, true))) };

/** softmax(x)_i = e^{x_i} / Σ_j e^{x_j} along dim. d: dx = y ⊙ (g − Σ g ⊙ y) */
export function softmax(x: Tensor, dim: number): Tensor {
  return rowwise('softmax', x, dim, SOFTMAX);
}

/** log softmax(x) = x − logsumexp(x) along dim. d: dx = g − softmax(x) · Σ g */
export function logSoftmax(x: Tensor, dim: number): Tensor {
  return rowwise('logSoftmax', x, dim, LOG_SOFTMAX);
}

// ************* RMSNorm *************

/**
 * RMSNorm over the last dim: x / √(mean(x²) + eps) · weight; x [..., C], weight [C].
 * d: with r = (mean(x²)+eps)^(−½): dx = r·(g⊙w) − x·r³·mean(g⊙w⊙x), dw = Σ_rows g⊙x·r
 */
export function rmsNorm(x: Tensor, weight: Tensor, eps = 1e-6): Tensor {
  requireFloat('rmsNorm', x);
  requireFloat('rmsNorm', weight);
  const cols = x.shape[x.ndim - 1];
  if (x.ndim === 0 || weight.ndim !== 1 || weight.shape[0] !== cols) {
    throw new Error(`rmsNorm: weight ${formatShape(weight.shape)} must be [C] with C the last dim of x ${formatShape(x.shape)}`);
  }
  if (x.dtype !== weight.dtype) throw new Error(`rmsNorm: x is ${x.dtype} but weight is ${weight.dtype}`);
  const [rows] = lastDimRows(x);
  const [xd, xOff] = flatBuffer(x);
  const [wd, wOff] = flatBuffer(weight);
  const out = new Tensor(allocStorage(x.dtype, x.numel), x.shape);
  const rstd = new Float64Array(rows);
  rmsNormForward(out.storage, rstd, xd, xOff, wd, wOff, rows, cols, eps);
  return recordFusedOp(out, 'rmsNorm', [x, weight], {
    backward: (grad) => {
      const [g, gOff] = flatBuffer(grad);
      const dx = allocStorage(x.dtype, x.numel);
      const dw64 = new Float64Array(cols);
      rmsNormBackward(dx, dw64, g, gOff, xd, xOff, wd, wOff, rstd, rows, cols);
      const dw = allocStorage(weight.dtype, cols);
      dw.set(dw64);
      return [new Tensor(dx, x.shape), new Tensor(dw, weight.shape)];
    },
    composite: (grad) => {
      const r = x.square().mean(-1, true).add(eps).rsqrt();
      const gw = grad.mul(weight);
      const dx = r.mul(gw).sub(x.mul(r.pow(3)).mul(gw.mul(x).mean(-1, true)));
      const dw = grad.mul(x).mul(r).reshape([-1, cols]).sum(0);
      return [dx, dw];
    },
    saved: [x, weight],
  });
}

// ************* cross-entropy *************

/** Options of crossEntropy. */
export interface CrossEntropyOptions {
  /** Targets equal to this are skipped (default −100, as PyTorch and Hugging Face). */
  ignoreIndex?: number;
  /** 'mean' over counted targets (default), 'sum', or 'none' (one loss per row). */
  reduction?: 'mean' | 'sum' | 'none';
}

/**
 * Cross-entropy of logits [N, C] against int32 class targets [N], from log-sum-exp (stable for
 * any logits); no softmax is materialized in either pass.
 * d: dlogits = (softmax(logits) − onehot(target)) · g / count, zero on ignored rows
 */
export function crossEntropy(logits: Tensor, targets: Tensor, opts: CrossEntropyOptions = {}): Tensor {
  const ignoreIndex = opts.ignoreIndex ?? -100;
  const reduction = opts.reduction ?? 'mean';
  checkCrossEntropyArgs(logits, targets, reduction);
  const [rows, cols] = [logits.shape[0]!, logits.shape[1]!];
  const [xd, xOff] = flatBuffer(logits);
  const [td, tOff] = flatBuffer(targets);
  const losses = new Float64Array(rows);
  const lse = new Float64Array(rows);
  const counted = crossEntropyForward(losses, lse, xd, xOff, td, tOff, rows, cols, ignoreIndex);
  if (counted < 0) {
    const r = -counted - 1;
    throw new Error(`crossEntropy: target ${td[tOff + r]} at row ${r} is out of range for ${cols} classes (expected 0 to ${cols - 1} or ignoreIndex ${ignoreIndex})`);
  }
  if (reduction === 'mean' && counted === 0) {
    throw new Error(`crossEntropy: every target equals ignoreIndex ${ignoreIndex}; the mean over zero targets is undefined`);
  }
  // the gradient of each row's loss: g itself ('none'), or the one scalar g shared by all rows
  const rowGrad = (g: Storage, gOff: number, r: number) => (reduction === 'none' ? g[gOff + r]! : reduction === 'mean' ? g[gOff]! / counted : g[gOff]!);
  const out = reduceLosses(losses, reduction, counted, logits.dtype);
  return recordFusedOp(out, 'crossEntropy', [logits], {
    backward: (grad) => {
      const [g, gOff] = flatBuffer(grad);
      const scale = Float64Array.from({ length: rows }, (_, r) => rowGrad(g, gOff, r));
      const dx = allocStorage(logits.dtype, logits.numel);
      crossEntropyBackward(dx, scale, xd, xOff, td, tOff, lse, rows, cols, ignoreIndex);
      return [new Tensor(dx, logits.shape)];
    },
    composite: (grad) => {
      const rowScale = reduction === 'none' ? grad.unsqueeze(-1) : reduction === 'mean' ? grad.div(counted) : grad;
      const { onehot, counts } = targetRows(logits, td, tOff, ignoreIndex);
      return [logits.softmax(-1).sub(onehot).mul(counts).mul(rowScale)];
    },
    saved: [logits, targets],
  });
}

function checkCrossEntropyArgs(logits: Tensor, targets: Tensor, reduction: string): void {
  requireFloat('crossEntropy', logits);
  requireInt('crossEntropy', 'targets', targets);
  if (logits.ndim !== 2 || targets.ndim !== 1 || targets.shape[0] !== logits.shape[0]) {
    throw new Error(`crossEntropy: expected logits [N, C] and targets [N], got ${formatShape(logits.shape)} and ${formatShape(targets.shape)}`);
  }
  if (!['mean', 'sum', 'none'].includes(reduction)) throw new Error(`crossEntropy: unknown reduction '${reduction}'; expected 'mean', 'sum' or 'none'`);
}

// The loss tensor: one loss per row ('none'), or their sum or mean over the counted rows, as a scalar.
function reduceLosses(losses: Float64Array, reduction: 'mean' | 'sum' | 'none', counted: number, dtype: Tensor['dtype']): Tensor {
  if (reduction === 'none') {
    const out = new Tensor(allocStorage(dtype, losses.length), [losses.length]);
    out.storage.set(losses);
    return out;
  }
  let total = 0;
  for (const loss of losses) total += loss;
  const out = new Tensor(allocStorage(dtype, 1), []);
  out.storage[0] = reduction === 'mean' ? total / counted : total;
  return out;
}

// For the composite backward: the one-hot targets [N, C] and which rows count (1) or are ignored (0) [N, 1].
function targetRows(logits: Tensor, td: Storage, tOff: number, ignoreIndex: number) {
  const [rows, cols] = [logits.shape[0]!, logits.shape[1]!];
  const counts = new Tensor(allocStorage(logits.dtype, rows), [rows, 1]);
  const onehot = new Tensor(allocStorage(logits.dtype, rows * cols), [rows, cols]);
  for (let r = 0; r < rows; r++) {
    const t = td[tOff + r]!;
    if (t === ignoreIndex) continue;
    counts.storage[r] = 1;
    onehot.storage[r * cols + t] = 1;
  }
  return { onehot, counts };
}

// ************* SwiGLU *************

/** silu(gate) ⊙ up in one pass (LLaMA's MLP). d: dgate = g·up·σ(gate)(1 + gate(1 − σ(gate))), dup = g·silu(gate) */
export function swiglu(gate: Tensor, up: Tensor): Tensor {
  requireFloat('swiglu', gate);
  requireFloat('swiglu', up);
  // broadcasting or mixed dtypes: the composite, which handles both
  if (!sameShape(gate.shape, up.shape) || gate.dtype !== up.dtype) return gate.silu().mul(up);
  const n = gate.numel;
  const [gd, gOff] = flatBuffer(gate);
  const [ud, uOff] = flatBuffer(up);
  const out = new Tensor(allocStorage(gate.dtype, n), gate.shape);
  swigluForward(out.storage, gd, gOff, ud, uOff, n);
  return recordFusedOp(out, 'swiglu', [gate, up], {
    backward: (grad) => {
      const [g, gradOff] = flatBuffer(grad);
      const dGate = allocStorage(gate.dtype, n);
      const dUp = allocStorage(up.dtype, n);
      swigluBackward(dGate, dUp, g, gradOff, gd, gOff, ud, uOff, n);
      return [new Tensor(dGate, gate.shape), new Tensor(dUp, up.shape)];
    },
    composite: (grad) => {
      const s = gate.sigmoid();
      return [grad.mul(up).mul(s.mul(gate.mul(s.neg().add(1)).add(1))), grad.mul(gate.silu())];
    },
    saved: [gate, up],
  });
}

// ************* rotary embedding *************

/** cat(−x[..., D/2:], x[..., :D/2]) along the last dim, with tensor ops. */
function rotateHalf(x: Tensor): Tensor {
  const h = x.shape[x.ndim - 1]! / 2;
  return cat([x.narrow(-1, h, h).neg(), x.narrow(-1, 0, h)], -1);
}

/** The transpose of rotateHalf: cat(y[..., D/2:], −y[..., :D/2]). */
function rotateHalfT(y: Tensor): Tensor {
  const h = y.shape[y.ndim - 1]! / 2;
  return cat([y.narrow(-1, h, h), y.narrow(-1, 0, h).neg()], -1);
}

// Strides of a fresh dense tensor with t's dim order (PyTorch's preserve_format), so the output of
// rotary on a transposed view transposes back to a contiguous tensor; null unless t's dims are
// ordered by stride with the last innermost and none expanded (stride 0).
function denseStridesLike(t: Tensor): number[] | null {
  const n = t.ndim;
  const dims = t.shape.map((_, i) => i).filter((i) => t.shape[i]! > 1);
  if (dims.some((i) => t.strides[i] === 0)) return null;
  const order = [...dims].sort((a, b) => t.strides[b]! - t.strides[a]! || a - b);
  if (order.length > 0 && order[order.length - 1] !== n - 1) return null;
  const strides = new Array<number>(n);
  let size = 1;
  for (let j = order.length - 1; j >= 0; j--) {
    strides[order[j]!] = size;
    size *= t.shape[order[j]!]!;
  }
  for (let i = 0; i < n; i++) if (t.shape[i]! <= 1) strides[i] = size; // any stride indexes a size-1 dim
  return strides;
}

// The storage offset of every row [.., T, D] of a tensor of shape [...lead, T, D].
function rowOffsets(shape: readonly number[], strides: readonly number[], offset: number): Int32Array {
  return stridedOffsets(shape.slice(0, -2), strides.slice(0, -2), offset);
}

// A tensor whose last dim has stride 1: t itself, or a contiguous copy (no autograd).
function withUnitLastStride(t: Tensor): Tensor {
  if (t.strides[t.ndim - 1] === 1 || t.shape[t.ndim - 1]! <= 1) return t;
  const [data, off] = flatBuffer(t);
  return new Tensor(data, t.shape, undefined, off, t.dtype);
}

/**
 * Rotary embedding in Hugging Face's rotate-half layout: x [..., T, D] at positions offset..offset+T−1
 * → x·cos + rotateHalf(x)·sin, for tables cos, sin [maxT, D]; reads strided x (a transposed view of
 * [B, T, H, D]) in place and lays the output out in x's dim order.
 * d: the rotation by −angle: dx = g·cos + rotateHalfᵀ(g·sin), with rotateHalfᵀ(y) = cat(y[..., D/2:], −y[..., :D/2])
 */
export function rotary(x: Tensor, cos: Tensor, sin: Tensor, offset = 0): Tensor {
  requireFloat('rotary', x);
  const D = x.shape[x.ndim - 1]!;
  if (x.ndim < 2 || D % 2 !== 0) throw new Error(`rotary: expected x [..., T, D] with D even, got ${formatShape(x.shape)}`);
  if (cos.ndim !== 2 || cos.shape[1] !== D || !sameShape(cos.shape, sin.shape)) {
    throw new Error(`rotary: cos ${formatShape(cos.shape)} and sin ${formatShape(sin.shape)} must both be [maxT, ${D}]`);
  }
  const T = x.shape[x.ndim - 2]!;
  if (!Number.isInteger(offset) || offset < 0 || offset + T > cos.shape[0]!) {
    throw new Error(`rotary: positions ${offset} to ${offset + T - 1} are outside the tables of ${cos.shape[0]} positions`);
  }
  const c = cos.narrow(0, offset, T); // [T, D]
  const s = sin.narrow(0, offset, T); // [T, D]
  // trainable tables, mixed dtypes or an empty x: the composite
  if (cos.requiresGrad || sin.requiresGrad || cos.dtype !== x.dtype || sin.dtype !== x.dtype || x.numel === 0) {
    return x.mul(c).add(rotateHalf(x).mul(s));
  }
  const [cd, cOff] = flatBuffer(cos);
  const [sd, sOff] = flatBuffer(sin);
  const N = x.numel / (T * D);
  const strides = denseStridesLike(x) ?? contiguousStrides(x.shape);
  const xr = withUnitLastStride(x);
  const out = new Tensor(allocStorage(x.dtype, x.numel), x.shape, strides, 0, x.dtype);
  const outRows = rowOffsets(x.shape, strides, 0);
  rotaryForward(out.storage, outRows, strides[x.ndim - 2]!, xr.storage, rowOffsets(xr.shape, xr.strides, xr.offset), xr.strides[xr.ndim - 2]!, cd, cOff + offset * D, sd, sOff + offset * D, N, T, D);
  return recordFusedOp(out, 'rotary', [x], {
    backward: (grad) => {
      const g = withUnitLastStride(grad);
      const dx = new Tensor(allocStorage(x.dtype, x.numel), x.shape, strides, 0, x.dtype);
      rotaryBackward(dx.storage, outRows, strides[x.ndim - 2]!, g.storage, rowOffsets(g.shape, g.strides, g.offset), g.strides[g.ndim - 2]!, cd, cOff + offset * D, sd, sOff + offset * D, N, T, D);
      return [dx];
    },
    composite: (grad) => [grad.mul(c).add(rotateHalfT(grad.mul(s)))],
    saved: [cos, sin],
  });
}
