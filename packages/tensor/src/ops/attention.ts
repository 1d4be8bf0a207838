// Fused scaled-dot-product attention: softmax(q·kᵀ·scale)·v with an optional causal limit and an
// optional key mask (padding), one kernel call per (batch·head) slice (kernels/attention.ts).
// Leading dims broadcast, so grouped-query attention passes k and v as [..., Hkv, 1, Tk, D]
// against q [..., Hkv, G, Tq, D] and their gradients are summed over the G query heads inside the
// kernel, never materialized per head. A key mask [B, 1, 1, Tk] likewise broadcasts over heads.
//
// Saved for the backward: q, k, v (the op's inputs, referenced, not copied), the key mask as
// Float64 (Tk numbers per mask row) and one log-sum-exp per query row (8 bytes × Tq per slice).
// The probabilities are never kept: the backward recomputes them block by block from q, k and the
// log-sum-exp (flash-attention style), so the memory held for the backward grows linearly in T.
// When a graph of the backward is asked for (createGraph), recordFusedOp runs the composite formula
// written with tensor ops instead, so higher-order gradients stay exact (autograd/graph.ts).

import { allocStorage, promoteTypes } from '../dtype.js';
import { isGradEnabled, recordFusedOp } from '../autograd/graph.js';
import { type AttentionCall, type AttentionPlan, type StridedMatrix, attentionPlan, attentionSlices } from '../kernels/attention.js';
import { parallelAttention } from '../parallel/attention.js';
import { threadPool } from '../parallel/pool.js';
import type { FloatArray } from '../dtype.js';
import { broadcastShapes, broadcastStrides, contiguousStrides, formatShape, numelOf, stridedOffsets } from '../shape.js';
import { Tensor } from '../tensor.js';
import { sumToShape } from './binary.js';
import { requireFloat } from './common.js';

/** Options of attention. */
export interface AttentionOptions {
  /** Query i sees keys 0..Tk−Tq+i only: the queries are the last Tq positions (a KV cache's layout). */
  causal?: boolean;
  /** Multiplies q·kᵀ (default 1/√D). */
  scale?: number;
  /**
   * Which keys may be attended to: [..., Tk] of zeros and ones (int32 or float), 1 = a token,
   * 0 = padding never attended to; its leading dims broadcast against the batch dims (for
   * q [B, H, Tq, D], pass [B, 1, Tk]). Combined with causal. A query row left with no key to
   * see outputs zeros and gets zero gradients (Hugging Face's sdpa path leaves such rows as it
   * pleases; they are padding, and nothing real attends to them).
   */
  keyMask?: Tensor;
}

// The storage offset of every slice [.., T, D] of t over a broadcast batch shape.
function sliceOffsets(batch: readonly number[], shape: readonly number[], strides: readonly number[], offset: number): Int32Array {
  const lead = shape.length - 2;
  return stridedOffsets(batch, broadcastStrides('attention', shape.slice(0, lead), strides.slice(0, lead), batch), offset);
}

// q, k and v as strided matrices, with the storage offset of each of their slices.
function qkvMatrices(q: Tensor, k: Tensor, v: Tensor, batch: readonly number[]) {
  return {
    q: matrix(q), k: matrix(k), v: matrix(v),
    qOffs: sliceOffsets(batch, q.shape, q.strides, q.offset),
    kOffs: sliceOffsets(batch, k.shape, k.strides, k.offset),
    vOffs: sliceOffsets(batch, v.shape, v.strides, v.offset),
  };
}

function matrix(t: Tensor): StridedMatrix {
  return { data: t.storage as FloatArray, offset: t.offset, rowStride: t.strides[t.ndim - 2]!, colStride: t.strides[t.ndim - 1]! };
}

// A causal mask [Tq, Tk] for the composite path: 1 where a key lies in a query's future.
function causalMask(Tq: number, Tk: number): Tensor {
  const mask = Tensor.zeros([Tq, Tk], 'int32');
  for (let i = 0; i < Tq; i++) for (let j = Tk - Tq + i + 1; j < Tk; j++) mask.storage[i * Tk + j] = 1;
  return mask;
}

// The key mask, checked: its values as a contiguous Float64Array [rows, Tk] and its shape.
function keyMaskValues(mask: Tensor, Tk: number): Float64Array {
  if (mask.ndim < 1 || mask.shape[mask.ndim - 1] !== Tk) {
    throw new Error(`attention: keyMask must be [..., Tk] with Tk = ${Tk} keys, got ${formatShape(mask.shape)}`);
  }
  const values = Float64Array.from(mask.toTypedArray());
  for (let i = 0; i < values.length; i++) {
    const x = values[i]!;
    if (x !== 0 && x !== 1) {
      throw new Error(`attention: keyMask must hold only 0 (padding) and 1 (token), got ${x} at flat index ${i} of ${formatShape(mask.shape)}`);
    }
  }
  return values;
}

