// Reads a training config in the shape of Cerebras' Model Zoo LLaMA YAML files (sections train_input,
// eval_input, model, optimizer, runconfig) into a typed TrainConfig. Both generations of Cerebras key
// names are accepted (release 1.9: beta1/beta2, weight_decay_rate, use_rms_norm, steps/decay_steps;
// release 2.x: betas, weight_decay, norm_type, total_iters). Strict by design: an unknown key, a missing
// required key, a value of the wrong type, or a setting this LLaMA does not implement is an error that
// names the dotted key and the file; keys that only matter on Cerebras hardware are listed in
// `ignoredKeys`. When the file omits a key, Cerebras' default applies where it agrees with LLaMA;
// where Cerebras' default would build a different model (LayerNorm, learned positions, GELU, tied
// embeddings) the key is required. Absent bias and dropout keys mean none, as in LLaMA.
import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { type LlamaConfig, validateLlamaConfig } from '../config.js';
import { type TokenizerSpec, parseTokenizerSpec } from './tokenizer-setup.js';

/** Learning rate per step: linear initialLr → maxLr over warmupSteps, cosine maxLr → endLr over decaySteps, then flat. */
export interface LrSchedule {
  /** Steps of linear warmup (0: none). */
  warmupSteps: number;
  /** The learning rate at step 0. */
  initialLr: number;
  /** The learning rate at the end of warmup, where the cosine starts. */
  maxLr: number;
  /** The learning rate after decaySteps of cosine decay, held from then on. */
  endLr: number;
  /** Steps of cosine decay after warmup (0: none). */
  decaySteps: number;
}

/** A training run, as read from a Model-Zoo-style YAML file. */
export interface TrainConfig {
  /** The model to build. */
  model: LlamaConfig;
  /** Recompute each decoder layer in backward instead of keeping its activations (`model.gradient_checkpointing`, default false). */
  gradientCheckpointing: boolean;
  /**
   * batchSize sequences per optimizer step, in micro-batches of microBatchSize (gradient accumulation);
   * shuffleSeed seeds the order of the training windows (default: runconfig.seed + 1).
   */
  train: { batchSize: number; microBatchSize: number; seqLen: number; dataDir?: string; shuffleSeed?: number; tokenizer?: TokenizerSpec };
  /** Validation data, or null when the file has no eval_input; without dataDir it is split off the training text. */
  eval: { batchSize: number; seqLen: number; dataDir?: string } | null;
  /** AdamW (PyTorch's, with bias correction); lr is the peak, schedule.maxLr. */
  optimizer: {
    lr: number; betas: [number, number]; eps: number; weightDecay: number; maxGradientNorm: number | null;
    schedule: LrSchedule;
  };
  /** Step counts: evalSteps is batches per validation (0: the whole eval set); evalFrequency is steps between validations. */
  runconfig: {
    maxSteps: number; logSteps: number; checkpointSteps: number; evalSteps: number; evalFrequency: number; seed: number;
    saveInitialCheckpoint: boolean;
  };
  /** Dotted paths of keys accepted but without effect here (mixed precision, data processors, workers, ...). */
  ignoredKeys: string[];
  /** The file the config came from. */
  source: string;
}

// ************* a checked reader over one YAML mapping *************

type Mapping = Record<string, unknown>;
interface Ctx { problems: string[]; ignored: string[] }

const NUMBER_KINDS = {
  posInt: ['a positive integer', (v: number) => Number.isInteger(v) && v > 0],
  nonNegInt: ['a non-negative integer', (v: number) => Number.isInteger(v) && v >= 0],
  pos: ['a positive number', (v: number) => Number.isFinite(v) && v > 0],
  nonNeg: ['a non-negative number', (v: number) => Number.isFinite(v) && v >= 0],
  beta: ['a number in [0, 1)', (v: number) => v >= 0 && v < 1],
} as const;
type NumberKind = keyof typeof NUMBER_KINDS;

