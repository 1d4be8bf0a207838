import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Tensor, attention, grad, gradcheck, gradgradcheck, noGrad, tensor } from '../../src/index.js';
import { GRAD_RUNS, GRADGRAD_RUNS, type Layout, buildTensor, numelOf, tensorOfShapeArb } from '../arbitraries.js';

// The composite definition: softmax(q·kᵀ·scale, causal by a −∞ mask)·v with tensor ops.
function reference(q: Tensor, k: Tensor, v: Tensor, causal: boolean, scale?: number): Tensor {
  const Tq = q.shape[q.ndim - 2]!;
  const Tk = k.shape[k.ndim - 2]!;
  let scores = q.matmul(k.transpose(-2, -1)).mul(scale ?? 1 / Math.sqrt(q.shape[q.ndim - 1]!));
  if (causal) {
    const mask = tensor(Int32Array.from({ length: Tq * Tk }, (_, at) => (at % Tk > Tk - Tq + Math.floor(at / Tk) ? 1 : 0)), { shape: [Tq, Tk] });
    scores = scores.maskedFill(mask, -Infinity);
  }
  return scores.softmax(-1).matmul(v);
}

function maxAbsDiff(a: Tensor, b: Tensor): number {
  expect([...a.shape]).toEqual([...b.shape]);
  const x = a.toTypedArray();
  const y = b.toTypedArray();
  let worst = 0;
  for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i]! - y[i]!));
  return worst;
}

interface Case {
  q: Tensor; k: Tensor; v: Tensor;
  /** Shape k and v are expanded to inside the checked function (stride 0), or null. */
  expandTo: [number[], number[]] | null;
  causal: boolean;
  scale: number | undefined;
}

// q [...lead, Tq, D], k [...kLead, Tk, D], v [...kLead, Tk, Dv]: 0–2 leading dims of size 1–3,
// k and v with some of them 1 (grouped-query heads broadcast) or dropped, causal or not (Tq ≤ Tk
// when causal), a default or custom scale, every leaf in any layout; sometimes k and v are
// expanded to q's leading dims with stride 0, as nn's Attention once passed them.
const caseArb = (maxT = 5, maxLead = 3) => fc.record({
  lead: fc.array(fc.integer({ min: 1, max: maxLead }), { maxLength: 2 }),
  ones: fc.array(fc.boolean(), { minLength: 2, maxLength: 2 }),
  drop: fc.boolean(),
  Tq: fc.integer({ min: 1, max: maxT }),
  extra: fc.integer({ min: 0, max: 3 }),
  D: fc.integer({ min: 1, max: 4 }),
  Dv: fc.integer({ min: 1, max: 4 }),
  causal: fc.boolean(),
  scale: fc.option(fc.double({ min: -2, max: 2, noNaN: true }), { nil: undefined }),
  expand: fc.boolean(),
}).chain((c) => {
  const Tk = c.Tq + c.extra;
  let kLead = c.lead.map((s, i) => (c.ones[i] ? 1 : s));
  if (c.drop && kLead.length > 0) kLead = kLead.slice(1);
  const expand = c.expand && kLead.length === c.lead.length;
  return fc.tuple(
    tensorOfShapeArb([...c.lead, c.Tq, c.D]),
    tensorOfShapeArb([...kLead, Tk, c.D]),
    tensorOfShapeArb([...kLead, Tk, c.Dv]),
  ).map(([q, k, v]): Case => ({
    q, k, v, causal: c.causal, scale: c.scale,
    expandTo: expand ? [[...c.lead, Tk, c.D], [...c.lead, Tk, c.Dv]] : null,
  }));
});

const run = (c: Case, fn: typeof attention | typeof reference) => (q: Tensor, k: Tensor, v: Tensor) => {
  const [kk, vv] = c.expandTo ? [k.expand(c.expandTo[0]), v.expand(c.expandTo[1])] : [k, v];
  return fn === attention ? attention(q, kk, vv, { causal: c.causal, scale: c.scale }) : reference(q, kk, vv, c.causal, c.scale);
};

