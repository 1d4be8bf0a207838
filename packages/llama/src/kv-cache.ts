// The keys and values of the tokens seen so far, for one attention layer during generation.
// Shapes: B batch, Hkv key/value heads, P cached tokens, T new tokens, D head dim.

import { Tensor, cat, incrementVersion, isGradEnabled } from '@tsgrad/tensor';

/**
 * One attention layer's cache: k and v are [B, Hkv, P, D] (after rotary), null before the first
 * forward; LlamaAttention.forward appends the new tokens' k and v. Under noGrad they are views of
 * a growing buffer that later appends write past the end of (copy them to keep them if you rewind
 * the cache); while gradients are recorded they are joined by `cat`.
 */
export class KVCache {
  /** Cached keys [B, Hkv, P, D], or null when empty. */
  k: Tensor | null = null;
  /** Cached values [B, Hkv, P, D], or null when empty. */
  v: Tensor | null = null;
  // Where k and v really live: [B, Hkv, capacity, D] buffers whose first P rows k and v view.
  // Appending copies only the new rows; a cat would copy all P cached rows again for every
  // generated token. Capacity doubles when full, so growth costs O(1) per token amortized.
  private buffers: { k: Tensor; v: Tensor } | null = null;

  /** How many tokens are cached (P). */
  get length(): number {
    return this.k ? this.k.shape[2]! : 0;
  }

  /** Appends k and v [B, Hkv, T, D] after the P cached tokens. */
  append(k: Tensor, v: Tensor): void {
    const old = this.k && this.v ? { k: this.k, v: this.v } : null;
    const recording = isGradEnabled() && [k, v, old?.k, old?.v].some((t) => t?.requiresGrad);
    if (recording) {
      // gradients must reach the earlier tokens' keys and values through the graph
      this.k = old ? cat([old.k, k], 2) : k; // [B, Hkv, P+T, D]
      this.v = old ? cat([old.v, v], 2) : v; // [B, Hkv, P+T, D]
      return;
    }
    const [B, Hkv, T, D] = k.shape as [number, number, number, number];
    const P = old ? old.k.shape[2]! : 0;
    let buf = this.buffers;
    // the buffers are usable only if k and v are still the views appended last time
    const viewsBuffers = buf && old && old.k.storage === buf.k.storage && old.v.storage === buf.v.storage &&
      old.k.offset === buf.k.offset && old.v.offset === buf.v.offset && old.k.dtype === k.dtype && old.v.dtype === v.dtype;
    if (!buf || !viewsBuffers || buf.k.shape[2]! < P + T) {
      const capacity = Math.max(16, 2 * (P + T));
      const grown = { k: Tensor.zeros([B, Hkv, capacity, D], k.dtype), v: Tensor.zeros([B, Hkv, capacity, D], v.dtype) };
      if (old) {
        grown.k.narrow(2, 0, P).copy_(old.k);
        grown.v.narrow(2, 0, P).copy_(old.v);
      }
      buf = grown;
      this.buffers = buf;
    }
    writeRows(buf.k, k, P);
    writeRows(buf.v, v, P);
    this.k = buf.k.narrow(2, 0, P + T); // [B, Hkv, P+T, D]
    this.v = buf.v.narrow(2, 0, P + T); // [B, Hkv, P+T, D]
  }
}

// Copies src [B, H, T, D] (any strides) into rows P … P+T−1 of the contiguous buffer
// [B, H, capacity, D]: a plain loop, which for generation's one new row per head costs a
// fraction of narrow(…).copy_(…)'s views and broadcasting checks.
function writeRows(buffer: Tensor, src: Tensor, P: number): void {
  const [B, H, T, D] = src.shape as [number, number, number, number];
  const capacity = buffer.shape[2]!;
  const [sb, sh, st, sd] = src.strides as [number, number, number, number];
  const out = buffer.storage, from = src.storage;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let t = 0; t < T; t++) {
        const d0 = ((b * H + h) * capacity + P + t) * D;
        for (let d = 0, s = src.offset + b * sb + h * sh + t * st; d < D; d++, s += sd) out[d0 + d] = from[s]!;
      }
    }
  }
  // an in-place write like copy_: kernels that keep copies keyed by version (wasm/matmul.ts) and
  // the engine's saved-tensor check must see it
  incrementVersion(buffer);
}
