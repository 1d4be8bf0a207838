// The wasm SIMD log-softmax and cross-entropy against their oracles, the js loops of
// kernels/fused.ts (checked against PyTorch through the ops and llama tests): the same calls
// under setBackend('wasm') and setBackend('js'), over random row counts and widths (1-wide, odd,
// around the four-vector step), values with −∞ (masked), magnitudes from 1 to 1e30, and targets
// with ignored rows.

import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { type Backend, getBackend, setBackend } from '../../src/backend.js';
import { caseArb, on, values } from './row-cases.js';
import { crossEntropyBackward, crossEntropyForward, logSoftmaxBackward, logSoftmaxForward } from '../../src/kernels/fused.js';


// The row maxima of x [rows, cols] from offset.
function rowMax(x: Float32Array, offset: number, rows: number, cols: number): number[] {
  return Array.from({ length: rows }, (_, r) => Math.max(...x.subarray(offset + r * cols, offset + (r + 1) * cols)));
}

// The errors are measured against each output's scale in float32 terms (what the wasm path rounds):
// log-softmax's forward |x| + |max| + 1 (the shift lse is rounded to float32 once, the sum of
// exps carries exp's relative error): about 1.3e-7 reached.
const FORWARD_TOLERANCE = 1e-6;
// log-softmax's backward: |g_j| + e^{y_j}·(1 + |y_j|·log₂e)·Σ|g| (exp's error grows with |y|, as in
// src/wasm/softmax.ts's exp4): about 1.1e-7 reached.
const BACKWARD_TOLERANCE = 1e-6;
// cross-entropy's lse and loss: 1 + |max|: about 4e-8 reached.
const LSE_TOLERANCE = 3e-7;
// cross-entropy's gradient: |scale|·p_j·(1 + |x_j − lse|·log₂e): about 3.4e-7 reached (the target's
// entry p·scale − scale rounds twice); and wasm's exp is
// 0 below −88.4 where the js kernel's is a subnormal float32, so |scale|·2⁻¹²⁶ more.
const CE_GRAD_TOLERANCE = 2e-6;
const SUBNORMAL_SLACK = 4 * 2 ** -149;

// eᵗ·(1 + |t|·log₂e), exp's error scale at t (0 at −∞)
function expErrorScale(t: number): number {
  return t === -Infinity ? 0 : Math.exp(t) * (1 + Math.abs(t) * Math.LOG2E);
}

