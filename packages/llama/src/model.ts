// LLaMA (Touvron et al., 2023) as Hugging Face's LlamaForCausalLM, readable top to bottom:
// token embedding → N × [RMSNorm → causal self-attention with rotary positions → residual;
// RMSNorm → SwiGLU MLP → residual] → RMSNorm → lm_head.
//
// NOTE: submodule fields use Hugging Face's snake_case names (embed_tokens, self_attn, mlp,
// input_layernorm, post_attention_layernorm, lm_head, q_proj, gate_proj, ...) because the dotted
// field paths ARE the checkpoint keys: a Hugging Face safetensors file loads with no mapping table.
//
// Shapes: B batch, T new tokens, P cached tokens, C hidden, H query heads, Hkv key/value heads,
// G = H / Hkv query heads per key/value head, D head dim, F FFN hidden, V vocab, L layers.

import {
  type DType, type Generator, Tensor, attention, cat, checkpoint, crossEntropy, full, isGradEnabled, swiglu, tensor,
} from '@tsgrad/tensor';
import { Embedding, Linear, Module, ModuleList, RMSNorm, RotaryEmbedding } from '@tsgrad/nn';
import { type LlamaConfig, resolvedHeadDim, validateLlamaConfig } from './config.js';
import { KVCache } from './kv-cache.js';
import { type BatchGenerateOptions, type GenerateOptions, generateBatch, generateTokens } from './generate.js';
import { loadPretrained, savePretrained } from './checkpoint.js';

/** Options of the layers that hold Linear projections (LlamaMLP, LlamaAttention). */
export interface ProjectionOptions {
  /** Source of the initial weights (default: the default generator). */
  generator?: Generator;
  /** Standard deviation of the initial weights (default 0.02). */
  std?: number;
  /** Element type of the parameters (default float32). */
  dtype?: DType;
}

/** SwiGLU feed-forward (Shazeer, 2020): down(silu(gate(x)) ⊙ up(x)), x [..., C] → [..., C] through [..., F]; no biases. */
export class LlamaMLP extends Module {
  /** Gate projection, weight [F, C]. */
  gate_proj: Linear;
  /** Up projection, weight [F, C]. */
  up_proj: Linear;
  /** Down projection, weight [C, F]. */
  down_proj: Linear;

  /** A SwiGLU block from hiddenSize C to intermediateSize F and back. */
  constructor(hiddenSize: number, intermediateSize: number, opts: ProjectionOptions = {}) {
    super();
    const linear = { ...opts, bias: false };
    this.gate_proj = new Linear(hiddenSize, intermediateSize, linear);
    this.up_proj = new Linear(hiddenSize, intermediateSize, linear);
    this.down_proj = new Linear(intermediateSize, hiddenSize, linear);
  }

  /** x [..., C] → [..., C]. */
  forward(x: Tensor): Tensor {
    const h = swiglu(this.gate_proj.forward(x), this.up_proj.forward(x)); // [..., F]: silu(gate) ⊙ up, fused
    return this.down_proj.forward(h); // [..., C]
  }
}

/** Options of LlamaAttention. */
export interface LlamaAttentionOptions extends ProjectionOptions {
  /** Size of each head (default hiddenSize / numHeads). */
  headDim?: number;
  /** The rotary embedding to use (often one shared by all layers); default a new one for headDim. */
  rotary?: RotaryEmbedding;
}

