// RMSNorm (Zhang & Sennrich, 2019), as LLaMA uses it: no mean subtraction and no bias.

import { type DType, type Tensor, ones, rmsNorm } from '@tsgrad/tensor';
import { Module, Parameter } from './module.js';
import { checkSize } from './linear.js';

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
