// The fused attention with a key (padding) mask: against the composite definition, gradients by
// finite differences, rows that see no key, and bad masks.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Tensor, attention, grad, gradcheck, gradgradcheck, noGrad, tensor } from '../../src/index.js';
import { GRAD_RUNS, GRADGRAD_RUNS, buildTensor, numelOf, tensorOfShapeArb } from '../arbitraries.js';

// The definition with tensor ops: scores hidden by −∞ where a key lies in the future (causal) or
// where keyMask is 0. Only for masks that leave every query row at least one key.
function reference(q: Tensor, k: Tensor, v: Tensor, causal: boolean, keyMask: Tensor): Tensor {
  const Tq = q.shape[q.ndim - 2]!;
  const Tk = k.shape[k.ndim - 2]!;
  let scores = q.matmul(k.transpose(-2, -1)).mul(1 / Math.sqrt(q.shape[q.ndim - 1]!));
  if (causal) {
    const future = tensor(Int32Array.from({ length: Tq * Tk }, (_, at) => (at % Tk > Tk - Tq + Math.floor(at / Tk) ? 1 : 0)), { shape: [Tq, Tk] });
    scores = scores.maskedFill(future, -Infinity);
  }
  return scores.maskedFill(keyMask.eq(0).unsqueeze(-2), -Infinity).softmax(-1).matmul(v);
}

function maxAbsDiff(a: Tensor, b: Tensor): number {
  expect([...a.shape]).toEqual([...b.shape]);
  const x = a.toTypedArray();
  const y = b.toTypedArray();
  let worst = 0;
  for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i]! - y[i]!));
  return worst;
}

// True if every query row of every mask row sees at least one key.
function everyRowSeesAKey(mask: number[], rows: number, Tq: number, Tk: number, causal: boolean): boolean {
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < Tq; i++) {
      const limit = causal ? Tk - Tq + i + 1 : Tk;
      if (!mask.slice(r * Tk, r * Tk + limit).some((m) => m === 1)) return false;
    }
  }
  return true;
}

interface MaskCase { q: Tensor; k: Tensor; v: Tensor; mask: Tensor; causal: boolean }

// q [B, H, Tq, D], k and v [B, 1, Tk, D] (grouped heads), mask [B, 1, Tk] of random zeros and
// ones (int32, or float64 when asFloat), any layout of q, k and v.
const maskCaseArb = (maxT: number, seesAKey: boolean) => fc.record({
  B: fc.integer({ min: 1, max: 3 }), H: fc.integer({ min: 1, max: 3 }),
  Tq: fc.integer({ min: 1, max: maxT }), extra: fc.integer({ min: 0, max: 3 }),
  D: fc.integer({ min: 1, max: 4 }), causal: fc.boolean(), asFloat: fc.boolean(),
}).chain((c) => {
  const Tk = c.Tq + c.extra;
  return fc.tuple(
    tensorOfShapeArb([c.B, c.H, c.Tq, c.D]), tensorOfShapeArb([c.B, 1, Tk, c.D]), tensorOfShapeArb([c.B, 1, Tk, c.D]),
    fc.array(fc.constantFrom(0, 1), { minLength: c.B * Tk, maxLength: c.B * Tk }),
  ).filter(([, , , m]) => !seesAKey || everyRowSeesAKey(m, c.B, c.Tq, Tk, c.causal))
    .map(([q, k, v, m]): MaskCase => ({
      q, k, v, causal: c.causal,
      mask: tensor(m, { shape: [c.B, 1, Tk], dtype: c.asFloat ? 'float64' : 'int32' }),
    }));
});