const isMapping = (v: unknown): v is Mapping => typeof v === 'object' && v !== null && !Array.isArray(v);
function show(v: unknown): string {
  if (typeof v === 'string') return `string ${JSON.stringify(v)}`;
  if (Array.isArray(v)) return `list ${JSON.stringify(v)}`;
  return isMapping(v) ? 'a mapping' : String(v);
}

// Each getter marks its key as known and records a problem (returning NaN or a default) instead of
// throwing, so one error can list every problem in the file. YAML null ("key:" with no value) is absent.
class Section {
  private readonly seen = new Set<string>();
  constructor(private readonly obj: Mapping, readonly path: string, private readonly ctx: Ctx) {}

  key(k: string): string { return `${this.path}.${k}`; }
  problem(k: string, msg: string): void { this.ctx.problems.push(`${this.key(k)}: ${msg}`); }
  has(k: string): boolean { this.seen.add(k); return this.obj[k] !== undefined && this.obj[k] !== null; }
  get(k: string): unknown { this.seen.add(k); return this.obj[k] ?? undefined; }

  private absent(k: string, fallback: unknown): void { if (fallback === undefined) this.problem(k, 'missing required key'); }

  num(k: string, kind: NumberKind, fallback?: number): number {
    const v = this.get(k);
    if (v === undefined) { this.absent(k, fallback); return fallback ?? NaN; }
    const [what, ok] = NUMBER_KINDS[kind];
    if (typeof v === 'number' && ok(v)) return v;
    this.problem(k, `expected ${what}, got ${show(v)}`);
    return NaN;
  }
  optNum(k: string, kind: NumberKind): number | undefined { return this.has(k) ? this.num(k, kind) : undefined; }

  bool(k: string, fallback?: boolean): boolean {
    const v = this.get(k);
    if (v === undefined) { this.absent(k, fallback); return fallback ?? false; }
    if (typeof v === 'boolean') return v;
    this.problem(k, `expected a boolean, got ${show(v)}`);
    return fallback ?? false;
  }

  /** A string that must be one of `allowed` (compared case-insensitively); returns it in lower case. */
  choice(k: string, allowed: string[], why: string, fallback?: string): string {
    const v = this.get(k);
    if (v === undefined) { this.absent(k, fallback); return fallback ?? ''; }
    if (typeof v !== 'string') { this.problem(k, `expected a string, got ${show(v)}`); return ''; }
    if (!allowed.includes(v.toLowerCase())) this.problem(k, `unsupported value ${JSON.stringify(v)}: ${why}`);
    return v.toLowerCase();
  }

  /** A boolean flag for a feature this LLaMA lacks: absent or false. */
  mustBeFalse(k: string, why: string): void { if (this.bool(k, false)) this.problem(k, `must be false: ${why}`); }

  /** A dropout rate: this LLaMA has no dropout, so only 0 is honest. */
  zeroRate(k: string): void { if (this.num(k, 'nonNeg', 0) > 0) this.problem(k, 'must be 0: this LLaMA has no dropout'); }

  section(k: string, required: boolean): Section | null {
    const v = this.get(k);
    if (v === undefined) { if (required) this.problem(k, 'missing required section'); return null; }
    if (!isMapping(v)) { this.problem(k, `expected a mapping, got ${show(v)}`); return null; }
    return new Section(v, this.key(k), this.ctx);
  }

  /** Keys accepted and listed in ignoredKeys: they have no effect on this implementation. */
  ignore(keys: readonly string[]): void {
    for (const k of keys) if (k in this.obj) { this.seen.add(k); this.ctx.ignored.push(this.key(k)); }
  }

  /** The first present key of a pair of aliases (new name, old name); both present is an error. */
  alias(newKey: string, oldKey: string): string {
    if (this.has(newKey) && this.has(oldKey)) this.problem(oldKey, `give only one of ${newKey} and ${oldKey}`);
    return this.has(oldKey) ? oldKey : newKey;
  }

