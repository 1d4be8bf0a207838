// The wasm SIMD RMSNorm forward and backward against their oracles, the js loops of
// kernels/fused.ts: the same calls under setBackend('wasm') and setBackend('js'), over random row
// counts (the backward's across its 64-row staging blocks), widths (1-wide, odd, not a multiple
// of four), offsets and scales of x.

import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { getBackend, setBackend } from '../../src/backend.js';
import { rmsNormBackward, rmsNormForward } from '../../src/kernels/fused.js';
import { ulpDistance } from './ulps.js';

function values(n: number, seed: number, scale: number): Float32Array {
  const x = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    x[i] = ((s / 2 ** 32) * 2 - 1) * scale;
  }
  return x;
}

// The js loop sums x² in doubles; wasm in float32, four lanes: about 5e-7 relative reached on
// the output and on rstd.
const TOLERANCE = 3e-6;

describe('wasm RMSNorm kernel', () => {
  const before = getBackend();
  afterAll(() => setBackend(before));

  it('rmsNormForward in wasm equals the js kernel within float32 rounding, output and rstd', () => {
    const arb = fc.record({
      rows: fc.integer({ min: 1, max: 9 }), cols: fc.oneof(fc.integer({ min: 1, max: 300 }), fc.constantFrom(1, 3, 4, 5)),
      xOff: fc.integer({ min: 0, max: 5 }), wOff: fc.integer({ min: 0, max: 3 }), seed: fc.integer({ min: 1, max: 2 ** 30 }),
      scale: fc.constantFrom(1e-3, 1, 50), eps: fc.constantFrom(1e-6, 1e-5),
    });
    fc.assert(fc.property(arb, ({ rows, cols, xOff, wOff, seed, scale, eps }) => {
      const x = values(xOff + rows * cols, seed, scale), w = values(wOff + cols, seed + 1, 2);
      const run = (backend: 'js' | 'wasm') => {
        setBackend(backend);
        const out = new Float32Array(rows * cols), rstd = new Float64Array(rows);
        rmsNormForward(out, rstd, x, xOff, w, wOff, rows, cols, eps);
        return { out, rstd };
      };
      const js = run('js'), wasm = run('wasm');
      for (let r = 0; r < rows; r++) {
        expect(Math.abs(wasm.rstd[r]! - js.rstd[r]!) / js.rstd[r]!).toBeLessThanOrEqual(TOLERANCE);
        for (let j = 0; j < cols; j++) {
          const i = r * cols + j;
          // relative to |x·rstd·w| (an output near zero is judged by its inputs' scale)
          const scaleOf = Math.abs(x[xOff + i]! * js.rstd[r]! * w[wOff + j]!);
          expect(Math.abs(wasm.out[i]! - js.out[i]!)).toBeLessThanOrEqual(TOLERANCE * scaleOf + 1e-30);
        }
      }
    }), { numRuns: 200 });
  });

  // The backward in wasm computes in float64 as the js loop does; only the row's dot product is
  // summed in another order (two lanes), so dX may round differently on a near-tie, dW never.
  // Measured over 1.9 million values: no dX differed. Allowed: one ulp on at most two per case.
  it('rmsNormBackward in wasm: the accumulated dW equals the js kernel bit for bit, dX up to rare one-ulp roundings, also for huge x and dOut', () => {
    const arb = fc.record({
      rows: fc.oneof(fc.integer({ min: 1, max: 9 }), fc.constantFrom(64, 65, 130)), cols: fc.oneof(fc.integer({ min: 1, max: 300 }), fc.constantFrom(1, 3, 4, 5, 256)),
      xOff: fc.integer({ min: 0, max: 5 }), wOff: fc.integer({ min: 0, max: 3 }), gOff: fc.integer({ min: 0, max: 3 }),
      // 1e18 and 1e20: activations and gradients of a diverging run, where rstd³ would underflow
      // and Σ dOut·w·x overflow in float32 (the kernel keeps them in doubles, as the js loop)
      seed: fc.integer({ min: 1, max: 2 ** 30 }), scale: fc.constantFrom(1e-3, 1, 50, 1e18), gScale: fc.constantFrom(1, 1e20),
    });
    fc.assert(fc.property(arb, ({ rows, cols, xOff, wOff, gOff, seed, scale, gScale }) => {
      const x = values(xOff + rows * cols, seed, scale), w = values(wOff + cols, seed + 1, 2), g = values(gOff + rows * cols, seed + 2, gScale);
      const rstd = new Float64Array(rows);
      for (let r = 0; r < rows; r++) {
        let ss = 0;
        for (let j = 0; j < cols; j++) ss += x[xOff + r * cols + j]! ** 2;
        rstd[r] = 1 / Math.sqrt(ss / cols + 1e-6);
      }
      const dW0 = Float64Array.from(values(cols, seed + 3, 1)); // dW is added into
      const run = (backend: 'js' | 'wasm') => {
        setBackend(backend);
        const dX = new Float32Array(rows * cols), dW = Float64Array.from(dW0);
        rmsNormBackward(dX, dW, g, gOff, x, xOff, w, wOff, rstd, rows, cols);
        return { dX, dW };
      };
      const js = run('js'), wasm = run('wasm');
      expect(wasm.dW).toEqual(js.dW);
      const { most, differing } = ulpDistance(wasm.dX, js.dX);
      expect(most).toBeLessThanOrEqual(1);
      expect(differing).toBeLessThanOrEqual(2);
    }), { numRuns: 150 });
  });
});
