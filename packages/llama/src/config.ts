// LLaMA configuration: the shape of a model, Hugging Face config.json in and out, the paper's presets,
// and analytic sizes (parameters, training memory, FLOPs). Pure arithmetic: no tensors, no Node.
//
// Shape letters as in model.ts: B batch, T time, C hidden, H heads, Hkv key/value heads, D head dim,
// F FFN hidden, V vocab, L layers.

/** The hyper-parameters of a LLaMA model; field names are Hugging Face's, in camelCase. */
export interface LlamaConfig {
  /** V: rows of the embedding table and of lm_head. */
  vocabSize: number;
  /** C: width of the residual stream. */
  hiddenSize: number;
  /** F: width of the SwiGLU feed-forward layer (gate_proj/up_proj outputs). */
  intermediateSize: number;
  /** L: number of decoder layers. */
  numHiddenLayers: number;
  /** H: query heads. */
  numAttentionHeads: number;
  /** Hkv: key/value heads (grouped-query attention when < H; equal to H for LLaMA 1). */
  numKeyValueHeads: number;
  /** Longest sequence the rotary tables are built for. */
  maxPositionEmbeddings: number;
  /** Epsilon inside RMSNorm's square root. */
  rmsNormEps: number;
  /** Base of the rotary frequencies. */
  ropeTheta: number;
  /** Whether lm_head shares the embedding matrix. */
  tieWordEmbeddings: boolean;
  /** D, when it is not C / H (HF's `head_dim`). */
  headDim?: number;
  /** Standard deviation of the normal initialisation (HF default 0.02). */
  initializerRange?: number;
  /** Beginning-of-sequence token id, if the tokenizer has one. */
  bosTokenId?: number;
  /** End-of-sequence token id, if the tokenizer has one. */
  eosTokenId?: number;
  /** Padding token id (HF's pad_token_id): the embedding row that gets no gradient, and generate's default pad. */
  padTokenId?: number;
}

/** D: the per-head width, `headDim` or else hiddenSize / numAttentionHeads. */
export function resolvedHeadDim(config: LlamaConfig): number {
  return config.headDim ?? config.hiddenSize / config.numAttentionHeads;
}

const isPosInt = (v: unknown): boolean => typeof v === 'number' && Number.isInteger(v) && v > 0;
const isPosFinite = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v) && v > 0;

/** Checks every field and throws one Error listing all problems; returns the config unchanged. */
export function validateLlamaConfig(config: LlamaConfig): LlamaConfig {
  const problems: string[] = [];
  const c = config as unknown as Record<string, unknown>;
  const ints = ['vocabSize', 'hiddenSize', 'intermediateSize', 'numHiddenLayers', 'numAttentionHeads',
    'numKeyValueHeads', 'maxPositionEmbeddings'];
  for (const k of ints) if (!isPosInt(c[k])) problems.push(`${k} must be a positive integer, got ${String(c[k])}`);
  for (const k of ['rmsNormEps', 'ropeTheta']) {
    if (!isPosFinite(c[k])) problems.push(`${k} must be a positive finite number, got ${String(c[k])}`);
  }
  if (typeof c.tieWordEmbeddings !== 'boolean') {
    problems.push(`tieWordEmbeddings must be a boolean, got ${String(c.tieWordEmbeddings)}`);
  }
  if (c.headDim !== undefined && !isPosInt(c.headDim)) {
    problems.push(`headDim must be a positive integer when set, got ${String(c.headDim)}`);
  }
  if (c.initializerRange !== undefined && !isPosFinite(c.initializerRange)) {
    problems.push(`initializerRange must be a positive finite number when set, got ${String(c.initializerRange)}`);
  }
  for (const k of ['bosTokenId', 'eosTokenId', 'padTokenId']) {
    const v = c[k];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || (isPosInt(c.vocabSize) && v >= config.vocabSize)) {
      problems.push(`${k} must be an integer in [0, vocabSize), got ${String(v)}`);
    }
  }
  const { hiddenSize: C, numAttentionHeads: H, numKeyValueHeads: Hkv } = config;
  if (config.headDim === undefined && isPosInt(C) && isPosInt(H) && C % H !== 0) {
    problems.push(`numAttentionHeads (${H}) must divide hiddenSize (${C}) when headDim is not set`);
  }
  if (isPosInt(H) && isPosInt(Hkv) && H % Hkv !== 0) {
    problems.push(`numKeyValueHeads (${Hkv}) must divide numAttentionHeads (${H})`);
  }
  // Rotary embeddings rotate the two halves of each head (HF layout), so D must be even.
  const D = resolvedHeadDim(config);
  if (Number.isInteger(D) && D > 0 && D % 2 !== 0) problems.push(`head dimension must be even for rotary embeddings, got ${D}`);
  if (problems.length > 0) throw new Error(`validateLlamaConfig: invalid LLaMA config:\n  - ${problems.join('\n  - ')}`);
  return config;
}