  /** Reports every key no getter asked for. */
  done(): void { for (const k of Object.keys(this.obj)) if (!this.seen.has(k)) this.problem(k, 'unknown key'); }
}

// ************* sections *************

const MODEL_IGNORED = ['mixed_precision', 'fp16_type', 'precision_opt_level', 'boundary_casting', 'tf_summary',
  'loss_scaling', 'loss_weight'] as const;
const INPUT_IGNORED = ['data_processor', 'shuffle', 'num_workers', 'prefetch_factor', 'persistent_workers',
  'vocab_size', 'shuffle_buffer', 'repeat', 'drop_last', 'use_worker_cache', 'mixed_precision'] as const;
const OPTIMIZER_IGNORED = ['loss_scaling_factor', 'log_summaries', 'disable_lr_steps_reset', 'initial_loss_scale',
  'steps_per_increase', 'min_loss_scale', 'max_loss_scale'] as const;
const RUNCONFIG_IGNORED = ['mode', 'model_dir', 'num_wgt_servers', 'num_csx', 'num_act_servers', 'num_workers_per_csx',
  'mixed_precision', 'precision_opt_level', 'use_cs_grad_accum', 'sync_batchnorm', 'show_debug_metrics', 'save_losses',
  'compile_only', 'validate_only', 'compile_dir', 'job_labels', 'mgmt_address', 'credentials_path', 'mount_dirs',
  'python_paths', 'enable_distributed', 'dist_backend', 'init_method', 'target_device', 'log_summaries',
  'lazy_initialization', 'check_loss_values', 'disable_version_check', 'experimental_api', 'transfer_processes',
  'execute_crd_memory_gi', 'wrk_memory_gi', 'act_memory_gi', 'cmd_memory_gi'] as const;

