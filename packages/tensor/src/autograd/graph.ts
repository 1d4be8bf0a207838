// The record an op leaves on its output so the engine can walk back through it.

import type { Tensor } from '../tensor.js';
import { type SavedVersion, saveVersions } from './version.js';
import { noteNode } from '../storage-pool.js';

/** Maps the gradient of an op's output to the gradients of its inputs (null where none flows). */
export type BackwardFn = (grad: Tensor) => ReadonlyArray<Tensor | null | undefined>;

/** The node of the autograd graph that produced a tensor. */
export interface GradFn {
  /** The op's name, for error messages and `toDot`. */
  readonly name: string;
  /** The op's tensor inputs, in the order backward returns their gradients. */
  readonly inputs: readonly Tensor[];
  /** The backward closure; null once the graph was freed by a backward without retainGraph. */
  backward: BackwardFn | null;
  /** The versions of the tensors the backward reads, checked before it runs (see `incrementVersion`); null once freed. */
  saved?: readonly SavedVersion[] | null;
}

let gradEnabled = true;
const NO_SAVED: readonly SavedVersion[] = Object.freeze([]);

/** True while operations are being recorded for autograd. */
export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs fn with gradient recording switched on or off, restoring the previous mode afterwards. */
export function withGradMode<T>(enabled: boolean, fn: () => T): T {
  const previous = gradEnabled;
  gradEnabled = enabled;
  try {
    return fn();
  } finally {
    gradEnabled = previous;
  }
}

/**
 * Runs fn without recording any graph (as `torch.no_grad()`): for evaluation and optimizer steps.
 *
 * @example
 * ```ts
 * import { noGrad, tensor } from '@tsgrad/tensor';
 *
 * const w = tensor([1, -2], { requiresGrad: true });
 * w.square().sum().backward(); // w.grad = 2w = [2, -4]
 * noGrad(() => w.add_(w.grad!, -0.1)); // a plain gradient-descent step, not part of any graph
 * console.log(w.toString()); // → tensor([0.8000, -1.6000], shape=[2], dtype=float32, requiresGrad=true)
 * console.log(noGrad(() => w.mul(2)).requiresGrad); // → false
 * ```
 */
export function noGrad<T>(fn: () => T): T {
  return withGradMode(false, fn);
}

/**
 * Attaches a backward to an op's freshly made output when recording is on and some input requires
 * grad. Every differentiable op, built-in or user-defined, ends with this call. `saved` lists the
 * tensors the backward reads (inputs or the output; null entries are skipped): their versions are
 * recorded now, and backward throws if any of them was written in place since.
 */
export function recordOp(
  out: Tensor, name: string, inputs: readonly Tensor[], backward: BackwardFn, saved: ReadonlyArray<Tensor | null | undefined> = [],
): Tensor {
  if (!gradEnabled) return out;
  let needed = false;
  for (const t of inputs) if (t.requiresGrad) needed = true;
  if (!needed) return out;
  out.requiresGrad = true;
  if (capture) {
    // checkpoint's forward: keep neither the backward (it holds the saved tensors) nor the inputs,
    // only which outside tensors out depends on
    capture.set(out, dependenciesOf(capture, inputs));
    out.gradFn = { name, inputs: [], backward: capturedBackward };
    return out;
  }
  out.gradFn = { name, inputs, backward, saved: saved.length > 0 ? saveVersions(saved) : NO_SAVED };
  noteNode(out.gradFn); // for release scopes: this backward can hold only buffers older than it
  return out;
}

// ************* capture (the forward of checkpoint) *************

// Tensors made while capturing → the tensors from outside the capture that require grad and that
// they depend on. Null when not capturing.
let capture: WeakMap<Tensor, readonly Tensor[]> | null = null;

function capturedBackward(): never {
  throw new Error('checkpoint: a tensor made inside a checkpointed function escaped it without passing through its outputs; its graph was not kept');
}

function dependenciesOf(deps: WeakMap<Tensor, readonly Tensor[]>, inputs: readonly Tensor[]): readonly Tensor[] {
  const found = new Set<Tensor>();
  for (const t of inputs) {
    if (!t.requiresGrad) continue;
    const inner = deps.get(t);
    if (inner) for (const d of inner) found.add(d);
    else found.add(t);
  }
  return [...found];
}

/** True while checkpoint runs a function's forward, recording only dependencies (internal). */
export function isCapturing(): boolean {
  return capture !== null;
}

/**
 * Runs fn with grad mode on, recording for each tensor it makes only the outside tensors that
 * require grad it depends on, then returns fn's result and the dependencies of each tensor in
 * `outputsOf(result)` (internal: the forward of checkpoint).
 */
export function captureDependencies<T>(fn: () => T, outputsOf: (result: T) => readonly Tensor[]): { result: T; dependencies: Array<readonly Tensor[]> } {
  const previous = capture;
  const deps = new WeakMap<Tensor, readonly Tensor[]>();
  capture = deps;
  try {
    const result = withGradMode(true, fn);
    return { result, dependencies: outputsOf(result).map((t) => dependenciesOf(deps, [t])) };
  } finally {
    capture = previous;
  }
}