/** Options of LlamaAttention.forward. */
export interface LlamaAttentionForwardOptions {
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
export class LlamaAttention extends Module {
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
  constructor(hiddenSize: number, numHeads: number, numKeyValueHeads: number, opts: LlamaAttentionOptions = {}) {
    super();
    checkSize('hiddenSize', hiddenSize);
    checkSize('numHeads', numHeads);
    checkSize('numKeyValueHeads', numKeyValueHeads);
    if (numHeads % numKeyValueHeads !== 0) {
      throw new Error(`LlamaAttention: numKeyValueHeads ${numKeyValueHeads} must divide numAttentionHeads ${numHeads}`);
    }
    if (opts.headDim === undefined && hiddenSize % numHeads !== 0) {
      throw new Error(`LlamaAttention: hiddenSize ${hiddenSize} is not divisible by numHeads ${numHeads}; pass headDim`);
    }
    const D = opts.headDim ?? hiddenSize / numHeads;
    checkSize('headDim', D);
    const rotary = opts.rotary ?? new RotaryEmbedding(D);
    if (rotary.headDim !== D) throw new Error(`LlamaAttention: the rotary embedding is for headDim ${rotary.headDim}, but the heads have ${D}`);
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
  forward(x: Tensor, opts: LlamaAttentionForwardOptions = {}): Tensor {
    const { numHeads: H, numKeyValueHeads: Hkv, headDim: D } = this;
    if (x.ndim !== 3 || x.shape[2] !== this.hiddenSize) {
      throw new Error(`LlamaAttention: expected x [B, T, ${this.hiddenSize}], got [${x.shape.join(', ')}]`);
    }
    const [B, T] = x.shape as [number, number, number];
    const cache = opts.kvCache;
    const past = cache ? cache.length : 0;
    const P = opts.positionOffset ?? past;
    if (cache && P !== past) throw new Error(`LlamaAttention: positionOffset ${P} differs from the ${past} tokens in the KV cache`);

    let q = this.q_proj.forward(x).reshape([B, T, H, D]).transpose(1, 2); // [B, H, T, D]
    let k = this.k_proj.forward(x).reshape([B, T, Hkv, D]).transpose(1, 2); // [B, Hkv, T, D]
    let v = this.v_proj.forward(x).reshape([B, T, Hkv, D]).transpose(1, 2); // [B, Hkv, T, D]
    if (opts.positionIds) {
      q = this.rotary.applyAt(q, opts.positionIds); // [B, H, T, D]
      k = this.rotary.applyAt(k, opts.positionIds); // [B, Hkv, T, D]
    } else {
      q = this.rotary.apply(q, P); // [B, H, T, D]
      k = this.rotary.apply(k, P); // [B, Hkv, T, D]
    }
    if (cache) {
      if (cache.k && (cache.k.shape[0] !== B || cache.k.shape[1] !== Hkv || cache.k.shape[3] !== D)) {
        throw new Error(`LlamaAttention: the KV cache holds [${cache.k.shape.join(', ')}], which does not fit [${B}, ${Hkv}, P, ${D}]`);
      }
      cache.append(k, v);
      k = cache.k!; // [B, Hkv, P+T, D]
      v = cache.v!; // [B, Hkv, P+T, D]
    }

    // grouped-query heads: query head h uses key/value head ⌊h / G⌋ (HF's repeat_kv). Splitting H
    // into [Hkv, G] is a view of q, and k and v broadcast over G: nothing is copied, and the fused
    // attention sums their gradients over the G query heads as it goes.
    const G = H / Hkv;
    const qg = q.reshape([B, Hkv, G, T, D]); // [B, Hkv, G, T, D]
    const kg = k.unsqueeze(2); // [B, Hkv, 1, P+T, D]
    const vg = v.unsqueeze(2); // [B, Hkv, 1, P+T, D]
    let keyMask: Tensor | undefined;
    if (opts.keyMask) {
      const Tk = k.shape[2]!;
      if (opts.keyMask.ndim !== 2 || opts.keyMask.shape[0] !== B || opts.keyMask.shape[1] !== Tk) {
        throw new Error(`LlamaAttention: keyMask must be [${B}, ${Tk}] (batch, cached + new tokens), got [${opts.keyMask.shape.join(', ')}]`);
      }
      keyMask = opts.keyMask.reshape([B, 1, 1, Tk]); // [B, 1, 1, P+T]: broadcast over [Hkv, G]
    }
    // the fused op: causal by loop bounds, no [T, P+T] mask or scores tensor; it checks q, k, v
    const y = attention(qg, kg, vg, { causal: true, keyMask }); // [B, Hkv, G, T, D]
    const merged = y.reshape([B, H, T, D]).transpose(1, 2).reshape([B, T, H * D]); // [B, T, H·D]
    return this.o_proj.forward(merged); // [B, T, C]
  }
}

function checkSize(what: string, n: number): void {
  if (!Number.isInteger(n) || n <= 0) throw new Error(`LlamaAttention: ${what} must be a positive integer, got ${n}`);
}

/** Options of the model constructors. */
export interface LlamaInitOptions {
  /** Source of the initial weights (default: the default generator). */
  generator?: Generator;
  /** Element type of the parameters (default float32; float64 for gradient checks). */
  dtype?: DType;
}

/** Per-batch inputs every decoder layer sees besides the hidden states. */
export interface DecoderInputs {
  /** Key padding mask [B, P+T] int32 (1 = token, 0 = padding) over cached and new tokens. */
  keyMask?: Tensor;
  /** Rotary position of each new token [B, T] int32 (default: P + t in every row). */
  positionIds?: Tensor;
}

/** One decoder block: pre-norm attention and pre-norm SwiGLU MLP, each added back to the residual. */
export class LlamaDecoderLayer extends Module {
  // declared in Hugging Face's order, so namedParameters() lists the checkpoint's keys in its order
  /** Causal self-attention with grouped-query heads. */
  self_attn: LlamaAttention;
  /** SwiGLU feed-forward. */
  mlp: LlamaMLP;
  /** RMSNorm before attention. */
  input_layernorm: RMSNorm;
  /** RMSNorm before the MLP. */
  post_attention_layernorm: RMSNorm;

