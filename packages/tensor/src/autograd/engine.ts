// The reverse-mode engine: sort the graph topologically (iteratively: a 10,000-op chain must not
// overflow the stack), then walk it from the outputs back, handing each node the gradient of its
// output and accumulating what it returns for its inputs.

import { Tensor } from '../tensor.js';
import { formatShape, sameShape } from '../shape.js';
import { allocStorage } from '../dtype.js';
import { type GradFn, checkSavedVersions, withGradMode } from './graph.js';
import {
  finishTracking, releaseDuringBackward, releaseUnreferenced, releasingDuringBackward, startTracking, stopTracking, untracked,
} from '../storage-pool.js';

/** Options of `grad` and `backward`. */
export interface GradOptions {
  /** Gradients of the outputs (required for non-scalar outputs; default 1 for scalars). */
  gradOutputs?: Array<Tensor | null | undefined>;
  /** Record the backward itself, so the gradients can be differentiated again. */
  createGraph?: boolean;
  /** Keep the graph for another backward (default: createGraph). */
  retainGraph?: boolean;
}

// Nodes (non-leaf tensors that require grad) reachable from the roots, outputs first; the walk
// does not go past tensors in `stop` (checkpoint's boundary) nor list them.
function topoSort(roots: readonly Tensor[], stop: ReadonlySet<Tensor> | null = null): Tensor[] {
  return graphNodes(roots, stop);
}

/** The nodes a backward from `roots` would run, outputs first, stopping at `stop` (internal: checkpoint plans its releases with it). */
export function graphNodes(roots: readonly Tensor[], stop: ReadonlySet<Tensor> | null = null): Tensor[] {
  const order: Tensor[] = [];
  const visited = new Set<Tensor>();
  const stack: Array<[Tensor, number]> = [];
  for (const root of roots) {
    if (!root.gradFn || visited.has(root) || stop?.has(root)) continue;
    visited.add(root);
    stack.push([root, 0]);
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const [t, next] = top;
      const inputs = t.gradFn!.inputs;
      if (next < inputs.length) {
        top[1] = next + 1;
        const child = inputs[next]!;
        if (child.gradFn && child.requiresGrad && !visited.has(child) && !stop?.has(child)) {
          visited.add(child);
          stack.push([child, 0]);
        }
      } else {
        stack.pop();
        order.push(t);
      }
    }
  }
  return order.reverse();
}

function seedGradients(outputs: readonly Tensor[], gradOutputs: GradOptions['gradOutputs'], op: string): Tensor[] {
  return outputs.map((out, i) => {
    if (!out.requiresGrad) throw new Error(`${op}: output ${i} does not require grad (no input it depends on requires grad)`);
    const given = gradOutputs?.[i];
    if (given) {
      if (!sameShape(given.shape, out.shape)) {
        throw new Error(`${op}: gradOutputs[${i}] has shape ${formatShape(given.shape)} but output ${i} has shape ${formatShape(out.shape)}`);
      }
      return given;
    }
    if (out.numel !== 1) {
      throw new Error(`${op}: output ${i} has shape ${formatShape(out.shape)}; a gradient can be created implicitly only for scalar outputs (pass gradOutputs)`);
    }
    const one = Tensor.zeros(out.shape, out.dtype);
    one.storage[0] = 1;
    return one;
  });
}

// Who owns the gradients run captures: `keeps` when capture holds on to them (grad's results)
// rather than copying them (.grad); `toCaller` when they return into an enclosing backward step.
interface CaptureOwnership { keeps: boolean; toCaller: boolean }

/**
 * Called once each node of a run is done (run, or skipped for want of a gradient) with the buffers
 * the run still holds (gradients in flight, what it handed out): checkpoint's recompute releases
 * what only that node read (internal).
 */
export type AfterNode = (fn: GradFn, live: ReadonlySet<ArrayBufferLike>) => void;

// The buffers a run still holds: the gradients in flight and what it handed out.
function heldByRun(pending: ReadonlyMap<Tensor, Tensor>, handedOut: ReadonlySet<ArrayBufferLike>): Set<ArrayBufferLike> {
  const live = new Set(handedOut);
  for (const p of pending.values()) live.add(p.storage.buffer);
  return live;
}

// True while a run releases a scope's buffers during backward (see backpropagate).
let scopeReleaseRunning = false;

