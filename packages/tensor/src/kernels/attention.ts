// Fused scaled-dot-product attention, one (batch·head) slice per call: the scores, the softmax
// and the weighted sum of the values in one pass, with the causal limit applied by loop bounds
// and padded keys skipped by a per-slice key mask (no [Tq, Tk] mask tensor, no −∞ fill). The
// products go through matmulKernel; what is left here is the row-wise softmax and its backward.
//
// Shapes (one slice): q [Tq, D], k [Tk, D], v [Tk, Dv], out [Tq, Dv], dOut [Tq, Dv].
// Causal: query i sees keys 0..Tk−Tq+i (the queries are the last Tq positions of the keys).
// Key mask (optional): a row of Tk numbers, key j is seen only where it is nonzero.
// A query row that sees no key at all (a padding query whose causal keys are all padding)
// outputs zeros and passes no gradient; its log-sum-exp is −∞.
//
// What the backward keeps (flash-attention style): not the probabilities but one number per
// query row, the log-sum-exp L_i = log Σ_j exp(S_ij) of its scaled scores S = q·kᵀ·scale. The
// backward recomputes P_ij = exp(S_ij − L_i) block by block from q and k, so the memory held
// between forward and backward is Tq numbers per slice (linear in T), and the scratch each pass
// needs is one block of ROWS query rows × Tk keys per thread, never [Tq, Tk].
//
// Blocks: the query rows are cut into blocks of ROWS; block b covers rows [rowStart[b],
// rowStart[b+1]) and the keys [0, keys[b]) its last row can see, so the causal upper triangle
// is neither computed nor stored, except inside the diagonal blocks (where P holds zeros).

import { getBackend } from '../backend.js';
import { type StridedF32, attentionBackwardWasm, attentionForwardWasm } from '../wasm/attention.js';
import type { FloatArray } from '../dtype.js';
import { matmulKernel } from './matmul.js';

// Rows per block: smaller blocks skip more of the masked triangle but call matmulKernel more
// often and repack the keys each time. At T = 128, D = 32, 24–48 rows measured within 5% of
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
  /** Scores computed per slice (Σ rows·keys over the blocks, ≤ Tq·Tk): the measure of work. */
  scores: number;
  /** Elements of the largest block (≤ ROWS·Tk): the scratch one pass over a slice needs. */
  block: number;
}

/** Cuts the Tq query rows into blocks of ROWS; see the block layout above. */
export function attentionPlan(Tq: number, Tk: number, D: number, Dv: number, causal: boolean, scale: number): AttentionPlan {
  const blocks = Math.ceil(Tq / ROWS);
  const rowStart = new Int32Array(blocks + 1);
  const keys = new Int32Array(blocks);
  let scores = 0;
  let block = 0;
  for (let b = 0; b < blocks; b++) {
    const i0 = b * ROWS;
    const i1 = Math.min(Tq, i0 + ROWS);
    rowStart[b] = i0;
    keys[b] = causal ? Math.min(Tk, Tk - Tq + i1) : Tk;
    scores += (i1 - i0) * keys[b]!;
    block = Math.max(block, (i1 - i0) * keys[b]!);
  }
  rowStart[blocks] = Tq;
  return { Tq, Tk, D, Dv, causal, scale, rowStart, keys, scores, block };
}

/** The key mask of one slice: key j is seen where data[offset + j] is nonzero; null = every key. */
export interface KeyMask {
  /** The mask values (0 or 1). */
  data: Float64Array;
  /** Index of key 0's entry. */
  offset: number;
}

// Float32 slices of non-zero sizes run on the wasm kernel (wasm/attention.ts) when that backend is
// on; float64 and the js backend run the loops below, its reference.
function onWasm(plan: AttentionPlan, out: FloatArray, q: StridedMatrix, k: StridedMatrix, v: StridedMatrix): boolean {
  return getBackend() === 'wasm' && out instanceof Float32Array && q.data instanceof Float32Array && k.data instanceof Float32Array &&
    v.data instanceof Float32Array && plan.Tq > 0 && plan.Tk > 0 && plan.D > 0 && plan.Dv > 0;
}