// ************* Hugging Face config.json *************

/**
 * Reads a Hugging Face LlamaConfig `config.json` (already parsed). Accepts `rope_theta` at the top level
 * (transformers ≤ 4) or inside `rope_parameters` (transformers ≥ 5); unknown keys are ignored.
 */
export function llamaConfigFromHF(json: unknown): LlamaConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new Error(`llamaConfigFromHF: expected a config.json object, got ${json === null ? 'null' : typeof json}`);
  }
  // JSON null is how HF writes "unset" (e.g. pad_token_id, head_dim): treat it as absent.
  const j = json as Record<string, unknown>;
  const has = (k: string): boolean => j[k] !== undefined && j[k] !== null;
  const required = ['vocab_size', 'hidden_size', 'intermediate_size', 'num_hidden_layers', 'num_attention_heads'];
  const missing = required.filter((k) => !has(k));
  if (missing.length > 0) throw new Error(`llamaConfigFromHF: config.json is missing required keys: ${missing.join(', ')}`);

  const problems: string[] = [];
  const num = (k: string, fallback?: number): number | undefined => {
    if (!has(k)) return fallback;
    if (typeof j[k] !== 'number') problems.push(`${k} must be a number, got ${JSON.stringify(j[k])}`);
    return j[k] as number;
  };
  if (has('model_type') && j.model_type !== 'llama') problems.push(`model_type must be "llama", got ${JSON.stringify(j.model_type)}`);
  if (has('hidden_act') && j.hidden_act !== 'silu') problems.push(`hidden_act must be "silu", got ${JSON.stringify(j.hidden_act)}`);
  for (const k of ['attention_bias', 'mlp_bias']) if (j[k] === true) problems.push(`${k}: true is not supported`);
  if (has('rope_scaling')) problems.push(`rope_scaling is not supported, got ${JSON.stringify(j.rope_scaling)}`);

  // Newer transformers nest the rotary settings; older ones keep rope_theta at the top level.
  let ropeTheta = num('rope_theta');
  if (has('rope_parameters')) {
    const rp = j.rope_parameters as Record<string, unknown>;
    if (typeof rp !== 'object' || Array.isArray(rp)) problems.push('rope_parameters must be an object');
    else {
      if (rp.rope_type !== undefined && rp.rope_type !== 'default') {
        problems.push(`rope_parameters.rope_type must be "default", got ${JSON.stringify(rp.rope_type)}`);
      }
      if (rp.rope_theta !== undefined) {
        if (typeof rp.rope_theta !== 'number') problems.push('rope_parameters.rope_theta must be a number');
        else if (ropeTheta !== undefined && ropeTheta !== rp.rope_theta) {
          problems.push(`rope_theta (${ropeTheta}) disagrees with rope_parameters.rope_theta (${rp.rope_theta})`);
        } else ropeTheta = rp.rope_theta;
      }
    }
  }
  // HF allows a list of eos ids (LLaMA 3); the first is the one generation stops on by default here.
  const eos = Array.isArray(j.eos_token_id) ? j.eos_token_id[0] : j.eos_token_id;

  const heads = num('num_attention_heads') as number;
  const config: LlamaConfig = {
    vocabSize: num('vocab_size') as number,
    hiddenSize: num('hidden_size') as number,
    intermediateSize: num('intermediate_size') as number,
    numHiddenLayers: num('num_hidden_layers') as number,
    numAttentionHeads: heads,
    numKeyValueHeads: num('num_key_value_heads', heads) as number,
    maxPositionEmbeddings: num('max_position_embeddings', 2048) as number,
    rmsNormEps: num('rms_norm_eps', 1e-6) as number,
    ropeTheta: ropeTheta ?? 10000,
    tieWordEmbeddings: has('tie_word_embeddings') ? (j.tie_word_embeddings as boolean) : false,
  };
  // head_dim is kept only when it is not the default C / H, so equal models give equal configs.
  const headDim = num('head_dim');
  if (headDim !== undefined && headDim * heads !== config.hiddenSize) config.headDim = headDim;
  const init = num('initializer_range');
  if (init !== undefined) config.initializerRange = init;
  const bos = num('bos_token_id');
  if (bos !== undefined) config.bosTokenId = bos;
  if (eos !== undefined && eos !== null) {
    if (typeof eos !== 'number') problems.push(`eos_token_id must be a number, got ${JSON.stringify(eos)}`);
    config.eosTokenId = eos as number;
  }
  const pad = num('pad_token_id');
  if (pad !== undefined) config.padTokenId = pad;
  if (problems.length > 0) throw new Error(`llamaConfigFromHF: unsupported config.json:\n  - ${problems.join('\n  - ')}`);
  try {
    return validateLlamaConfig(config);
  } catch (e) {
    throw new Error(`llamaConfigFromHF: config.json describes an invalid model: ${(e as Error).message}`);
  }
}

