// Linear: y = x·Wᵀ + b with W stored [out, in], as PyTorch (so checkpoints load as they are).

import { type DType, type Generator, type Tensor, formatShape, zeros } from '@tsgrad/tensor';
import { Module, Parameter } from './module.js';
import { DEFAULT_INIT_STD, normal_ } from './init.js';

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

/** Throws unless n is a positive integer: the size arguments of layer constructors. */
export function checkSize(layer: string, what: string, n: number): void {
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${layer}: ${what} must be a positive integer, got ${n}`);
}