// For the composite path: which scores to hide (1) [...maskLead, Tq, Tk] and which query rows see
// at least one key (1.0, else 0.0) [...maskLead, Tq, 1]. A row that sees nothing hides nothing,
// so its softmax stays finite, and is then zeroed by its factor.
function compositeMask(Tq: number, Tk: number, causal: boolean, keys: Float64Array | null, lead: readonly number[], dtype: Tensor['dtype']) {
  const rows = keys ? keys.length / Tk : 1;
  const hidden = Tensor.zeros([...lead, Tq, Tk], 'int32');
  const seen = Tensor.zeros([...lead, Tq, 1], dtype);
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < Tq; i++) {
      const limit = causal ? Tk - Tq + i + 1 : Tk;
      let any = false;
      for (let j = 0; j < limit; j++) if (!keys || keys[r * Tk + j] !== 0) any = true;
      seen.storage[r * Tq + i] = any ? 1 : 0;
      if (!any) continue;
      for (let j = 0; j < Tk; j++) hidden.storage[(r * Tq + i) * Tk + j] = j >= limit || (keys && keys[r * Tk + j] === 0) ? 1 : 0;
    }
  }
  return { hidden, seen };
}

/** The probabilities softmax(q·kᵀ·scale) (causal and key mask by −∞) with tensor ops: the composite path. */
function compositeProbs(q: Tensor, k: Tensor, scale: number, causal: boolean, keys: Float64Array | null, maskLead: readonly number[]): Tensor {
  let scores = q.matmul(k.transpose(-2, -1)).mul(scale); // [..., Tq, Tk]
  const Tq = q.shape[q.ndim - 2]!;
  const Tk = k.shape[k.ndim - 2]!;
  if (!keys) {
    if (causal && Tq > 1) scores = scores.maskedFill(causalMask(Tq, Tk), -Infinity);
    return scores.softmax(-1);
  }
  const { hidden, seen } = compositeMask(Tq, Tk, causal, keys, maskLead, scores.dtype);
  return scores.maskedFill(hidden, -Infinity).softmax(-1).mul(seen);
}

/**
 * softmax(q·kᵀ·scale)·v for q [..., Tq, D], k [..., Tk, D], v [..., Tk, Dv] → [..., Tq, Dv], leading
 * dims broadcast (stride-0 expanded views are read in place); causal: query i sees keys 0..Tk−Tq+i;
 * keyMask [..., Tk]: keys where it is 0 are never seen.
 * d: with P the probabilities: dv = Pᵀ·g, dP = g·vᵀ, dS = P ⊙ (dP − rowsum(dP ⊙ P)), dq = dS·k·scale, dk = dSᵀ·q·scale
 */