/**
 * Writes a config.json that Hugging Face transformers (4.x and 5.x) loads as LlamaForCausalLM.
 * rope_theta goes both at the top level (read by 4.x) and in rope_parameters (read by 5.x).
 */
export function llamaConfigToHF(config: LlamaConfig): Record<string, unknown> {
  validateLlamaConfig(config);
  const out: Record<string, unknown> = {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    vocab_size: config.vocabSize,
    hidden_size: config.hiddenSize,
    intermediate_size: config.intermediateSize,
    num_hidden_layers: config.numHiddenLayers,
    num_attention_heads: config.numAttentionHeads,
    num_key_value_heads: config.numKeyValueHeads,
    head_dim: resolvedHeadDim(config),
    hidden_act: 'silu',
    max_position_embeddings: config.maxPositionEmbeddings,
    rms_norm_eps: config.rmsNormEps,
    rope_theta: config.ropeTheta,
    rope_parameters: { rope_theta: config.ropeTheta, rope_type: 'default' },
    attention_bias: false,
    attention_dropout: 0.0,
    mlp_bias: false,
    pretraining_tp: 1,
    tie_word_embeddings: config.tieWordEmbeddings,
    initializer_range: config.initializerRange ?? 0.02,
    torch_dtype: 'float32',
    dtype: 'float32',
    use_cache: true,
  };
  if (config.bosTokenId !== undefined) out.bos_token_id = config.bosTokenId;
  if (config.eosTokenId !== undefined) out.eos_token_id = config.eosTokenId;
  if (config.padTokenId !== undefined) out.pad_token_id = config.padTokenId;
  return out;
}

// ************* presets *************

/** Names accepted by `llamaPreset`. */
export type LlamaPresetName = '7b' | '13b' | '33b' | '65b' | 'tiny' | 'small';

/**
 * SwiGLU width as Meta's reference code computes it: 2/3 of 4·dim, rounded UP to a multiple of
 * `multipleOf` (7B: 4096 → 11008).
 */
export function ffnHiddenSize(dim: number, multipleOf = 256): number {
  if (!isPosInt(dim) || !isPosInt(multipleOf)) {
    throw new Error(`ffnHiddenSize: expected positive integers, got dim ${dim}, multipleOf ${multipleOf}`);
  }
  const hidden = Math.floor((2 * 4 * dim) / 3);
  return multipleOf * Math.ceil(hidden / multipleOf);
}

// LLaMA 1 paper, Table 2: vocab 32000 (SentencePiece), context 2048, untied, eps 1e-6, theta 10000.
function paperModel(dim: number, heads: number, layers: number): LlamaConfig {
  return {
    vocabSize: 32000, hiddenSize: dim, intermediateSize: ffnHiddenSize(dim), numHiddenLayers: layers,
    numAttentionHeads: heads, numKeyValueHeads: heads, maxPositionEmbeddings: 2048, rmsNormEps: 1e-6,
    ropeTheta: 10000, tieWordEmbeddings: false, bosTokenId: 1, eosTokenId: 2,
  };
}

// Byte-level models (vocab 256, no BOS/EOS) small enough to train on a CPU. Their FFN widths use
// multipleOf 32, since rounding 2/3·4·dim up to 256 would nearly double F at dim 64.
function byteModel(dim: number, heads: number, layers: number, ffn: number, ctx: number): LlamaConfig {
  return {
    vocabSize: 256, hiddenSize: dim, intermediateSize: ffn, numHiddenLayers: layers, numAttentionHeads: heads,
    numKeyValueHeads: heads, maxPositionEmbeddings: ctx, rmsNormEps: 1e-6, ropeTheta: 10000, tieWordEmbeddings: false,
  };
}