function parseModel(s: Section): { config: LlamaConfig; gradientCheckpointing: boolean } {
  const hiddenSize = s.num('hidden_size', 'posInt');
  const numHeads = s.num('num_heads', 'posInt');
  const headDim = hiddenSize / numHeads;
  s.choice('position_embedding_type', ['rotary'], 'this LLaMA uses rotary position embeddings');
  if (!s.bool('use_position_embedding', true)) s.problem('use_position_embedding', 'must be true: LLaMA uses rotary embeddings');
  const rotaryDim = s.optNum('rotary_dim', 'posInt');
  if (rotaryDim !== undefined && Number.isInteger(headDim) && rotaryDim !== headDim) {
    s.problem('rotary_dim', `must equal hidden_size / num_heads = ${headDim}: partial rotary embeddings are not supported`);
  }
  // Cerebras defaults to LayerNorm, so a file must say RMSNorm in one of the two generations' words.
  const normType = s.has('norm_type') ? s.choice('norm_type', ['rmsnorm'], 'this LLaMA uses RMSNorm') : undefined;
  const useRms = s.has('use_rms_norm') ? s.bool('use_rms_norm') : undefined;
  if (useRms === false) s.problem('use_rms_norm', 'must be true: this LLaMA uses RMSNorm, not LayerNorm');
  if (normType === undefined && useRms === undefined) {
    s.problem('norm_type', 'missing required key: set norm_type: "rmsnorm" (use_rms_norm: True in older files)');
  }
  s.choice('nonlinearity', ['swiglu'], 'this LLaMA uses a SwiGLU feed-forward layer');
  s.choice('attention_type', ['scaled_dot_product'], 'attention scores are scaled by 1/sqrt(head_dim)', 'scaled_dot_product');
  for (const k of ['embedding_dropout_rate', 'dropout_rate', 'attention_dropout_rate']) s.zeroRate(k);
  for (const k of ['use_projection_bias_in_attention', 'use_ffn_bias_in_attention', 'use_ffn_bias', 'use_bias_in_output']) {
    s.mustBeFalse(k, 'this LLaMA has no biases');
  }
  // Grouped-query attention (LLaMA-2 70B): Cerebras' multiquery_attention with num_kv_groups K/V heads.
  const module = s.choice('attention_module', ['aiayn_attention', 'multiquery_attention'],
    'expected aiayn_attention (multi-head) or multiquery_attention (grouped-query)', 'aiayn_attention');
  const extra = s.section('extra_attention_params', false);
  let numKeyValueHeads = numHeads;
  if (extra !== null) {
    const groups = extra.num('num_kv_groups', 'posInt', 1);
    extra.done();
    if (module === 'multiquery_attention') numKeyValueHeads = groups;
    else extra.problem('num_kv_groups', 'needs attention_module: "multiquery_attention"');
  } else if (module === 'multiquery_attention') numKeyValueHeads = 1;
  s.ignore(MODEL_IGNORED);

  const config: LlamaConfig = {
    vocabSize: s.num('vocab_size', 'posInt'),
    hiddenSize,
    intermediateSize: s.num('filter_size', 'posInt'),
    numHiddenLayers: s.num('num_hidden_layers', 'posInt'),
    numAttentionHeads: numHeads,
    numKeyValueHeads,
    maxPositionEmbeddings: s.num('max_position_embeddings', 'posInt'),
    rmsNormEps: s.num('layer_norm_epsilon', 'pos', 1e-5), // Cerebras' default; LLaMA files say 1e-6
    ropeTheta: s.num('rope_theta', 'pos', 10000),
    // Cerebras ties embeddings unless told otherwise and LLaMA does not: make the file say which.
    tieWordEmbeddings: s.bool('share_embedding_weights'),
  };
  const init = s.optNum('initializer_range', 'pos');
  if (init !== undefined) config.initializerRange = init;
  // ours, not Model Zoo's (Cerebras hardware has its own memory scheme): Hugging Face's name
  const gradientCheckpointing = s.bool('gradient_checkpointing', false);
  s.done();
  return { config, gradientCheckpointing };
}

interface Phase { kind: 'linear' | 'cosinedecay'; initial: number; end: number; steps: number; path: string }

// One phase of a schedule list, in either of Cerebras' spellings:
//   { scheduler: "Linear", initial_learning_rate, end_learning_rate, steps | total_iters }   (the files here)
//   { LinearLR: { initial_learning_rate, end_learning_rate, total_iters } }                   (later releases)
function parsePhase(item: unknown, path: string, ctx: Ctx): Phase | null {
  const wrapped: Record<string, Phase['kind']> = { LinearLR: 'linear', CosineDecayLR: 'cosinedecay' };
  let s: Section;
  let kind: Phase['kind'];
  const only = isMapping(item) ? Object.keys(item) : [];
  if (isMapping(item) && only.length === 1 && Object.hasOwn(wrapped, only[0]!) && isMapping(item[only[0]!])) {
    kind = wrapped[only[0]!]!;
    s = new Section(item[only[0]!] as Mapping, `${path}.${only[0]}`, ctx);
  } else if (isMapping(item)) {
    s = new Section(item, path, ctx);
    kind = s.choice('scheduler', ['linear', 'cosinedecay'], 'expected Linear (warmup) or CosineDecay') as Phase['kind'];
  } else {
    ctx.problems.push(`${path}: expected a scheduler mapping, got ${show(item)}`);
    return null;
  }
  const stepKeys = ['steps', 'decay_steps', 'total_iters'].filter((k) => s.has(k));
  if (stepKeys.length > 1) s.problem(stepKeys[1]!, `give only one of ${stepKeys.join(', ')}`);
  const phase = {
    kind, path,
    initial: s.num('initial_learning_rate', 'nonNeg'),
    end: s.num('end_learning_rate', 'nonNeg'),
    steps: s.num(stepKeys[0] ?? 'total_iters', 'posInt'),
  };
  s.done();
  return phase;
}

