// Float storage reuse. Training allocates the same sizes step after step; a buffer that is garbage
// waits for V8's collector before its memory can serve again, so the process grows far above what
// is live. The pool gives buffers back deterministically instead: free lists keyed by exact byte
// length (no rounding, so no waste), filled only by the autograd engine with buffers it can prove
// unreachable.
//
// Ownership rule (the safety argument): only a buffer allocated *while the engine runs a backward
// step* (no createGraph, no retainGraph) is tracked, and it is released only once no gradient the
// engine still holds views it and it was never handed out (to `.grad`, to `grad()`'s caller, or to
// the code that called a nested backward). Such a buffer can be reached only by that step's
// backward closure (dropped after the step), its temporaries, and gradients in flight. The user
// never sees it, so never holds it. Outside a release scope and a checkpoint's forward, forward
// tensors and everything the user makes are never tracked and are left to the collector. A backward closure must therefore not stash a tensor it
// allocates where another closure or a module will read it later (none does; the poison mode of
// the test suite would show it: TSGRAD_POOL_POISON=1 fills released buffers with NaN and never
// reuses them).
//
// Two more owners release buffers, each under its own rule (the rules are spelled out where they
// live and in the package README):
// - checkpoint (autograd/checkpoint.ts): the buffers its function's forward allocated, except its
//   outputs', as soon as the forward returns: they are intermediates no backward holds. In its
//   backward, the buffers the recompute allocated: an op output no recomputed node saved right
//   after the recompute, a saved one as soon as every node that saved it has run, the rest when
//   the checkpoint's backward ends.
// - a release scope (release-scope.ts, `withReleaseScope`): what was first allocated inside it and
//   is unreachable from its result when it exits; with `duringBackward`, also what a backward
//   inside it has consumed (see `releaseDuringBackward`).
// `keep(t)` exempts a storage from all three for good (caches a module builds on first use).

import type { FloatArray } from './dtype.js';

/** A recorded buffer: its element type and when it was allocated (a tick of the shared sequence). */
export interface TrackedBuffer {
  readonly dtype: 'float32' | 'float64';
  readonly seq: number;
}

/** The buffers allocated while a tracker is the innermost, and who owns them (internal). */
export interface StorageTracker {
  /** 'engine': one backward run; 'checkpoint': a checkpointed forward; 'recompute': its rerun in backward; 'scope': a release scope. */
  readonly kind: 'engine' | 'checkpoint' | 'recompute' | 'scope';
  readonly buffers: Map<ArrayBuffer, TrackedBuffer>;
}

/** A release scope's tracker: its buffers, plus what early release during backward needs (internal). */
export interface ScopeTracker extends StorageTracker {
  readonly kind: 'scope';
  /** Release what a backward inside the scope has consumed (withReleaseScope's duringBackward). */
  readonly duringBackward: boolean;
  /** Graph nodes recorded while the scope is open, in recording order; the tail is trimmed once run. */
  readonly nodes: Array<{ seq: number; fn: { backward: unknown } }>;
  /** The scope's buffers in allocation order, not yet looked at by releaseDuringBackward. */
  readonly order: Array<[ArrayBuffer, number]>;
}

const freeLists = new Map<number, ArrayBuffer[]>();
let pooledBytes = 0;
const trackers: StorageTracker[] = [];
const scopes: ScopeTracker[] = [];
const settings = { enabled: true, poison: false, maxPooledBytes: 2 ** 31 };
const stats = { reused: 0, released: 0 };
// one clock for buffers and graph nodes: a node's backward can only hold buffers older than it
let sequence = 0;
const nodeSequence = new WeakMap<object, number>();
// storages no tracker may release (keep)
const kept = new WeakSet<ArrayBufferLike>();
// buffers a backward inside a release scope released and nobody was handed since
const releasedEarly = new WeakSet<ArrayBufferLike>();

/** Options of the float storage pool (see `setStoragePool`). */
export interface StoragePoolOptions {
  /** Reuse released buffers (default true); off, every allocation is fresh and nothing is tracked. */
  enabled?: boolean;
  /** Fill released buffers with NaN and never reuse them, so any use after release shows (default false). */
  poison?: boolean;
  /** Bytes the free lists may hold at most (default 2 GiB); a buffer released beyond that is dropped. */
  maxPooledBytes?: number;
}

/** Configures the float storage pool; returns the previous settings. Clearing `enabled` empties it. */
export function setStoragePool(opts: StoragePoolOptions): Required<StoragePoolOptions> {
  const previous = { ...settings };
  if (opts.enabled !== undefined) settings.enabled = opts.enabled;
  if (opts.poison !== undefined) settings.poison = opts.poison;
  if (opts.maxPooledBytes !== undefined) settings.maxPooledBytes = opts.maxPooledBytes;
  if (!settings.enabled || settings.poison) {
    freeLists.clear();
    pooledBytes = 0;
  }
  return previous;
}

