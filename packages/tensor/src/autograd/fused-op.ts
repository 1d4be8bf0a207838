// The contract of a fused op: a hand-written kernel computes the backward in one pass, but a kernel's
// output is a plain tensor with no graph behind it, so it cannot be differentiated again. Each fused
// op therefore also writes its backward with tensor ops (the composite), and the rule of which one
// runs lives here, once:
//
//   The engine runs every backward with recording switched to `createGraph` (withGradMode in
//   engine.ts). So recording is on inside a backward exactly when the caller asked for a graph of
//   the backward (grad/backward with createGraph, gradgradcheck): then the composite runs and is
//   recorded; otherwise the kernel runs.
//
// An op written with recordOp and only its kernel backward would return unrecorded gradients under
// createGraph, and every second derivative through it would silently be zero.

import type { Tensor } from '../tensor.js';
import { type BackwardFn, isGradEnabled, recordOp } from './graph.js';

/** The two backwards of a fused op and what they read. */
export interface FusedBackward {
  /** The fused kernel's backward: fast, its gradients not recorded. */
  backward: BackwardFn;
  /** The same gradients written with tensor ops, run (and recorded) when a graph of the backward is asked for. */
  composite: BackwardFn;
  /** The tensors either backward reads, version-checked before it runs (see `recordOp`). */
  saved?: ReadonlyArray<Tensor | null | undefined>;
}

/**
 * Records a fused op: as `recordOp`, with a backward that runs `composite` while a graph of the
 * backward is being recorded (createGraph) and the fused kernel's `backward` otherwise.
 */
export function recordFusedOp(out: Tensor, name: string, inputs: readonly Tensor[], { backward, composite, saved }: FusedBackward): Tensor {
  return recordOp(out, name, inputs, (grad) => (isGradEnabled() ? composite(grad) : backward(grad)), saved);
}