describe('attention with a key mask: the fused kernel equals the definition', () => {
  it('outputs and gradients agree with the −∞-masked composite to 1e-12 in float64', () => {
    fc.assert(fc.property(maskCaseArb(5, true), fc.nat(), (c, seed) => {
      const fast = attention(c.q, c.k, c.v, { causal: c.causal, keyMask: c.mask });
      const slow = reference(c.q, c.k, c.v, c.causal, c.mask);
      if (maxAbsDiff(fast, slow) > 1e-12) return false;
      const g = buildTensor(fast.shape, 'contiguous', Array.from({ length: fast.numel }, (_, i) => Math.sin(seed + i)), false);
      const gf = grad(fast, [c.q, c.k, c.v], { gradOutputs: [g] });
      const gs = grad(slow, [c.q, c.k, c.v], { gradOutputs: [g] });
      return gf.every((t, i) => maxAbsDiff(t, gs[i]!) < 1e-12);
    }), { numRuns: 100 });
  });

  it('agrees past one 32-row block (Tq up to 75) with left padding, in float64', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 75 }), fc.integer({ min: 0, max: 9 }), fc.nat(), (Tq, extra, seed) => {
      const Tk = Tq + extra;
      const pads = [seed % Tk, 0]; // row 0 left-padded, row 1 not
      const mask = tensor(Array.from({ length: 2 * Tk }, (_, at) => (at % Tk >= pads[Math.floor(at / Tk)]! ? 1 : 0)), { shape: [2, 1, Tk], dtype: 'int32' });
      const leaf = (shape: number[], salt: number) => buildTensor(shape, 'contiguous', Array.from({ length: numelOf(shape) }, (_, i) => Math.sin(seed + salt + 1.7 * i)));
      const q = leaf([2, 2, Tq, 3], 1);
      const k = leaf([2, 1, Tk, 3], 2);
      const v = leaf([2, 1, Tk, 4], 3);
      // causal over left padding leaves the first query rows of row 0 without keys: compare the others
      const fast = attention(q, k, v, { keyMask: mask });
      const slow = reference(q, k, v, false, mask);
      const gf = grad(fast.square().sum(), [q, k, v]);
      const gs = grad(slow.square().sum(), [q, k, v]);
      return maxAbsDiff(fast, slow) < 1e-12 && gf.every((t, i) => maxAbsDiff(t, gs[i]!) < 1e-11);
    }), { numRuns: 20 });
  });

  it('gives the same values with and without recording a graph, and through the composite backward (createGraph)', () => {
    fc.assert(fc.property(maskCaseArb(5, false), (c) => {
      const recorded = attention(c.q, c.k, c.v, { causal: c.causal, keyMask: c.mask });
      const plain = noGrad(() => attention(c.q, c.k, c.v, { causal: c.causal, keyMask: c.mask }));
      if (maxAbsDiff(recorded, plain) !== 0) return false;
      // first derivatives from the fused and from the composite backward agree, rows without keys
      // included (a weighted sum, so that those rows receive a nonzero output gradient)
      const w = buildTensor(recorded.shape, 'contiguous', Array.from({ length: recorded.numel }, (_, i) => Math.cos(1 + i)), false);
      const fused = grad(recorded.mul(w).sum(), [c.q, c.k, c.v], { retainGraph: true });
      const composite = grad(recorded.mul(w).sum(), [c.q, c.k, c.v], { createGraph: true });
      return fused.every((t, i) => maxAbsDiff(t, composite[i]!) < 1e-12 && t.toTypedArray().every(Number.isFinite));
    }), { numRuns: 40 });
  });
});

