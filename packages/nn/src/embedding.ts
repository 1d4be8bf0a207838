// Embedding: a lookup table of vectors, one row per token id.

import { type DType, type Generator, type Tensor, formatShape, indexSelect, noGrad, where, zeros } from '@tsgrad/tensor';
import { Module, Parameter } from './module.js';
import { DEFAULT_INIT_STD, normal_ } from './init.js';
import { checkSize } from './linear.js';

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
