// How ops record the autograd graph, in one place: the node an op leaves on its output so the
// engine can walk back through it (recordOp), the grad mode that switches recording on and off,
// the version counters that let a node check what it saved was not written since, the contract of
// fused ops (recordFusedOp), and the capture mode that is checkpoint's forward. The engine that
// walks the graph is engine.ts.

import type { Storage } from '../dtype.js';
import { formatShape } from '../shape.js';
import { noteNode } from '../storage-pool.js';
import type { Tensor } from '../tensor.js';

// ************* the node an op records, and grad mode *************

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

// ************* fused ops: a kernel backward and a composite one *************

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

// ************* version counters (what a node saves) *************

// Version counters, with PyTorch's semantics: every in-place write bumps the counter of the storage
// it writes (so views and detached tensors, which share the storage, share the counter); every op
// records the version of each tensor its backward will read, and the engine refuses to run a
// backward whose saved tensors were written since. Without this, `y = w.mul(x); x.mul_(10)` would
// give w a gradient 10× too large, silently.
//
// Cost: counters exist only for storages that were ever written in place (parameters, gradients,
// caches), so saving a tensor is one WeakMap lookup and never an insertion; no per-element work.

/** How many in-place writes one storage has had; shared by every tensor viewing that storage. */
export interface VersionCounter {
  /** The number of in-place writes so far. */
  value: number;
}

/** A tensor an op saved for its backward: its storage and the storage's version then. */
export interface SavedVersion {
  /** The saved tensor's storage (the backward closure holds it anyway; freed with the graph). */
  readonly storage: Storage;
  /** The storage's version when the op recorded the tensor. */
  readonly version: number;
  /** The saved tensor's shape, for the error message. */
  readonly shape: readonly number[];
}

// Keyed by the storage itself, so any Tensor over it (view, detach, Parameter) finds the same
// counter; weak, so a counter never keeps a storage alive. A storage without one is at version 0.
const counters = new WeakMap<Storage, VersionCounter>();

/** The number of in-place writes to a storage so far (for caches of its contents, e.g. resident weights in wasm/matmul.ts). */
export function versionOfStorage(storage: Storage): number {
  return counters.get(storage)?.value ?? 0;
}

/** The number of in-place writes to t's storage so far (PyTorch's `tensor._version`). */
export function versionOf(t: Tensor): number {
  return versionOfStorage(t.storage);
}

/**
 * Records that t's storage was written in place. The in-place methods (`copy_`, `add_`, `mul_`,
 * `fill_`, `zero_`) call it; code that writes a storage directly (an optimizer's update loop) must
 * call it too, so that a backward needing the old values throws instead of using the new ones.
 */
export function incrementVersion(t: Tensor): void {
  const counter = counters.get(t.storage);
  if (counter) counter.value++;
  else counters.set(t.storage, { value: 1 });
}

/** The versions of the tensors an op saves (null entries are skipped), to check in backward. */
function saveVersions(saved: ReadonlyArray<Tensor | null | undefined>): SavedVersion[] {
  const out: SavedVersion[] = [];
  for (const t of saved) {
    if (!t) continue;
    out.push({ storage: t.storage, version: versionOfStorage(t.storage), shape: t.shape });
  }
  return out;
}

/** Throws, naming the op, the shape and both versions, when a tensor `opName` saved was written since. */
export function checkSavedVersions(caller: string, opName: string, saved: readonly SavedVersion[]): void {
  for (const s of saved) {
    const now = versionOfStorage(s.storage);
    if (now !== s.version) {
      throw new Error(
        `${caller}: one of the tensors needed for gradient computation has been modified by an in-place operation: ` +
        `the tensor of shape ${formatShape(s.shape)} saved by '${opName}' is at version ${now}; expected version ${s.version}. ` +
        `An in-place write (copy_, add_, mul_, fill_, zero_, an optimizer step) changed it after the forward: ` +
        `make the write after backward, or write to a clone()`,
      );
    }
  }
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
