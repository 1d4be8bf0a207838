// Large inputs (issue 16, item 14): softmax, logSoftmax, crossEntropy and attention must subtract the
// row maximum before exponentiating, or e^1000 overflows to Infinity and the result is NaN. Inputs
// around ±1e4 (softmax) and scores and logits around ±1e3 are checked, values and gradients, against
// the stable formulas written out here in float64.

import { describe, expect, it } from 'vitest';
import { type Tensor, attention, crossEntropy, grad, logSoftmax, softmax, tensor } from '../../src/index.js';

// Deterministic values in (−1, 1).
function noise(n: number, seed: number): number[] {
  let s = seed >>> 0;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32 - 0.5) * 2;
  });
}

// Rows of `cols` values: each row around its own large centre, spread by ±spread.
function rowsAround(centres: number[], cols: number, spread: number, seed: number): number[][] {
  const n = noise(centres.length * cols, seed);
  return centres.map((c, r) => Array.from({ length: cols }, (_, j) => c + spread * n[r * cols + j]!));
}

// The stable formulas, in float64, on plain arrays.
// (x − m) is exact for x near m, so subtracting log Σ last is more accurate than x − lse
function refLogSoftmax(row: number[]): number[] {
  const m = Math.max(...row);
  const logSum = Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0));
  return row.map((v) => (v - m) - logSum);
}
function refSoftmax(row: number[]): number[] {
  const m = Math.max(...row);
  const e = row.map((v) => Math.exp(v - m));
  const sum = e.reduce((s, v) => s + v, 0);
  return e.map((v) => v / sum);
}

function maxAbsDiff(a: number[], b: number[]): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(a[i]!)) return Infinity;
    worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  }
  return worst;
}
const flat = (rows: number[][]) => rows.flat();

