// LLaMA written in TensorFlow.js ops, as faithful to Hugging Face's LlamaForCausalLM (and so to
// @tsgrad/llama) as tfjs allows: token embedding (gather) → L × [RMSNorm → attention with rotary
// positions (HF rotate-half) and a causal mask → residual; RMSNorm → SwiGLU MLP → residual] →
// RMSNorm → lm_head; loss = mean cross-entropy of the shifted labels. Weights are loaded by their
// Hugging Face names, so a tsgrad model's parameters copy over one to one.
//
// NOTE: tfjs has no AdamW: training uses tf.train.adam (no weight decay), and no fused kernels:
// RMSNorm, rotary, SiLU and the mask are composed from elementwise ops. The mask adds −1e9
// (exp underflows to exactly 0, as the −∞ of masked_fill) to stay clear of ∞ − ∞ in gradients.
//
// Shapes: B batch, T time, P cached positions, C hidden, H heads, Hkv key/value heads, D head dim,
// F FFN hidden, V vocab.

import * as tf from '@tensorflow/tfjs';
import type { LlamaConfig } from '@tsgrad/llama';

/** One layer's cached keys and values [B, Hkv, P, D] (null before the first token). */
export interface TfKVCache {
  /** Cached keys. */
  k: tf.Tensor4D | null;
  /** Cached values. */
  v: tf.Tensor4D | null;
}

/** A named weight to load: Hugging Face key, row-major float32 data and shape. */
export interface NamedWeight {
  /** Hugging Face parameter name, e.g. `model.layers.0.self_attn.q_proj.weight`. */
  name: string;
  /** The shape, e.g. [H·D, C]. */
  shape: number[];
  /** The values, row-major. */
  data: Float32Array;
}

const MASKED = -1e9;

/** LLaMA for causal LM in tfjs ops; its variables live on the backend current at construction. */
export class TfLlama {
  /** The model's configuration. */
  readonly config: LlamaConfig;
  /** The trainable variables by Hugging Face name. */
  readonly weights = new Map<string, tf.Variable>();
  private readonly cos: tf.Tensor2D; // [maxPositions, D]
  private readonly sin: tf.Tensor2D; // [maxPositions, D]

  /** Loads `weights` (every parameter of the config, by HF name) into new tfjs variables. */
  constructor(config: LlamaConfig, weights: Iterable<NamedWeight>) {
    this.config = { ...config };
    for (const w of weights) this.weights.set(w.name, tf.variable(tf.tensor(w.data, w.shape), true));
    const D = this.headDim;
    const [cos, sin] = rotaryTables(D, config.maxPositionEmbeddings, config.ropeTheta ?? 10000);
    this.cos = tf.tensor2d(cos, [config.maxPositionEmbeddings, D]);
    this.sin = tf.tensor2d(sin, [config.maxPositionEmbeddings, D]);
  }

  /** Size of each head D. */
  get headDim(): number {
    return this.config.headDim ?? this.config.hiddenSize / this.config.numAttentionHeads;
  }

  /** One empty cache per layer, for generation. */
  createCaches(): TfKVCache[] {
    return Array.from({ length: this.config.numHiddenLayers }, () => ({ k: null, v: null }));
  }

  /** The variables in load order (for tf.variableGrads). */
  variables(): tf.Variable[] {
    return [...this.weights.values()];
  }

  /** ids int32 [B, T] → logits [B, T, V]; with caches the tokens follow the cached ones (and are appended). */
  forward(ids: tf.Tensor2D, caches?: TfKVCache[]): tf.Tensor3D {
    const [B, T] = ids.shape;
    const P = caches?.[0]?.k?.shape[2] ?? 0;
    const cos = this.cos.slice([P, 0], [T, this.headDim]); // [T, D]
    const sin = this.sin.slice([P, 0], [T, this.headDim]); // [T, D]
    const mask = T > 1 ? causalMask(T, P) : null; // [T, P+T]
    let h = embedding(this.w('model.embed_tokens.weight'), ids); // [B, T, C]
    for (let l = 0; l < this.config.numHiddenLayers; l++) {
      const p = `model.layers.${l}.`;
      const x = this.rmsNorm(h, `${p}input_layernorm.weight`);
      h = tf.add(h, this.attention(x, p + 'self_attn.', cos, sin, mask, caches?.[l])); // [B, T, C]
      const y = this.rmsNorm(h, `${p}post_attention_layernorm.weight`);
      h = tf.add(h, this.mlp(y, p + 'mlp.')); // [B, T, C]
    }
    h = this.rmsNorm(h, 'model.norm.weight'); // [B, T, C]
    const head = this.config.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight';
    return this.linear(h, head).reshape([B, T, this.config.vocabSize]); // [B, T, V]
  }

