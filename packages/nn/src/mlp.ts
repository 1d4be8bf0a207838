// The SwiGLU feed-forward block of LLaMA (Shazeer, 2020). Field names are Hugging Face's
// checkpoint keys (gate_proj, up_proj, down_proj), hence snake_case.

import { type DType, type Generator, type Tensor, swiglu } from '@tsgrad/tensor';
import { Module } from './module.js';
import { Linear } from './linear.js';

/** Options of the layers that hold Linear projections (MLP, Attention). */
export interface ProjectionOptions {
  /** Source of the initial weights (default: the default generator). */
  generator?: Generator;
  /** Standard deviation of the initial weights (default 0.02). */
  std?: number;
  /** Element type of the parameters (default float32). */
  dtype?: DType;
}

/** SwiGLU feed-forward: down(silu(gate(x)) ⊙ up(x)), x [..., C] → [..., C] through [..., F]; no biases. */
export class MLP extends Module {
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
