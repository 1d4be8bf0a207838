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
// never sees it, so never holds it. Forward tensors and everything the user makes are never
// tracked and are left to the collector. A backward closure must therefore not stash a tensor it
// allocates where another closure or a module will read it later (none does; the poison mode of
// the test suite would show it: TSGRAD_POOL_POISON=1 fills released buffers with NaN and never
// reuses them).

/** A float typed array the pool hands out. */
export type FloatStorage = Float32Array | Float64Array;

/** The buffers allocated while one engine run is tracking, with each one's element type. */
export interface StorageTracker {
  readonly buffers: Map<ArrayBuffer, 'float32' | 'float64'>;
}

const freeLists = new Map<number, ArrayBuffer[]>();
let pooledBytes = 0;
const trackers: StorageTracker[] = [];
const settings = { enabled: true, poison: false, maxPooledBytes: 2 ** 31 };
const stats = { reused: 0, released: 0 };

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

/** A zero-filled float array of n elements, from the pool when a buffer of that size is free (internal). */
export function allocFloat(dtype: 'float32' | 'float64', n: number): FloatStorage {
  const bytes = n * (dtype === 'float32' ? 4 : 8);
  let out: FloatStorage | null = null;
  if (settings.enabled && bytes > 0) {
    const buffer = freeLists.get(bytes)?.pop();
    if (buffer) {
      pooledBytes -= bytes;
      stats.reused++;
      out = dtype === 'float32' ? new Float32Array(buffer) : new Float64Array(buffer);
      out.fill(0);
    }
  }
  out ??= dtype === 'float32' ? new Float32Array(n) : new Float64Array(n);
  const tracker = trackers[trackers.length - 1];
  if (tracker && bytes > 0) tracker.buffers.set(out.buffer as ArrayBuffer, dtype);
  return out;
}

/** Starts recording the buffers allocated from now on (internal: the engine, per backward run). */
export function startTracking(): StorageTracker | null {
  if (!settings.enabled) return null;
  const tracker: StorageTracker = { buffers: new Map() };
  trackers.push(tracker);
  return tracker;
}

/** Stops recording into tracker (the innermost); what it holds stays to be released or handed on. */
export function stopTracking(tracker: StorageTracker): void {
  const at = trackers.lastIndexOf(tracker);
  if (at >= 0) trackers.splice(at, 1);
}

/** Releases every buffer tracker recorded except those in `live` (internal: see the ownership rule). */
export function releaseUnreferenced(tracker: StorageTracker, live: ReadonlySet<ArrayBufferLike>): void {
  for (const [buffer, dtype] of tracker.buffers) {
    if (live.has(buffer)) continue;
    tracker.buffers.delete(buffer);
    release(buffer, dtype);
  }
}

/**
 * Ends a run's tracking: the buffers in `handedOn` (the run's results) go to the enclosing run's
 * tracker when `toParent` (a nested backward returning gradients into its caller's step), else
 * they are forgotten (their new owner is the user); the rest are released.
 */
export function finishTracking(tracker: StorageTracker, handedOn: ReadonlySet<ArrayBufferLike>, toParent: boolean): void {
  stopTracking(tracker);
  const parent = toParent ? trackers[trackers.length - 1] : undefined;
  for (const [buffer, dtype] of tracker.buffers) {
    if (!handedOn.has(buffer)) release(buffer, dtype);
    else if (parent) parent.buffers.set(buffer, dtype);
  }
  tracker.buffers.clear();
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