describe('attention with a key mask: gradients', () => {
  it('matches finite differences (gradcheck, float64), rows without keys included', () => {
    fc.assert(fc.property(maskCaseArb(4, false), (c) => gradcheck((q, k, v) => attention(q, k, v, { causal: c.causal, keyMask: c.mask }), [c.q, c.k, c.v])), { numRuns: GRAD_RUNS });
  });

  it('has correct second derivatives (gradgradcheck), rows without keys included', () => {
    fc.assert(fc.property(maskCaseArb(3, false), (c) => gradgradcheck((q, k, v) => attention(q, k, v, { causal: c.causal, keyMask: c.mask }), [c.q, c.k, c.v])), { numRuns: GRADGRAD_RUNS });
  });

  it('never reads a masked key: changing its k or v changes nothing, and its gradients are exactly zero', () => {
    const values = (n: number, salt: number) => Array.from({ length: n }, (_, i) => Math.cos(salt + 0.9 * i));
    const mask = tensor([[1, 0, 1, 1, 0]], { dtype: 'int32' }); // [1, 5]: keys 1 and 4 are padding
    const q = buildTensor([1, 3, 2], 'contiguous', values(6, 1));
    const k = buildTensor([1, 5, 2], 'contiguous', values(10, 2));
    const v = buildTensor([1, 5, 3], 'contiguous', values(15, 3));
    const out = attention(q, k, v, { keyMask: mask });
    const changed = (t: Tensor) => {
      const data = t.toTypedArray().slice();
      const width = t.shape[2]!;
      for (const key of [1, 4]) for (let d = 0; d < width; d++) data[key * width + d] = 1e3 * (d + 1);
      return buildTensor(t.shape, 'contiguous', Array.from(data), false);
    };
    expect(maxAbsDiff(attention(q, changed(k), changed(v), { keyMask: mask }), out)).toBe(0);
    const [dk, dv] = grad(out.square().sum(), [k, v]);
    for (const t of [dk!, dv!]) {
      const rows = t.toArray() as number[][][];
      expect(rows[0]![1]!.every((x) => x === 0) && rows[0]![4]!.every((x) => x === 0)).toBe(true);
      expect(rows[0]![0]!.some((x) => x !== 0)).toBe(true);
    }
  });

  it('gives a query row that sees no key a zero output and zero gradients, never NaN', () => {
    // causal over left padding: the first two query rows see only padded keys
    const mask = tensor([[0, 0, 1, 1]], { dtype: 'int32' });
    const q = buildTensor([1, 4, 2], 'contiguous', [0.3, -0.2, 0.5, 0.1, -0.4, 0.6, 0.2, 0.7]);
    const k = buildTensor([1, 4, 2], 'contiguous', [0.1, 0.9, -0.3, 0.4, 0.8, -0.5, 0.2, 0.6]);
    const v = buildTensor([1, 4, 2], 'contiguous', [1, 2, 3, 4, 5, 6, 7, 8]);
    const out = attention(q, k, v, { causal: true, keyMask: mask });
    const rows = out.toArray() as number[][][];
    expect(rows[0]!.slice(0, 2)).toEqual([[0, 0], [0, 0]]);
    expect(rows[0]![2]).toEqual([5, 6]); // row 2 sees only key 2
    const [dq, dk, dv] = grad(out.sum(), [q, k, v]);
    expect((dq!.toArray() as number[][][])[0]!.slice(0, 2)).toEqual([[0, 0], [0, 0]]);
    for (const t of [dq!, dk!, dv!]) expect(t.toTypedArray().every(Number.isFinite)).toBe(true);
  });
});

describe('attention with a key mask: bad masks', () => {
  const x = tensor([[[1, 2], [3, 4], [5, 6]]]); // [1, 3, 2]
  it('names the shape when the mask does not end in Tk or does not broadcast', () => {
    expect(() => attention(x, x, x, { keyMask: tensor([[1, 1]], { dtype: 'int32' }) })).toThrow('attention: keyMask must be [..., Tk] with Tk = 3 keys, got [1, 2]');
    const x2 = x.expand([2, 3, 2]);
    expect(() => attention(x2, x2, x2, { keyMask: tensor([[1, 1, 1], [1, 0, 1], [0, 1, 1]], { dtype: 'int32' }) })).toThrow('attention: keyMask [3, 3]: its leading dims [3] do not broadcast against the batch dims [2] of q, k and v');
  });

  it('names the value and where it is when the mask holds anything but 0 and 1', () => {
    expect(() => attention(x, x, x, { keyMask: tensor([[1, 2, 1]], { dtype: 'int32' }) })).toThrow('attention: keyMask must hold only 0 (padding) and 1 (token), got 2 at flat index 1 of [1, 3]');
    expect(() => attention(x, x, x, { keyMask: tensor([[1, 1, 0.5]], { dtype: 'float64' }) })).toThrow('got 0.5 at flat index 2');
    expect(() => attention(x, x, x, { keyMask: tensor([[1, NaN, 1]], { dtype: 'float64' }) })).toThrow('got NaN at flat index 1');
  });
});
