// Version counters, with PyTorch's semantics: every in-place write bumps the counter of the storage
// it writes (so views and detached tensors, which share the storage, share the counter); every op
// records the counter of each tensor its backward will read, and the engine refuses to run a
// backward whose saved tensors were written since. Without this, `y = w.mul(x); x.mul_(10)` would
// give w a gradient 10× too large, silently.

import type { Storage } from '../dtype.js';
import { fmt } from '../shape.js';
import type { Tensor } from '../tensor.js';

/** How many in-place writes one storage has had; shared by every tensor viewing that storage. */
export interface VersionCounter {
  /** The number of in-place writes so far. */
  value: number;
}

/** A tensor an op saved for its backward: its storage's counter and the value it had then. */
export interface SavedVersion {
  /** The counter of the saved tensor's storage. */
  readonly counter: VersionCounter;
  /** The counter's value when the op recorded the tensor. */
  readonly version: number;
  /** The saved tensor's shape, for the error message. */
  readonly shape: readonly number[];
}

// Keyed by the storage itself, so any Tensor over it (view, detach, Parameter) finds the same
// counter; weak, so a counter never keeps a storage alive. One lookup per op, none per element.
const counters = new WeakMap<Storage, VersionCounter>();

function counterOf(storage: Storage): VersionCounter {
  let counter = counters.get(storage);
  if (!counter) {
    counter = { value: 0 };
    counters.set(storage, counter);
  }
  return counter;
}

/** The number of in-place writes to t's storage so far (PyTorch's `tensor._version`). */
export function versionOf(t: Tensor): number {
  return counters.get(t.storage)?.value ?? 0;
}

/**
 * Records that t's storage was written in place. The in-place methods (`copy_`, `add_`, `mul_`,
 * `fill_`, `zero_`) call it; code that writes a storage directly (an optimizer's update loop) must
 * call it too, so that a backward needing the old values throws instead of using the new ones.
 */
export function incrementVersion(t: Tensor): void {
  counterOf(t.storage).value++;
}

/** The versions of the tensors an op saves (null entries are skipped), to check in backward. */
export function saveVersions(saved: ReadonlyArray<Tensor | null | undefined>): SavedVersion[] {
  const out: SavedVersion[] = [];
  for (const t of saved) {
    if (!t) continue;
    const counter = counterOf(t.storage);
    out.push({ counter, version: counter.value, shape: t.shape });
  }
  return out;
}

/** Throws, naming the op, the shape and both versions, when a tensor `opName` saved was written since. */
export function checkSavedVersions(caller: string, opName: string, saved: readonly SavedVersion[]): void {
  for (const s of saved) {
    if (s.counter.value !== s.version) {
      throw new Error(
        `${caller}: one of the tensors needed for gradient computation has been modified by an in-place operation: ` +
        `the tensor of shape ${fmt(s.shape)} saved by '${opName}' is at version ${s.counter.value}; expected version ${s.version}. ` +
        `An in-place write (copy_, add_, mul_, fill_, zero_, an optimizer step) changed it after the forward: ` +
        `make the write after backward, or write to a clone()`,
      );
    }
  }
}
