// Indexing kernels. Shapes: x is viewed as [outer, size, inner] around the indexed dim.

import type { Storage } from '../dtype.js';

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

/** out[k] = cond[k] !== 0 ? a[k] : b[k] over n elements. */
export function whereForward(out: Storage, cond: Storage, a: Storage, b: Storage, n: number): void {
  for (let k = 0; k < n; k++) out[k] = cond[k] !== 0 ? a[k]! : b[k]!;
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
