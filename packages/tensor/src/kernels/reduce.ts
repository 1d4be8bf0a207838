// Reduction kernels over the middle axis of a contiguous [outer, r, inner] buffer.
// out is [outer, inner]. Reducing the last dim is inner = 1; the first, outer = 1.

import type { Storage } from '../dtype.js';

/** out[o, i] = Σ_k x[o, k, i]; accumulates in float64 whatever the storage type. */
export function sumForward(out: Storage, x: Storage, xOff: number, outer: number, r: number, inner: number): void {
  if (inner === 1) {
    for (let o = 0; o < outer; o++) {
      let acc = 0;
      const base = xOff + o * r;
      for (let k = 0; k < r; k++) acc += x[base + k]!;
      out[o] = acc;
    }
    return;
  }
  const acc = new Float64Array(inner);
  for (let o = 0; o < outer; o++) {
    acc.fill(0);
    sumColumns(acc, x, xOff + o * r * inner, r, inner);
    for (let i = 0; i < inner; i++) out[o * inner + i] = acc[i]!;
  }
}

/**
 * acc[i] += Σ_k x[xOff + k·cols + i]: the column sums of a contiguous [rows, cols] block (a bias or
 * norm-weight gradient). Four rows per sweep, so acc is read and written a quarter as often; the
 * additions keep the row order of a plain loop, hence the same rounding.
 */
function sumColumns(acc: Float64Array, x: Storage, xOff: number, rows: number, cols: number): void {
  let k = 0;
  for (; k + 4 <= rows; k += 4) {
    const r0 = xOff + k * cols;
    const r1 = r0 + cols;
    const r2 = r1 + cols;
    const r3 = r2 + cols;
    for (let i = 0; i < cols; i++) {
      let v = acc[i]!;
      v += x[r0 + i]!;
      v += x[r1 + i]!;
      v += x[r2 + i]!;
      v += x[r3 + i]!;
      acc[i] = v;
    }
  }
  for (; k < rows; k++) {
    const base = xOff + k * cols;
    for (let i = 0; i < cols; i++) acc[i]! += x[base + i]!;
  }
}

/**
 * out[o, i] = max_k x[o, k, i] (or min when `sign` is −1) and index[o, i] = the first k attaining it;
 * NaN wins, as in PyTorch.
 */
export function maxForward(out: Storage | null, index: Int32Array | null, x: Storage, xOff: number, outer: number, r: number, inner: number, sign: 1 | -1): void {
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = xOff + o * r * inner + i;
      let best = x[base]!;
      let bestK = 0;
      for (let k = 1; k < r; k++) {
        if (best !== best) break;
        const v = x[base + k * inner]!;
        if (v !== v || sign * v > sign * best) {
          best = v;
          bestK = k;
        }
      }
      if (out) out[o * inner + i] = best;
      if (index) index[o * inner + i] = bestK;
    }
  }
}
