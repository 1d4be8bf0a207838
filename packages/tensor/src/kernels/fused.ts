// Fused kernels for the hot paths of a transformer: softmax, log-softmax, RMSNorm, cross-entropy,
// SwiGLU and rotary embeddings. Each forward returns what its backward needs (the output, rstd,
// logsumexp), and each backward sits next to its forward, quoting the line it differentiates.
// Shapes: every buffer is [rows, cols] row-major; the op runs along the last dim (cols), except
// SwiGLU (flat, n elements) and rotary (rows of D, shapes given at its section).
// With the 'wasm' backend, float32 softmax, log-softmax and cross-entropy run in
// src/wasm/softmax.ts, RMSNorm in src/wasm/rmsnorm.ts, SwiGLU in src/wasm/elementwise.ts and
// rotary in src/wasm/rotary.ts (these loops their reference).

import { getBackend } from '../backend.js';
import type { Storage } from '../dtype.js';
import { swigluBackwardWasm, swigluWasm } from '../wasm/elementwise.js';
import { rmsNormBackwardWasm, rmsNormWasm } from '../wasm/rmsnorm.js';
import { rotaryWasm, rotaryWasmFits } from '../wasm/rotary.js';
import { expShiftedWasm, logSoftmaxBackwardWasm, logSoftmaxWasm, logSumExpWasm, softmaxBackwardWasm, softmaxWasm } from '../wasm/softmax.js';

// ************* softmax *************