/** Bytes waiting in the pool's free lists, and counts of buffers reused and released so far. */
export function storagePoolStats(): { pooledBytes: number; reused: number; released: number } {
  return { pooledBytes, ...stats };
}

/** A float array of n elements, zero-filled unless `zeroed` is false, from the pool when a buffer of that size is free (internal). */
export function allocFloat(dtype: 'float32' | 'float64', n: number, zeroed = true): FloatArray {
  const bytes = n * (dtype === 'float32' ? 4 : 8);
  let out: FloatArray | null = null;
  if (settings.enabled && bytes > 0) {
    const buffer = freeLists.get(bytes)?.pop();
    if (buffer) {
      pooledBytes -= bytes;
      stats.reused++;
      releasedEarly.delete(buffer);
      out = dtype === 'float32' ? new Float32Array(buffer) : new Float64Array(buffer);
      if (zeroed) out.fill(0);
    }
  }
  out ??= dtype === 'float32' ? new Float32Array(n) : new Float64Array(n);
  // poisoning: a kernel that was promised to write every element of an unzeroed buffer and
  // skips one leaves a NaN that a test sees
  if (!zeroed && settings.poison) out.fill(NaN);
  const tracker = trackers[trackers.length - 1];
  if (tracker && bytes > 0) {
    const buffer = out.buffer as ArrayBuffer;
    const seq = ++sequence;
    tracker.buffers.set(buffer, { dtype, seq });
    if (tracker.kind === 'scope' && (tracker as ScopeTracker).duringBackward) (tracker as ScopeTracker).order.push([buffer, seq]);
  }
  return out;
}

/** Marks t's storage as never to be released by the engine, checkpoint or a release scope (see `keep`). */
export function keepStorage(buffer: ArrayBufferLike): void {
  kept.add(buffer);
}

/** True if a backward inside a release scope released this buffer and it was not handed out since (internal). */
export function wasReleasedEarly(buffer: ArrayBufferLike): boolean {
  return releasedEarly.has(buffer);
}

/** Starts recording the buffers allocated from now on (internal: the engine per backward run, checkpoint per forward and per recompute). */
export function startTracking(kind: 'engine' | 'checkpoint' | 'recompute' = 'engine'): StorageTracker | null {
  if (!settings.enabled) return null;
  const tracker: StorageTracker = { kind, buffers: new Map() };
  trackers.push(tracker);
  return tracker;
}

/** Opens a release scope: records what is allocated until closeScope (internal: release-scope.ts). */
export function openScope(duringBackward: boolean): ScopeTracker | null {
  if (!settings.enabled) return null;
  const scope: ScopeTracker = { kind: 'scope', buffers: new Map(), duringBackward, nodes: [], order: [] };
  trackers.push(scope);
  scopes.push(scope);
  return scope;
}

/** Stops recording into tracker (the innermost); what it holds stays to be released or handed on. */
export function stopTracking(tracker: StorageTracker): void {
  const at = trackers.lastIndexOf(tracker);
  if (at >= 0) trackers.splice(at, 1);
  if (tracker.kind === 'scope') {
    const s = scopes.lastIndexOf(tracker as ScopeTracker);
    if (s >= 0) scopes.splice(s, 1);
  }
}

/** Releases one buffer tracker recorded, if it still holds it (internal: checkpoint's recompute, buffer by buffer). */
export function releaseTracked(tracker: StorageTracker, buffer: ArrayBufferLike): void {
  const entry = tracker.buffers.get(buffer as ArrayBuffer);
  if (!entry) return;
  tracker.buffers.delete(buffer as ArrayBuffer);
  release(buffer as ArrayBuffer, entry.dtype);
}

/** Releases every buffer tracker recorded except those in `live` (internal: see the ownership rule). */
export function releaseUnreferenced(tracker: StorageTracker, live: ReadonlySet<ArrayBufferLike>): void {
  for (const [buffer, entry] of tracker.buffers) {
    if (live.has(buffer)) continue;
    tracker.buffers.delete(buffer);
    release(buffer, entry.dtype);
  }
}

/**
 * Ends a tracker: the buffers in `handedOn` (a run's results, a checkpoint's outputs, a scope's
 * result) go to the enclosing tracker when `toParent` or when that one is a release scope (which
 * then owns them), else they are forgotten (their new owner is the user); the rest are released.
 */
export function finishTracking(tracker: StorageTracker, handedOn: ReadonlySet<ArrayBufferLike>, toParent: boolean): void {
  stopTracking(tracker);
  const enclosing = trackers[trackers.length - 1];
  const parent = toParent || enclosing?.kind === 'scope' ? enclosing : undefined;
  for (const [buffer, entry] of tracker.buffers) {
    if (!handedOn.has(buffer)) release(buffer, entry.dtype);
    else if (parent) adopt(parent, buffer, entry);
  }
  tracker.buffers.clear();
}

