// The wasm SIMD softmax against its oracle, the js loops of kernels/fused.ts (checked against
// PyTorch through the ops tests): the same calls under setBackend('wasm') and setBackend('js'),
// over random row counts and widths (1-wide, odd, not a multiple of four, more than one step of
// the four-vector loops), values with −∞ (masked), and magnitudes from 1 to 1e30.

import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { getBackend, setBackend } from '../../src/backend.js';
import { caseArb, on, values } from './row-cases.js';
import { softmaxBackward, softmaxForward } from '../../src/kernels/fused.js';


// The js kernel computes in doubles and rounds each output once; wasm computes exp in float32
// from t = (x − max)·log₂e, itself rounded, so its relative error grows with |t| (see exp4 in
// src/wasm/softmax.ts). Measured as |wasm − js| / (js·(1 + |t|)): about 3e-7 reached.
const FORWARD_TOLERANCE = 1e-6;
// wasm gives 0 where x − max < −88.4 and the js kernel a float32 subnormal: within the smallest normal.
const SMALLEST_NORMAL = 2 ** -126;
// The backward's error relative to its scale |y_j|·(|g_j| + Σ|g·y|): about 2.3e-7 reached, and
// where dX is subnormal (y below 2⁻¹²⁶) a few of the 2⁻¹⁴⁹ steps subnormals have.
const BACKWARD_TOLERANCE = 1e-6;
const SUBNORMAL_SLACK = 4 * 2 ** -149;

describe('wasm softmax kernels', () => {
  const before = getBackend();
  afterAll(() => setBackend(before));

  it('softmaxForward in wasm equals the js kernel within float32 rounding, zeros for −∞ exactly', () => {
    fc.assert(fc.property(caseArb, ({ rows, cols, offset, seed, negInf, scale }) => {
      const x = values(offset + rows * cols, seed, negInf, scale);
      const js = on('js', () => { const o = new Float32Array(rows * cols); softmaxForward(o, x, offset, rows, cols); return o; });
      const wasm = on('wasm', () => { const o = new Float32Array(rows * cols); softmaxForward(o, x, offset, rows, cols); return o; });
      for (let r = 0; r < rows; r++) {
        let max = -Infinity;
        for (let j = 0; j < cols; j++) max = Math.max(max, x[offset + r * cols + j]!);
        for (let j = 0; j < cols; j++) {
          const i = r * cols + j;
          // (a row of −∞ only is NaN on both)
          if (Number.isNaN(js[i])) expect(wasm[i]).toBeNaN();
          else if (x[offset + i] === -Infinity) expect(wasm[i]).toBe(0);
          else {
            const t = Math.abs(x[offset + i]! - max) * Math.LOG2E;
            expect(Math.abs(wasm[i]! - js[i]!)).toBeLessThanOrEqual(FORWARD_TOLERANCE * js[i]! * (1 + t) + SMALLEST_NORMAL);
          }
        }
      }
    }), { numRuns: 300 });
  });

  it('softmaxBackward in wasm equals the js kernel within float32 rounding', () => {
    fc.assert(fc.property(caseArb, ({ rows, cols, offset, seed, negInf, scale }) => {
      const y = new Float32Array(rows * cols);
      on('js', () => softmaxForward(y, values(rows * cols, seed, negInf, scale), 0, rows, cols));
      const g = values(offset + rows * cols, seed + 1, false, scale);
      const js = on('js', () => { const o = new Float32Array(rows * cols); softmaxBackward(o, g, offset, y, rows, cols); return o; });
      const wasm = on('wasm', () => { const o = new Float32Array(rows * cols); softmaxBackward(o, g, offset, y, rows, cols); return o; });
      for (let r = 0; r < rows; r++) {
        let dot = 0;
        for (let j = 0; j < cols; j++) dot += Math.abs(g[offset + r * cols + j]! * y[r * cols + j]!);
        for (let j = 0; j < cols; j++) {
          const i = r * cols + j;
          if (Number.isNaN(js[i])) {
            expect(wasm[i]).toBeNaN();
            continue;
          }
          const scale = Math.abs(y[i]!) * (Math.abs(g[offset + i]!) + dot);
          expect(Math.abs(wasm[i]! - js[i]!)).toBeLessThanOrEqual(BACKWARD_TOLERANCE * scale + SUBNORMAL_SLACK);
        }
      }
    }), { numRuns: 200 });
  });

  it('softmaxForward in wasm is right where x·log₂e falls exactly halfway between integers (exp rounds n to even twice)', () => {
    // exp takes n = round(t) off t = (x − max)·log₂e with f32x4.nearest and builds 2ⁿ from the
    // bits of t + 1.5·2²³ + 128: both must round halves the same way, or 2ⁿ is off by a factor 2.
    // Rows [0, d] with float32 d whose t is exactly −(k + ½), k = 0 … 125.
    const log2e = Math.fround(Math.LOG2E);
    const ds: number[] = [];
    for (let k = 0; k <= 125; k++) {
      let d = Math.fround(-(k + 0.5) / log2e);
      // step d through neighbouring floats until its product with log₂e rounds to the half
      for (let step = 0; step < 64 && Math.fround(d * log2e) !== -(k + 0.5); step++) {
        d = Math.fround(d + (Math.fround(d * log2e) > -(k + 0.5) ? -1 : 1) * Math.abs(d) * 2 ** -24);
      }
      if (Math.fround(d * log2e) === -(k + 0.5)) ds.push(d);
    }
    expect(ds.length).toBeGreaterThan(100);
    const x = new Float32Array(ds.flatMap((d) => [0, d]));
    const js = on('js', () => { const o = new Float32Array(x.length); softmaxForward(o, x, 0, ds.length, 2); return o; });
    const wasm = on('wasm', () => { const o = new Float32Array(x.length); softmaxForward(o, x, 0, ds.length, 2); return o; });
    for (let i = 0; i < x.length; i++) {
      const t = Math.abs(x[i]!) * Math.LOG2E;
      expect(Math.abs(wasm[i]! - js[i]!)).toBeLessThanOrEqual(FORWARD_TOLERANCE * js[i]! * (1 + t) + SMALLEST_NORMAL);
    }
  });

  it('an all −∞ row gives NaN on both backends, and NaN inputs stay NaN', () => {
    const x = new Float32Array([-Infinity, -Infinity, -Infinity, 0, NaN, 1]);
    for (const backend of ['js', 'wasm'] as const) {
      const o = on(backend, () => { const out = new Float32Array(6); softmaxForward(out, x, 0, 2, 3); return out; });
      expect(Array.from(o).every(Number.isNaN), backend).toBe(true);
    }
  });
});