describe('attention: gradients', () => {
  it('matches finite differences for broadcast and expanded k/v, causal or not, any layout', () => {
    fc.assert(fc.property(caseArb(), (c) => gradcheck(run(c, attention), [c.q, c.k, c.v])), { numRuns: GRAD_RUNS });
  });

  it('has correct second derivatives (gradgradcheck), through the composite backward', () => {
    fc.assert(fc.property(caseArb(3, 2), (c) => gradgradcheck(run(c, attention), [c.q, c.k, c.v])), { numRuns: GRADGRAD_RUNS });
  });
});

describe('attention: the fused path equals the composite definition', () => {
  // values and gradients for random shapes, plus query counts past one 32-row causal block
  const bigArb = fc.record({
    Tq: fc.integer({ min: 1, max: 75 }), extra: fc.integer({ min: 0, max: 9 }),
    D: fc.integer({ min: 1, max: 7 }), heads: fc.integer({ min: 1, max: 3 }), causal: fc.boolean(),
    layout: fc.constantFrom<Layout>('contiguous', 'transposed', 'strided'), seed: fc.nat(),
  });

  it('outputs and gradients agree to 1e-12 in float64 for any shape, broadcast and layout', () => {
    fc.assert(fc.property(caseArb(), fc.nat(), (c, seed) => {
      const fast = run(c, attention)(c.q, c.k, c.v);
      const slow = run(c, reference)(c.q, c.k, c.v);
      if (maxAbsDiff(fast, slow) > 1e-12) return false;
      const g = buildTensor(fast.shape, 'contiguous', Array.from({ length: fast.numel }, (_, i) => Math.sin(seed + i)), false);
      const gf = grad(fast, [c.q, c.k, c.v], { gradOutputs: [g] });
      const gs = grad(slow, [c.q, c.k, c.v], { gradOutputs: [g] });
      return gf.every((t, i) => maxAbsDiff(t, gs[i]!) < 1e-12);
    }), { numRuns: 100 });
  });

  it('agrees past one causal block (Tq up to 75) with grouped heads, in float64 and float32', () => {
    fc.assert(fc.property(bigArb, (c) => {
      const Tk = c.Tq + c.extra;
      // a strided leaf is cut from a base twice its size
      const values = (shape: number[], salt: number) => Array.from({ length: numelOf(shape) * (c.layout === 'strided' ? 2 : 1) }, (_, i) => Math.sin(c.seed + salt + 1.7 * i));
      const leaf = (shape: number[], salt: number) => buildTensor(shape, c.layout, values(shape, salt));
      const q = leaf([2, c.heads, c.Tq, c.D], 1);
      const k = leaf([2, 1, Tk, c.D], 2);
      const v = leaf([2, 1, Tk, c.D + 1], 3);
      const fast = attention(q, k, v, { causal: c.causal });
      const slow = reference(q, k, v, c.causal);
      const gf = grad(fast.square().sum(), [q, k, v]);
      const gs = grad(slow.square().sum(), [q, k, v]);
      if (maxAbsDiff(fast, slow) > 1e-12 || gf.some((t, i) => maxAbsDiff(t, gs[i]!) > 1e-11)) return false;
      const [q32, k32, v32] = [q, k, v].map((t) => t.detach().to('float32'));
      return maxAbsDiff(attention(q32!, k32!, v32!, { causal: c.causal }), reference(q32!, k32!, v32!, c.causal)) < 1e-5;
    }), { numRuns: 25 });
  });

  it('gives an expanded (stride-0) k the per-head gradient, not the sum over heads', () => {
    const q = buildTensor([2, 3, 2], 'contiguous', [0.1, -0.4, 0.3, 0.9, -0.2, 0.5, 0.7, -0.6, 0.2, 0.1, -0.8, 0.4]);
    const k = buildTensor([1, 3, 2], 'contiguous', [0.5, -0.1, 0.2, 0.3, -0.7, 0.6]);
    const v = buildTensor([1, 3, 2], 'contiguous', [0.9, 0.2, -0.3, 0.4, 0.1, -0.5]);
    const ke = k.expand([2, 3, 2]);
    const [fast] = grad(attention(q, ke, v, { causal: true }).sum(), [ke], { retainGraph: true });
    const [slow] = grad(reference(q, ke, v, true).sum(), [ke]);
    expect(maxAbsDiff(fast!, slow!)).toBeLessThan(1e-14);
    expect([...fast!.shape]).toEqual([2, 3, 2]);
  });

  it('is causal with the queries aligned to the end of the keys: query i ignores keys past Tk − Tq + i', () => {
    const q = buildTensor([2, 3], 'contiguous', [0.3, -0.2, 0.5, 0.1, -0.4, 0.6], false);
    const k = buildTensor([4, 3], 'contiguous', Array.from({ length: 12 }, (_, i) => Math.cos(i)), false);
    const v = buildTensor([4, 1], 'contiguous', [1, 2, 3, 1000], false);
    const changed = buildTensor([4, 1], 'contiguous', [1, 2, 3, -5], false);
    const out = attention(q, k, v, { causal: true }).toArray() as number[][];
    const out2 = attention(q, k, changed, { causal: true }).toArray() as number[][];
    expect(out[0]![0]).toBe(out2[0]![0]); // query 0 sees keys 0..2
    expect(out[1]![0]).not.toBe(out2[1]![0]); // query 1 sees all four
  });

  it('computes the same values with and without recording a graph', () => {
    fc.assert(fc.property(caseArb(), (c) => {
      const recorded = run(c, attention)(c.q, c.k, c.v);
      const plain = noGrad(() => run(c, attention)(c.q, c.k, c.v));
      return maxAbsDiff(recorded, plain) === 0;
    }), { numRuns: 30 });
  });
});

