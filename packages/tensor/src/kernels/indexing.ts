// Indexing kernels. Shapes: x is viewed as [outer, size, inner] around the indexed dim.

import type { Storage } from '../dtype.js';
import { collapseDims } from './elementwise.js';

/** out[o, j, i] = x[o, index[j], i]: rows picked by index (x is [outer, size, inner], out [outer, n, inner]). */
export function indexSelectForward(out: Storage, x: Storage, xOff: number, index: Int32Array | Storage, idxOff: number, n: number, outer: number, size: number, inner: number): void {
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < n; j++) {
      const src = xOff + (o * size + index[idxOff + j]!) * inner;
      const dst = (o * n + j) * inner;
      for (let i = 0; i < inner; i++) out[dst + i] = x[src + i]!;
    }
  }
}

/** The backward of indexSelectForward: dX[o, index[j], i] += dOut[o, j, i]. */
export function indexSelectBackward(dX: Storage, dOut: Storage, dOutOff: number, index: Storage, idxOff: number, n: number, outer: number, size: number, inner: number): void {
  // in the forward pass this was: out[dst + i] = x[src + i]; so now we accumulate into src
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < n; j++) {
      const dst = (o * size + index[idxOff + j]!) * inner;
      const src = dOutOff + (o * n + j) * inner;
      for (let i = 0; i < inner; i++) dX[dst + i]! += dOut[src + i]!;
    }
  }
}

/**
 * out = cond ? a : b over `shape`, out contiguous and cond, a, b read through strides (0 along
 * broadcast dims), so a [Tq, Tk] mask or a scalar fill is never expanded into a copy.
 */
export function whereStridedForward(
  out: Storage, cond: Storage, cOff: number, cStrides: readonly number[], a: Storage, aOff: number, aStrides: readonly number[],
  b: Storage, bOff: number, bStrides: readonly number[], shape: readonly number[],
): void {
  for (const s of shape) if (s === 0) return;
  const [dims, [cs, as, bs]] = collapseDims(shape, [cStrides, aStrides, bStrides]) as [number[], [number[], number[], number[]]];
  const ndim = dims.length;
  const inner = dims[ndim - 1]!;
  const [cIn, aIn, bIn] = [cs[ndim - 1]!, as[ndim - 1]!, bs[ndim - 1]!];
  const index = new Array<number>(ndim - 1).fill(0);
  let [ci, ai, bi] = [cOff, aOff, bOff];
  for (let o = 0; ; o += inner) {
    for (let j = 0, c = ci, x = ai, y = bi; j < inner; j++, c += cIn, x += aIn, y += bIn) out[o + j] = cond[c] !== 0 ? a[x]! : b[y]!;
    let k = ndim - 2;
    while (k >= 0) {
      index[k]!++;
      ci += cs[k]!;
      ai += as[k]!;
      bi += bs[k]!;
      if (index[k]! < dims[k]!) break;
      ci -= cs[k]! * dims[k]!;
      ai -= as[k]! * dims[k]!;
      bi -= bs[k]! * dims[k]!;
      index[k] = 0;
      k--;
    }
    if (k < 0) return;
  }
}

/** Zeroes x[..., i, j] outside the band j − i ≤ k (lower) or j − i ≥ k (upper); x is [batch, rows, cols]. */
export function triangleForward(out: Storage, x: Storage, xOff: number, batch: number, rows: number, cols: number, k: number, lower: boolean): void {
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < rows; i++) {
      const base = (b * rows + i) * cols;
      for (let j = 0; j < cols; j++) {
        const keep = lower ? j - i <= k : j - i >= k;
        out[base + j] = keep ? x[xOff + base + j]! : 0;
      }
    }
  }
}