function parseSchedule(s: Section, ctx: Ctx): LrSchedule {
  const lrKey = s.key('learning_rate');
  let v = s.get('learning_rate');
  if (typeof v === 'number' || v === undefined) {
    const lr = s.num('learning_rate', 'pos');
    return { warmupSteps: 0, initialLr: lr, maxLr: lr, endLr: lr, decaySteps: 0 };
  }
  let listPath = lrKey;
  if (isMapping(v) && Object.keys(v).length === 1 && isMapping(v.SequentialLR)) {
    const seq = new Section(v.SequentialLR, `${lrKey}.SequentialLR`, ctx);
    v = seq.get('schedulers');
    listPath = seq.key('schedulers');
    seq.done();
  }
  const bad = { warmupSteps: 0, initialLr: NaN, maxLr: NaN, endLr: NaN, decaySteps: 0 };
  if (!Array.isArray(v)) {
    ctx.problems.push(`${listPath}: expected a number or a list of schedulers, got ${show(v)}`);
    return bad;
  }
  const before = ctx.problems.length;
  const parsed = v.map((item, i) => parsePhase(item, `${listPath}[${i}]`, ctx));
  if (ctx.problems.length > before) return bad; // a phase was malformed; its problems say how
  const phases = parsed as Phase[];
  const kinds = phases.map((p) => p.kind).join(',');
  const warmup = kinds.startsWith('linear') ? phases[0]! : null;
  const cosine = kinds.endsWith('cosinedecay') ? phases[phases.length - 1]! : null;
  if (!['linear', 'cosinedecay', 'linear,cosinedecay'].includes(kinds)) {
    ctx.problems.push(`${listPath}: unsupported schedule [${kinds}]: expected a Linear warmup, a CosineDecay, or both in that order`);
    return bad;
  }
  // The schedule is continuous: the cosine starts where the warmup ends.
  if (warmup && cosine && warmup.end !== cosine.initial) {
    ctx.problems.push(`${cosine.path}.initial_learning_rate: must equal the warmup's end_learning_rate ${warmup.end}, `
      + `got ${cosine.initial}`);
  }
  const maxLr = warmup ? warmup.end : cosine!.initial;
  return {
    warmupSteps: warmup?.steps ?? 0, initialLr: warmup?.initial ?? maxLr, maxLr,
    endLr: cosine?.end ?? maxLr, decaySteps: cosine?.steps ?? 0,
  };
}

function parseOptimizer(s: Section, ctx: Ctx): TrainConfig['optimizer'] {
  s.choice('optimizer_type', ['adamw'], 'only AdamW is implemented');
  if (!s.bool('correct_bias', true)) s.problem('correct_bias', 'must be true: this AdamW always corrects the moments\' bias');
  let betas: [number, number] = [0.9, 0.999]; // Cerebras' AdamW defaults, as PyTorch's
  const oldBetas = s.has('beta1') || s.has('beta2');
  if (oldBetas && s.has('betas')) s.problem('betas', 'give either betas or beta1/beta2, not both');
  if (oldBetas) {
    betas = [s.num('beta1', 'beta', 0.9), s.num('beta2', 'beta', 0.999)];
  } else if (s.has('betas')) {
    const v = s.get('betas');
    const ok = Array.isArray(v) && v.length === 2 && v.every((b) => typeof b === 'number' && NUMBER_KINDS.beta[1](b));
    if (ok) betas = [v[0], v[1]];
    else s.problem('betas', `expected a list of two numbers in [0, 1), got ${show(v)}`);
  }
  const eps = s.num(s.alias('eps', 'epsilon'), 'pos', 1e-6); // Cerebras' AdamW default (PyTorch's is 1e-8)
  const weightDecay = s.num(s.alias('weight_decay', 'weight_decay_rate'), 'nonNeg', 0);
  const maxGradientNorm = s.optNum('max_gradient_norm', 'pos') ?? null; // absent: no clipping
  const schedule = parseSchedule(s, ctx);
  s.ignore(OPTIMIZER_IGNORED);
  s.done();
  return { lr: schedule.maxLr, betas, eps, weightDecay, maxGradientNorm, schedule };
}

