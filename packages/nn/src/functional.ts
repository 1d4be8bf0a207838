// Functional forms of the layers' math: loss, activations and attention, written with tensor ops.

import { type CrossEntropyOptions, Tensor, attention, crossEntropy as crossEntropy2d, formatShape } from '@tsgrad/tensor';

export type { CrossEntropyOptions };


/**
 * Cross-entropy of logits [..., C] against int32 class targets [...] (the leading dims are
 * flattened into rows): mean over the targets not equal to ignoreIndex (default −100) by default;
 * with reduction 'none' the losses have the targets' shape.
 */
export function crossEntropy(logits: Tensor, targets: Tensor, opts: CrossEntropyOptions = {}): Tensor {
  const lead = logits.shape.slice(0, -1);
  if (logits.ndim < 1 || targets.ndim !== lead.length || targets.shape.some((s, i) => s !== lead[i])) {
    throw new Error(`crossEntropy: expected logits [..., C] and targets [...] with the same leading dims, got ${formatShape(logits.shape)} and ${formatShape(targets.shape)}`);
  }
  const C = logits.shape[logits.ndim - 1]!;
  const loss = crossEntropy2d(logits.reshape([-1, C]), targets.reshape([-1]), opts); // [N, C], [N]
  return opts.reduction === 'none' ? loss.reshape([...targets.shape]) : loss;
}

/** x · σ(x), elementwise (the SiLU or swish activation): [...] → [...]. */
export function silu(x: Tensor): Tensor {
  return x.silu();
}

/** Softmax of x along dim: [...] → [...]. */
export function softmax(x: Tensor, dim: number): Tensor {
  return x.softmax(dim);
}

/** Options of scaledDotProductAttention. */
export interface AttentionOptions {
  /** Mask future keys: query i sees keys 0..Tk−Tq+i (the queries are the last Tq positions). */
  causal?: boolean;
  /** Multiplies q·kᵀ (default 1/√D). */
  scale?: number;
  /**
   * Broadcasts to [..., Tq, Tk]: a float mask is added to the scores (−∞ hides a key); an int32
   * mask keeps the keys where it is nonzero and hides the others (PyTorch's boolean mask).
   */
  mask?: Tensor;
  /**
   * Key padding: [..., Tk] of 0 (padding, never attended to) and 1 (token), leading dims
   * broadcasting against the batch dims; handled by the fused kernel, no [Tq, Tk] mask is built.
   * A query row left with no key to see outputs zeros. Not combined with `mask`.
   */
  keyMask?: Tensor;
}

// causal masks by (Tq, Tk): 1 where a key lies in a query's future. Bounded, since generation
// asks for one (1, Tk) per step (though those need no mask) and training for a handful of sizes.
const causalMasks = new Map<string, Tensor>();

function causalMask(Tq: number, Tk: number): Tensor {
  const key = `${Tq},${Tk}`;
  let mask = causalMasks.get(key);
  if (!mask) {
    mask = Tensor.zeros([Tq, Tk], 'int32');
    for (let i = 0; i < Tq; i++) for (let j = Tk - Tq + i + 1; j < Tk; j++) mask.storage[i * Tk + j] = 1;
    if (causalMasks.size >= 64) causalMasks.clear();
    causalMasks.set(key, mask);
  }
  return mask;
}

/**
 * softmax(q·kᵀ·scale + mask)·v for q [..., Tq, D], k [..., Tk, D], v [..., Tk, Dv] → [..., Tq, Dv]
 * (leading dims broadcast). With causal, query i sees keys 0..Tk−Tq+i: the queries are aligned to
 * the end of the keys, as a KV cache needs. Without a mask this is the fused `attention` op; with
 * one, the composite of matmul, maskedFill and softmax.
 */
export function scaledDotProductAttention(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions = {}): Tensor {
  // without an explicit mask, the fused op, which checks the shapes itself: causal by loop bounds,
  // no [Tq, Tk] mask or scores tensor
  if (!opts.mask) return attention(q, k, v, { causal: opts.causal, scale: opts.scale, keyMask: opts.keyMask });
  // the composite path: its matmuls would reject these shapes too, but without naming q, k and v
  if (q.ndim < 2 || k.ndim < 2 || v.ndim < 2) {
    throw new Error(`scaledDotProductAttention: q, k and v need at least 2 dims, got ${formatShape(q.shape)}, ${formatShape(k.shape)}, ${formatShape(v.shape)}`);
  }
  const [Tq, D] = q.shape.slice(-2) as [number, number];
  const [Tk, Dk] = k.shape.slice(-2) as [number, number];
  if (Dk !== D || v.shape[v.ndim - 2] !== Tk) {
    throw new Error(`scaledDotProductAttention: expected q [..., Tq, D], k [..., Tk, D], v [..., Tk, Dv], got ${formatShape(q.shape)}, ${formatShape(k.shape)}, ${formatShape(v.shape)}`);
  }
  if (opts.causal && Tq > Tk) throw new Error(`scaledDotProductAttention: causal attention needs Tq ≤ Tk, got Tq ${Tq} and Tk ${Tk}`);
  if (opts.keyMask) throw new Error('scaledDotProductAttention: pass either mask or keyMask, not both (fold the key mask into mask)');
  const scale = opts.scale ?? 1 / Math.sqrt(D);
  let scores = q.matmul(k.transpose(-2, -1)).mul(scale); // [..., Tq, Tk]
  if (opts.causal) {
    // a single query is the last position: it sees every key
    if (Tq > 1) scores = scores.maskedFill(causalMask(Tq, Tk), -Infinity);
  }
  const mask = opts.mask;
  scores = mask.dtype === 'int32' ? scores.maskedFill(mask.eq(0), -Infinity) : scores.add(mask);
  return scores.softmax(-1).matmul(v); // [..., Tq, Dv]
}
