// Activation checkpointing, as torch.utils.checkpoint with use_reentrant=False: the forward of a
// function keeps none of its intermediates; the backward runs the function again (replaying the
// default generator's random stream), then backpropagates through that fresh graph.
//
// The forward runs in "capture" mode (see graph.ts): every op still marks its output as requiring
// grad, but instead of a backward holding saved tensors it records only which tensors from outside
// the function (explicit inputs, parameters the function closes over, earlier graph) the output
// depends on. Those tensors are the checkpoint's boundary: the node attached to the outputs has
// them as inputs, and the recomputed graph is walked back only as far as them.

import { Tensor } from '../tensor.js';
import { formatShape, sameShape } from '../shape.js';
import { Generator, getDefaultGenerator, withDefaultGenerator } from '../random.js';
import { cat } from '../ops/movement.js';
import { captureDependencies, isCapturing, isGradEnabled, recordOp, withGradMode } from './graph.js';
import { type AfterNode, gradToBoundary, graphNodes } from './engine.js';
import {
  type StorageTracker, finishTracking, releaseTracked, releaseUnreferenced, startTracking, stopTracking,
} from '../storage-pool.js';

// fn's result as a list of tensors, or a clear error.
function outputsOf(result: unknown): Tensor[] {
  const list = Array.isArray(result) ? result : [result];
  if (list.length === 0) throw new Error('checkpoint: the function returned an empty array; expected a Tensor or a non-empty array of Tensors');
  list.forEach((t, i) => {
    if (!(t instanceof Tensor)) {
      const what = t === null ? 'null' : Array.isArray(t) ? 'an array' : typeof t;
      throw new Error(`checkpoint: the function must return a Tensor or an array of Tensors, but ${Array.isArray(result) ? `element ${i} of its result` : 'it'} is ${what}`);
    }
  });
  return list as Tensor[];
}

// The recompute's graph needs, of the buffers it allocated, only those a node's backward reads:
// the tensors an op lists as saved (recordOp's contract: its backward reads no other tensor) and
// what an op's backward keeps internally (never a recorded op's output). So an op output that no
// node saved goes back to the pool now, although graph nodes still list it as an input (for its
// shape, never its values); a saved one once every node that saved it is done. A buffer is kept
// while a view of it is saved, as views share it.
function releaseAsConsumed(made: StorageTracker, roots: readonly Tensor[], boundary: readonly Tensor[]): AfterNode {
  const nodes = graphNodes(roots, new Set(boundary));
  const readers = new Map<ArrayBufferLike, number>(); // saved buffer → nodes that saved it and have not run
  const savedBy = new Map<object, ArrayBufferLike[]>();
  for (const t of nodes) {
    const buffers = [...new Set((t.gradFn!.saved ?? []).map((s) => s.storage.buffer))];
    savedBy.set(t.gradFn!, buffers);
    for (const b of buffers) readers.set(b, (readers.get(b) ?? 0) + 1);
  }
  for (const t of nodes) if (!readers.has(t.storage.buffer)) releaseTracked(made, t.storage.buffer);
  return (fn, live) => {
    for (const b of savedBy.get(fn) ?? []) {
      const left = readers.get(b)! - 1;
      if (left > 0) {
        readers.set(b, left);
        continue;
      }
      readers.delete(b);
      if (!live.has(b)) releaseTracked(made, b); // a gradient viewing it waits for the end
    }
  };
}

/**
 * Runs `fn(...inputs)` without keeping its intermediate tensors for backward, as PyTorch's
 * non-reentrant `torch.utils.checkpoint`: the backward runs `fn` again and backpropagates through
 * the recomputed graph, so the gradients are bit-identical to those of a plain call at the cost of
 * one more forward. Gradients reach every tensor `fn` uses that requires grad: its tensor inputs
 * and tensors it closes over (a module's parameters). Inputs need not be tensors. Works under
 * `grad(..., { createGraph: true })` and nested in another checkpoint.
 *
 * Randomness: the default generator's state is saved before the forward and replayed in the
 * recompute (the default generator itself is left as it was), as PyTorch's preserve_rng_state.
 * A `Generator` passed explicitly to ops inside `fn` is not replayed: give `fn` the default
 * generator, or nothing random. `fn` must compute the same thing each call.
 *
 * Memory: the forward's intermediates go back to the storage pool as `fn` returns; in backward,
 * a recomputed tensor goes back as soon as no node's backward still reads it, by the tensors each
 * op lists as saved (`recordOp`'s contract: an op's backward reads no other tensor).
 *
 * With grad mode off (`noGrad`), `fn` simply runs.
 */
