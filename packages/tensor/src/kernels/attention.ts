// Fused scaled-dot-product attention, one (batch·head) slice per call: the scores, the softmax
// and the weighted sum of the values in one pass, with the causal limit applied by loop bounds
// (no mask tensor, no −∞ fill). The products go through matmulKernel; what is left here is the
// row-wise softmax and its backward.
//
// Shapes (one slice): q [Tq, D], k [Tk, D], v [Tk, Dv], out [Tq, Dv], dOut [Tq, Dv].
// Causal: query i sees keys 0..Tk−Tq+i (the queries are the last Tq positions of the keys).
//
// Block layout of probs: the query rows are cut into blocks of ROWS; block b covers rows
// [rowStart[b], rowStart[b+1]) and the keys [0, keys[b]) its last row can see. Each block is
// stored row-major [rows, keys[b]] from probOffset[b], so the causal upper triangle is neither
// computed nor stored, except inside the diagonal blocks (where probs holds zeros).

import { type FloatArray, matmulKernel } from './matmul.js';

// Rows per causal block: smaller blocks skip more of the masked triangle but call matmulKernel
// more often and repack the keys each time. At T = 128, D = 32, 24–48 rows measured within 5% of
// each other, 16 and 64 about 10% slower, one block (128) 30% slower.
const ROWS = 32;

/** A matrix read through strides: element (i, j) is data[offset + i·rowStride + j·colStride]. */
export interface StridedMatrix {
  /** The storage holding the elements. */
  data: FloatArray;
  /** Index of element (0, 0). */
  offset: number;
  /** Step between rows. */
  rowStride: number;
  /** Step between columns. */
  colStride: number;
}

/** The sizes of one attention slice and how its query rows are cut into blocks. */
export interface AttentionPlan {
  /** Queries, keys, head dim of q and k, head dim of v. */
  Tq: number; Tk: number; D: number; Dv: number;
  /** Whether query i sees only keys 0..Tk−Tq+i. */
  causal: boolean;
  /** Multiplies q·kᵀ before the softmax. */
  scale: number;
  /** First query row of each block, then Tq (length blocks + 1). */
  rowStart: Int32Array;
  /** Number of keys block b computes scores for. */
  keys: Int32Array;
  /** Start of block b within a slice's probs. */
  probOffset: Int32Array;
  /** Elements of probs per slice (≤ Tq·Tk). */
  size: number;
}

/** Cuts the Tq query rows into blocks (one block unless causal); see the block layout above. */
export function attentionPlan(Tq: number, Tk: number, D: number, Dv: number, causal: boolean, scale: number): AttentionPlan {
  const step = causal ? ROWS : Math.max(Tq, 1);
  const blocks = Math.ceil(Tq / step);
  const rowStart = new Int32Array(blocks + 1);
  const keys = new Int32Array(blocks);
  const probOffset = new Int32Array(blocks);
  let size = 0;
  for (let b = 0; b < blocks; b++) {
    const i0 = b * step;
    const i1 = Math.min(Tq, i0 + step);
    rowStart[b] = i0;
    keys[b] = causal ? Math.min(Tk, Tk - Tq + i1) : Tk;
    probOffset[b] = size;
    size += (i1 - i0) * keys[b]!;
  }
  rowStart[blocks] = Tq;
  return { Tq, Tk, D, Dv, causal, scale, rowStart, keys, probOffset, size };
}

// ************* forward *************

/**
 * One slice: probs = softmax(q·kᵀ·scale) (causal by loop bounds), out = probs·v.
 * q, k, v are strided; out [Tq, Dv] is contiguous from outOff; probs (plan.size elements from
 * pOff, block layout) keeps the probabilities for the backward, zero past each row's limit.
 */
