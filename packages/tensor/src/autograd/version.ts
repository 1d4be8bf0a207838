// Version counters, with PyTorch's semantics: every in-place write bumps the counter of the storage
// it writes (so views and detached tensors, which share the storage, share the counter); every op
// records the version of each tensor its backward will read, and the engine refuses to run a
// backward whose saved tensors were written since. Without this, `y = w.mul(x); x.mul_(10)` would
// give w a gradient 10× too large, silently.
//
// Cost: counters exist only for storages that were ever written in place (parameters, gradients,
// caches), so saving a tensor is one WeakMap lookup and never an insertion; no per-element work.

import type { Storage } from '../dtype.js';
import { formatShape } from '../shape.js';
import type { Tensor } from '../tensor.js';

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
export function saveVersions(saved: ReadonlyArray<Tensor | null | undefined>): SavedVersion[] {
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
