// The wasm SIMD attention (wasm/attention.ts) against its oracle, the js kernel of
// kernels/attention.ts (checked against the composite definition and finite differences by the
// ops tests): the same calls under setBackend('js') and setBackend('wasm'). Odd and non-multiple-
// of-four sizes, causal or not, key masks with rows that see no key, strided operands, Tq ≠ Tk
// (a KV cache: one query row against many keys), grouped-query heads through the op.

import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { type Backend, getBackend, setBackend } from '../../src/backend.js';
import { type KeyMask, type StridedMatrix, attentionBackward, attentionForward, attentionPlan } from '../../src/kernels/attention.js';
import { attention } from '../../src/ops/attention.js';
import { Tensor } from '../../src/tensor.js';

function on<T>(backend: Backend, f: () => T): T {
  setBackend(backend);
  return f();
}

// values in [−2, 2) from a seed
function values(n: number, seed: number): Float32Array {
  const x = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    x[i] = (s / 2 ** 32) * 4 - 2;
  }
  return x;
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

// max |a − b| / scale (default max |a|), 0 when a and b are equal (a gradient of zeros: every key masked)
function normwiseError(a: ArrayLike<number>, b: ArrayLike<number>, scale = maxAbs(a)): number {
  const d = maxDiff(a, b);
  return d === 0 ? 0 : d / scale;
}

// Both kernels round each score to float32 (js after summing in doubles, wasm as it sums), so a
// score of size |s| carries an error of about eps·|s|, and every probability with it. The errors
// are therefore measured against 1 + the largest possible |score|, scale·max|q|·max|k|·D (inputs
// in [−2, 2)): the output's against the size of v's entries (it is a convex combination of v's
// rows), the gradients' normwise (max |diff| over max |js|), the log-sum-exp's absolute.
// Reached over 6000 random slices: 1.0e-7 (out), 2.2e-7 (gradients), 1.1e-7 (log-sum-exp);
// through the op (3000 cases, the default scale): 3.6e-8 (out), 1.1e-6 (gradients: k's, summed
// over grouped heads, cancels more). The tolerances are 4.5–7× those.
const OUT_TOLERANCE = 5e-7;
const GRAD_TOLERANCE = 1e-6;
const LSE_TOLERANCE = 5e-7;
const OP_OUT_TOLERANCE = 2.5e-7;
const OP_GRAD_TOLERANCE = 5e-6;

// One slice: q [Tq, D] (read transposed from a [D, Tq] array when qTransposed: column stride ≠ 1),
// k [Tk, D] and v [Tk, Dv] as rows of a larger buffer (a KV cache's view), an optional key mask.
const sliceArb = fc.record({
  Tq: fc.integer({ min: 1, max: 40 }),
  extra: fc.oneof(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 70 })),
  D: fc.oneof(fc.integer({ min: 1, max: 9 }), fc.constantFrom(16, 31, 32, 33)),
  Dv: fc.oneof(fc.integer({ min: 1, max: 9 }), fc.constantFrom(16, 32, 37)),
  causal: fc.boolean(),
  scale: fc.double({ min: 0.05, max: 2, noNaN: true }),
  masked: fc.boolean(),
  maskSeed: fc.integer({ min: 1, max: 2 ** 30 }),
  qTransposed: fc.boolean(),
  seed: fc.integer({ min: 1, max: 2 ** 30 }),
});

type SliceCase = typeof sliceArb extends fc.Arbitrary<infer C> ? C : never;

function sliceOperands(c: SliceCase) {
  const Tk = c.Tq + c.extra;
  const { D, Dv } = c;
  const spare = 3; // the buffers are longer than the slice, which starts at an offset
  const q: StridedMatrix = c.qTransposed
    ? { data: values(spare + D * c.Tq, c.seed), offset: spare, rowStride: 1, colStride: c.Tq }
    : { data: values(spare + c.Tq * D, c.seed), offset: spare, rowStride: D, colStride: 1 };
  const k: StridedMatrix = { data: values(spare + (Tk + 2) * D, c.seed + 1), offset: spare, rowStride: D, colStride: 1 };
  const v: StridedMatrix = { data: values(spare + (Tk + 2) * Dv, c.seed + 2), offset: spare, rowStride: Dv, colStride: 1 };
  const g: StridedMatrix = { data: values(c.Tq * Dv, c.seed + 3), offset: 0, rowStride: Dv, colStride: 1 };
  // about one key in three masked, and sometimes the first half of the keys (left padding), so
  // that causal rows near the start see no key at all
  let mask: KeyMask | null = null;
  if (c.masked) {
    const m = new Float64Array(1 + Tk);
    const r = values(Tk, c.maskSeed);
    const pad = c.maskSeed % 2 === 0 ? Math.floor(Tk / 2) : 0;
    for (let j = 0; j < Tk; j++) m[1 + j] = j < pad || r[j]! < -0.7 ? 0 : 1;
    mask = { data: m, offset: 1 };
  }
  return { Tk, q, k, v, g, mask, plan: attentionPlan(c.Tq, Tk, D, Dv, c.causal, c.scale) };
}