const PRESETS: Record<LlamaPresetName, () => LlamaConfig> = {
  '7b': () => paperModel(4096, 32, 32),
  '13b': () => paperModel(5120, 40, 40),
  '33b': () => paperModel(6656, 52, 60),
  '65b': () => paperModel(8192, 64, 80),
  tiny: () => byteModel(64, 4, 2, ffnHiddenSize(64, 32), 128), // F = 192
  small: () => byteModel(128, 4, 4, ffnHiddenSize(128, 32), 256), // F = 352
};

/** A fresh copy of a named configuration: the LLaMA 1 paper sizes or a small byte-level model. */
export function llamaPreset(name: LlamaPresetName): LlamaConfig {
  const make = Object.hasOwn(PRESETS, name) ? PRESETS[name] : undefined;
  if (make === undefined) {
    throw new Error(`llamaPreset: unknown preset ${JSON.stringify(name)}; expected one of ${Object.keys(PRESETS).join(', ')}`);
  }
  return make();
}

// ************* sizes *************

/**
 * Number of parameters, from the shapes alone:
 * V·C embeddings + L·(q,k,v,o + gate,up,down + 2 norms) + C final norm + V·C lm_head unless tied,
 * with q,o = C·H·D and k,v = C·Hkv·D.
 */
export function countParameters(config: LlamaConfig): number {
  const { vocabSize: V, hiddenSize: C, intermediateSize: F, numHiddenLayers: L } = config;
  const D = resolvedHeadDim(config);
  const attn = 2 * C * config.numAttentionHeads * D + 2 * C * config.numKeyValueHeads * D;
  const layer = attn + 3 * C * F + 2 * C;
  return V * C + L * layer + C + (config.tieWordEmbeddings ? 0 : V * C);
}

/** Bytes needed to train in float32, split by what holds them. */
export interface TrainingMemory {
  /** The parameters: 4 bytes each. */
  weights: number;
  /** One gradient per parameter. */
  grads: number;
  /** AdamW's first and second moments: two floats per parameter. */
  adamMoments: number;
  /** The forward's tensors at the peak of a step, and the backward's gradients in flight (see `estimateTrainingMemory`). */
  activations: number;
  /** The kernels' staging: WebAssembly memory each thread touches and the worker pool's shared arena (see `kernelStagingBytes`); 0 on the js backend with one thread. */
  kernelStaging: number;
  /** The sum of the above. */
  total: number;
}

/**
 * Estimates float32 training memory for one micro-batch of B sequences of T tokens: the tensors
 * alive at the peak of a step run as `pnpm train` runs it (forward and backward in a release
 * scope, so each forward tensor lives until the backward has consumed it, and no longer).
 * Activations count every tensor the forward makes, saved for backward or not, per token and layer:
 *   attention: normed input C, q H·D, k and v 2·Hkv·D, rotated q and k H·D + Hkv·D, the attention
 *   output H·D and its [B, T, H·D] copy H·D, o_proj's output C, the residual sum C, and the
 *   log-sum-exp per head (float64: 2·H floats; no T×T probabilities are kept);
 *   MLP: normed input C, gate F, up F, silu(gate)·up F, down_proj's output C, the residual sum C;
 * i.e. 6·C + 4·H·D + 3·Hkv·D + 3·F + 2·H floats (13·C + 3·F + 2·H for plain multi-head attention),
 * plus, once per token, the embedding output and the final norm's output (2·C) and the logits and
 * their softmax (2·V); plus the backward's gradients in flight, about one layer's worth.
 * With gradient checkpointing the forward keeps only the embedding output and each layer's output,
 * (L + 1)·C, and the peak comes in the backward, at the largest of three moments:
 *   a layer's recompute returning: all its tensors at once and the gradient of its output,
 *   perLayer + C (the recompute then gives back at once what no backward saved: q and k before
 *   rotary, the attention output, o_proj's and down_proj's outputs and the layer output);
 *   its MLP's backward: what some backward saved and has not yet consumed (the two normed inputs
 *   and the residual sum 3·C, rotated q and k, v and the attention copy 2·H·D + 2·Hkv·D, gate
 *   and up 2·F, the log-sum-exp 2·H), the gradient of the layer output C and those of
 *   silu(gate)·up, gate and up 3·F: 4·C + 2·H·D + 2·Hkv·D + 5·F + 2·H;
 *   the head's backward: the final norm's output C, the logits and their gradient 2·V.
 * Plus `kernelStaging` for the backend and thread count given (default: the js backend on one
 * thread, which stages nothing): see kernelStagingBytes. Not counted: the runtime itself (Node,
 * the modules, the worker threads' own heaps).
 */