describe('attention: shapes and errors', () => {
  it('returns zeros for zero keys and an empty tensor for zero queries', () => {
    const v = tensor(new Float64Array(0), { shape: [0, 2] });
    expect(attention(tensor([[1, 2]], { dtype: 'float64' }), tensor(new Float64Array(0), { shape: [0, 2] }), v).toArray()).toEqual([[0, 0]]);
    expect(attention(tensor(new Float64Array(0), { shape: [0, 2] }), tensor([[1, 2]]), tensor([[3]])).shape).toEqual([0, 1]);
  });

  it('promotes mixed dtypes as matmul does', () => {
    const q = tensor([[0.5, 1]], { dtype: 'float32' });
    const k = tensor([[1, 0], [0, 1]], { dtype: 'float64' });
    expect(attention(q, k, k).dtype).toBe('float64');
  });

  it('rejects mismatched head dims, too few dims, causal with more queries than keys, and int32', () => {
    const x = tensor([[1, 2], [3, 4], [5, 6]]);
    expect(() => attention(x, tensor([[1, 2, 3]]), tensor([[1]]))).toThrow(/attention: expected q \[\.\.\., Tq, D\]/);
    expect(() => attention(tensor([1, 2]), x, x)).toThrow('attention: q, k and v need at least 2 dims');
    expect(() => attention(x, x.narrow(0, 0, 2), x.narrow(0, 0, 2), { causal: true })).toThrow('attention: causal attention needs Tq ≤ Tk, got Tq 3 and Tk 2');
    expect(() => attention(x.to('int32'), x, x)).toThrow(/attention: expected a float tensor/);
    expect(() => attention(tensor([[[1, 2]], [[3, 4]]]), tensor([[[1, 2]], [[3, 4]], [[5, 6]]]), tensor([[[1]], [[2]], [[3]]]))).toThrow(/attention/);
  });
});