export function attentionForward(out: FloatArray, outOff: number, probs: FloatArray, pOff: number, q: StridedMatrix, k: StridedMatrix, v: StridedMatrix, plan: AttentionPlan): void {
  const { Tq, Tk, D, Dv, causal, scale, rowStart, keys, probOffset } = plan;
  for (let b = 0; b < keys.length; b++) {
    const i0 = rowStart[b]!;
    const rows = rowStart[b + 1]! - i0;
    const n = keys[b]!;
    const p = pOff + probOffset[b]!;
    // scores [rows, n] = q[i0 : i0+rows] · k[0 : n]ᵀ
    matmulKernel(probs, p, q.data, q.offset + i0 * q.rowStride, q.rowStride, q.colStride, k.data, k.offset, k.colStride, k.rowStride, rows, n, D);
    for (let r = 0; r < rows; r++) {
      const limit = causal ? Tk - Tq + i0 + r + 1 : n; // keys [0, limit) are visible
      const row = p + r * n;
      let max = -Infinity;
      for (let j = 0; j < limit; j++) {
        const s = probs[row + j]! * scale;
        if (s > max) max = s;
      }
      if (max === -Infinity) max = 0; // as softmaxForward: keep max finite
      let sum = 0;
      for (let j = 0; j < limit; j++) {
        const e = Math.exp(probs[row + j]! * scale - max);
        probs[row + j] = e;
        sum += e;
      }
      const inv = 1 / sum;
      for (let j = 0; j < limit; j++) probs[row + j]! *= inv;
      for (let j = limit; j < n; j++) probs[row + j] = 0;
    }
    // out[i0 : i0+rows] = probs[rows, n] · v[0 : n]
    matmulKernel(out, outOff + i0 * Dv, probs, p, n, 1, v.data, v.offset, v.rowStride, v.colStride, rows, Dv, n);
  }
}

// ************* backward *************

/**
 * The backward of attentionForward for one slice, accumulating into dQ [Tq, D], dK [Tk, D] and
 * dV [Tk, Dv] (contiguous from their offsets; null when not wanted). dS is scratch of plan.size.
 * In the forward pass this was: out = P·v with P = softmax(S), S = q·kᵀ·scale; so now
 * dV += Pᵀ·dOut, dP = dOut·vᵀ, dS = P ⊙ (dP − rowsum(dP ⊙ P)), dQ += dS·k·scale, dK += dSᵀ·q·scale.
 */
export function attentionBackward(
  dQ: FloatArray | null, dqOff: number, dK: FloatArray | null, dkOff: number, dV: FloatArray | null, dvOff: number,
  dOut: StridedMatrix, q: StridedMatrix, k: StridedMatrix, v: StridedMatrix,
  probs: FloatArray, pOff: number, dS: FloatArray, plan: AttentionPlan,
): void {
  const { Tq, Tk, D, Dv, causal, scale, rowStart, keys, probOffset } = plan;
  for (let b = 0; b < keys.length; b++) {
    const i0 = rowStart[b]!;
    const rows = rowStart[b + 1]! - i0;
    const n = keys[b]!;
    const p = pOff + probOffset[b]!;
    const gOff = dOut.offset + i0 * dOut.rowStride;
    // in the forward pass this was: out[i0 : i0+rows] = P[rows, n] · v[0 : n]; so dV[0 : n] += Pᵀ · dOut
    if (dV) matmulKernel(dV, dvOff, probs, p, 1, n, dOut.data, gOff, dOut.rowStride, dOut.colStride, n, Dv, rows, true);
    if (!dQ && !dK) continue;
    // dP [rows, n] = dOut[i0 : i0+rows] · v[0 : n]ᵀ, written where dS goes
    const s = probOffset[b]!;
    matmulKernel(dS, s, dOut.data, gOff, dOut.rowStride, dOut.colStride, v.data, v.offset, v.colStride, v.rowStride, rows, n, Dv);
    for (let r = 0; r < rows; r++) {
      const limit = causal ? Tk - Tq + i0 + r + 1 : n;
      const row = s + r * n;
      const prow = p + r * n;
      let dot = 0;
      for (let j = 0; j < limit; j++) dot += dS[row + j]! * probs[prow + j]!;
      // the scale of S = q·kᵀ·scale is folded into dS here, once, instead of into dQ and dK
      for (let j = 0; j < limit; j++) dS[row + j] = probs[prow + j]! * (dS[row + j]! - dot) * scale;
      for (let j = limit; j < n; j++) dS[row + j] = 0;
    }
    // in the forward pass this was: S[rows, n] = q[i0 : i0+rows] · k[0 : n]ᵀ; so
    // dQ[i0 : i0+rows] += dS · k[0 : n] and dK[0 : n] += dSᵀ · q[i0 : i0+rows]
    if (dQ) matmulKernel(dQ, dqOff + i0 * D, dS, s, n, 1, k.data, k.offset, k.rowStride, k.colStride, rows, D, n, true);
    if (dK) matmulKernel(dK, dkOff, dS, s, 1, n, q.data, q.offset + i0 * q.rowStride, q.rowStride, q.colStride, n, D, rows, true);
  }
}