/** out[r, :] = softmax(x[r, :]), subtracting the row max first so exp never overflows. */
export function softmaxForward(out: Storage, x: Storage, xOff: number, rows: number, cols: number): void {
  if (out instanceof Float32Array && x instanceof Float32Array && getBackend() === 'wasm') {
    softmaxWasm(out, x, xOff, rows, cols);
    return;
  }
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
  if (dX instanceof Float32Array && dOut instanceof Float32Array && y instanceof Float32Array && getBackend() === 'wasm') {
    softmaxBackwardWasm(dX, dOut, dOutOff, y, rows, cols);
    return;
  }
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
  if (out instanceof Float32Array && x instanceof Float32Array && getBackend() === 'wasm') {
    logSoftmaxWasm(out, x, xOff, rows, cols);
    return;
  }
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
  if (dX instanceof Float32Array && dOut instanceof Float32Array && y instanceof Float32Array && getBackend() === 'wasm') {
    logSoftmaxBackwardWasm(dX, dOut, dOutOff, y, rows, cols);
    return;
  }
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
  if (out instanceof Float32Array && x instanceof Float32Array && w instanceof Float32Array && getBackend() === 'wasm') {
    rmsNormWasm(out, rstd, x, xOff, w, wOff, rows, cols, eps);
    return;
  }
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
  if (dX instanceof Float32Array && dOut instanceof Float32Array && x instanceof Float32Array && w instanceof Float32Array && getBackend() === 'wasm') {
    rmsNormBackwardWasm(dX, dW, dOut, dOutOff, x, xOff, w, wOff, rstd, rows, cols);
    return;
  }
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
  if (x instanceof Float32Array && getBackend() === 'wasm') return crossEntropyForwardWasm(loss, lse, x, xOff, target, tOff, rows, cols, ignoreIndex);
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
  if (dX instanceof Float32Array && x instanceof Float32Array && getBackend() === 'wasm') {
    // every row as exp(x − lse)·scale in wasm, then the ignored rows zeroed and the targets' −scale here
    expShiftedWasm(dX, x, xOff, lse, scale, rows, cols);
    for (let r = 0; r < rows; r++) {
      const t = target[tOff + r]!;
      if (t === ignoreIndex) dX.fill(0, r * cols, (r + 1) * cols);
      else dX[r * cols + t]! -= scale[r]!;
    }
    return;
  }
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

// crossEntropyForward's wasm path: every row's log-sum-exp in wasm (logSumExpWasm), after the
// targets are checked in the js kernel's order.
function crossEntropyForwardWasm(loss: Float64Array, lse: Float64Array, x: Float32Array, xOff: number, target: Storage, tOff: number, rows: number, cols: number, ignoreIndex: number): number {
  let counted = 0;
  for (let r = 0; r < rows; r++) {
    const t = target[tOff + r]!;
    if (t === ignoreIndex) continue;
    if (t < 0 || t >= cols) return -(r + 1);
    counted++;
  }
  logSumExpWasm(lse, x, xOff, rows, cols);
  for (let r = 0; r < rows; r++) {
    const t = target[tOff + r]!;
    if (t === ignoreIndex) {
      loss[r] = 0;
      lse[r] = 0;
    } else loss[r] = lse[r]! - x[xOff + r * cols + t]!;
  }
  return counted;
}

// ************* SwiGLU *************

/** out = silu(gate) ⊙ up = gate·σ(gate)·up over n elements (the activation of LLaMA's MLP). */
export function swigluForward(out: Storage, gate: Storage, gOff: number, up: Storage, uOff: number, n: number): void {
  if (out instanceof Float32Array && gate instanceof Float32Array && up instanceof Float32Array && getBackend() === 'wasm') {
    swigluWasm(out, gate, gOff, up, uOff, n);
    return;
  }
  // NOTE: for float32, fround rounds silu(gate) as the composite silu-then-mul does, so the two agree bit for bit
  const f32 = out instanceof Float32Array;
  for (let i = 0; i < n; i++) {
    const x = gate[gOff + i]!;
    const silu = x / (1 + Math.exp(-x));
    out[i] = (f32 ? Math.fround(silu) : silu) * up[uOff + i]!;
  }
}

/**
 * The backward of swigluForward. In the forward pass this was: out = x·σ(x)·up, so
 * dGate = dOut·up·σ(x)·(1 + x·(1 − σ(x))) and dUp = dOut·x·σ(x).
 */
export function swigluBackward(dGate: Storage, dUp: Storage, dOut: Storage, dOutOff: number, gate: Storage, gOff: number, up: Storage, uOff: number, n: number): void {
  if (dGate instanceof Float32Array && dUp instanceof Float32Array && dOut instanceof Float32Array && gate instanceof Float32Array && up instanceof Float32Array && getBackend() === 'wasm') {
    swigluBackwardWasm(dGate, dUp, dOut, dOutOff, gate, gOff, up, uOff, n);
    return;
  }
  for (let i = 0; i < n; i++) {
    const x = gate[gOff + i]!;
    const s = 1 / (1 + Math.exp(-x));
    const g = dOut[dOutOff + i]!;
    dGate[i] = g * up[uOff + i]! * s * (1 + x * (1 - s));
    dUp[i] = g * x * s;
  }
}

// ************* rotary embedding *************
// x is [N, T, D] read through rows: row (n, t) starts at xRows[n] + t·xT, its D elements are
// contiguous; out likewise. cos and sin are tables [maxT, D] (contiguous): position t reads the row
// at cosOff + t·D (sinOff + t·D). h = D/2; rotateHalf(x) = cat(−x[h:], x[:h]).

/** out = x·cos + rotateHalf(x)·sin, the rotary embedding of positions offset..offset+T−1. */
export function rotaryForward(
  out: Storage, outRows: Int32Array, outT: number, x: Storage, xRows: Int32Array, xT: number,
  cos: Storage, cosOff: number, sin: Storage, sinOff: number, N: number, T: number, D: number,
): void {
  if (out instanceof Float32Array && x instanceof Float32Array && cos instanceof Float32Array && sin instanceof Float32Array && getBackend() === 'wasm' && rotaryWasmFits(outRows, outT, xRows, xT, N, T, D)) {
    rotaryWasm(false, out, outRows, outT, x, xRows, xT, cos, cosOff, sin, sinOff, N, T, D);
    return;
  }
  // NOTE: for float32, fround rounds each product as the composite x·cos + rotateHalf(x)·sin does
  const f32 = out instanceof Float32Array;
  const h = D / 2;
  for (let n = 0; n < N; n++) {
    for (let t = 0; t < T; t++) {
      const xi = xRows[n]! + t * xT;
      const oi = outRows[n]! + t * outT;
      const ci = cosOff + t * D;
      const si = sinOff + t * D;
      for (let i = 0; i < h; i++) {
        const a = x[xi + i]!;
        const b = x[xi + h + i]!;
        // out[i] = a·cos[i] − b·sin[i]; out[h + i] = b·cos[h + i] + a·sin[h + i]
        if (f32) {
          out[oi + i] = Math.fround(a * cos[ci + i]!) - Math.fround(b * sin[si + i]!);
          out[oi + h + i] = Math.fround(b * cos[ci + h + i]!) + Math.fround(a * sin[si + h + i]!);
        } else {
          out[oi + i] = a * cos[ci + i]! - b * sin[si + i]!;
          out[oi + h + i] = b * cos[ci + h + i]! + a * sin[si + h + i]!;
        }
      }
    }
  }
}

/**
 * The backward of rotaryForward: the rotation by −angle. In the forward pass this was:
 * out[i] = a·cos[i] − b·sin[i], out[h + i] = b·cos[h + i] + a·sin[h + i] (a = x[i], b = x[h + i]);
 * so dA = dOut[i]·cos[i] + dOut[h + i]·sin[h + i] and dB = dOut[h + i]·cos[h + i] − dOut[i]·sin[i].
 */
export function rotaryBackward(
  dX: Storage, dxRows: Int32Array, dxT: number, dOut: Storage, gRows: Int32Array, gT: number,
  cos: Storage, cosOff: number, sin: Storage, sinOff: number, N: number, T: number, D: number,
): void {
  if (dX instanceof Float32Array && dOut instanceof Float32Array && cos instanceof Float32Array && sin instanceof Float32Array && getBackend() === 'wasm' && rotaryWasmFits(dxRows, dxT, gRows, gT, N, T, D)) {
    rotaryWasm(true, dX, dxRows, dxT, dOut, gRows, gT, cos, cosOff, sin, sinOff, N, T, D);
    return;
  }
  const f32 = dX instanceof Float32Array;
  const h = D / 2;
  for (let n = 0; n < N; n++) {
    for (let t = 0; t < T; t++) {
      const gi = gRows[n]! + t * gT;
      const di = dxRows[n]! + t * dxT;
      const ci = cosOff + t * D;
      const si = sinOff + t * D;
      for (let i = 0; i < h; i++) {
        const ga = dOut[gi + i]!;
        const gb = dOut[gi + h + i]!;
        if (f32) {
          dX[di + i] = Math.fround(ga * cos[ci + i]!) + Math.fround(gb * sin[si + h + i]!);
          dX[di + h + i] = Math.fround(gb * cos[ci + h + i]!) - Math.fround(ga * sin[si + i]!);
        } else {
          dX[di + i] = ga * cos[ci + i]! + gb * sin[si + h + i]!;
          dX[di + h + i] = gb * cos[ci + h + i]! - ga * sin[si + i]!;
        }
      }
    }
  }
}