// The largest divisor of the batch that is at most 8: gradient accumulation keeps activations small
// on a CPU, and 8 sequences are enough to keep the matmuls busy.
function defaultMicroBatch(batchSize: number): number {
  for (let m = Math.min(8, batchSize); m > 1; m--) if (batchSize % m === 0) return m;
  return 1;
}

function parseDataDir(s: Section, ctx: Ctx): string | undefined {
  const v = s.get('data_dir');
  if (v === undefined) return undefined;
  if (typeof v === 'string') return v;
  // Cerebras allows several directories; only the first is read, the rest are listed as ignored.
  if (Array.isArray(v) && v.length > 0 && v.every((d) => typeof d === 'string')) {
    v.slice(1).forEach((_, i) => ctx.ignored.push(`${s.key('data_dir')}[${i + 1}]`));
    return v[0] as string;
  }
  s.problem('data_dir', `expected a string or a list of strings, got ${show(v)}`);
  return undefined;
}

// Cerebras' data processors take the sequence length from the data; the files here omit
// max_sequence_length, so it defaults to the model's context.
function parseSeqLen(s: Section, model: LlamaConfig): number {
  const seqLen = s.num('max_sequence_length', 'posInt', model.maxPositionEmbeddings);
  if (seqLen > model.maxPositionEmbeddings) {
    const max = model.maxPositionEmbeddings;
    s.problem('max_sequence_length', `must not exceed model.max_position_embeddings (${max}), got ${seqLen}`);
  }
  return seqLen;
}

function parseTrainInput(s: Section, model: LlamaConfig, ctx: Ctx): TrainConfig['train'] {
  const batchSize = s.num('batch_size', 'posInt');
  let microBatchSize = defaultMicroBatch(batchSize);
  if (s.get('micro_batch_size') !== 'auto') microBatchSize = s.num('micro_batch_size', 'posInt', microBatchSize);
  if (Number.isInteger(batchSize) && batchSize % microBatchSize !== 0) {
    s.problem('micro_batch_size', `must divide batch_size (${batchSize}), got ${microBatchSize}`);
  }
  const train: TrainConfig['train'] = { batchSize, microBatchSize, seqLen: parseSeqLen(s, model) };
  const dataDir = parseDataDir(s, ctx);
  if (dataDir !== undefined) train.dataDir = dataDir;
  const shuffleSeed = s.optNum('shuffle_seed', 'nonNegInt');
  if (shuffleSeed !== undefined) train.shuffleSeed = shuffleSeed;
  const tokenizer = parseTokenizerSpec(s.get('tokenizer')); // bytes | path to a tokenizer.json | { train_bpe: N }
  if (typeof tokenizer === 'string') s.problem('tokenizer', tokenizer);
  else if (tokenizer.kind !== 'bytes') train.tokenizer = tokenizer;
  s.ignore(INPUT_IGNORED);
  s.done();
  return train;
}

function parseEvalInput(s: Section, model: LlamaConfig, ctx: Ctx): NonNullable<TrainConfig['eval']> {
  const evalCfg: NonNullable<TrainConfig['eval']> = { batchSize: s.num('batch_size', 'posInt'), seqLen: parseSeqLen(s, model) };
  const dataDir = parseDataDir(s, ctx);
  if (dataDir !== undefined) evalCfg.dataDir = dataDir;
  s.ignore([...INPUT_IGNORED, 'shuffle_seed', 'micro_batch_size']); // evaluation order and batching change no result
  s.done();
  return evalCfg;
}