  /** A decoder block for the config, sharing the model's rotary embedding. */
  constructor(config: LlamaConfig, rotary: RotaryEmbedding, opts: LlamaInitOptions = {}) {
    super();
    const init = { generator: opts.generator, std: config.initializerRange ?? 0.02, dtype: opts.dtype };
    this.self_attn = new LlamaAttention(config.hiddenSize, config.numAttentionHeads, config.numKeyValueHeads, {
      ...init, headDim: resolvedHeadDim(config), rotary,
    });
    this.mlp = new LlamaMLP(config.hiddenSize, config.intermediateSize, init);
    this.input_layernorm = new RMSNorm(config.hiddenSize, { eps: config.rmsNormEps, dtype: opts.dtype });
    this.post_attention_layernorm = new RMSNorm(config.hiddenSize, { eps: config.rmsNormEps, dtype: opts.dtype });
  }

  /** h [B, T, C] → [B, T, C]; the key mask and positions as in LlamaAttention.forward. */
  forward(h: Tensor, kvCache?: KVCache, opts: DecoderInputs = {}): Tensor {
    const attn = { kvCache, keyMask: opts.keyMask, positionIds: opts.positionIds };
    h = h.add(this.self_attn.forward(this.input_layernorm.forward(h), attn)); // [B, T, C]
    return h.add(this.mlp.forward(this.post_attention_layernorm.forward(h))); // [B, T, C]
  }
}

/** The decoder stack without the output head: ids [B, T] → hidden states [B, T, C]. */
export class LlamaModel extends Module {
  /** Token embedding [V, C]. */
  embed_tokens: Embedding;
  /** The L decoder blocks. */
  layers: ModuleList<LlamaDecoderLayer>;
  /** The final RMSNorm. */
  norm: RMSNorm;
  /** Rotary tables shared by every layer (no parameters). */
  rotary: RotaryEmbedding;
  /** Recompute each layer in backward instead of keeping its activations (see gradientCheckpointingEnable). */
  gradientCheckpointing = false;

  /** The decoder stack for a config. */
  constructor(config: LlamaConfig, opts: LlamaInitOptions = {}) {
    super();
    this.embed_tokens = new Embedding(config.vocabSize, config.hiddenSize, {
      generator: opts.generator, std: config.initializerRange ?? 0.02, dtype: opts.dtype, paddingIdx: config.padTokenId,
    });
    this.rotary = new RotaryEmbedding(resolvedHeadDim(config), { theta: config.ropeTheta, maxPositions: config.maxPositionEmbeddings });
    this.layers = new ModuleList(Array.from({ length: config.numHiddenLayers }, () => new LlamaDecoderLayer(config, this.rotary, opts)));
    this.norm = new RMSNorm(config.hiddenSize, { eps: config.rmsNormEps, dtype: opts.dtype });
  }

