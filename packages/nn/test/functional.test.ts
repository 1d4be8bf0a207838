import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Tensor, gradcheck, tensor } from '@tsgrad/tensor';
import { crossEntropy, scaledDotProductAttention, silu, softmax } from '../src/index.js';
import { expectClose, maxAbsDiff, randomTensor } from './helpers.js';

// softmax(q·kᵀ·scale + mask)·v by loops over flat [N, Tq, D], [N, Tk, D]; query i sees keys ≤ Tk − Tq + i when causal
function attentionReference(q: Tensor, k: Tensor, v: Tensor, causal: boolean, scale: number, additive?: (i: number, j: number) => number): Float64Array {
  const [Tq, D] = q.shape.slice(-2) as [number, number];
  const Tk = k.shape[k.ndim - 2]!;
  const N = q.numel / (Tq * D);
  const [qd, kd, vd] = [q.toTypedArray(), k.toTypedArray(), v.toTypedArray()];
  const out = new Float64Array(N * Tq * D);
  for (let n = 0; n < N; n++) {
    for (let i = 0; i < Tq; i++) {
      const scores: number[] = [];
      for (let j = 0; j < Tk; j++) {
        let s = 0;
        for (let d = 0; d < D; d++) s += qd[(n * Tq + i) * D + d]! * kd[(n * Tk + j) * D + d]!;
        s = s * scale + (additive ? additive(i, j) : 0);
        scores.push(causal && j > Tk - Tq + i ? -Infinity : s);
      }
      const max = Math.max(...scores);
      const e = scores.map((s) => Math.exp(s - max));
      const total = e.reduce((a, b) => a + b, 0);
      for (let d = 0; d < D; d++) {
        let acc = 0;
        for (let j = 0; j < Tk; j++) acc += (e[j]! / total) * vd[(n * Tk + j) * D + d]!;
        out[(n * Tq + i) * D + d] = acc;
      }
    }
  }
  return out;
}

const attentionShapes = fc.record({
  lead: fc.array(fc.integer({ min: 1, max: 2 }), { maxLength: 2 }),
  tq: fc.integer({ min: 1, max: 4 }),
  extra: fc.integer({ min: 0, max: 2 }),
  d: fc.integer({ min: 2, max: 4 }),
  causal: fc.boolean(),
  seed: fc.integer({ min: 0, max: 1000 }),
});

describe('scaledDotProductAttention', () => {
  it('equals softmax(q·kᵀ/√D)·v, with causal queries aligned to the end of the keys', () => {
    fc.assert(
      fc.property(attentionShapes, ({ lead, tq, extra, d, causal, seed }) => {
        const tk = tq + extra;
        const q = randomTensor([...lead, tq, d], seed);
        const k = randomTensor([...lead, tk, d], seed + 1);
        const v = randomTensor([...lead, tk, d], seed + 2);
        const want = attentionReference(q, k, v, causal, 1 / Math.sqrt(d));
        return maxAbsDiff(scaledDotProductAttention(q, k, v, { causal }), want) < 1e-12;
      }),
      { numRuns: 30 },
    );
  });

  it('gradients match finite differences, causal and not', () => {
    fc.assert(
      fc.property(attentionShapes, ({ lead, tq, extra, d, causal, seed }) => {
        const tk = tq + extra;
        const q = randomTensor([...lead, tq, d], seed, { requiresGrad: true });
        const k = randomTensor([...lead, tk, d], seed + 1, { requiresGrad: true });
        const v = randomTensor([...lead, tk, d], seed + 2, { requiresGrad: true });
        return gradcheck((a, b, c) => scaledDotProductAttention(a!, b!, c!, { causal }), [q, k, v]);
      }),
      { numRuns: 20 },
    );
  });

  it('adds a float mask, keeps the keys an int32 mask marks, and honours scale', () => {
    const q = randomTensor([2, 3, 4], 1);
    const k = randomTensor([2, 5, 4], 2);
    const v = randomTensor([2, 5, 4], 3);
    const bias = (i: number, j: number) => 0.1 * i - 0.3 * j;
    const mask = tensor(Array.from({ length: 3 }, (_, i) => Array.from({ length: 5 }, (_, j) => bias(i, j))), { dtype: 'float64' });
    expect(maxAbsDiff(scaledDotProductAttention(q, k, v, { mask, scale: 0.7 }), attentionReference(q, k, v, false, 0.7, bias))).toBeLessThan(1e-12);
    const keep = tensor([[1, 1, 0, 1, 0]], { dtype: 'int32' });
    const hide = (_i: number, j: number) => ([2, 4].includes(j) ? -Infinity : 0);
    expect(maxAbsDiff(scaledDotProductAttention(q, k, v, { mask: keep }), attentionReference(q, k, v, false, 0.5, hide))).toBeLessThan(1e-12);
  });

  it('rejects causal attention with more queries than keys, and mismatched head dims, on the fused and the masked path', () => {
    const q = randomTensor([3, 2], 0);
    // without a mask the fused attention op checks (and names itself); with one, the composite path
    expect(() => scaledDotProductAttention(q, randomTensor([2, 2], 1), randomTensor([2, 2], 2), { causal: true })).toThrow(
      'attention: causal attention needs Tq ≤ Tk, got Tq 3 and Tk 2',
    );
    expect(() => scaledDotProductAttention(q, randomTensor([2, 3], 1), randomTensor([2, 3], 2))).toThrow(/^attention: expected q \[\.\.\., Tq, D\]/);
    const mask = tensor([[1, 1]], { dtype: 'int32' });
    expect(() => scaledDotProductAttention(q, randomTensor([2, 2], 1), randomTensor([2, 2], 2), { causal: true, mask })).toThrow(
      'scaledDotProductAttention: causal attention needs Tq ≤ Tk, got Tq 3 and Tk 2',
    );
    expect(() => scaledDotProductAttention(q, randomTensor([2, 3], 1), randomTensor([2, 3], 2), { mask })).toThrow(
      /^scaledDotProductAttention: expected q \[\.\.\., Tq, D\]/,
    );
  });
});