function parseRunconfig(s: Section): TrainConfig['runconfig'] {
  const maxSteps = s.num('max_steps', 'posInt');
  const checkpointSteps = s.num('checkpoint_steps', 'posInt', maxSteps); // default: only the final checkpoint
  const run = {
    maxSteps,
    logSteps: s.num('log_steps', 'posInt', 1),
    checkpointSteps,
    evalSteps: s.num('eval_steps', 'nonNegInt', 0),
    evalFrequency: s.num('eval_frequency', 'posInt', checkpointSteps),
    seed: s.num('seed', 'nonNegInt', 0),
    saveInitialCheckpoint: s.bool('save_initial_checkpoint', false),
  };
  s.ignore(RUNCONFIG_IGNORED);
  s.done();
  return run;
}

// ************* entry points *************

/** Parses the text of a Model-Zoo-style YAML config; `sourceName` (usually the path) appears in every error. */
export function parseZooConfig(yamlText: string, sourceName: string): TrainConfig {
  const doc = parseDocument(yamlText, { prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new Error(`parseZooConfig: YAML syntax error in ${sourceName}: ${doc.errors[0]!.message.trimEnd()}`);
  }
  const root = doc.toJS() as unknown;
  if (!isMapping(root)) {
    throw new Error(`parseZooConfig: ${sourceName}: expected a mapping with sections model, optimizer, ..., got ${show(root)}`);
  }

  const ctx: Ctx = { problems: [], ignored: [] };
  const problems = ctx.problems;
  const seen = new Set(['train_input', 'eval_input', 'model', 'optimizer', 'runconfig']);
  for (const k of Object.keys(root)) {
    if (!seen.has(k)) problems.push(`${k}: unknown key (expected sections ${[...seen].join(', ')})`);
  }
  const section = (k: string, required: boolean): Section | null => {
    const v = root[k];
    if (v === undefined || v === null) { if (required) problems.push(`${k}: missing required section`); return null; }
    if (!isMapping(v)) { problems.push(`${k}: expected a mapping, got ${show(v)}`); return null; }
    return new Section(v, k, ctx);
  };

  const modelSection = section('model', true);
  const model = modelSection === null ? null : parseModel(modelSection);
  if (model !== null && problems.length === 0) {
    try {
      validateLlamaConfig(model.config);
    } catch (e) {
      problems.push(`model: not a valid LLaMA: ${(e as Error).message}`);
    }
  }
  const trainSection = section('train_input', true);
  const evalSection = section('eval_input', false);
  const optSection = section('optimizer', true);
  const runSection = section('runconfig', true);
  const fallbackModel = model?.config ?? ({ maxPositionEmbeddings: Infinity } as LlamaConfig);
  const train = trainSection && parseTrainInput(trainSection, fallbackModel, ctx);
  const evalCfg = evalSection && parseEvalInput(evalSection, fallbackModel, ctx);
  const optimizer = optSection && parseOptimizer(optSection, ctx);
  const runconfig = runSection && parseRunconfig(runSection);

  if (problems.length === 1) throw new Error(`parseZooConfig: ${problems[0]} (in ${sourceName})`);
  if (problems.length > 1) {
    throw new Error(`parseZooConfig: ${problems.length} problems in ${sourceName}:\n  - ${problems.join('\n  - ')}`);
  }
  // No problems means every required section was there, so none of these is null.
  return {
    model: model!.config, gradientCheckpointing: model!.gradientCheckpointing, train: train!, eval: evalCfg, optimizer: optimizer!, runconfig: runconfig!,
    ignoredKeys: ctx.ignored, source: sourceName,
  };
}

/** Reads and parses a Model-Zoo-style YAML config file. */
export function loadZooConfig(path: string): TrainConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`loadZooConfig: cannot read ${path}: ${(e as Error).message}`);
  }
  return parseZooConfig(text, path);
}