  /** ids [B, T] → [B, T, C]; with caches (one per layer) the tokens follow the cached ones. */
  forward(ids: Tensor, caches?: KVCache[], opts: DecoderInputs = {}): Tensor {
    let h = this.embed_tokens.forward(ids); // [B, T, C]
    let i = 0;
    for (const layer of this.layers) {
      const cache = caches?.[i++];
      // one checkpoint per layer, as Hugging Face: only when training builds a graph (not with a KV cache)
      const recompute = this.gradientCheckpointing && this.training && isGradEnabled() && !cache;
      h = recompute ? checkpoint((x: Tensor) => layer.forward(x, undefined, opts), h) : layer.forward(h, cache, opts); // [B, T, C]
    }
    return this.norm.forward(h); // [B, T, C]
  }
}

/** What LlamaForCausalLM.forward returns. */
export interface CausalLMOutput {
  /** Next-token logits [B, T, V]. */
  logits: Tensor;
  /** Mean cross-entropy of the shifted labels, when labels were given. */
  loss?: Tensor;
}

/** Options of LlamaForCausalLM.forward. */
export interface CausalLMForwardOptions {
  /** Token ids [B, T] to score: the loss at position t predicts labels[t + 1]; −100 is ignored. */
  labels?: Tensor | number[][];
  /** Per-layer key/value caches for incremental decoding (see `createCaches`). */
  kvCaches?: KVCache[];
  /**
   * [B, P+T] of 1 (token) and 0 (padding), over the cached and the new tokens, as Hugging Face's
   * attention_mask: padded keys are never attended to. Every row needs at least one token. The
   * loss does not look at it (as Hugging Face): set labels to −100 where no loss is wanted.
   * A padding query whose visible keys are all padding gets a zero attention output.
   */
  attentionMask?: Tensor | number[][];
  /**
   * Rotary position of each token [B, T] (Hugging Face's position_ids). Default P..P+T−1 in every
   * row whatever the padding, as Hugging Face's forward; for left padding pass cumsum(mask) − 1.
   */
  positionIds?: Tensor | number[][];
}

/**
 * LLaMA with its language-modelling head; parameter names are Hugging Face's.
 *
 * @example
 * ```ts
 * import { LlamaForCausalLM, llamaPreset } from '@tsgrad/llama';
 * import { Generator } from '@tsgrad/tensor';
 *
 * const config = llamaPreset('tiny'); // bytes as tokens (vocab 256), hidden 64, 2 layers
 * const model = new LlamaForCausalLM(config, { generator: new Generator(0) });
 * const ids = [[...new TextEncoder().encode('Call me')]]; // [B = 1, T = 7]
 * const { logits, loss } = model.forward(ids, { labels: ids }); // labels are shifted inside
 * console.log(logits.shape); // → [ 1, 7, 256 ]
 * // an untrained model is close to uniform over the 256 bytes, whose cross-entropy is ln 256
 * console.log(loss!.item().toFixed(2), Math.log(256).toFixed(2)); // → 5.64 5.55
 * console.log(model.namedParameters()[0]![0]); // → model.embed_tokens.weight
 * ```
 */
export class LlamaForCausalLM extends Module {
  /** The decoder stack. */
  model: LlamaModel;
  /** The output projection [V, C]; the embedding itself when embeddings are tied. */
  lm_head: Linear;
  /** The model's configuration. */
  readonly config: LlamaConfig;

  /** A randomly initialised model (normal(0, initializerRange) weights, norms at one), as HF's init. */
  constructor(config: LlamaConfig, opts: LlamaInitOptions = {}) {
    super();
    validateLlamaConfig(config);
    this.config = { ...config };
    this.model = new LlamaModel(config, opts);
    this.lm_head = new Linear(config.hiddenSize, config.vocabSize, { bias: false, generator: opts.generator, std: config.initializerRange ?? 0.02, dtype: opts.dtype });
    // tied: lm_head shares the embedding's Parameter, so namedParameters (deduplicating by
    // identity) lists it once, as model.embed_tokens.weight, and both uses add to one gradient
    if (config.tieWordEmbeddings) this.lm_head.weight = this.model.embed_tokens.weight;
  }

  /**
   * Gradient (activation) checkpointing, as Hugging Face's gradient_checkpointing_enable: while
   * training with grad on, each decoder layer keeps only its input and recomputes its activations
   * in backward (`checkpoint`): same gradients, bit for bit, for about one more forward per step.
   */
  gradientCheckpointingEnable(): this {
    this.model.gradientCheckpointing = true;
    return this;
  }

  /** Keeps every layer's activations for backward again (the default). */
  gradientCheckpointingDisable(): this {
    this.model.gradientCheckpointing = false;
    return this;
  }

  /** One empty key/value cache per layer, for `forward(..., { kvCaches })` and generation. */
  createCaches(): KVCache[] {
    return Array.from({ length: this.config.numHiddenLayers }, () => new KVCache());
  }