describe('crossEntropy', () => {
  it('with ignored labels equals the mean over the counted tokens', () => {
    const logits = randomTensor([2, 3, 5], 4);
    const targets = tensor([[1, -100, 4], [0, 0, -100]], { dtype: 'int32' });
    const rows = logits.toArray() as number[][][];
    const t = targets.toArray() as number[][];
    let total = 0;
    let count = 0;
    for (let b = 0; b < 2; b++) for (let s = 0; s < 3; s++) {
      if (t[b]![s] === -100) continue;
      const row = rows[b]![s]!;
      const max = Math.max(...row);
      const lse = max + Math.log(row.reduce((acc, x) => acc + Math.exp(x - max), 0));
      total += lse - row[t[b]![s]!]!;
      count++;
    }
    expect(crossEntropy(logits, targets).item()).toBeCloseTo(total / count, 12);
    expect(crossEntropy(logits, targets, { reduction: 'sum' }).item()).toBeCloseTo(total, 12);
    const none = crossEntropy(logits, targets, { reduction: 'none' });
    expect([...none.shape]).toEqual([2, 3]);
    expect((none.toArray() as number[][])[0]![1]).toBe(0);
    // the same positions ignored through another ignoreIndex (no target here is a real 2)
    expect(crossEntropy(logits, targets.maskedFill(targets.eq(-100), 2), { ignoreIndex: 2 }).item()).toBeCloseTo(total / count, 12);
  });

  it('gradients with respect to the logits match finite differences', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 2 }),
        fc.integer({ min: 2, max: 5 }),
        fc.constantFrom<'mean' | 'sum' | 'none'>('mean', 'sum', 'none'),
        fc.integer({ min: 0, max: 1000 }),
        (lead, classes, reduction, seed) => {
          const logits = randomTensor([...lead, classes], seed, { requiresGrad: true });
          const n = lead.reduce((a, b) => a * b, 1);
          // the first target is always counted so the mean is defined; others may be ignored
          const targets = tensor(Array.from({ length: n }, (_, i) => (i > 0 && (seed + i) % 3 === 0 ? -100 : (seed + i) % classes)), { dtype: 'int32', shape: lead });
          return gradcheck((x) => crossEntropy(x, targets, { reduction }), [logits]);
        },
      ),
      { numRuns: 20 },
    );
  });

  it('rejects targets whose shape is not the leading dims of the logits', () => {
    expect(() => crossEntropy(randomTensor([2, 3, 5], 0), tensor([1, 2], { dtype: 'int32' }))).toThrow(
      'crossEntropy: expected logits [..., C] and targets [...] with the same leading dims, got [2, 3, 5] and [2]',
    );
  });
});

describe('activations', () => {
  it('silu is x·σ(x) and softmax rows sum to one', () => {
    const x = randomTensor([3, 4], 7);
    expectClose(silu(x), x.mul(x.sigmoid()), 1e-15);
    expectClose(softmax(x, 0).sum(0), tensor([1, 1, 1, 1], { dtype: 'float64' }), 1e-12);
  });
});
