/** Formats a shape (or strides) for error messages: `[2, 3]`. */
export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/** Number of elements of a shape (1 for a scalar). */
export function numelOf(shape: readonly number[]): number {
  let n = 1;
  for (const s of shape) n *= s;
  return n;
}

/** Row-major strides of a contiguous tensor with this shape. */
export function contiguousStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i]!;
  }
  return strides;
}

/** Turns a possibly negative dim into an index in [0, ndim), or throws naming the op. */
export function normalizeDim(op: string, dim: number, ndim: number): number {
  // a 0-d tensor accepts dim 0 and -1, as PyTorch: the range is computed for at least one dim
  const n = Math.max(ndim, 1);
  if (!Number.isInteger(dim) || dim < -n || dim >= n) {
    throw new Error(`${op}: dim ${dim} is out of range for a tensor with ${ndim} dims (expected ${-n} to ${n - 1})`);
  }
  return dim < 0 ? dim + n : dim;
}

/** Checks that a shape is a list of non-negative integers. */
export function checkShape(op: string, shape: readonly number[]): number[] {
  if (!Array.isArray(shape)) throw new Error(`${op}: expected a shape (array of sizes), got ${typeof shape}`);
  for (const s of shape) {
    if (!Number.isInteger(s) || s < 0) throw new Error(`${op}: invalid shape ${formatShape(shape)}; sizes must be non-negative integers`);
  }
  return [...shape];
}

/** The broadcast of two shapes by NumPy/PyTorch rules, or an error naming the op and both shapes. */
export function broadcastShapes(op: string, a: readonly number[], b: readonly number[]): number[] {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new Error(`${op}: shapes ${formatShape(a)} and ${formatShape(b)} cannot be broadcast (dim ${i}: ${da} vs ${db})`);
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/** True when two shapes are equal. */
export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Strides that read a tensor of `shape`/`strides` as if expanded to `target` (0 on broadcast dims). */
export function broadcastStrides(op: string, shape: readonly number[], strides: readonly number[], target: readonly number[]): number[] {
  const out = new Array<number>(target.length).fill(0);
  const lead = target.length - shape.length;
  if (lead < 0) throw new Error(`${op}: cannot expand ${formatShape(shape)} to ${formatShape(target)} (fewer dims)`);
  for (let i = 0; i < shape.length; i++) {
    const s = shape[i]!;
    const t = target[lead + i]!;
    if (s === t) out[lead + i] = strides[i]!;
    else if (s === 1) out[lead + i] = 0;
    else throw new Error(`${op}: cannot expand ${formatShape(shape)} to ${formatShape(target)} (dim ${i}: ${s} vs ${t})`);
  }
  return out;
}

/** Resolves one `-1` in a requested shape against a number of elements. */
export function inferShape(op: string, requested: readonly number[], numel: number, from: readonly number[]): number[] {
  let inferAt = -1;
  let known = 1;
  for (let i = 0; i < requested.length; i++) {
    const s = requested[i]!;
    if (s === -1) {
      if (inferAt >= 0) throw new Error(`${op}: only one dimension can be -1, got ${formatShape(requested)}`);
      inferAt = i;
    } else if (!Number.isInteger(s) || s < 0) {
      throw new Error(`${op}: invalid size ${s} in ${formatShape(requested)}`);
    } else known *= s;
  }
  const out = [...requested];
  if (inferAt >= 0) {
    if (known === 0 || numel % known !== 0) {
      throw new Error(`${op}: cannot reshape ${formatShape(from)} (${numel} elements) to ${formatShape(requested)}`);
    }
    out[inferAt] = numel / known;
  } else if (known !== numel) {
    throw new Error(`${op}: cannot reshape ${formatShape(from)} (${numel} elements) to ${formatShape(requested)} (${known} elements)`);
  }
  return out;
}

/**
 * Strides for viewing (shape, strides) as newShape without copying, or null when the layout
 * does not allow it (the same rule as PyTorch's `view`: each group of merged dims must be contiguous
 * among themselves).
 */
export function viewStrides(shape: readonly number[], strides: readonly number[], newShape: readonly number[]): number[] | null {
  const oldDims: number[] = [];
  const oldStrides: number[] = [];
  for (let i = 0; i < shape.length; i++) {
    if (shape[i] !== 1) {
      oldDims.push(shape[i]!);
      oldStrides.push(strides[i]!);
    }
  }
  if (numelOf(shape) === 0) return contiguousStrides(newShape);
  const out = new Array<number>(newShape.length).fill(0);
  let oi = 0;
  let ni = 0;
  while (ni < newShape.length || oi < oldDims.length) {
    if (ni < newShape.length && newShape[ni] === 1) {
      out[ni] = (oi < oldDims.length ? oldStrides[oi]! * oldDims[oi]! : 1);
      ni++;
      continue;
    }
    if (oi >= oldDims.length || ni >= newShape.length) return null;
    // gather a chunk of old dims and new dims with equal products
    let oldProd = oldDims[oi]!;
    let newProd = newShape[ni]!;
    const oStart = oi;
    const nStart = ni;
    oi++;
    ni++;
    while (oldProd !== newProd) {
      if (oldProd < newProd) {
        if (oi >= oldDims.length) return null;
        oldProd *= oldDims[oi++]!;
      } else {
        while (ni < newShape.length && newShape[ni] === 1) ni++;
        if (ni >= newShape.length) return null;
        newProd *= newShape[ni++]!;
      }
    }
    for (let k = oStart; k < oi - 1; k++) {
      if (oldStrides[k] !== oldStrides[k + 1]! * oldDims[k + 1]!) return null;
    }
    let stride = oldStrides[oi - 1]!;
    for (let k = ni - 1; k >= nStart; k--) {
      out[k] = stride;
      stride *= newShape[k]!;
    }
  }
  return out;
}

/**
 * The storage offset of every index of `shape` (row-major order) for a view with these strides
 * starting at `offset`: the odometer walk the batched kernels use to find each slice.
 */
export function stridedOffsets(shape: readonly number[], strides: readonly number[], offset: number): Int32Array {
  const out = new Int32Array(numelOf(shape));
  const index = new Array<number>(shape.length).fill(0);
  let at = offset;
  for (let i = 0; i < out.length; i++) {
    out[i] = at;
    for (let d = shape.length - 1; d >= 0; d--) {
      at += strides[d]!;
      if (++index[d]! < shape[d]!) break;
      at -= strides[d]! * shape[d]!;
      index[d] = 0;
    }
  }
  return out;
}