  /** inputIds int32 [B, T] (or nested arrays) → { logits [B, T, V], loss? }. */
  forward(inputIds: Tensor | number[][], opts: CausalLMForwardOptions = {}): CausalLMOutput {
    const ids = toIds('forward', 'inputIds', inputIds);
    const [B, T] = ids.shape as [number, number];
    const past = opts.kvCaches?.[0]?.length ?? 0;
    if (past + T > this.config.maxPositionEmbeddings) {
      throw new Error(`LlamaForCausalLM.forward: ${past > 0 ? `${past} cached + ` : ''}${T} tokens exceed maxPositionEmbeddings ${this.config.maxPositionEmbeddings}`);
    }
    if (opts.kvCaches && opts.kvCaches.length !== this.config.numHiddenLayers) {
      throw new Error(`LlamaForCausalLM.forward: expected ${this.config.numHiddenLayers} KV caches (one per layer), got ${opts.kvCaches.length}`);
    }
    const keyMask = opts.attentionMask === undefined ? undefined : checkAttentionMask(opts.attentionMask, B, past + T);
    const positionIds = opts.positionIds === undefined ? undefined : checkPositionIds(opts.positionIds, B, T, this.config.maxPositionEmbeddings);
    const hidden = this.model.forward(ids, opts.kvCaches, { keyMask, positionIds }); // [B, T, C]
    const logits = this.lm_head.forward(hidden); // [B, T, V]
    if (opts.labels === undefined) return { logits };
    const labels = toIds('forward', 'labels', opts.labels);
    if (labels.shape[0] !== B || labels.shape[1] !== T) {
      throw new Error(`LlamaForCausalLM.forward: labels [${labels.shape.join(', ')}] must match inputIds [${B}, ${T}]`);
    }
    // shift: position t predicts label t+1, so drop the first label and pad the end with −100
    // (Hugging Face's ForCausalLMLoss); the logits keep their layout, nothing is copied
    const shifted = cat([labels.narrow(1, 1, T - 1), full([B, 1], -100, { dtype: 'int32' })], 1); // [B, T]
    const V = this.config.vocabSize;
    const loss = crossEntropy(logits.reshape([B * T, V]), shifted.reshape([B * T]), { ignoreIndex: -100 });
    return { logits, loss };
  }

  /**
   * Continues a prompt: the prompt followed by up to maxNewTokens new ids, as Hugging Face's
   * generate returns them. Temperature 0 (the default) is greedy; sampling is reproducible from seed.
   * Each new token costs one position of compute (a KV cache per layer).
   *
   * @example
   * ```ts
   * import { LlamaForCausalLM, llamaPreset } from '@tsgrad/llama';
   * import { Generator } from '@tsgrad/tensor';
   *
   * const model = new LlamaForCausalLM(llamaPreset('tiny'), { generator: new Generator(0) });
   * const ids = model.generate([72, 105], { maxNewTokens: 5 }); // greedy: temperature 0
   * console.log(ids.length, ids.slice(0, 2)); // → 7 [ 72, 105 ]
   *
   * // the same as appending the most likely next token by hand, running the whole sequence each time
   * const byHand = [72, 105];
   * for (let i = 0; i < 5; i++) {
   *   const { logits } = model.forward([byHand]); // [1, T, 256]
   *   byHand.push(logits.narrow(1, byHand.length - 1, 1).argmax().item());
   * }
   * console.log(ids.join() === byHand.join()); // → true
   *
   * // sampling is reproducible from its seed
   * const sample = (seed: number) => model.generate([72, 105], { maxNewTokens: 20, temperature: 1, seed }).join();
   * console.log(sample(1) === sample(1), sample(1) === sample(2)); // → true false
   * ```
   */
  generate(promptIds: number[], opts: GenerateOptions): number[];
  /**
   * A batch of prompts of different lengths, left-padded inside (padTokenId, default the config's
   * or 0) with an attention mask and positions cumsum(mask) − 1, as Hugging Face's generate: each
   * row is that prompt + its new ids, no padding; greedy rows equal generating each prompt alone.
   */
  generate(prompts: number[][], opts: BatchGenerateOptions): number[][];
  generate(prompts: number[] | number[][], opts: BatchGenerateOptions): number[] | number[][] {
    if (Array.isArray(prompts) && prompts.length > 0 && prompts.every((p) => Array.isArray(p))) return generateBatch(this, prompts as number[][], opts);
    return generateTokens(this, prompts as number[], opts);
  }