// ************* forward *************

/**
 * One slice: P = softmax(q·kᵀ·scale) (causal by loop bounds, masked keys skipped), out = P·v.
 * q, k, v are strided; out [Tq, Dv] is contiguous from outOff; lse (when not null) receives each
 * row's log-sum-exp of its scaled scores from lseOff (−∞ for a row that sees no key). P lives
 * only in `scratch` (plan.block elements), one block of rows at a time.
 */
export function attentionForward(
  out: FloatArray, outOff: number, lse: Float64Array | null, lseOff: number,
  q: StridedMatrix, k: StridedMatrix, v: StridedMatrix, mask: KeyMask | null, scratch: FloatArray, plan: AttentionPlan,
): void {
  if (onWasm(plan, out, q, k, v)) {
    attentionForwardWasm(out as Float32Array, outOff, lse, lseOff, q as StridedF32, k as StridedF32, v as StridedF32, mask?.data ?? null, mask?.offset ?? 0, plan);
    return;
  }
  const { Tq, Tk, D, Dv, causal, scale, rowStart, keys } = plan;
  const m = mask?.data;
  const mOff = mask?.offset ?? 0;
  for (let b = 0; b < keys.length; b++) {
    const i0 = rowStart[b]!;
    const rows = rowStart[b + 1]! - i0;
    const n = keys[b]!;
    // scores [rows, n] = q[i0 : i0+rows] · k[0 : n]ᵀ
    matmulKernel(scratch, 0, q.data, q.offset + i0 * q.rowStride, q.rowStride, q.colStride, k.data, k.offset, k.colStride, k.rowStride, rows, n, D);
    for (let r = 0; r < rows; r++) {
      const limit = causal ? Tk - Tq + i0 + r + 1 : n; // keys [0, limit) are visible, unless masked
      const row = r * n;
      let max = -Infinity;
      for (let j = 0; j < limit; j++) {
        if (m && m[mOff + j] === 0) continue;
        const s = scratch[row + j]! * scale;
        if (s > max) max = s;
      }
      if (max === -Infinity) {
        // no key to see: a zero row of P, so a zero output, and −∞ as its log-sum-exp
        for (let j = 0; j < n; j++) scratch[row + j] = 0;
        if (lse) lse[lseOff + i0 + r] = -Infinity;
        continue;
      }
      let sum = 0;
      for (let j = 0; j < limit; j++) {
        if (m && m[mOff + j] === 0) {
          scratch[row + j] = 0;
          continue;
        }
        const e = Math.exp(scratch[row + j]! * scale - max);
        scratch[row + j] = e;
        sum += e;
      }
      const inv = 1 / sum;
      for (let j = 0; j < limit; j++) scratch[row + j]! *= inv;
      for (let j = limit; j < n; j++) scratch[row + j] = 0;
      if (lse) lse[lseOff + i0 + r] = max + Math.log(sum);
    }
    // out[i0 : i0+rows] = P[rows, n] · v[0 : n]
    matmulKernel(out, outOff + i0 * Dv, scratch, 0, n, 1, v.data, v.offset, v.rowStride, v.colStride, rows, Dv, n);
  }
}

// ************* backward *************

/**
 * The backward of attentionForward for one slice, accumulating into dQ [Tq, D], dK [Tk, D] and
 * dV [Tk, Dv] (contiguous from their offsets; null when not wanted). lse holds the forward's
 * log-sum-exp of each row (from lseOff); scratch has 2·plan.block elements, for P and dS.
 * In the forward pass this was: out = P·v with P = softmax(S), S = q·kᵀ·scale; so now, block by
 * block, P = exp(S − lse) is recomputed, then dV += Pᵀ·dOut, dP = dOut·vᵀ,
 * dS = P ⊙ (dP − rowsum(dP ⊙ P)), dQ += dS·k·scale, dK += dSᵀ·q·scale. A block holds whole
 * rows of P, so rowsum(dP ⊙ P) is exact within it.
 */