// forward (out, lse) and backward (dq, dk, dv added into buffers that start nonzero) of one slice
function runSlice(c: SliceCase, backend: Backend) {
  const { Tk, q, k, v, g, mask, plan } = sliceOperands(c);
  return on(backend, () => {
    const out = new Float32Array(c.Tq * c.Dv);
    const lse = new Float64Array(c.Tq);
    const scratch = new Float32Array(2 * plan.block);
    attentionForward(out, 0, lse, 0, q, k, v, mask, scratch, plan);
    const dq = values(c.Tq * c.D, 7), dk = values(Tk * c.D, 8), dv = values(Tk * c.Dv, 9);
    const start = [dq, dk, dv].map((x) => x.slice());
    attentionBackward(dq, 0, dk, 0, dv, 0, g, q, k, v, mask, lse, 0, scratch, plan);
    // the scale errors are measured on: the larger of what the backward added and of the sums
    // it added to (each kernel rounds the sum to float32)
    const [sq, sk, sv] = [dq, dk, dv].map((x, i) => Math.max(maxAbs(x), maxAbs(x.map((y, j) => y - start[i]![j]!))));
    return { out, lse, dq, dk, dv, scale: { dq: sq!, dk: sk!, dv: sv! } };
  });
}

describe('wasm attention kernel', () => {
  const before = getBackend();
  afterAll(() => setBackend(before));

  it('forward, log-sum-exp and accumulated gradients equal the js kernel within float32 rounding; rows that see no key are exactly zero', () => {
    fc.assert(fc.property(sliceArb, (c) => {
      const js = runSlice(c, 'js');
      const wasm = runSlice(c, 'wasm');
      const scoreBound = 1 + c.scale * 4 * c.D;
      expect(maxDiff(js.out, wasm.out) / maxAbs(sliceOperands(c).v.data) / scoreBound, 'out').toBeLessThanOrEqual(OUT_TOLERANCE);
      for (const key of ['dq', 'dk', 'dv'] as const) expect(normwiseError(js[key], wasm[key], js.scale[key]) / scoreBound, key).toBeLessThanOrEqual(GRAD_TOLERANCE);
      for (let i = 0; i < c.Tq; i++) {
        if (js.lse[i] === -Infinity) {
          expect(wasm.lse[i]).toBe(-Infinity);
          for (let d = 0; d < c.Dv; d++) expect(wasm.out[i * c.Dv + d]).toBe(0);
        } else {
          expect(Math.abs(wasm.lse[i]! - js.lse[i]!) / scoreBound, 'lse').toBeLessThanOrEqual(LSE_TOLERANCE);
        }
      }
    }), { numRuns: 150 });
  });
});

// Through the op: q [B, Hkv, G, Tq, D] against k, v [B, Hkv, 1, Tk, D] (grouped-query heads,
// whose k and v gradients sum over G inside the kernel), a key mask [B, 1, 1, Tk].
const opArb = fc.record({
  B: fc.integer({ min: 1, max: 2 }),
  Hkv: fc.integer({ min: 1, max: 2 }),
  G: fc.integer({ min: 1, max: 3 }),
  Tq: fc.integer({ min: 1, max: 9 }),
  extra: fc.integer({ min: 0, max: 20 }),
  D: fc.integer({ min: 1, max: 12 }),
  causal: fc.boolean(),
  masked: fc.boolean(),
  seed: fc.integer({ min: 1, max: 2 ** 30 }),
});

describe('attention op on the wasm backend', () => {
  const before = getBackend();
  afterAll(() => setBackend(before));

  it('equals the js backend for grouped-query heads, key masks and Tq ≠ Tk, values and gradients', () => {
    fc.assert(fc.property(opArb, ({ B, Hkv, G, Tq, extra, D, causal, masked, seed }) => {
      const Tk = Tq + extra;
      const maskValues = Float32Array.from({ length: B * Tk }, (_, i) => (masked && (i * 7 + seed) % 3 === 0 ? 0 : 1));
      const runOn = (backend: Backend) => on(backend, () => {
        const leaf = (shape: number[], s: number) => {
          const t = new Tensor(values(shape.reduce((a, b) => a * b, 1), s), shape);
          t.requiresGrad = true;
          return t;
        };
        const q = leaf([B, Hkv, G, Tq, D], seed), k = leaf([B, Hkv, 1, Tk, D], seed + 1), v = leaf([B, Hkv, 1, Tk, D], seed + 2);
        const out = attention(q, k, v, { causal, keyMask: masked ? new Tensor(maskValues, [B, 1, 1, Tk]) : undefined });
        out.mul(new Tensor(values(out.numel, seed + 3), out.shape)).sum().backward();
        return [out, q.grad!, k.grad!, v.grad!].map((t) => t.toTypedArray());
      });
      const js = runOn('js');
      const wasm = runOn('wasm');
      // the default scale 1/√D: scores below 4·√D in size (see OUT_TOLERANCE); v's entries below 2
      const scoreBound = 1 + 4 * Math.sqrt(D);
      expect(maxDiff(js[0]!, wasm[0]!) / 2 / scoreBound, 'out').toBeLessThanOrEqual(OP_OUT_TOLERANCE);
      js.slice(1).forEach((a, i) => expect(normwiseError(a, wasm[i + 1]!) / scoreBound, ['dq', 'dk', 'dv'][i]).toBeLessThanOrEqual(OP_GRAD_TOLERANCE));
    }), { numRuns: 60 });
  });
});
