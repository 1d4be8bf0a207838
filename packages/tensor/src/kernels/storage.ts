// Float32 storage in shared memory, so worker threads can compute rows of a large matmul in
// place (kernels/parallel.ts). Browser-safe: SharedArrayBuffer exists in Node and in
// cross-origin-isolated pages; where it is missing, storage silently stays unshared.

import { setFloat32Allocator } from '../dtype.js';

let shared = false;

/** Makes allocFloat32, and so every new float32 tensor, use SharedArrayBuffer memory (when the platform has it), or back to ordinary memory. */
export function setSharedStorage(flag: boolean): void {
  shared = flag && typeof SharedArrayBuffer !== 'undefined';
  setFloat32Allocator(shared ? allocFloat32 : null);
}

/** A zero-filled Float32Array of n elements, backed by a SharedArrayBuffer when shared storage is on. */
export function allocFloat32(n: number): Float32Array {
  return shared ? new Float32Array(new SharedArrayBuffer(4 * n)) : new Float32Array(n);
}

/** True if the array lives in a SharedArrayBuffer, so worker threads can read and write it. */
export function isShared(x: ArrayBufferView): boolean {
  return typeof SharedArrayBuffer !== 'undefined' && x.buffer instanceof SharedArrayBuffer;
}
