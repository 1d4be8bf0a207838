// LLaMA (Touvron et al., 2023) as Hugging Face's LlamaForCausalLM, readable top to bottom:
// token embedding → N × [RMSNorm → causal self-attention with rotary positions → residual;
// RMSNorm → SwiGLU MLP → residual] → RMSNorm → lm_head.
//
// NOTE: submodule fields use Hugging Face's snake_case names (embed_tokens, self_attn, mlp,
// input_layernorm, post_attention_layernorm, lm_head) because the dotted field paths ARE the
// checkpoint keys: a Hugging Face safetensors file loads with no mapping table.
//
// Shapes: B batch, T time, C hidden, H heads, Hkv key/value heads, D head dim, F FFN hidden,
// V vocab, L layers.

import { type DType, type Generator, Tensor, cat, checkpoint, full, isGradEnabled, tensor } from '@tsgrad/tensor';
import {
  Attention, type KVCache, Embedding, Linear, MLP, Module, ModuleList, RMSNorm, RotaryEmbedding,
  createKVCache, crossEntropy,
} from '@tsgrad/nn';
import { type LlamaConfig, resolvedHeadDim, validateLlamaConfig } from './config.js';
import { generateTokens } from './generate.js';
import { loadPretrained, savePretrained } from './checkpoint.js';

/** Options of the model constructors. */
export interface LlamaInitOptions {
  /** Source of the initial weights (default: the default generator). */
  generator?: Generator;
  /** Element type of the parameters (default float32; float64 for gradient checks). */
  dtype?: DType;
}

/** One decoder block: pre-norm attention and pre-norm SwiGLU MLP, each added back to the residual. */
export class LlamaDecoderLayer extends Module {
  // declared in Hugging Face's order, so namedParameters() lists the checkpoint's keys in its order
  /** Causal self-attention with grouped-query heads. */
  self_attn: Attention;
  /** SwiGLU feed-forward. */
  mlp: MLP;
  /** RMSNorm before attention. */
  input_layernorm: RMSNorm;
  /** RMSNorm before the MLP. */
  post_attention_layernorm: RMSNorm;

  /** A decoder block for the config, sharing the model's rotary embedding. */
  constructor(config: LlamaConfig, rotary: RotaryEmbedding, opts: LlamaInitOptions = {}) {
    super();
    const init = { generator: opts.generator, std: config.initializerRange ?? 0.02, dtype: opts.dtype };
    this.self_attn = new Attention(config.hiddenSize, config.numAttentionHeads, config.numKeyValueHeads, {
      ...init, headDim: resolvedHeadDim(config), rotary,
    });
    this.mlp = new MLP(config.hiddenSize, config.intermediateSize, init);
    this.input_layernorm = new RMSNorm(config.hiddenSize, { eps: config.rmsNormEps, dtype: opts.dtype });
    this.post_attention_layernorm = new RMSNorm(config.hiddenSize, { eps: config.rmsNormEps, dtype: opts.dtype });
  }

  /** h [B, T, C] → [B, T, C]. */
  forward(h: Tensor, kvCache?: KVCache): Tensor {
    h = h.add(this.self_attn.forward(this.input_layernorm.forward(h), { kvCache })); // [B, T, C]
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
    this.embed_tokens = new Embedding(config.vocabSize, config.hiddenSize, { generator: opts.generator, std: config.initializerRange ?? 0.02, dtype: opts.dtype });
    this.rotary = new RotaryEmbedding(resolvedHeadDim(config), { theta: config.ropeTheta, maxPositions: config.maxPositionEmbeddings });
    this.layers = new ModuleList(Array.from({ length: config.numHiddenLayers }, () => new LlamaDecoderLayer(config, this.rotary, opts)));
    this.norm = new RMSNorm(config.hiddenSize, { eps: config.rmsNormEps, dtype: opts.dtype });
  }

  /** ids [B, T] → [B, T, C]; with caches (one per layer) the tokens follow the cached ones. */
  forward(ids: Tensor, caches?: KVCache[]): Tensor {
    let h = this.embed_tokens.forward(ids); // [B, T, C]
    let i = 0;
    for (const layer of this.layers) {
      const cache = caches?.[i++];
      // one checkpoint per layer, as Hugging Face: only when training builds a graph (not with a KV cache)
      const recompute = this.gradientCheckpointing && this.training && isGradEnabled() && !cache;
      h = recompute ? checkpoint((x: Tensor) => layer.forward(x), h) : layer.forward(h, cache); // [B, T, C]
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
}

/** LLaMA with its language-modelling head; parameter names are Hugging Face's. */
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
    return Array.from({ length: this.config.numHiddenLayers }, () => createKVCache());
  }

  /** inputIds int32 [B, T] (or nested arrays) → { logits [B, T, V], loss? }. */
  forward(inputIds: Tensor | number[][], opts: CausalLMForwardOptions = {}): CausalLMOutput {
    const ids = toIds('forward', 'inputIds', inputIds);
    const [B, T] = ids.shape as [number, number];
    const past = opts.kvCaches?.[0]?.k?.shape[2] ?? 0;
    if (past + T > this.config.maxPositionEmbeddings) {
      throw new Error(`LlamaForCausalLM.forward: ${past > 0 ? `${past} cached + ` : ''}${T} tokens exceed maxPositionEmbeddings ${this.config.maxPositionEmbeddings}`);
    }
    if (opts.kvCaches && opts.kvCaches.length !== this.config.numHiddenLayers) {
      throw new Error(`LlamaForCausalLM.forward: expected ${this.config.numHiddenLayers} KV caches (one per layer), got ${opts.kvCaches.length}`);
    }
    const hidden = this.model.forward(ids, opts.kvCaches); // [B, T, C]
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
   */
  generate(promptIds: number[], opts: GenerateOptions): number[] {
    return generateTokens(this, promptIds, opts);
  }

  /** Loads a Hugging Face folder (config.json + model.safetensors or shards) from a path or URL. */
  static fromPretrained(dirOrUrl: string): Promise<LlamaForCausalLM> {
    return loadPretrained(dirOrUrl);
  }

  /** Writes config.json and model.safetensors (float32) to dir, each file atomically. */
  savePretrained(dir: string): Promise<void> {
    return savePretrained(this, dir);
  }
}

/** Options of generate. */
export interface GenerateOptions {
  /** How many tokens to add at most. */
  maxNewTokens: number;
  /** 0 (default) is greedy; higher is more random. */
  temperature?: number;
  /** Keep only the k most likely tokens. */
  topK?: number;
  /** Nucleus sampling: keep the smallest set of tokens whose probability reaches p. */
  topP?: number;
  /** Seed of the sampling generator (default 0). */
  seed?: number;
  /** Stop after producing any of these ids (the stop token is kept, as Hugging Face). */
  stopTokens?: number[];
  /** Called with each new id as it is produced (for streaming). */
  onToken?: (id: number) => void;
}

function toIds(op: string, what: string, ids: Tensor | number[][]): Tensor {
  const t = ids instanceof Tensor ? ids : tensor(ids, { dtype: 'int32' });
  if (t.dtype !== 'int32') throw new Error(`LlamaForCausalLM.${op}: ${what} must be int32 token ids, got ${t.dtype}`);
  if (t.ndim !== 2) throw new Error(`LlamaForCausalLM.${op}: ${what} must be [B, T], got [${t.shape.join(', ')}]`);
  if (t.shape[1] === 0) throw new Error(`LlamaForCausalLM.${op}: ${what} has no tokens`);
  return t;
}
