// Causal multi-head self-attention with grouped-query heads and rotary positions, as LLaMA's
// LlamaAttention. Field names are Hugging Face's checkpoint keys (q_proj, k_proj, v_proj, o_proj).
// Shapes: B batch, T new tokens, P cached tokens, C hidden, H query heads, Hkv key/value heads,
// G = H / Hkv query heads per key/value head, D head dim.

import { Tensor, cat, isGradEnabled } from '@tsgrad/tensor';
import { Module } from './module.js';
import { Linear, checkSize } from './linear.js';
import { RotaryEmbedding } from './rotary.js';
import { scaledDotProductAttention } from './functional.js';
import type { ProjectionOptions } from './mlp.js';

/**
 * The keys and values of the tokens seen so far, for generation: k and v are [B, Hkv, P, D] (after
 * rotary), null before the first forward. Attention.forward appends the new tokens' k and v. Under
 * noGrad they are views of a growing buffer that later appends write past the end of (copy them
 * to keep them if you rewind the cache); while gradients are recorded they are joined by `cat`.
 */
export interface KVCache {
  /** Cached keys [B, Hkv, P, D], or null when empty. */
  k: Tensor | null;
  /** Cached values [B, Hkv, P, D], or null when empty. */
  v: Tensor | null;
}

// Where a cache's keys and values really live: [B, Hkv, capacity, D] buffers whose first P rows
// cache.k and cache.v view. Appending copies only the new rows; a cat would copy all P cached
// rows again for every generated token. Capacity doubles when full, so growth costs O(1) per
// token amortized. Kept beside the cache, not in it, so KVCache stays the plain { k, v } pair.
const cacheBuffers = new WeakMap<KVCache, { k: Tensor; v: Tensor }>();

// Appends k and v [B, Hkv, T, D] to the cache (whose k and v hold P tokens, or are null).
function appendToCache(cache: KVCache, k: Tensor, v: Tensor): void {
  const old = cache.k && cache.v ? { k: cache.k, v: cache.v } : null;
  const recording = isGradEnabled() && [k, v, old?.k, old?.v].some((t) => t?.requiresGrad);
  if (recording) {
    // gradients must reach the earlier tokens' keys and values through the graph
    cache.k = old ? cat([old.k, k], 2) : k;
    cache.v = old ? cat([old.v, v], 2) : v;
    return;
  }
  const [B, Hkv, T, D] = k.shape as [number, number, number, number];
  const P = old ? old.k.shape[2]! : 0;
  let buf = cacheBuffers.get(cache);
  // the buffers are usable only if cache.k and cache.v are still the views appended last time
  const viewsBuffers = buf && old && old.k.storage === buf.k.storage && old.v.storage === buf.v.storage &&
    old.k.offset === buf.k.offset && old.v.offset === buf.v.offset && old.k.dtype === k.dtype && old.v.dtype === v.dtype;
  if (!buf || !viewsBuffers || buf.k.shape[2]! < P + T) {
    const capacity = Math.max(16, 2 * (P + T));
    const grown = { k: Tensor.empty([B, Hkv, capacity, D], k.dtype), v: Tensor.empty([B, Hkv, capacity, D], v.dtype) };
    if (old) {
      grown.k.narrow(2, 0, P).copy_(old.k);
      grown.v.narrow(2, 0, P).copy_(old.v);
    }
    buf = grown;
    cacheBuffers.set(cache, buf);
  }
  buf.k.narrow(2, P, T).copy_(k);
  buf.v.narrow(2, P, T).copy_(v);
  cache.k = buf.k.narrow(2, 0, P + T);
  cache.v = buf.v.narrow(2, 0, P + T);
}

/** An empty KV cache for one attention layer. */
export function createKVCache(): KVCache {
  return { k: null, v: null };
}

/** Options of Attention. */
export interface AttentionLayerOptions extends ProjectionOptions {
  /** Size of each head (default hiddenSize / numHeads). */
  headDim?: number;
  /** The rotary embedding to use (often one shared by all layers); default a new one for headDim. */
  rotary?: RotaryEmbedding;
}

/** Options of Attention.forward. */
export interface AttentionForwardOptions {
  /** Position of the first of the T tokens (default: the cache's length, or 0). */
  positionOffset?: number;
  /** Past keys and values; forward attends to them and appends the new ones. */
  kvCache?: KVCache;
  /**
   * Key padding mask [B, P+T] (int32 or float, 1 = token, 0 = padding) over the cached and the
   * new tokens: padded keys are never attended to. A query that sees no key outputs zeros.
   */
  keyMask?: Tensor;
  /** Rotary position of each new token [B, T] (int32); default positionOffset + t for every row. */
  positionIds?: Tensor;
}

/** Causal self-attention with H query heads and Hkv key/value heads (GQA): x [B, T, C] → [B, T, C]. */
export class Attention extends Module {
  /** Query projection, weight [H·D, C]. */
  q_proj: Linear;
  /** Key projection, weight [Hkv·D, C]. */
  k_proj: Linear;
  /** Value projection, weight [Hkv·D, C]. */
  v_proj: Linear;
  /** Output projection, weight [C, H·D]. */
  o_proj: Linear;
  /** The rotary embedding applied to queries and keys (no parameters). */
  rotary: RotaryEmbedding;
  /** Hidden size C. */
  readonly hiddenSize: number;
  /** Number of query heads H. */
  readonly numHeads: number;
  /** Number of key/value heads Hkv (divides H). */
  readonly numKeyValueHeads: number;
  /** Size of each head D. */
  readonly headDim: number;