// Runs the backward pass. Calls capture for every tensor in `wanted` (or every leaf that requires
// grad when wanted is null) with its total gradient.
//
// Without createGraph and retainGraph, each node's backward (and so what it saved) is dropped as
// soon as it has run, and the buffers allocated during the run go back to the storage pool as
// soon as no pending gradient views them (the ownership rule is in storage-pool.ts). Inside a
// release scope with duringBackward, the forward's buffers go back too once every node that could
// hold them has run (releaseDuringBackward); the roots, seeds and leaves stay.
function backpropagate(
  op: string, outputs: readonly Tensor[], seeds: readonly Tensor[], createGraph: boolean, retainGraph: boolean,
  capture: (t: Tensor, g: Tensor) => void, wanted: Set<Tensor> | null, stop: ReadonlySet<Tensor> | null,
  ownership: CaptureOwnership, afterNode: AfterNode | null = null,
): void {
  const tracker = createGraph || retainGraph ? null : startTracking();
  const handedOut = new Set<ArrayBufferLike>();
  const give = (t: Tensor, g: Tensor) => {
    if (ownership.keeps) handedOut.add(g.storage.buffer); // else capture copies it, and g can go back
    untracked(() => capture(t, g));
  };
  const pending = new Map<Tensor, Tensor>();
  const accumulate = (t: Tensor, g: Tensor) => {
    const prev = pending.get(t);
    pending.set(t, prev ? prev.add(g) : g);
  };
  outputs.forEach((o, i) => accumulate(o, seeds[i]!));
  const order: Array<Tensor | undefined> = topoSort(outputs, stop);
  // what a release scope must not take back during this run: the user holds the roots, the seeds
  // and the leaves (their values, not only their .grad)
  // only the outermost run: a nested one (checkpoint's) does not know the gradients its caller holds
  const scopeRelease = tracker !== null && !scopeReleaseRunning && releasingDuringBackward();
  if (scopeRelease) scopeReleaseRunning = true;
  const exempt = new Set<ArrayBufferLike>();
  if (scopeRelease) for (const t of [...outputs, ...seeds]) exempt.add(t.storage.buffer);
  // The graph behind a node that has run is not needed again: what its backward saved and the
  // values of its inputs can go now (to the collector: the user may hold them, so only V8 can
  // tell) rather than when the whole backward ends. As in PyTorch the structure stays (toDot
  // still draws it): a non-leaf input is replaced by a stand-in with its shape and gradFn but no
  // elements.
  const standIns = new WeakMap<Tensor, Tensor>(); // weak: it must not keep the originals alive
  const standIn = (t: Tensor): Tensor => {
    if (!t.gradFn) return t;
    let s = standIns.get(t);
    if (!s) {
      s = new Tensor(allocStorage(t.dtype, 0), t.shape, t.shape.map(() => 0), 0, t.dtype);
      s.requiresGrad = t.requiresGrad;
      s.gradFn = t.gradFn;
      standIns.set(t, s);
    }
    return s;
  };
  const dropNode = (i: number) => {
    const fn = order[i]!.gradFn!;
    fn.backward = null;
    fn.saved = null;
    (fn as { inputs: readonly Tensor[] }).inputs = fn.inputs.map(standIn);
    order[i] = undefined;
  };
  // A leaf's gradient is complete after the last node that has it as an input: hand it over then
  // (and let the run's copy go back to the pool) rather than at the end, so the gradients of all
  // the weights are not held twice at once.
  const lastUse = new Map<Tensor, number>();
  order.forEach((node, i) => {
    for (const input of node!.gradFn!.inputs) if (!input.gradFn && input.requiresGrad) lastUse.set(input, i);
  });
  const handOverLeaves = (i: number, inputs: readonly Tensor[]) => {
    for (const input of inputs) {
      if (input.gradFn || lastUse.get(input) !== i) continue;
      const g = pending.get(input);
      if (!g) continue;
      pending.delete(input);
      give(input, g);
    }
  };

  try {
    withGradMode(createGraph, () => runNodes());
  } finally {
    if (tracker) stopTracking(tracker);
    if (scopeRelease) scopeReleaseRunning = false;
  }
  if (!retainGraph) {
    for (const node of order) {
      if (!node) continue;
      node.gradFn!.backward = null;
      node.gradFn!.saved = null;
    }
  }
  for (const [t, g] of pending) if (!t.gradFn || wanted?.has(t)) give(t, g);
  if (tracker) finishTracking(tracker, ownership.keeps ? handedOut : new Set(), ownership.toCaller);

  function runNodes(): void {
    for (let i = 0; i < order.length; i++) {
      const node = order[i]!;
      const g = pending.get(node);
      if (wanted?.has(node) && g) give(node, g);
      const fn = node.gradFn!;
      if (!fn.backward) {
        throw new Error(`${op}: trying to backward through the graph a second time (through '${fn.name}'); its buffers were freed after the first backward — pass { retainGraph: true } to the first call`);
      }
      pending.delete(node);
      if (scopeRelease) for (const input of fn.inputs) if (!input.gradFn) exempt.add(input.storage.buffer);
      if (!g) {
        handOverLeaves(i, fn.inputs);
        if (tracker) dropNode(i);
        afterNode?.(fn, heldByRun(pending, handedOut));
        continue;
      }
      if (fn.saved) checkSavedVersions(op, fn.name, fn.saved);
      const grads = fn.backward(g);
      fn.inputs.forEach((input, k) => {
        const gi = grads[k];
        if (!gi || !input.requiresGrad) return;
        if (!sameShape(gi.shape, input.shape)) {
          throw new Error(`${op}: the backward of '${fn.name}' returned a gradient of shape ${formatShape(gi.shape)} for input ${k} of shape ${formatShape(input.shape)}`);
        }
        if (input.gradFn) accumulate(input, gi);
        else if (wanted === null || wanted.has(input)) accumulate(input, gi);
      });
      handOverLeaves(i, fn.inputs);
      if (tracker) dropNode(i);
      if (tracker && (tracker.buffers.size > 0 || scopeRelease || afterNode)) {
        const live = heldByRun(pending, handedOut);
        afterNode?.(fn, live);
        releaseUnreferenced(tracker, live);
        if (scopeRelease) {
          for (const b of exempt) live.add(b);
          releaseDuringBackward(live);
        }
      }
    }
    if (scopeRelease) {
      const live = heldByRun(pending, handedOut);
      for (const b of exempt) live.add(b);
      releaseDuringBackward(live);
    }
  }
}