  /**
   * Loads a Hugging Face folder (config.json + model.safetensors or shards) from a path or URL.
   *
   * @example
   * ```ts
   * import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
   * import { tmpdir } from 'node:os';
   * import { join } from 'node:path';
   * import { LlamaForCausalLM, llamaPreset } from '@tsgrad/llama';
   * import { Generator } from '@tsgrad/tensor';
   *
   * const model = new LlamaForCausalLM(llamaPreset('tiny'), { generator: new Generator(0) });
   * const dir = mkdtempSync(join(tmpdir(), 'tiny-llama-'));
   * await model.savePretrained(dir); // what transformers' save_pretrained writes (and from_pretrained reads)
   * console.log(readdirSync(dir).sort().join(' ')); // → config.json model.safetensors
   *
   * const loaded = await LlamaForCausalLM.fromPretrained(dir);
   * const ids = [[1, 2, 3]];
   * const diff = loaded.forward(ids).logits.sub(model.forward(ids).logits).abs().max().item();
   * console.log(loaded.config.hiddenSize, diff); // → 64 0
   * rmSync(dir, { recursive: true });
   * ```
   */
  static fromPretrained(dirOrUrl: string): Promise<LlamaForCausalLM> {
    return loadPretrained(dirOrUrl, LlamaForCausalLM);
  }

  /** Writes config.json and model.safetensors (float32) to dir, each file atomically. */
  savePretrained(dir: string): Promise<void> {
    return savePretrained(this, dir);
  }
}

// attentionMask as an int32 [B, Tk] tensor of zeros and ones with a token in every row, or a clear error.
function checkAttentionMask(mask: Tensor | number[][], B: number, Tk: number): Tensor {
  const t = mask instanceof Tensor ? mask : tensor(mask, { dtype: 'int32' });
  if (t.ndim !== 2 || t.shape[0] !== B || t.shape[1] !== Tk) {
    throw new Error(`LlamaForCausalLM.forward: attentionMask must be [${B}, ${Tk}] (batch, cached + new tokens), got [${t.shape.join(', ')}]`);
  }
  const values = t.toTypedArray();
  for (let b = 0; b < B; b++) {
    let tokens = 0;
    for (let j = 0; j < Tk; j++) {
      const x = values[b * Tk + j]!;
      if (x !== 0 && x !== 1) throw new Error(`LlamaForCausalLM.forward: attentionMask must hold only 0 (padding) and 1 (token), got ${x} at [${b}, ${j}]`);
      tokens += x;
    }
    if (tokens === 0) throw new Error(`LlamaForCausalLM.forward: attentionMask row ${b} has no tokens (all ${Tk} entries are 0)`);
  }
  return t.dtype === 'int32' ? t : t.to('int32');
}

// positionIds as an int32 [B, T] tensor of positions in 0..maxPositions−1, or a clear error.
function checkPositionIds(ids: Tensor | number[][], B: number, T: number, maxPositions: number): Tensor {
  const t = ids instanceof Tensor ? ids : tensor(ids, { dtype: 'int32' });
  if (t.dtype !== 'int32') throw new Error(`LlamaForCausalLM.forward: positionIds must be int32, got ${t.dtype}`);
  if (t.ndim !== 2 || t.shape[0] !== B || t.shape[1] !== T) {
    throw new Error(`LlamaForCausalLM.forward: positionIds must be [${B}, ${T}] like inputIds, got [${t.shape.join(', ')}]`);
  }
  for (const p of t.toTypedArray()) {
    if (p < 0 || p >= maxPositions) throw new Error(`LlamaForCausalLM.forward: position id ${p} is outside 0..${maxPositions - 1} (maxPositionEmbeddings ${maxPositions})`);
  }
  return t;
}

function toIds(op: string, what: string, ids: Tensor | number[][]): Tensor {
  const t = ids instanceof Tensor ? ids : tensor(ids, { dtype: 'int32' });
  if (t.dtype !== 'int32') throw new Error(`LlamaForCausalLM.${op}: ${what} must be int32 token ids, got ${t.dtype}`);
  if (t.ndim !== 2) throw new Error(`LlamaForCausalLM.${op}: ${what} must be [B, T], got [${t.shape.join(', ')}]`);
  if (t.shape[1] === 0) throw new Error(`LlamaForCausalLM.${op}: ${what} has no tokens`);
  return t;
}
