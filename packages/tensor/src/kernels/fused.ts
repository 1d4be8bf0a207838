// Fused kernels for the hot paths of a transformer: softmax, log-softmax, RMSNorm and
// cross-entropy. Each forward returns what its backward needs (the output, rstd, logsumexp),
// and each backward sits next to its forward, quoting the line it differentiates.
// Shapes: every buffer is [rows, cols] row-major; the op runs along the last dim (cols).

import type { Storage } from '../dtype.js';

// ************* softmax *************

/** out[r, :] = softmax(x[r, :]), subtracting the row max first so exp never overflows. */
export function softmaxForward(out: Storage, x: Storage, xOff: number, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) {
    const base = xOff + r * cols;
    const o = r * cols;
    let max = -Infinity;
    for (let j = 0; j < cols; j++) if (x[base + j]! > max) max = x[base + j]!;
    if (max === -Infinity) max = 0; // an all −∞ row gives NaN, as PyTorch; keep max finite
    let sum = 0;
    for (let j = 0; j < cols; j++) {
      const e = Math.exp(x[base + j]! - max);
      out[o + j] = e;
      sum += e;
    }
    const inv = 1 / sum;
    for (let j = 0; j < cols; j++) out[o + j]! *= inv;
  }
}

/** dX = y ⊙ (dOut − Σ_j dOut_j·y_j): the backward of softmaxForward given its output y. */
export function softmaxBackward(dX: Storage, dOut: Storage, dOutOff: number, y: Storage, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    const g = dOutOff + o;
    let dot = 0;
    for (let j = 0; j < cols; j++) dot += dOut[g + j]! * y[o + j]!;
    for (let j = 0; j < cols; j++) dX[o + j] = y[o + j]! * (dOut[g + j]! - dot);
  }
}

/** out[r, :] = x[r, :] − logsumexp(x[r, :]). */
export function logSoftmaxForward(out: Storage, x: Storage, xOff: number, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) {
    const base = xOff + r * cols;
    let max = -Infinity;
    for (let j = 0; j < cols; j++) if (x[base + j]! > max) max = x[base + j]!;
    if (max === -Infinity) max = 0;
    let sum = 0;
    for (let j = 0; j < cols; j++) sum += Math.exp(x[base + j]! - max);
    const lse = max + Math.log(sum);
    for (let j = 0; j < cols; j++) out[r * cols + j] = x[base + j]! - lse;
  }
}

/** dX = dOut − exp(y)·Σ_j dOut_j: the backward of logSoftmaxForward given its output y. */
export function logSoftmaxBackward(dX: Storage, dOut: Storage, dOutOff: number, y: Storage, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    const g = dOutOff + o;
    let sum = 0;
    for (let j = 0; j < cols; j++) sum += dOut[g + j]!;
    for (let j = 0; j < cols; j++) dX[o + j] = dOut[g + j]! - Math.exp(y[o + j]!) * sum;
  }
}

// ************* RMSNorm *************

/** out = x · rstd · w with rstd[r] = 1/√(mean(x[r]²) + eps); x [rows, C], w [C], rstd [rows]. */
export function rmsNormForward(out: Storage, rstd: Float64Array, x: Storage, xOff: number, w: Storage, wOff: number, rows: number, cols: number, eps: number): void {
  for (let r = 0; r < rows; r++) {
    const base = xOff + r * cols;
    let ss = 0;
    for (let j = 0; j < cols; j++) ss += x[base + j]! * x[base + j]!;
    const s = 1 / Math.sqrt(ss / cols + eps);
    rstd[r] = s;
    const o = r * cols;
    for (let j = 0; j < cols; j++) out[o + j] = x[base + j]! * s * w[wOff + j]!;
  }
}

/**
 * The backward of rmsNormForward. In the forward pass this was: out = x·rstd·w, so
 * dW += Σ_rows dOut·x·rstd and dX = rstd·(dOut·w) − x·rstd³·mean(dOut·w·x).
 */
export function rmsNormBackward(dX: Storage, dW: Float64Array, dOut: Storage, dOutOff: number, x: Storage, xOff: number, w: Storage, wOff: number, rstd: Float64Array, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) {
    const base = xOff + r * cols;
    const g = dOutOff + r * cols;
    const s = rstd[r]!;
    let dot = 0;
    for (let j = 0; j < cols; j++) {
      const gw = dOut[g + j]! * w[wOff + j]!;
      dot += gw * x[base + j]!;
      dW[j]! += dOut[g + j]! * x[base + j]! * s;
    }
    const k = (s * s * s * dot) / cols;
    const o = r * cols;
    for (let j = 0; j < cols; j++) dX[o + j] = s * dOut[g + j]! * w[wOff + j]! - x[base + j]! * k;
  }
}

// ************* cross-entropy *************

/**
 * loss[r] = logsumexp(x[r]) − x[r, target[r]] for counted rows (target ≠ ignoreIndex), 0 otherwise;
 * lse[r] is kept for the backward. Returns the number of counted rows, or −(r+1) when row r has a
 * target outside [0, cols).
 */
export function crossEntropyForward(loss: Float64Array, lse: Float64Array, x: Storage, xOff: number, target: Storage, tOff: number, rows: number, cols: number, ignoreIndex: number): number {
  let counted = 0;
  for (let r = 0; r < rows; r++) {
    const t = target[tOff + r]!;
    if (t === ignoreIndex) {
      loss[r] = 0;
      lse[r] = 0;
      continue;
    }
    if (t < 0 || t >= cols) return -(r + 1);
    const base = xOff + r * cols;
    let max = -Infinity;
    for (let j = 0; j < cols; j++) if (x[base + j]! > max) max = x[base + j]!;
    let sum = 0;
    for (let j = 0; j < cols; j++) sum += Math.exp(x[base + j]! - max);
    lse[r] = max + Math.log(sum);
    loss[r] = lse[r]! - x[base + t]!;
    counted++;
  }
  return counted;
}

/**
 * The backward of crossEntropyForward: dX[r, j] = scale[r]·(softmax(x[r])_j − [j = target[r]]),
 * zero for ignored rows; softmax is rebuilt from lse, so no probabilities were stored.
 */
export function crossEntropyBackward(dX: Storage, scale: Float64Array, x: Storage, xOff: number, target: Storage, tOff: number, lse: Float64Array, rows: number, cols: number, ignoreIndex: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    const t = target[tOff + r]!;
    if (t === ignoreIndex) {
      for (let j = 0; j < cols; j++) dX[o + j] = 0;
      continue;
    }
    const base = xOff + o;
    const s = scale[r]!;
    const l = lse[r]!;
    for (let j = 0; j < cols; j++) dX[o + j] = Math.exp(x[base + j]! - l) * s;
    dX[o + t]! -= s;
  }
}