/** Backpropagates from `root`, accumulating into `.grad` of every leaf that requires grad. */
export function backward(root: Tensor, gradOutput?: Tensor, opts: { retainGraph?: boolean; createGraph?: boolean } = {}): void {
  const createGraph = opts.createGraph ?? false;
  const seeds = seedGradients([root], [gradOutput], 'backward');
  backpropagate('backward', [root], seeds, createGraph, opts.retainGraph ?? createGraph, (leaf, g) => {
    if (g.dtype !== leaf.dtype) g = g.to(leaf.dtype);
    if (createGraph) {
      // clone: g may be a view shared with another leaf's gradient (add passes its gradient through)
      leaf.grad = leaf.grad ? leaf.grad.add(g) : g.clone();
    } else if (leaf.grad) {
      leaf.grad = withGradMode(false, () => leaf.grad!.add(g));
    } else {
      // own a contiguous copy: g may alias another tensor's storage (add passes its gradient through)
      leaf.grad = withGradMode(false, () => g.clone());
    }
  }, null, null, { keeps: false, toCaller: false });
}

/**
 * Gradients of `outputs` with respect to `inputs` (any tensors in the graph, leaves or not), as
 * `torch.autograd.grad`: returns them instead of accumulating into `.grad`. An input the outputs do
 * not depend on gets a zero gradient.
 *
 * @example
 * ```ts
 * import { grad, tensor } from '@tsgrad/tensor';
 *
 * const x = tensor(2, { dtype: 'float64', requiresGrad: true });
 * const y = x.pow(3); // y = x³
 * const [dy] = grad(y, x, { createGraph: true }); // 3x² = 12, recorded so it can be differentiated again
 * const [d2y] = grad(dy!, x); // 6x = 12
 * console.log(dy!.item(), d2y!.item(), x.grad); // → 12 12 null
 * ```
 */
export function grad(outputs: Tensor | Tensor[], inputs: Tensor | Tensor[], opts: GradOptions = {}): Tensor[] {
  const outs = Array.isArray(outputs) ? outputs : [outputs];
  const ins = Array.isArray(inputs) ? inputs : [inputs];
  ins.forEach((t, i) => {
    if (!t.requiresGrad) throw new Error(`grad: input ${i} does not require grad`);
  });
  const createGraph = opts.createGraph ?? false;
  const seeds = seedGradients(outs, opts.gradOutputs, 'grad');
  const result = new Map<Tensor, Tensor>();
  backpropagate('grad', outs, seeds, createGraph, opts.retainGraph ?? createGraph, (t, g) => {
    const prev = result.get(t);
    result.set(t, prev ? prev.add(g) : g);
  }, new Set(ins), null, { keeps: true, toCaller: false });
  return ins.map((t) => result.get(t) ?? Tensor.zeros(t.shape, t.dtype));
}

/**
 * Gradients of `outputs` (seeded with `gradOutputs`) with respect to `boundary`, walking no further
 * back than the boundary tensors, null for a boundary tensor nothing flows to (internal: the
 * backward of checkpoint, whose recomputed graph ends at the tensors the checkpoint depends on).
 * `afterNode` (only without createGraph) hears of each node once it is done.
 */
export function gradToBoundary(
  outputs: readonly Tensor[], gradOutputs: readonly Tensor[], boundary: readonly Tensor[], createGraph: boolean, afterNode: AfterNode | null = null,
): Array<Tensor | null> {
  const result = new Map<Tensor, Tensor>();
  const wanted = new Set(boundary);
  backpropagate('checkpoint', outputs, gradOutputs, createGraph, createGraph, (t, g) => {
    const prev = result.get(t);
    result.set(t, prev ? prev.add(g) : g);
  }, wanted, wanted, { keeps: true, toCaller: true }, createGraph ? null : afterNode);
  return boundary.map((t) => result.get(t) ?? null);
}