export function estimateTrainingMemory(
  config: LlamaConfig, { batchSize, seqLen, gradientCheckpointing = false, threads = 1, backend = 'js' }:
  { batchSize: number; seqLen: number; gradientCheckpointing?: boolean; threads?: number; backend?: 'js' | 'wasm' },
): TrainingMemory {
  const { hiddenSize: C, intermediateSize: F, numHiddenLayers: L, vocabSize: V } = config;
  const H = config.numAttentionHeads;
  const Hkv = config.numKeyValueHeads;
  const D = resolvedHeadDim(config);
  const P = countParameters(config);
  const perLayer = 6 * C + 4 * H * D + 3 * Hkv * D + 3 * F + 2 * H;
  // every forward tensor and one layer's gradients in flight; checkpointed: the three moments above
  const plain = (L + 1) * perLayer + 2 * C + 2 * V;
  const checkpointed = (L + 1) * C + Math.max(perLayer + C, 4 * C + 2 * H * D + 2 * Hkv * D + 5 * F + 2 * H, C + 2 * V);
  const perToken = gradientCheckpointing ? checkpointed : plain;
  const weights = 4 * P;
  const grads = 4 * P;
  const adamMoments = 8 * P;
  const activations = 4 * batchSize * seqLen * perToken;
  const kernelStaging = kernelStagingBytes(config, { batchSize, seqLen, threads, backend });
  return { weights, grads, adamMoments, activations, kernelStaging, total: weights + grads + adamMoments + activations + kernelStaging };
}

// The kernels' staging rules, as @tsgrad/tensor applies them (parallel/pool.ts, parallel/matmul.ts,
// wasm/matmul.ts, wasm/attention.ts, wasm/softmax.ts, wasm/rmsnorm.ts); kept in step with them by
// test/config.test.ts's figures and the memory bench.
const PARALLEL_MIN_WORK = 2 ** 21;
const MATMUL_UNITS_PER_THREAD = 8;
const MIN_ROWS = 24;
const ARENA_STEP = 2 ** 20;
const WASM_STAGE_FLOATS = 2 ** 16;
const up = (x: number, m: number): number => Math.ceil(x / m) * m;

/**
 * Bytes the kernels stage through for one training step of B sequences of T tokens (n = B·T), on
 * `backend` with `threads` threads (1 + the worker pool). Two parts, both high-water marks kept
 * for the whole run:
 * - the worker pool's shared arena (threads > 1): a split job's operands copied to shared memory,
 *   the largest job's: a matmul M×K·K×N split by rows stages A, B and C (M·K + K·N + M·N floats),
 *   an attention call q, k, v (and dOut, dq, dk, dv in the backward: n·H·D floats for the query
 *   side, n·Hkv·D for the key side) and the float64 log-sum-exps; rounded up to 1 MiB;
 * - on wasm, each thread's WebAssembly memory, as far as its kernels have written it: a matmul
 *   call packs B (Kp·N8 floats, Kp = K rounded up to 4, N8 to 8), its rows of A and C, and a
 *   staging block (max(2¹⁶, 8·Kp, rows or N) floats); a split product's calls take row chunks
 *   (max(24, M / (8·threads)) rounded to 12), an unsplit one all M rows on the calling thread; an
 *   attention slice stages its q, k, v, dOut, dq, dk, dv rows padded to 8 columns and two blocks of
 *   16 probability rows; the calling thread also stages whole for the row kernels: the logits
 *   (n·V, the cross-entropy) and the norms' input (n·C).
 * The step's matmuls (M, K, N): every projection x·Wᵀ (n, in, out), its input gradient (n, out,
 * in) and its weight gradient (out, n, in).
 */
