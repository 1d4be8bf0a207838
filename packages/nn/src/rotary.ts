// Rotary position embeddings (Su et al., RoFormer) in Hugging Face's layout: each head's vector is
// split into two halves, and the pair (x_i, x_{i+D/2}) is rotated by the angle pos·invFreq_i.
// (llama2.c rotates interleaved pairs (x_{2i}, x_{2i+1}) instead; checkpoints converted between the
// two permute the q and k projections.)

import { type DType, Tensor, cat, formatShape, indexSelect, keep, rotary } from '@tsgrad/tensor';
import { Module } from './module.js';
import { checkSize } from './linear.js';

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
