// Shared by the softmax and log-softmax/cross-entropy wasm kernel tests: running a kernel on one
// backend, the row cases (widths around the 4-lane vectors, offsets, −∞ entries, huge scales) and
// their seeded values.
import fc from 'fast-check';
import { type Backend, setBackend } from '../../src/backend.js';

/** Runs f with the given kernels backend selected. */
export function on<T>(backend: Backend, f: () => T): T {
  setBackend(backend);
  return f();
}

/** A row case: rows × cols from an offset, a seed, −∞ entries or not, a half-width for the values. */
export const caseArb = fc.record({
  rows: fc.integer({ min: 1, max: 9 }),
  cols: fc.oneof(fc.integer({ min: 1, max: 300 }), fc.constantFrom(1, 2, 3, 4, 5, 8, 15, 16, 17, 20)),
  offset: fc.integer({ min: 0, max: 5 }),
  seed: fc.integer({ min: 1, max: 2 ** 30 }),
  negInf: fc.boolean(),
  // half-width of the values: the usual logits, the whole range exp covers, and far beyond it
  scale: fc.constantFrom(15, 15, 60, 1e4, 1e30),
});

/** Values in [−scale, scale), and with negInf every seventh one −∞ (a masked score or logit). */
export function values(n: number, seed: number, negInf: boolean, scale = 15): Float32Array {
  const x = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    x[i] = negInf && i % 7 === 3 ? -Infinity : ((s / 2 ** 32) * 2 - 1) * scale;
  }
  return x;
}
