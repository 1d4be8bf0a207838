// User-defined differentiable ops, built the way the built-in ones are: a forward that computes
// the output and returns, right beside it, the backward that maps the output's gradient to the
// inputs' gradients.

import type { Tensor } from '../tensor.js';
import { type BackwardFn, noGrad, recordOp } from './graph.js';

/** What a custom op's forward returns: its output and the backward for it. */
export interface OpResult {
  /** The op's output. */
  output: Tensor;
  /**
   * Gradients of the inputs given the gradient of the output (null for an input with none).
   * Written with tensor ops, it is itself differentiable, so `grad(..., { createGraph })` works.
   */
  backward: BackwardFn;
  /**
   * The tensors the backward reads (default: the inputs and the output). Writing one of them in
   * place between this forward and the backward makes the backward throw (see `incrementVersion`).
   */
  saved?: Tensor[];
}

/**
 * Defines a differentiable op from a forward that returns `{ output, backward }`. The forward runs
 * without recording (its internals are not part of the graph); the backward is attached to the
 * output. Check the result with `gradcheck`.
 *
 * @example
 * ```ts
 * import { type Tensor, defineOp, gradcheck, tensor } from '@tsgrad/tensor';
 *
 * // y = x³, with its derivative 3x² written by hand
 * const cube = defineOp('cube', (x: Tensor) => ({ output: x.mul(x).mul(x), backward: (g: Tensor) => [g.mul(x.square()).mul(3)] }));
 * const x = tensor([1, 2], { dtype: 'float64', requiresGrad: true });
 * const y = cube(x);
 * y.sum().backward();
 * console.log(y.gradFn!.name, x.grad!.toArray()); // → cube [ 3, 12 ]
 * console.log(gradcheck(cube, [x])); // → true
 * ```
 */
export function defineOp<Args extends Tensor[]>(name: string, forward: (...inputs: Args) => OpResult): (...inputs: Args) => Tensor {
  return (...inputs: Args): Tensor => {
    const { output, backward, saved } = noGrad(() => forward(...inputs));
    // a fresh view, so the op's gradFn never lands on a tensor the forward merely passed through
    const out = output.detach();
    return recordOp(out, name, inputs, backward, saved ?? [...inputs, output]);
  };
}