  /** Mean cross-entropy of next-token prediction: position t predicts ids[t + 1] (HF's shift). */
  loss(ids: tf.Tensor2D): tf.Scalar {
    const [B, T] = ids.shape;
    const V = this.config.vocabSize;
    const logits = this.forward(ids); // [B, T, V]
    const pred = logits.slice([0, 0, 0], [B, T - 1, V]).reshape([B * (T - 1), V]); // [B·(T−1), V]
    const labels = ids.slice([0, 1], [B, T - 1]).reshape([B * (T - 1)]); // [B·(T−1)]
    // the default reduction (SUM_BY_NONZERO_WEIGHTS, no weights) is the mean over rows
    return tf.losses.softmaxCrossEntropy(tf.oneHot(labels as tf.Tensor1D, V), pred) as tf.Scalar;
  }

  /** Greedy continuation of a prompt with a KV cache: the prompt followed by maxNewTokens ids. */
  generate(prompt: number[], maxNewTokens: number): number[] {
    const out = [...prompt];
    const caches = this.createCaches();
    let input = prompt;
    try {
      for (let n = 0; n < maxNewTokens; n++) {
        const last = tf.tidy(() => {
          const logits = this.forward(tf.tensor2d(input, [1, input.length], 'int32'), caches); // [1, T, V]
          return logits.slice([0, input.length - 1, 0], [1, 1, this.config.vocabSize]);
        });
        const values = last.dataSync();
        last.dispose();
        let best = 0;
        for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
        out.push(best);
        input = [best];
      }
    } finally {
      for (const c of caches) tf.dispose([...(c.k ? [c.k] : []), ...(c.v ? [c.v] : [])]);
    }
    return out;
  }

  /** Frees the variables and tables. */
  dispose(): void {
    tf.dispose([...this.weights.values(), this.cos, this.sin]);
  }

  private w(name: string): tf.Variable {
    const v = this.weights.get(name);
    if (!v) throw new Error(`TfLlama: missing weight ${name}`);
    return v;
  }

  // x [..., in] · Wᵀ with W [out, in] (a Linear without bias) → [..., out]
  private linear(x: tf.Tensor, name: string): tf.Tensor {
    const w = this.w(name);
    const lead = x.shape.slice(0, -1);
    const y = tf.matMul(x.reshape([-1, x.shape[x.rank - 1]!]), w, false, true); // [rows, out]
    return y.reshape([...lead, w.shape[0]!]);
  }

  // x [..., C] · rsqrt(mean(x²) + eps) · w
  private rmsNorm(x: tf.Tensor3D, name: string): tf.Tensor3D {
    const eps = this.config.rmsNormEps ?? 1e-6;
    const r = tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), eps)); // [B, T, 1]
    return tf.mul(tf.mul(x, r), this.w(name));
  }

  private attention(x: tf.Tensor3D, p: string, cos: tf.Tensor2D, sin: tf.Tensor2D, mask: tf.Tensor2D | null, cache?: TfKVCache): tf.Tensor3D {
    const [B, T] = x.shape;
    const H = this.config.numAttentionHeads;
    const Hkv = this.config.numKeyValueHeads ?? H;
    const D = this.headDim;
    let q = this.linear(x, p + 'q_proj.weight').reshape([B, T, H, D]).transpose([0, 2, 1, 3]) as tf.Tensor4D; // [B, H, T, D]
    let k = this.linear(x, p + 'k_proj.weight').reshape([B, T, Hkv, D]).transpose([0, 2, 1, 3]) as tf.Tensor4D; // [B, Hkv, T, D]
    let v = this.linear(x, p + 'v_proj.weight').reshape([B, T, Hkv, D]).transpose([0, 2, 1, 3]) as tf.Tensor4D; // [B, Hkv, T, D]
    q = rotary(q, cos, sin);
    k = rotary(k, cos, sin);
    if (cache) {
      if (cache.k && cache.v) {
        const [oldK, oldV] = [cache.k, cache.v];
        k = tf.concat([oldK, k], 2); // [B, Hkv, P+T, D]
        v = tf.concat([oldV, v], 2); // [B, Hkv, P+T, D]
        tf.dispose([oldK, oldV]);
      }
      cache.k = tf.keep(k);
      cache.v = tf.keep(v);
    }
    const G = H / Hkv;
    if (G > 1) {
      // HF's repeat_kv: query head h reads key/value head ⌊h / G⌋
      const Tk = k.shape[2];
      k = tf.tile(k.reshape([B, Hkv, 1, Tk, D]), [1, 1, G, 1, 1]).reshape([B, H, Tk, D]);
      v = tf.tile(v.reshape([B, Hkv, 1, Tk, D]), [1, 1, G, 1, 1]).reshape([B, H, Tk, D]);
    }
    let scores = tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(D)); // [B, H, T, P+T]
    if (mask) scores = tf.add(scores, mask);
    const y = tf.matMul(tf.softmax(scores), v); // [B, H, T, D]
    const merged = y.transpose([0, 2, 1, 3]).reshape([B, T, H * D]); // [B, T, H·D]
    return this.linear(merged, p + 'o_proj.weight') as tf.Tensor3D; // [B, T, C]
  }

  // down(silu(gate(x)) ⊙ up(x)), silu(z) = z · sigmoid(z)
  private mlp(x: tf.Tensor3D, p: string): tf.Tensor3D {
    const gate = this.linear(x, p + 'gate_proj.weight'); // [B, T, F]
    const up = this.linear(x, p + 'up_proj.weight'); // [B, T, F]
    return this.linear(tf.mul(tf.mul(gate, tf.sigmoid(gate)), up), p + 'down_proj.weight') as tf.Tensor3D; // [B, T, C]
  }
}