export function kernelStagingBytes(
  config: LlamaConfig, { batchSize, seqLen, threads = 1, backend = 'js' }: { batchSize: number; seqLen: number; threads?: number; backend?: 'js' | 'wasm' },
): number {
  const { hiddenSize: C, intermediateSize: F, vocabSize: V } = config;
  const H = config.numAttentionHeads, Hkv = config.numKeyValueHeads, D = resolvedHeadDim(config);
  const n = batchSize * seqLen;
  const pooled = threads > 1;
  const wasm = backend === 'wasm';
  // the projections as (in, out): q, k, v, o, gate, up, down, lm_head
  const projections: Array<[number, number]> = [[C, H * D], [C, Hkv * D], [C, Hkv * D], [H * D, C], [C, F], [C, F], [F, C], [C, V]];
  const products = projections.flatMap(([i, o]): Array<[number, number, number]> => [[n, i, o], [n, o, i], [o, n, i]]);
  let arena = 0, mainWasm = 0, workerWasm = 0;
  // a matmul call's wasm memory for `rows` rows of A: packed B, packed A, padded C, the staging block
  const callFloats = (rows: number, K: number, N: number): number => {
    const Kp = up(K, 4), N8 = up(N, 8), rows4 = up(rows, 4);
    return Kp * N8 + rows4 * Kp + rows4 * N8 + Math.max(WASM_STAGE_FLOATS, 8 * Kp, rows4, N8) + 8;
  };
  for (const [M, K, N] of products) {
    const chunk = Math.max(MIN_ROWS, up(Math.ceil(M / (threads * MATMUL_UNITS_PER_THREAD)), 12));
    const split = pooled && M * N * K >= PARALLEL_MIN_WORK && chunk < M;
    if (split) {
      arena = Math.max(arena, 4 * (up(M * K, 16) + up(K * N, 16) + up(M * N, 16)));
      if (wasm) {
        mainWasm = Math.max(mainWasm, 4 * callFloats(chunk, K, N));
        workerWasm = Math.max(workerWasm, 4 * callFloats(chunk, K, N));
      }
    } else if (wasm) mainWasm = Math.max(mainWasm, 4 * callFloats(M, K, N));
  }
  // attention over B·H slices of T queries and keys (causal: about T²/2 scores each)
  const slices = batchSize * H;
  const attentionWork = slices * (seqLen * (seqLen + 1) / 2) * 2 * D * 2; // the backward's multiply-adds
  if (pooled && attentionWork >= PARALLEL_MIN_WORK && slices > 1) {
    arena = Math.max(arena, 4 * (3 * up(n * H * D, 16) + 4 * up(n * Hkv * D, 16)) + 8 * up(n * H, 8));
  }
  if (wasm) {
    const D8 = up(D, 8), T4 = up(seqLen, 4);
    const slice = 4 * (7 * T4 * D8 + T4 + 2 * 16 * T4 + 2 * T4);
    mainWasm = Math.max(mainWasm, slice, 4 * (n * up(V, 4) + 3 * n), 4 * (n * up(C, 4) + C + n));
    if (pooled) workerWasm = Math.max(workerWasm, slice);
  }
  const roundedArena = arena > 0 ? up(arena, ARENA_STEP) : 0;
  return roundedArena + mainWasm + (pooled ? (threads - 1) * workerWasm : 0);
}

/**
 * Training (forward + backward) FLOPs per token for sequences of T tokens, PaLM's estimate:
 *   6·N  +  12·L·T·(H·D)
 * N counts the weights that take part in matmuls: everything but the input embedding (a lookup),
 * with lm_head's V·C counted even when tied. Each matmul weight costs 2 FLOPs per token forward and
 * 4 backward. Attention scores QKᵀ and probs·V cost 2·T·(H·D) each per token and layer forward, ×3
 * for forward + backward; T is the full context, since a masked kernel still computes all T×T scores.
 */
export function flopsPerToken(config: LlamaConfig, { seqLen }: { seqLen: number }): number {
  // Counted as if tied, the single V·C matrix stands for lm_head; the input lookup costs nothing.
  const matmulParams = countParameters({ ...config, tieWordEmbeddings: true });
  const L = config.numHiddenLayers;
  return 6 * matmulParams + 12 * L * seqLen * config.numAttentionHeads * resolvedHeadDim(config);
}

/** Training FLOPs of one optimizer step over `tokens` tokens in sequences of `seqLen`. */
export function trainingFlopsPerStep(config: LlamaConfig, { tokens, seqLen }: { tokens: number; seqLen: number }): number {
  return tokens * flopsPerToken(config, { seqLen });
}