export function attentionBackward(
  dQ: FloatArray | null, dqOff: number, dK: FloatArray | null, dkOff: number, dV: FloatArray | null, dvOff: number,
  dOut: StridedMatrix, q: StridedMatrix, k: StridedMatrix, v: StridedMatrix, mask: KeyMask | null,
  lse: Float64Array, lseOff: number, scratch: FloatArray, plan: AttentionPlan,
): void {
  if (onWasm(plan, dOut.data, q, k, v) && (!dQ || dQ instanceof Float32Array) && (!dK || dK instanceof Float32Array) && (!dV || dV instanceof Float32Array)) {
    attentionBackwardWasm(dQ as Float32Array | null, dqOff, dK as Float32Array | null, dkOff, dV as Float32Array | null, dvOff,
      dOut as StridedF32, q as StridedF32, k as StridedF32, v as StridedF32, mask?.data ?? null, mask?.offset ?? 0, lse, lseOff, plan);
    return;
  }
  const { Tq, Tk, D, Dv, causal, scale, rowStart, keys, block } = plan;
  const m = mask?.data;
  const mOff = mask?.offset ?? 0;
  const P = 0; // P [rows, n] at scratch[0 ..], dS [rows, n] at scratch[block ..]
  const s = block;
  for (let b = 0; b < keys.length; b++) {
    const i0 = rowStart[b]!;
    const rows = rowStart[b + 1]! - i0;
    const n = keys[b]!;
    const gOff = dOut.offset + i0 * dOut.rowStride;
    // recompute P [rows, n] = exp(q[i0 : i0+rows] · k[0 : n]ᵀ · scale − lse)
    matmulKernel(scratch, P, q.data, q.offset + i0 * q.rowStride, q.rowStride, q.colStride, k.data, k.offset, k.colStride, k.rowStride, rows, n, D);
    for (let r = 0; r < rows; r++) {
      const limit = causal ? Tk - Tq + i0 + r + 1 : n;
      const row = P + r * n;
      const L = lse[lseOff + i0 + r]!; // −∞ only for a row whose keys are all masked: all set to 0 here
      for (let j = 0; j < limit; j++) scratch[row + j] = m && m[mOff + j] === 0 ? 0 : Math.exp(scratch[row + j]! * scale - L);
      for (let j = limit; j < n; j++) scratch[row + j] = 0;
    }
    // in the forward pass this was: out[i0 : i0+rows] = P[rows, n] · v[0 : n]; so dV[0 : n] += Pᵀ · dOut
    if (dV) matmulKernel(dV, dvOff, scratch, P, 1, n, dOut.data, gOff, dOut.rowStride, dOut.colStride, n, Dv, rows, true);
    if (!dQ && !dK) continue;
    // dP [rows, n] = dOut[i0 : i0+rows] · v[0 : n]ᵀ, written where dS goes
    matmulKernel(scratch, s, dOut.data, gOff, dOut.rowStride, dOut.colStride, v.data, v.offset, v.colStride, v.rowStride, rows, n, Dv);
    for (let r = 0; r < rows; r++) {
      const limit = causal ? Tk - Tq + i0 + r + 1 : n;
      const row = s + r * n;
      const prow = P + r * n;
      let dot = 0;
      for (let j = 0; j < limit; j++) dot += scratch[row + j]! * scratch[prow + j]!;
      // the scale of S = q·kᵀ·scale is folded into dS here, once, instead of into dQ and dK
      for (let j = 0; j < limit; j++) scratch[row + j] = scratch[prow + j]! * (scratch[row + j]! - dot) * scale;
      for (let j = limit; j < n; j++) scratch[row + j] = 0;
    }
    // in the forward pass this was: S[rows, n] = q[i0 : i0+rows] · k[0 : n]ᵀ; so
    // dQ[i0 : i0+rows] += dS · k[0 : n] and dK[0 : n] += dSᵀ · q[i0 : i0+rows]
    if (dQ) matmulKernel(dQ, dqOff + i0 * D, scratch, s, n, 1, k.data, k.offset, k.rowStride, k.colStride, rows, D, n, true);
    if (dK) matmulKernel(dK, dkOff, scratch, s, 1, n, q.data, q.offset + i0 * q.rowStride, q.rowStride, q.colStride, n, D, rows, true);
  }
}

