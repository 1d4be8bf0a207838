// In-place ops for optimizers and initializers. They write through views into shared storage,
// so they are refused on a tensor that requires grad while recording, and each one bumps the
// storage's version once (autograd/graph.ts), so a backward that saved the old values throws.

import { incrementVersion, isGradEnabled } from '../autograd/graph.js';
import { copyStrided } from '../kernels/elementwise.js';
import { broadcastStrides, formatShape } from '../shape.js';
import { Tensor, type TensorLike } from '../tensor.js';
import { asTensor } from './common.js';

function checkWritable(op: string, t: Tensor): void {
  if (t.requiresGrad && isGradEnabled()) {
    throw new Error(`${op}: cannot modify a tensor that requires grad in place while recording; wrap the update in noGrad()`);
  }
}

// The source broadcast to the target's shape, readable through (storage, offset, strides).
function broadcastSource(op: string, target: Tensor, value: TensorLike): Tensor {
  const src = asTensor(value, target);
  try {
    return new Tensor(src.storage, target.shape, broadcastStrides(op, src.shape, src.strides, target.shape), src.offset, src.dtype);
  } catch {
    throw new Error(`${op}: source of shape ${formatShape(src.shape)} cannot be broadcast to the target's shape ${formatShape(target.shape)}`);
  }
}

// The copy behind every op here; the exported ops bump the version once, after writing.
function copyInto(op: string, t: Tensor, value: TensorLike): void {
  const src = broadcastSource(op, t, value);
  copyStrided(t.storage, t.offset, t.strides, src.storage, src.offset, src.strides, t.shape);
}

/** Copies value (broadcast) into t's elements. */
export function copy_(t: Tensor, value: TensorLike): void {
  checkWritable('copy_', t);
  copyInto('copy_', t, value);
  incrementVersion(t);
}

/** t += alpha · other (other broadcast). */
export function add_(t: Tensor, other: TensorLike, alpha = 1): void {
  checkWritable('add_', t);
  if (typeof other === 'number') {
    if (t.isContiguous()) {
      const d = t.storage;
      const v = other * alpha;
      for (let i = t.offset, end = t.offset + t.numel; i < end; i++) d[i]! += v;
      incrementVersion(t);
      return;
    }
    other = asTensor(other * alpha, t);
    alpha = 1;
  }
  if (t.isContiguous() && other.isContiguous() && other.numel === t.numel && other.ndim === t.ndim && other.shape.every((s, i) => s === t.shape[i])) {
    const d = t.storage;
    const s = other.storage;
    const delta = other.offset - t.offset;
    for (let i = t.offset, end = t.offset + t.numel; i < end; i++) d[i]! += alpha * s[i + delta]!;
    incrementVersion(t);
    return;
  }
  // broadcast other to t's shape first, so a mismatch is reported by add_, not by add or copy_
  copyInto('add_', t, t.detach().add(broadcastSource('add_', t, other).mul(alpha)));
  incrementVersion(t);
}

/** t *= other (other broadcast). */
export function mul_(t: Tensor, other: TensorLike): void {
  checkWritable('mul_', t);
  if (typeof other === 'number' && t.isContiguous()) {
    const d = t.storage;
    for (let i = t.offset, end = t.offset + t.numel; i < end; i++) d[i]! *= other;
    incrementVersion(t);
    return;
  }
  copyInto('mul_', t, t.detach().mul(broadcastSource('mul_', t, other)));
  incrementVersion(t);
}

/** Sets every element of t to value. */
export function fill_(t: Tensor, value: number): void {
  checkWritable('fill_', t);
  if (t.isContiguous()) {
    t.storage.fill(value, t.offset, t.offset + t.numel);
  } else {
    copyInto('fill_', t, value);
  }
  incrementVersion(t);
}