  /** An attention layer over hidden size C with H query heads and Hkv key/value heads. */
  constructor(hiddenSize: number, numHeads: number, numKeyValueHeads: number, opts: AttentionLayerOptions = {}) {
    super();
    checkSize('Attention', 'hiddenSize', hiddenSize);
    checkSize('Attention', 'numHeads', numHeads);
    checkSize('Attention', 'numKeyValueHeads', numKeyValueHeads);
    if (numHeads % numKeyValueHeads !== 0) {
      throw new Error(`Attention: numKeyValueHeads ${numKeyValueHeads} must divide numAttentionHeads ${numHeads}`);
    }
    if (opts.headDim === undefined && hiddenSize % numHeads !== 0) {
      throw new Error(`Attention: hiddenSize ${hiddenSize} is not divisible by numHeads ${numHeads}; pass headDim`);
    }
    const D = opts.headDim ?? hiddenSize / numHeads;
    checkSize('Attention', 'headDim', D);
    const rotary = opts.rotary ?? new RotaryEmbedding(D);
    if (rotary.headDim !== D) throw new Error(`Attention: the rotary embedding is for headDim ${rotary.headDim}, but the heads have ${D}`);
    const linear = { generator: opts.generator, std: opts.std, dtype: opts.dtype, bias: false };
    this.q_proj = new Linear(hiddenSize, numHeads * D, linear);
    this.k_proj = new Linear(hiddenSize, numKeyValueHeads * D, linear);
    this.v_proj = new Linear(hiddenSize, numKeyValueHeads * D, linear);
    this.o_proj = new Linear(numHeads * D, hiddenSize, linear);
    this.rotary = rotary;
    this.hiddenSize = hiddenSize;
    this.numHeads = numHeads;
    this.numKeyValueHeads = numKeyValueHeads;
    this.headDim = D;
  }

  /** x [B, T, C] → [B, T, C]; with a kvCache the T tokens follow the cached ones and are appended to it. */
  forward(x: Tensor, opts: AttentionForwardOptions = {}): Tensor {
    const { numHeads: H, numKeyValueHeads: Hkv, headDim: D } = this;
    if (x.ndim !== 3 || x.shape[2] !== this.hiddenSize) {
      throw new Error(`Attention: expected x [B, T, ${this.hiddenSize}], got [${x.shape.join(', ')}]`);
    }
    const [B, T] = x.shape as [number, number, number];
    const cache = opts.kvCache;
    const past = cache?.k ? cache.k.shape[2]! : 0;
    const P = opts.positionOffset ?? past;
    if (cache && P !== past) throw new Error(`Attention: positionOffset ${P} differs from the ${past} tokens in the KV cache`);

    let q = this.q_proj.forward(x).reshape([B, T, H, D]).transpose(1, 2); // [B, H, T, D]
    let k = this.k_proj.forward(x).reshape([B, T, Hkv, D]).transpose(1, 2); // [B, Hkv, T, D]
    let v = this.v_proj.forward(x).reshape([B, T, Hkv, D]).transpose(1, 2); // [B, Hkv, T, D]
    if (opts.positionIds) {
      q = this.rotary.applyAt(q, opts.positionIds);
      k = this.rotary.applyAt(k, opts.positionIds);
    } else {
      q = this.rotary.apply(q, P);
      k = this.rotary.apply(k, P);
    }
    if (cache) {
      if (cache.k && cache.v) {
        if (cache.k.shape[0] !== B || cache.k.shape[1] !== Hkv || cache.k.shape[3] !== D) {
          throw new Error(`Attention: the KV cache holds [${cache.k.shape.join(', ')}], which does not fit [${B}, ${Hkv}, P, ${D}]`);
        }
      }
      appendToCache(cache, k, v);
      k = cache.k!; // [B, Hkv, P+T, D]
      v = cache.v!; // [B, Hkv, P+T, D]
    }

    // grouped-query heads: query head h uses key/value head ⌊h / G⌋ (HF's repeat_kv). Splitting H
    // into [Hkv, G] is a view of q, and k and v broadcast over G: nothing is copied, and the fused
    // attention sums their gradients over the G query heads as it goes.
    const G = H / Hkv;
    const qg = q.reshape([B, Hkv, G, T, D]); // [B, Hkv, G, T, D]
    const kg = k.unsqueeze(2); // [B, Hkv, 1, Tk, D]
    const vg = v.unsqueeze(2); // [B, Hkv, 1, Tk, D]
    let keyMask: Tensor | undefined;
    if (opts.keyMask) {
      const Tk = k.shape[2]!;
      if (opts.keyMask.ndim !== 2 || opts.keyMask.shape[0] !== B || opts.keyMask.shape[1] !== Tk) {
        throw new Error(`Attention: keyMask must be [${B}, ${Tk}] (batch, cached + new tokens), got [${opts.keyMask.shape.join(', ')}]`);
      }
      keyMask = opts.keyMask.reshape([B, 1, 1, Tk]); // broadcast over [Hkv, G]
    }
    const y = scaledDotProductAttention(qg, kg, vg, { causal: true, keyMask }); // [B, Hkv, G, T, D]
    const merged = y.reshape([B, H, T, D]).transpose(1, 2).reshape([B, T, H * D]); // [B, T, H·D]
    return this.o_proj.forward(merged); // [B, T, C]
  }
}