describe('wasm log-softmax and cross-entropy kernels', () => {
  const before = getBackend();
  afterAll(() => setBackend(before));

  it('logSoftmaxForward in wasm equals the js kernel within float32 rounding, −∞ for −∞', () => {
    fc.assert(fc.property(caseArb, ({ rows, cols, offset, seed, negInf, scale }) => {
      const x = values(offset + rows * cols, seed, negInf, scale);
      const run = (b: Backend) => on(b, () => { const o = new Float32Array(rows * cols); logSoftmaxForward(o, x, offset, rows, cols); return o; });
      const [js, wasm] = [run('js'), run('wasm')];
      const max = rowMax(x, offset, rows, cols);
      for (let i = 0; i < js.length; i++) {
        if (Number.isNaN(js[i])) expect(wasm[i]).toBeNaN();
        else if (js[i] === -Infinity) expect(wasm[i]).toBe(-Infinity);
        else expect(Math.abs(wasm[i]! - js[i]!)).toBeLessThanOrEqual(FORWARD_TOLERANCE * (1 + Math.abs(x[offset + i]!) + Math.abs(max[Math.floor(i / cols)]!)));
      }
    }), { numRuns: 300 });
  });

  it('logSoftmaxBackward in wasm equals the js kernel within float32 rounding', () => {
    fc.assert(fc.property(caseArb, ({ rows, cols, offset, seed, negInf, scale }) => {
      const y = new Float32Array(rows * cols);
      on('js', () => logSoftmaxForward(y, values(rows * cols, seed, negInf, scale), 0, rows, cols));
      const g = values(offset + rows * cols, seed + 1, false, scale);
      const run = (b: Backend) => on(b, () => { const o = new Float32Array(rows * cols); logSoftmaxBackward(o, g, offset, y, rows, cols); return o; });
      const [js, wasm] = [run('js'), run('wasm')];
      for (let r = 0; r < rows; r++) {
        let sumAbs = 0;
        for (let j = 0; j < cols; j++) sumAbs += Math.abs(g[offset + r * cols + j]!);
        for (let j = 0; j < cols; j++) {
          const i = r * cols + j;
          if (Number.isNaN(js[i])) {
            expect(wasm[i]).toBeNaN();
            continue;
          }
          const bound = Math.abs(g[offset + i]!) + expErrorScale(y[i]!) * sumAbs;
          expect(Math.abs(wasm[i]! - js[i]!)).toBeLessThanOrEqual(BACKWARD_TOLERANCE * bound + SUBNORMAL_SLACK);
        }
      }
    }), { numRuns: 300 });
  });

  const ceArb = caseArb.chain((c) => fc.record({
    c: fc.constant(c),
    // a target per row: a class, or −100 (ignored)
    targets: fc.array(fc.oneof(fc.integer({ min: 0, max: c.cols - 1 }), fc.constant(-100)), { minLength: c.rows, maxLength: c.rows }),
    rowScale: fc.constantFrom(1, 1 / 7, 3e-3, 1e5),
  }));

  it('crossEntropyForward and crossEntropyBackward in wasm equal the js kernels within float32 rounding, ignored rows zero', () => {
    fc.assert(fc.property(ceArb, ({ c: { rows, cols, offset, seed, negInf, scale }, targets, rowScale }) => {
      // masked logits would make a target's loss infinite: −∞ only off the targets
      const x = values(offset + rows * cols, seed, negInf, scale);
      targets.forEach((t, r) => { if (t >= 0 && x[offset + r * cols + t] === -Infinity) x[offset + r * cols + t] = 0; });
      const target = Int32Array.from(targets);
      const fwd = (b: Backend) => on(b, () => {
        const loss = new Float64Array(rows);
        const lse = new Float64Array(rows);
        const counted = crossEntropyForward(loss, lse, x, offset, target, 0, rows, cols, -100);
        return { loss, lse, counted };
      });
      const [js, wasm] = [fwd('js'), fwd('wasm')];
      expect(wasm.counted).toBe(js.counted);
      const max = rowMax(x, offset, rows, cols);
      for (let r = 0; r < rows; r++) {
        const bound = LSE_TOLERANCE * (1 + Math.abs(max[r]!));
        if (Number.isNaN(js.lse[r])) expect(wasm.lse[r]).toBeNaN();
        else expect(Math.abs(wasm.lse[r]! - js.lse[r]!)).toBeLessThanOrEqual(bound);
        if (Number.isNaN(js.loss[r])) expect(wasm.loss[r]).toBeNaN();
        else expect(Math.abs(wasm.loss[r]! - js.loss[r]!)).toBeLessThanOrEqual(bound);
      }
      const s = Float64Array.from({ length: rows }, (_, r) => rowScale * (r % 2 === 0 ? 1 : -1));
      const bwd = (b: Backend) => on(b, () => {
        const dX = new Float32Array(rows * cols).fill(NaN); // every entry must be written
        crossEntropyBackward(dX, s, x, offset, target, 0, js.lse, rows, cols, -100);
        return dX;
      });
      const [dJs, dWasm] = [bwd('js'), bwd('wasm')];
      for (let r = 0; r < rows; r++) {
        for (let j = 0; j < cols; j++) {
          const i = r * cols + j;
          if (targets[r] === -100) {
            expect(dWasm[i]).toBe(0);
            continue;
          }
          if (Number.isNaN(dJs[i])) {
            expect(dWasm[i]).toBeNaN();
            continue;
          }
          const t = x[offset + i]! - js.lse[r]!;
          const bound = CE_GRAD_TOLERANCE * Math.abs(s[r]!) * expErrorScale(t);
          // plus one float32 ulp of the result: each side rounds its own p − 1 at the target
          // (p small: the difference is 2⁻²⁴ at |dX| ≈ 1 while p's error bound is far below it)
          const resultUlp = Math.abs(dJs[i]!) * 2 ** -23;
          expect(Math.abs(dWasm[i]! - dJs[i]!)).toBeLessThanOrEqual(bound + resultUlp + Math.abs(s[r]!) * 2 ** -126 + SUBNORMAL_SLACK);
        }
      }
    }), { numRuns: 300 });
  });

  it('crossEntropyForward in wasm reports the first row whose target is out of range, as the js kernel', () => {
    const x = values(12, 5, false);
    for (const backend of ['js', 'wasm'] as const) {
      const got = on(backend, () => crossEntropyForward(new Float64Array(3), new Float64Array(3), x, 0, Int32Array.from([1, -100, 4]), 0, 3, 4, -100));
      expect(got, backend).toBe(-3);
    }
  });
});
