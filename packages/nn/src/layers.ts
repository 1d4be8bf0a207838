// The general layers LLaMA is built from, in one file as tinygrad's nn: Linear, Embedding, RMSNorm
// and RotaryEmbedding. None has fused math of its own: each forward calls tensor ops (matmul,
// indexSelect, the fused rmsNorm and rotary), whose derivatives are documented on the ops.

import { type DType, type Generator, Tensor, cat, formatShape, indexSelect, keep, noGrad, ones, rmsNorm, rotary, where, zeros } from '@tsgrad/tensor';
import { Module, Parameter } from './module.js';
import { DEFAULT_INIT_STD, normal_ } from './init.js';

// Throws unless n is a positive integer: the size arguments of the layers' constructors.
function checkSize(layer: string, what: string, n: number): void {
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${layer}: ${what} must be a positive integer, got ${n}`);
}

// ************* Linear *************

// Linear: y = x·Wᵀ + b with W stored [out, in], as PyTorch (so checkpoints load as they are).

/** Options of Linear. */
export interface LinearOptions {
  /** Learn an additive bias (default true). */
  bias?: boolean;
  /** Source of the initial weights (default: the default generator). */
  generator?: Generator;
  /** Standard deviation of the initial weights (default 0.02, as Hugging Face); the bias starts at zero. */
  std?: number;
  /** Element type of the parameters (default float32). */
  dtype?: DType;
}

/**
 * An affine map: x [..., in] → x·Wᵀ + b [..., out], with weight [out, in] and bias [out].
 *
 * @example
 * ```ts
 * import { Linear } from '@tsgrad/nn';
 * import { noGrad, tensor } from '@tsgrad/tensor';
 *
 * const fc = new Linear(3, 2); // weight [2, 3] drawn from normal(0, 0.02), bias [2] at zero
 * console.log(fc.weight.shape, fc.bias!.shape); // → [ 2, 3 ] [ 2 ]
 * noGrad(() => {
 *   fc.weight.copy_(tensor([[1, 2, 3], [0, 1, 0]]));
 *   fc.bias!.copy_(tensor([0.5, -1]));
 * });
 * // row by row: [1·1 + 1·2 + 1·3 + 0.5, 0·1 + 1·1 + 0·1 − 1]
 * console.log(fc.forward(tensor([[1, 1, 1]])).toArray()); // → [ [ 6.5, 0 ] ]
 * ```
 */
export class Linear extends Module {
  /** Weight [outFeatures, inFeatures]. */
  weight: Parameter;
  /** Bias [outFeatures], or null without one. */
  bias: Parameter | null;
  /** Size of the last dim of the input. */
  readonly inFeatures: number;
  /** Size of the last dim of the output. */
  readonly outFeatures: number;

  /** A Linear layer with weight [outFeatures, inFeatures] drawn from normal(0, std²). */
  constructor(inFeatures: number, outFeatures: number, opts: LinearOptions = {}) {
    super();
    checkSize('Linear', 'inFeatures', inFeatures);
    checkSize('Linear', 'outFeatures', outFeatures);
    const dtype = opts.dtype ?? 'float32';
    this.weight = new Parameter(zeros([outFeatures, inFeatures], { dtype }));
    this.bias = opts.bias ?? true ? new Parameter(zeros([outFeatures], { dtype })) : null;
    this.inFeatures = inFeatures;
    this.outFeatures = outFeatures;
    normal_(this.weight, opts.std ?? DEFAULT_INIT_STD, opts.generator);
  }

  /** x [..., inFeatures] → [..., outFeatures]. */
  forward(x: Tensor): Tensor {
    if (x.ndim === 0 || x.shape[x.ndim - 1] !== this.inFeatures) {
      throw new Error(`Linear: input of shape ${formatShape(x.shape)} does not end in inFeatures ${this.inFeatures} (weight ${formatShape(this.weight.shape)})`);
    }
    // the matmul kernel reads the transposed view through its strides: no copy of the weight
    const y = x.matmul(this.weight.transpose(0, 1)); // [..., out]
    return this.bias ? y.add(this.bias) : y;
  }
}

// ************* Embedding *************

// Embedding: a lookup table of vectors, one row per token id.

/** Options of Embedding. */
export interface EmbeddingOptions {
  /** Source of the initial weights (default: the default generator). */
  generator?: Generator;
  /** Standard deviation of the initial weights (default 0.02, as Hugging Face). */
  std?: number;
  /** Element type of the weight (default float32). */
  dtype?: DType;
  /**
   * PyTorch's padding_idx: this row starts at zero and never receives a gradient (a negative
   * index counts from the end). Its vector is still what the table holds (a loaded checkpoint
   * may set it), as in PyTorch.
   */
  paddingIdx?: number | null;
}

/** A table of numEmbeddings vectors of size dim: int32 ids [...] → vectors [..., dim]; weight [V, dim]. */
export class Embedding extends Module {
  /** The table [numEmbeddings, embeddingDim]. */
  weight: Parameter;
  /** Number of rows (the vocabulary size V). */
  readonly numEmbeddings: number;
  /** Size of each vector. */
  readonly embeddingDim: number;
  /** The row that gets no gradient (in 0..numEmbeddings−1), or null. */
  readonly paddingIdx: number | null;

  /** An embedding table [numEmbeddings, dim] drawn from normal(0, std²). */
  constructor(numEmbeddings: number, dim: number, opts: EmbeddingOptions = {}) {
    super();
    checkSize('Embedding', 'numEmbeddings', numEmbeddings);
    checkSize('Embedding', 'dim', dim);
    this.weight = new Parameter(zeros([numEmbeddings, dim], { dtype: opts.dtype ?? 'float32' }));
    this.numEmbeddings = numEmbeddings;
    this.embeddingDim = dim;
    const pad = opts.paddingIdx ?? null;
    if (pad !== null && (!Number.isInteger(pad) || pad < -numEmbeddings || pad >= numEmbeddings)) {
      throw new Error(`Embedding: paddingIdx must be an integer in ${-numEmbeddings}..${numEmbeddings - 1}, got ${pad}`);
    }
    this.paddingIdx = pad === null ? null : pad < 0 ? pad + numEmbeddings : pad;
    normal_(this.weight, opts.std ?? DEFAULT_INIT_STD, opts.generator);
    // as PyTorch's reset_parameters: the padding row starts at zero
    if (this.paddingIdx !== null) noGrad(() => this.weight.narrow(0, this.paddingIdx!, 1).zero_());
  }

  /** int32 ids of any shape [...] → the rows they pick [..., dim]. */
  forward(ids: Tensor): Tensor {
    if (ids.dtype !== 'int32') throw new Error(`Embedding: token ids must be int32, got ${ids.dtype} of shape ${formatShape(ids.shape)}`);
    const flat = ids.toTypedArray();
    for (let i = 0; i < flat.length; i++) {
      const id = flat[i]!;
      if (id < 0 || id >= this.numEmbeddings) {
        throw new Error(`Embedding: token id ${id} is out of range for ${this.numEmbeddings} embeddings`);
      }
    }
    const pad = this.paddingIdx;
    if (pad === null || !flat.includes(pad)) return indexSelect(this.weight, 0, ids); // [..., dim]
    // the padding row is read from the detached table, so no gradient reaches it
    const isPad = ids.eq(pad).unsqueeze(-1); // [..., 1]
    return where(isPad, indexSelect(this.weight.detach(), 0, ids), indexSelect(this.weight, 0, ids)); // [..., dim]
  }
}

// ************* RMSNorm *************

// RMSNorm (Zhang & Sennrich, 2019), as LLaMA uses it: no mean subtraction and no bias.

/** Options of RMSNorm. */
export interface RMSNormOptions {
  /** Added to the mean square before the square root (default 1e-6; Hugging Face reads rms_norm_eps). */
  eps?: number;
  /** Element type of the weight (default float32). */
  dtype?: DType;
}

/** x / √(mean(x²) + eps) · weight over the last dim: [..., dim] → [..., dim]; weight [dim] starts at ones. */
export class RMSNorm extends Module {
  /** The learnable gain [dim]. */
  weight: Parameter;
  /** Size of the normalized (last) dim. */
  readonly dim: number;
  /** Added to the mean square for stability. */
  readonly eps: number;

  /** An RMSNorm over a last dim of size dim, with weight initialized to ones. */
  constructor(dim: number, opts: RMSNormOptions = {}) {
    super();
    checkSize('RMSNorm', 'dim', dim);
    this.weight = new Parameter(ones([dim], { dtype: opts.dtype ?? 'float32' }));
    this.dim = dim;
    this.eps = opts.eps ?? 1e-6;
  }

  /** x [..., dim] → [..., dim], through the fused rmsNorm op (which checks that x ends in dim). */
  forward(x: Tensor): Tensor {
    const weight = this.weight.dtype === x.dtype ? this.weight : this.weight.to(x.dtype);
    return rmsNorm(x, weight, this.eps);
  }
}

// ************* RotaryEmbedding *************

// Rotary position embeddings (Su et al., RoFormer) in Hugging Face's layout: each head's vector is
// split into two halves, and the pair (x_i, x_{i+D/2}) is rotated by the angle pos·invFreq_i.
// (llama2.c rotates interleaved pairs (x_{2i}, x_{2i+1}) instead; checkpoints converted between the
// two permute the q and k projections.)

/** Options of RotaryEmbedding. */
export interface RotaryOptions {
  /** The base of the frequencies (default 10000; Hugging Face's rope_theta). */
  theta?: number;
  /** The number of positions the tables cover (default 2048). */
  maxPositions?: number;
}

/** The cos and sin tables of a RotaryEmbedding, each [maxPositions, headDim]. */
export interface RotaryTables {
  /** cos(pos · invFreq), the frequencies repeated twice along the last dim. */
  cos: Tensor;
  /** sin(pos · invFreq), the frequencies repeated twice along the last dim. */
  sin: Tensor;
}

/**
 * Rotary embeddings for heads of size headDim: `apply(x [B, H, T, D], offset)` rotates position
 * offset + t of x. Holds no parameters; its cos/sin tables are a per-dtype cache, not state.
 */
export class RotaryEmbedding extends Module {
  /** Size of each head (even). */
  readonly headDim: number;
  /** The base of the frequencies. */
  readonly theta: number;
  /** The number of positions the tables cover. */
  readonly maxPositions: number;
  private readonly tableCache = new Map<DType, RotaryTables>();

  /** Rotary embeddings for heads of size headDim (which must be even). */
  constructor(headDim: number, opts: RotaryOptions = {}) {
    super();
    checkSize('RotaryEmbedding', 'headDim', headDim);
    if (headDim % 2 !== 0) throw new Error(`RotaryEmbedding: headDim must be even to rotate pairs of halves, got ${headDim}`);
    this.headDim = headDim;
    this.theta = opts.theta ?? 10000;
    this.maxPositions = opts.maxPositions ?? 2048;
    checkSize('RotaryEmbedding', 'maxPositions', this.maxPositions);
    if (!(this.theta > 0)) throw new Error(`RotaryEmbedding: theta must be positive, got ${this.theta}`);
  }

  /**
   * The cos and sin tables [maxPositions, headDim] in dtype (built once per dtype). float32 tables
   * reproduce Hugging Face's float32 arithmetic step by step (inv_freq, pos·inv_freq, cos/sin each
   * rounded to float32); float64 tables are computed in float64 throughout.
   */
  tables(dtype: DType): RotaryTables {
    let t = this.tableCache.get(dtype);
    if (!t) {
      if (dtype === 'int32') throw new Error('RotaryEmbedding: tables exist for float32 and float64 only, got int32');
      t = this.buildTables(dtype);
      this.tableCache.set(dtype, t);
    }
    return t;
  }

  private buildTables(dtype: 'float32' | 'float64'): RotaryTables {
    const D = this.headDim;
    const half = D / 2;
    const f32 = dtype === 'float32';
    const round = f32 ? Math.fround : (v: number) => v;
    // inv_freq_i = 1 / theta^(2i / D); HF: 1.0 / (base ** (arange(0, dim, 2).float() / dim)) in float32
    const invFreq = new Float64Array(half);
    for (let i = 0; i < half; i++) invFreq[i] = round(1 / round(Math.pow(round(this.theta), round((2 * i) / D))));
    const cos = Tensor.zeros([this.maxPositions, D], dtype);
    const sin = Tensor.zeros([this.maxPositions, D], dtype);
    for (let pos = 0; pos < this.maxPositions; pos++) {
      for (let i = 0; i < half; i++) {
        const angle = round(pos * invFreq[i]!);
        const c = Math.cos(angle);
        const s = Math.sin(angle);
        // emb = cat(freqs, freqs): columns i and i + D/2 share a frequency
        cos.storage[pos * D + i] = c;
        cos.storage[pos * D + half + i] = c;
        sin.storage[pos * D + i] = s;
        sin.storage[pos * D + half + i] = s;
      }
    }
    // a cache built on first use, maybe inside a release scope or a checkpoint: never theirs to release
    return { cos: keep(cos), sin: keep(sin) };
  }

  /** x [..., T, D] at positions positionOffset..positionOffset+T−1 → x·cos + rotateHalf(x)·sin [..., T, D]. */
  apply(x: Tensor, positionOffset = 0): Tensor {
    const D = this.headDim;
    if (x.ndim < 2 || x.shape[x.ndim - 1] !== D) {
      throw new Error(`RotaryEmbedding: expected x [..., T, ${D}], got ${formatShape(x.shape)}`);
    }
    const { cos, sin } = this.tables(x.dtype);
    // the fused op: one pass, reading a transposed x in place (rows positionOffset.. of the tables);
    // it rejects positions outside the maxPositions rows of the tables
    return rotary(x, cos, sin, positionOffset); // [..., T, D]
  }

  /** x [B, H, T, D] at per-row positions [B, T] (int32, Hugging Face's position_ids) → [B, H, T, D]. */
  applyAt(x: Tensor, positions: Tensor): Tensor {
    return applyRotaryAt(this, x, positions);
  }
}

/**
 * x [B, H, T, D] rotated at per-token positions [B, T] (int32; each row its own numbering, as
 * Hugging Face's position_ids): x·cos[pos] + rotateHalf(x)·sin[pos], written with tensor ops.
 */
function applyRotaryAt(rope: RotaryEmbedding, x: Tensor, positions: Tensor): Tensor {
  const D = rope.headDim;
  if (x.ndim !== 4 || x.shape[3] !== D) throw new Error(`RotaryEmbedding: expected x [B, H, T, ${D}], got ${formatShape(x.shape)}`);
  const [B, , T] = x.shape as [number, number, number, number];
  if (positions.dtype !== 'int32' || positions.ndim !== 2 || positions.shape[0] !== B || positions.shape[1] !== T) {
    throw new Error(`RotaryEmbedding: positions must be int32 [${B}, ${T}], got ${positions.dtype} ${formatShape(positions.shape)}`);
  }
  const flat = positions.toTypedArray();
  for (let i = 0; i < flat.length; i++) {
    const p = flat[i]!;
    if (p < 0 || p >= rope.maxPositions) throw new Error(`RotaryEmbedding: position ${p} is outside 0..${rope.maxPositions - 1}`);
  }
  const { cos, sin } = rope.tables(x.dtype);
  const c = indexSelect(cos, 0, positions).unsqueeze(1); // [B, 1, T, D]
  const s = indexSelect(sin, 0, positions).unsqueeze(1); // [B, 1, T, D]
  return x.mul(c).add(rotateHalf(x).mul(s)); // [B, H, T, D]
}

/** cat(−x[..., D/2:], x[..., :D/2]) along the last dim: [..., D] → [..., D]. */
function rotateHalf(x: Tensor): Tensor {
  const D = x.shape[x.ndim - 1]!;
  const half = D / 2;
  return cat([x.narrow(-1, half, half).neg(), x.narrow(-1, 0, half)], -1);
}