/**
 * table [V, C] gathered at ids [B, T] → [B, T, C]. NOTE: gather's registered gradient needs the
 * UnsortedSegmentSum kernel, which the wasm backend lacks; there the gradient is computed as
 * onehot(ids)ᵀ · dy (one matmul, ~0.1 GFLOP per step at the bench shape) instead.
 */
function embedding(table: tf.Tensor, ids: tf.Tensor2D): tf.Tensor3D {
  if (tf.getKernel('UnsortedSegmentSum', tf.getBackend())) return tf.gather(table, ids) as tf.Tensor3D;
  const [V, C] = table.shape as [number, number];
  const gather = tf.customGrad((...inputs: Array<tf.Tensor | tf.GradSaveFunc>) => ({
    value: tf.gather(inputs[0] as tf.Tensor, ids),
    gradFunc: (dy: tf.Tensor) => {
      const onehot = tf.cast(tf.oneHot(ids.reshape([-1]) as tf.Tensor1D, V), 'float32'); // [B·T, V]
      return tf.matMul(onehot, dy.reshape([-1, C]), true, false); // [V, C]
    },
  }));
  return gather(table) as tf.Tensor3D;
}

/** x [B, H, T, D] → x·cos + rotateHalf(x)·sin, rotateHalf(x) = cat(−x[..., D/2:], x[..., :D/2]). */
function rotary(x: tf.Tensor4D, cos: tf.Tensor2D, sin: tf.Tensor2D): tf.Tensor4D {
  const D = x.shape[3];
  const half = D / 2;
  const x1 = x.slice([0, 0, 0, 0], [-1, -1, -1, half]);
  const x2 = x.slice([0, 0, 0, half], [-1, -1, -1, half]);
  const rotated = tf.concat([tf.neg(x2), x1], -1);
  return tf.add(tf.mul(x, cos), tf.mul(rotated, sin));
}

/** [T, P+T]: 0 where query t (at position P + t) may see key j ≤ P + t, −1e9 elsewhere. */
function causalMask(T: number, P: number): tf.Tensor2D {
  const m = new Float32Array(T * (P + T));
  for (let t = 0; t < T; t++) for (let j = P + t + 1; j < P + T; j++) m[t * (P + T) + j] = MASKED;
  return tf.tensor2d(m, [T, P + T]);
}

/**
 * Rotary cos/sin tables [maxPositions, D] exactly as @tsgrad/nn builds its float32 ones (HF's
 * float32 steps): invFreq_i = 1 / theta^(2i/D), angle = pos · invFreq_i, halves repeated.
 */
export function rotaryTables(D: number, maxPositions: number, theta: number): [Float32Array, Float32Array] {
  const half = D / 2;
  const f = Math.fround;
  const cos = new Float32Array(maxPositions * D);
  const sin = new Float32Array(maxPositions * D);
  for (let i = 0; i < half; i++) {
    const invFreq = f(1 / f(Math.pow(f(theta), f((2 * i) / D))));
    for (let pos = 0; pos < maxPositions; pos++) {
      const angle = f(pos * invFreq);
      cos[pos * D + i] = cos[pos * D + half + i] = Math.cos(angle);
      sin[pos * D + i] = sin[pos * D + half + i] = Math.sin(angle);
    }
  }
  return [cos, sin];
}