describe('large inputs', () => {
  // ±1e4 with a spread of 10: the probabilities are far from uniform yet e^x overflows without the max
  const rows = rowsAround([1e4, -1e4, 3e4, 0.5], 6, 10, 1);
  const g = rowsAround([0, 0, 0, 0], 6, 1, 2);

  it('softmax of inputs around ±1e4 equals the stable formula, and so does its gradient', () => {
    const x = tensor(rows, { dtype: 'float64', requiresGrad: true });
    const y = softmax(x, -1);
    const expected = rows.map(refSoftmax);
    expect(maxAbsDiff(Array.from(y.toTypedArray()), flat(expected))).toBeLessThan(2e-18); // reached: 2.2e-19
    // dx = y ⊙ (g − Σ g ⊙ y)
    const dx = rows.map((_, r) => {
      const p = expected[r]!;
      const dot = p.reduce((s, v, j) => s + v * g[r]![j]!, 0);
      return p.map((v, j) => v * (g[r]![j]! - dot));
    });
    const [got] = grad(y, x, { gradOutputs: [tensor(g, { dtype: 'float64' })] });
    expect(maxAbsDiff(Array.from(got!.toTypedArray()), flat(dx))).toBeLessThan(2e-18); // reached: 2.2e-19
  });

  it('softmax of float32 inputs around 1e4 is finite and equals the stable formula on the rounded inputs', () => {
    const x = tensor(rows);
    const rounded = x.toArray() as number[][];
    const y = Array.from(softmax(x, -1).toTypedArray());
    expect(maxAbsDiff(y, flat(rounded.map(refSoftmax)))).toBeLessThan(1e-7); // reached: 1.3e-8 (float32 output)
  });

  it('logSoftmax of inputs around ±1e4 equals the stable formula, and so does its gradient', () => {
    const x = tensor(rows, { dtype: 'float64', requiresGrad: true });
    const y = logSoftmax(x, -1);
    const expected = rows.map(refLogSoftmax);
    // x − lse subtracts numbers near 1e4, resolved to about 1e4·2^-53 = 1e-12 in float64
    expect(maxAbsDiff(Array.from(y.toTypedArray()), flat(expected))).toBeLessThan(5e-12); // reached: 8e-13
    // dx = g − softmax(x)·Σ g
    const dx = rows.map((_, r) => {
      const sum = g[r]!.reduce((s, v) => s + v, 0);
      return refSoftmax(rows[r]!).map((p, j) => g[r]![j]! - p * sum);
    });
    const [got] = grad(y, x, { gradOutputs: [tensor(g, { dtype: 'float64' })] });
    expect(maxAbsDiff(Array.from(got!.toTypedArray()), flat(dx))).toBeLessThan(5e-12); // reached: 5.3e-13 (exp of the output above)
  });

  it('crossEntropy of logits around ±1e3 equals lse − logit[target], with gradient (softmax − onehot)/N', () => {
    // one row high, one low, one mixing +1e3 and −1e3, one ordinary
    const logits = [...rowsAround([1e3, -1e3], 5, 5, 3), [1e3, -1e3, 999, -999, 1e3 - 2], [0.1, -0.2, 0.3, 0, 0.5]];
    const targets = [1, 4, 2, 0];
    const x = tensor(logits, { dtype: 'float64', requiresGrad: true });
    const loss = crossEntropy(x, tensor(targets, { dtype: 'int32' }));
    const perRow = logits.map((row, r) => -refLogSoftmax(row)[targets[r]!]!);
    const expected = perRow.reduce((a, b) => a + b, 0) / 4;
    expect(Number.isFinite(loss.item())).toBe(true);
    expect(Math.abs(loss.item() - expected)).toBeLessThan(5e-14); // reached: 8.9e-15 (lse ≈ 1e3 carries 1e3·2^-53)
    loss.backward();
    const dx = logits.map((row, r) => refSoftmax(row).map((p, j) => (p - (j === targets[r] ? 1 : 0)) / 4));
    expect(maxAbsDiff(Array.from(x.grad!.toTypedArray()), flat(dx))).toBeLessThan(5e-14); // reached: 8e-15
    const none = crossEntropy(tensor(logits, { dtype: 'float64' }), tensor(targets, { dtype: 'int32' }), { reduction: 'none' });
    expect(maxAbsDiff(Array.from(none.toTypedArray()), perRow)).toBeLessThan(2e-13); // reached: 4.8e-14
  });

  it('attention with scores around ±1e3 equals softmax(q·kᵀ·scale)·v written out, causal or not, and so do its gradients', () => {
    const [Tq, Tk, D] = [3, 4, 4];
    const scale = 0.5;
    // q·kᵀ·scale ≈ ±0.5·4·50·10 = ±1000 (query rows of either sign), varying by a few units from
    // key to key, so the probabilities are spread and every gradient is far from zero
    const q = noise(Tq * D, 4).map((v, n) => (Math.floor(n / D) === 1 ? -50 : 50) + v);
    const k = noise(Tk * D, 5).map((v) => 10 + 0.1 * v);
    const v = noise(Tk * D, 6);
    const go = noise(Tq * D, 7);
    for (const causal of [false, true]) {
      // the reference: scores, stable softmax, probabilities times v; gradients by the chain rule
      const S = Array.from({ length: Tq }, (_, i) => Array.from({ length: Tk }, (_, j) => {
        let s = 0;
        for (let d = 0; d < D; d++) s += q[i * D + d]! * k[j * D + d]!;
        return s * scale;
      }));
      const visible = (i: number, j: number) => !causal || j <= Tk - Tq + i;
      const P = S.map((row, i) => refSoftmax(row.filter((_, j) => visible(i, j))).concat(new Array(row.filter((_, j) => !visible(i, j)).length).fill(0)));
      expect(Math.min(...S.flat().map(Math.abs))).toBeGreaterThan(900);
      const out = P.map((row) => Array.from({ length: D }, (_, d) => row.reduce((s, p, j) => s + p * v[j * D + d]!, 0)));
      const dP = P.map((_, i) => Array.from({ length: Tk }, (_, j) => {
        let s = 0;
        for (let d = 0; d < D; d++) s += go[i * D + d]! * v[j * D + d]!;
        return s;
      }));
      const dS = P.map((row, i) => {
        const dot = row.reduce((s, p, j) => s + p * dP[i]![j]!, 0);
        return row.map((p, j) => p * (dP[i]![j]! - dot) * scale);
      });
      const dq = Array.from({ length: Tq * D }, (_, n) => dS[Math.floor(n / D)]!.reduce((s, x, j) => s + x * k[j * D + (n % D)]!, 0));
      const dk = Array.from({ length: Tk * D }, (_, n) => dS.reduce((s, row, i) => s + row[Math.floor(n / D)]! * q[i * D + (n % D)]!, 0));
      const dv = Array.from({ length: Tk * D }, (_, n) => P.reduce((s, row, i) => s + row[Math.floor(n / D)]! * go[i * D + (n % D)]!, 0));

      const [tq, tk, tv] = [[q, Tq], [k, Tk], [v, Tk]].map(([data, T]) =>
        tensor(data as number[], { shape: [1, T as number, D], dtype: 'float64', requiresGrad: true }));
      const y = attention(tq!, tk!, tv!, { causal, scale });
      // relative to the largest element. The output sums in the kernel's order (reached: 0). The
      // backward recomputes the probabilities as exp(s − lse) from the saved log-sum-exp, and s ≈ 1e3
      // carries 1e3·2^-53 absolute, so the gradients reach 4.9e-14 (dk, dv) and 1.1e-11 (dq, whose
      // dS = P·(dP − Σ P·dP) cancels); without the max subtraction they are NaN
      const relative = (t: Tensor, ref: number[]) => maxAbsDiff(Array.from(t.toTypedArray()), ref) / Math.max(...ref.map(Math.abs));
      expect(relative(y, flat(out)), `out, causal ${causal}`).toBeLessThan(1e-15);
      y.backward(tensor(go, { shape: [1, Tq, D], dtype: 'float64' }));
      expect(relative(tq!.grad!, dq), `dq, causal ${causal}`).toBeLessThan(1e-10);
      expect(relative(tk!.grad!, dk), `dk, causal ${causal}`).toBeLessThan(5e-13);
      expect(relative(tv!.grad!, dv), `dv, causal ${causal}`).toBeLessThan(5e-13);
    }
  });
});