/**
 * Ends a release scope: buffers in `reachable` or allocated before `liveBefore` (the newest graph
 * node the result still needs, whose backward may hold any older buffer) go to the enclosing
 * tracker, or are forgotten; the rest are released (internal: release-scope.ts).
 */
export function closeScope(scope: ScopeTracker, reachable: ReadonlySet<ArrayBufferLike>, liveBefore: number): void {
  stopTracking(scope);
  const parent = trackers[trackers.length - 1];
  for (const [buffer, entry] of scope.buffers) {
    if (reachable.has(buffer) || entry.seq < liveBefore) {
      if (parent) adopt(parent, buffer, entry);
    } else {
      release(buffer, entry.dtype);
    }
  }
  scope.buffers.clear();
  scope.nodes.length = 0;
  scope.order.length = 0;
}

function adopt(parent: StorageTracker, buffer: ArrayBuffer, entry: TrackedBuffer): void {
  parent.buffers.set(buffer, entry);
  if (parent.kind === 'scope' && (parent as ScopeTracker).duringBackward) {
    // keep order sorted by seq: an adopted buffer is older than what the parent allocated since
    const order = (parent as ScopeTracker).order;
    let at = order.length;
    while (at > 0 && order[at - 1]![1] > entry.seq) at--;
    order.splice(at, 0, [buffer, entry.seq]);
  }
}

/**
 * Records a graph node (internal: recordOp calls it for every node it makes). Its tick is later
 * than every buffer its backward could hold; open release scopes that release during backward
 * list it, unless a backward run or a checkpoint's recompute (whose graphs are their own) is the
 * innermost tracker.
 */
export function noteNode(fn: { backward: unknown }): void {
  if (scopes.length === 0) return;
  const seq = ++sequence;
  nodeSequence.set(fn, seq);
  const innermost = trackers[trackers.length - 1]?.kind;
  if (innermost === 'engine' || innermost === 'recompute') return;
  for (const scope of scopes) if (scope.duringBackward) scope.nodes.push({ seq, fn });
}

/** The tick of a graph node recorded while a release scope was open; 0 for others (internal). */
export function nodeSequenceOf(fn: object): number {
  return nodeSequence.get(fn) ?? 0;
}

/** True when some open release scope releases during backward (internal: the engine asks before each release pass). */
export function releasingDuringBackward(): boolean {
  for (const scope of scopes) if (scope.duringBackward) return true;
  return false;
}

/**
 * The early release of a scope with duringBackward, run by the engine after each node's backward:
 * a buffer the scope recorded can be held only by itself (a tensor the user has), by graph nodes
 * recorded after it was allocated (a backward closure captures only what exists when the op runs),
 * or by the gradients in flight. Once every node recorded after it has run (its backward is null),
 * and it is not in `live` (gradients in flight, the roots, seeds and leaves of the running
 * backward, what the run handed out) nor kept, it goes back to the pool. Tensors the user made in
 * the scope and still reads after the backward must be kept (`keep`); the roots need not be.
 */
export function releaseDuringBackward(live: ReadonlySet<ArrayBufferLike>): void {
  for (const scope of scopes) {
    if (!scope.duringBackward) continue;
    const { nodes, order } = scope;
    while (nodes.length > 0 && nodes[nodes.length - 1]!.fn.backward === null) nodes.pop();
    const newestLive = nodes.length > 0 ? nodes[nodes.length - 1]!.seq : 0;
    while (order.length > 0 && order[order.length - 1]![1] > newestLive) {
      const [buffer] = order.pop()!;
      const entry = scope.buffers.get(buffer);
      if (!entry || live.has(buffer) || kept.has(buffer)) continue; // live ones wait for the scope's exit
      scope.buffers.delete(buffer);
      releasedEarly.add(buffer);
      release(buffer, entry.dtype);
    }
  }
}

/** Runs fn with allocations tracked by no run (internal: results the engine hands out). */
export function untracked<T>(fn: () => T): T {
  const saved = trackers.splice(0, trackers.length);
  try {
    return fn();
  } finally {
    trackers.push(...saved);
  }
}

function release(buffer: ArrayBuffer, dtype: 'float32' | 'float64'): void {
  if (kept.has(buffer)) return;
  stats.released++;
  if (settings.poison) {
    (dtype === 'float32' ? new Float32Array(buffer) : new Float64Array(buffer)).fill(NaN);
    return;
  }
  if (pooledBytes + buffer.byteLength > settings.maxPooledBytes) return;
  let list = freeLists.get(buffer.byteLength);
  if (!list) freeLists.set(buffer.byteLength, (list = []));
  list.push(buffer);
  pooledBytes += buffer.byteLength;
}