export function checkpoint<Args extends unknown[]>(fn: (...inputs: Args) => Tensor, ...inputs: Args): Tensor;
/** Runs a function returning several tensors without keeping its intermediates (see above). */
export function checkpoint<Args extends unknown[]>(fn: (...inputs: Args) => Tensor[], ...inputs: Args): Tensor[];
export function checkpoint<Args extends unknown[]>(fn: (...inputs: Args) => Tensor | Tensor[], ...inputs: Args): Tensor | Tensor[] {
  if (typeof fn !== 'function') throw new Error(`checkpoint: expected a function as the first argument, got ${typeof fn}`);
  // nothing is recorded, or an enclosing checkpoint already records only dependencies
  if (!isGradEnabled() || isCapturing()) {
    const result = fn(...inputs);
    outputsOf(result);
    return result;
  }
  const rngState = getDefaultGenerator().getState();
  // The forward's intermediates are the checkpoint's: captured ops keep no backward that could hold
  // them, and fn hands out only its outputs, so every other buffer its forward allocated goes back
  // to the pool now (fn must not stash a tensor it makes elsewhere, unless kept: see `keep`).
  const tracker = startTracking('checkpoint');
  let captured: ReturnType<typeof captureDependencies<Tensor | Tensor[]>>;
  try {
    captured = captureDependencies(() => fn(...inputs), outputsOf);
  } catch (err) {
    if (tracker) stopTracking(tracker); // release nothing: what fn did before it threw is unknown
    throw err;
  }
  const { result, dependencies } = captured;
  const outs = outputsOf(result);
  if (tracker) finishTracking(tracker, new Set(outs.map((t) => t.storage.buffer)), true);
  const live = outs.map((t, i) => (t.requiresGrad ? i : -1)).filter((i) => i >= 0);
  if (live.length === 0) return result;
  const boundary = [...new Set(dependencies.flat())];

  // the backward: recompute, then the gradients of the boundary given those of the live outputs
  const recompute = (grads: Tensor[]): Array<Tensor | null> => {
    const createGraph = isGradEnabled();
    // without createGraph the recomputed graph is this backward's alone: track what it allocates
    const made = createGraph ? null : startTracking('recompute');
    let again: Tensor | Tensor[];
    try {
      again = withDefaultGenerator(new Generator().setState(rngState), () => withGradMode(true, () => fn(...inputs)));
    } finally {
      if (made) stopTracking(made); // a throw leaves its buffers to the collector
    }
    const fresh = outputsOf(again);
    const roots: Tensor[] = [];
    for (const i of live) {
      const t = fresh[i];
      if (fresh.length !== outs.length || !t || !sameShape(t.shape, outs[i]!.shape) || !t.requiresGrad) {
        throw new Error(`checkpoint: the recomputed output ${i} (${t ? `shape ${formatShape(t.shape)}` : 'missing'}) differs from the forward's (shape ${formatShape(outs[i]!.shape)}); the function must compute the same thing each call`);
      }
      roots.push(t);
    }
    if (!made) return gradToBoundary(roots, grads, boundary, true);
    const afterNode = releaseAsConsumed(made, roots, boundary);
    const result = gradToBoundary(roots, grads, boundary, false, afterNode);
    // what is left: buffers an op's backward kept internally, temporaries outside the graph
    releaseUnreferenced(made, new Set(result.flatMap((g) => (g ? [g.storage.buffer] : []))));
    return result;
  };

  if (live.length === 1) {
    const i = live[0]!;
    const out = recordOp(outs[i]!.detach(), 'checkpoint', boundary, (g) => recompute([g]), boundary);
    if (!Array.isArray(result)) return out;
    return outs.map((t, k) => (k === i ? out : t));
  }

  // Several outputs need grad, but the recompute must see all their gradients at once. They meet
  // in one node: a flat "bundle" (a placeholder, stride 0) whose gradient is the outputs'
  // gradients laid end to end; each output hands its gradient to its segment of the bundle.
  const dtype = outs[live[0]!]!.dtype;
  for (const i of live) {
    if (outs[i]!.dtype !== dtype) throw new Error(`checkpoint: the outputs that require grad must share a dtype; output ${live[0]} is ${dtype}, output ${i} is ${outs[i]!.dtype}`);
  }
  const sizes = live.map((i) => outs[i]!.numel);
  const total = sizes.reduce((a, b) => a + b, 0);
  const placeholder = Tensor.zeros([1], dtype);
  const bundle = recordOp(new Tensor(placeholder.storage, [total], [0], 0, dtype), 'checkpoint', boundary, (flat) => {
    let at = 0;
    const grads = live.map((i, k) => {
      const g = flat.narrow(0, at, sizes[k]!).reshape([...outs[i]!.shape]);
      at += sizes[k]!;
      return g;
    });
    return recompute(grads);
  }, boundary);
  let start = 0;
  const wrapped = outs.map((t, i) => {
    if (!t.requiresGrad) return t;
    const before = start;
    start += t.numel;
    return recordOp(t.detach(), 'checkpointOutput', [bundle], (g) => {
      const pieces: Tensor[] = [];
      if (before > 0) pieces.push(Tensor.zeros([before], dtype));
      pieces.push(g.reshape([-1]));
      if (total - before - t.numel > 0) pieces.push(Tensor.zeros([total - before - t.numel], dtype));
      return [pieces.length === 1 ? pieces[0]! : cat(pieces, 0)];
    });
  });
  return wrapped;
}