export function attention(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions = {}): Tensor {
  for (const t of [q, k, v]) requireFloat('attention', t);
  if (q.ndim < 2 || k.ndim < 2 || v.ndim < 2) {
    throw new Error(`attention: q, k and v need at least 2 dims, got ${formatShape(q.shape)}, ${formatShape(k.shape)}, ${formatShape(v.shape)}`);
  }
  const [Tq, D] = q.shape.slice(-2) as [number, number];
  const [Tk, Dk] = k.shape.slice(-2) as [number, number];
  const [Tv, Dv] = v.shape.slice(-2) as [number, number];
  if (Dk !== D || Tv !== Tk) {
    throw new Error(`attention: expected q [..., Tq, D], k [..., Tk, D], v [..., Tk, Dv], got ${formatShape(q.shape)}, ${formatShape(k.shape)}, ${formatShape(v.shape)}`);
  }
  const causal = opts.causal ?? false;
  if (causal && Tq > Tk) throw new Error(`attention: causal attention needs Tq ≤ Tk, got Tq ${Tq} and Tk ${Tk}`);
  const dtype = promoteTypes(promoteTypes(q.dtype, k.dtype), v.dtype);
  if (q.dtype !== dtype || k.dtype !== dtype || v.dtype !== dtype) return attention(q.to(dtype), k.to(dtype), v.to(dtype), opts);
  const scale = opts.scale ?? 1 / Math.sqrt(D);
  const keyMask = opts.keyMask;
  const keys = keyMask ? keyMaskValues(keyMask, Tk) : null;
  const maskLead = keyMask ? keyMask.shape.slice(0, -1) : [];
  let batch = broadcastShapes('attention', broadcastShapes('attention', q.shape.slice(0, -2), k.shape.slice(0, -2)), v.shape.slice(0, -2));
  if (keyMask) {
    try {
      batch = broadcastShapes('attention', batch, maskLead);
    } catch {
      throw new Error(`attention: keyMask ${formatShape(keyMask.shape)}: its leading dims ${formatShape(maskLead)} do not broadcast against the batch dims ${formatShape(batch)} of q, k and v`);
    }
  }
  const count = numelOf(batch);
  const plan = attentionPlan(Tq, Tk, D, Dv, causal, scale);
  const out = allocStorage(dtype, count * Tq * Dv) as FloatArray;
  const backwardRecorded = isGradEnabled() && (q.requiresGrad || k.requiresGrad || v.requiresGrad);
  // the one number per query row the backward needs (see the header): never the probabilities
  const lse = backwardRecorded ? new Float64Array(count * Tq) : null;
  const masks = keyMaskOperand(keys, maskLead, Tk, batch);
  runAttention({
    plan, ...qkvMatrices(q, k, v, batch), ...masks,
    lse, out, g: null, gOffs: null, dq: null, dqOffs: null, dk: null, dkOffs: null, dv: null, dvOffs: null,
  }, count);
  const result = new Tensor(out, [...batch, Tq, Dv]);
  return recordFusedOp(result, 'attention', [q, k, v], {
    backward: (grad) => attentionGrads(grad, q, k, v, batch, masks, lse!, plan),
    composite: (grad) => {
      const P = compositeProbs(q, k, scale, causal, keys, maskLead); // [..., Tq, Tk]
      const dP = grad.matmul(v.transpose(-2, -1)); // [..., Tq, Tk]
      const dS = P.mul(dP.sub(dP.mul(P).sum(-1, true))).mul(scale);
      return [
        q.requiresGrad ? sumToShape(dS.matmul(k), q.shape) : null,
        k.requiresGrad ? sumToShape(dS.transpose(-2, -1).matmul(q), k.shape) : null,
        v.requiresGrad ? sumToShape(P.transpose(-2, -1).matmul(grad), v.shape) : null,
      ];
    },
    saved: [q, k, v],
  });
}

// One thread (no pool installed) runs the kernel over every slice directly; with a pool the call
// may be split across its workers (parallel/attention.ts).
function runAttention(call: AttentionCall, count: number): void {
  if (threadPool) parallelAttention(call, count);
  else attentionSlices(call, 0, count);
}

// The key mask as the kernel reads it: the values and each slice's offset into them.
function keyMaskOperand(keys: Float64Array | null, maskLead: readonly number[], Tk: number, batch: readonly number[]) {
  if (!keys) return { mask: null, maskOffs: null };
  const rowStrides = contiguousStrides([...maskLead, Tk]).slice(0, -1);
  return { mask: keys, maskOffs: stridedOffsets(batch, broadcastStrides('attention', maskLead, rowStrides, batch), 0) };
}

// The fused backward: one gradient buffer per input, in the input's own (contiguous) shape; a
// broadcast input's slices share a buffer slice, into which the kernel accumulates.
function attentionGrads(
  grad: Tensor, q: Tensor, k: Tensor, v: Tensor, batch: number[],
  masks: { mask: Float64Array | null; maskOffs: Int32Array | null }, lse: Float64Array, plan: AttentionPlan,
): Array<Tensor | null> {
  const count = numelOf(batch);
  const gradBuffer = (t: Tensor) => (t.requiresGrad ? new Tensor(allocStorage(t.dtype, t.numel), t.shape) : null);
  const [dq, dk, dv] = [gradBuffer(q), gradBuffer(k), gradBuffer(v)];
  const offsets = (t: Tensor | null) => (t ? sliceOffsets(batch, t.shape, contiguousStrides(t.shape), 0) : null);
  const [dqOffs, dkOffs, dvOffs] = [offsets(dq), offsets(dk), offsets(dv)];
  runAttention({
    plan, ...qkvMatrices(q, k, v, batch), ...masks,
    lse, out: null, g: matrix(grad), gOffs: sliceOffsets(batch, grad.shape, grad.strides, grad.offset),
    dq: (dq?.storage ?? null) as FloatArray | null, dqOffs,
    dk: (dk?.storage ?? null) as FloatArray | null, dkOffs,
    dv: (dv?.storage ?? null) as FloatArray | null, dvOffs,
  }, count);
  return [dq, dk, dv];
}