// ************* many slices *************

/** One attention call over many slices: forward when g is null, else backward (parallel/attention.ts may split it across threads). */
export interface AttentionCall {
  /** The sizes of every slice. */
  plan: AttentionPlan;
  /** q, k and v; their offsets are replaced per slice by qOffs, kOffs, vOffs. */
  q: StridedMatrix; k: StridedMatrix; v: StridedMatrix;
  qOffs: Int32Array; kOffs: Int32Array; vOffs: Int32Array;
  /** The key masks (rows of Tk zeros and ones) and the offset of each slice's row; null = no mask. */
  mask: Float64Array | null; maskOffs: Int32Array | null;
  /** Each query row's log-sum-exp, [slices, Tq]: written by the forward (null = not wanted), read by the backward. */
  lse: Float64Array | null;
  /** Forward: the output [slices, Tq, Dv]. */
  out: FloatArray | null;
  /** Backward: the output gradient and its slice offsets. */
  g: StridedMatrix | null; gOffs: Int32Array | null;
  /** Backward: gradient buffers to accumulate into (null when not wanted) and their slice offsets. */
  dq: FloatArray | null; dqOffs: Int32Array | null;
  dk: FloatArray | null; dkOffs: Int32Array | null;
  dv: FloatArray | null; dvOffs: Int32Array | null;
}

// Scratch per thread: one block of P (forward), or of P and dS (backward).
let scratch32 = new Float32Array(0);
let scratch64 = new Float64Array(0);

function scratchLike(like: FloatArray, n: number): FloatArray {
  if (like instanceof Float32Array) {
    if (scratch32.length < n) scratch32 = new Float32Array(n);
    return scratch32;
  }
  if (scratch64.length < n) scratch64 = new Float64Array(n);
  return scratch64;
}

/** Runs slices [from, to) of a call on this thread. */
export function attentionSlices(job: AttentionCall, from: number, to: number): void {
  const { plan } = job;
  const q = { ...job.q }, k = { ...job.k }, v = { ...job.v };
  const mask: KeyMask | null = job.mask ? { data: job.mask, offset: 0 } : null;
  if (!job.g) {
    const scratch = scratchLike(job.out!, plan.block);
    for (let s = from; s < to; s++) {
      q.offset = job.qOffs[s]!; k.offset = job.kOffs[s]!; v.offset = job.vOffs[s]!;
      if (mask) mask.offset = job.maskOffs![s]!;
      attentionForward(job.out!, s * plan.Tq * plan.Dv, job.lse, s * plan.Tq, q, k, v, mask, scratch, plan);
    }
    return;
  }
  const g = { ...job.g };
  const scratch = scratchLike(job.q.data, 2 * plan.block);
  for (let s = from; s < to; s++) {
    q.offset = job.qOffs[s]!; k.offset = job.kOffs[s]!; v.offset = job.vOffs[s]!; g.offset = job.gOffs![s]!;
    if (mask) mask.offset = job.maskOffs![s]!;
    attentionBackward(job.dq, job.dqOffs?.[s] ?? 0, job.dk, job.dkOffs?.[s] ?? 0, job.dv, job.dvOffs?.[s] ?? 0,
      g, q, k, v, mask, job.lse!, s * plan.Tq, scratch, plan);
  }
}
