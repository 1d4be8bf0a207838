// Batches of different lengths in nn: scaledDotProductAttention's key mask, RotaryEmbedding.applyAt,
// and Embedding's paddingIdx (LlamaAttention's padding tests live in @tsgrad/llama).

import { describe, expect, it } from 'vitest';
import { Generator, noGrad, tensor } from '@tsgrad/tensor';
import { Embedding, RotaryEmbedding, scaledDotProductAttention } from '../src/index.js';
import { maxAbsDiff, randomTensor } from './helpers.js';

describe('scaledDotProductAttention with a key padding mask', () => {
  it('rejects a key mask given together with a full mask', () => {
    const q = randomTensor([1, 2, 2], 2);
    const one = tensor([[1, 1]], { dtype: 'int32' });
    expect(() => scaledDotProductAttention(q, q, q, { mask: one, keyMask: one })).toThrow('scaledDotProductAttention: pass either mask or keyMask, not both');
  });
});

describe('RotaryEmbedding.applyAt (per-row positions)', () => {
  it('equals apply at an offset when every row counts from it, and rotates each row at its own positions', () => {
    const rope = new RotaryEmbedding(4, { maxPositions: 16 });
    const x = randomTensor([2, 3, 5, 4], 7); // [B, H, T, D]
    const from = (start: number[]) => tensor(start.map((s) => Array.from({ length: 5 }, (_, t) => s + t)), { dtype: 'int32' });
    expect(maxAbsDiff(rope.applyAt(x, from([3, 3])), rope.apply(x, 3))).toBeLessThan(1e-15);
    const mixed = rope.applyAt(x, from([0, 6]));
    expect(maxAbsDiff(mixed.narrow(0, 0, 1), rope.apply(x.narrow(0, 0, 1), 0))).toBeLessThan(1e-15);
    expect(maxAbsDiff(mixed.narrow(0, 1, 1), rope.apply(x.narrow(0, 1, 1), 6))).toBeLessThan(1e-15);
  });

  it('rejects positions of the wrong shape or dtype and positions past the table', () => {
    const rope = new RotaryEmbedding(4, { maxPositions: 8 });
    const x = randomTensor([1, 1, 2, 4], 1);
    expect(() => rope.applyAt(x, tensor([[0, 1, 2]], { dtype: 'int32' }))).toThrow('RotaryEmbedding: positions must be int32 [1, 2], got int32 [1, 3]');
    expect(() => rope.applyAt(x, tensor([[0, 1]]))).toThrow('RotaryEmbedding: positions must be int32 [1, 2], got float32 [1, 2]');
    expect(() => rope.applyAt(x, tensor([[0, 8]], { dtype: 'int32' }))).toThrow('RotaryEmbedding: position 8 is outside 0..7');
  });
});

describe('Embedding paddingIdx (PyTorch padding_idx)', () => {
  it('starts the padding row at zero and leaves the other rows drawn', () => {
    const emb = new Embedding(5, 3, { paddingIdx: 2, generator: new Generator(1) });
    const rows = emb.weight.toArray() as number[][];
    expect(rows[2]).toEqual([0, 0, 0]);
    expect(rows.filter((_, i) => i !== 2).every((r) => r.every((x) => x !== 0))).toBe(true);
    expect(new Embedding(5, 3, { paddingIdx: -1 }).paddingIdx).toBe(4);
  });

  it('gives the padding row no gradient while the other looked-up rows get theirs, even when that row is not zero', () => {
    const emb = new Embedding(5, 3, { paddingIdx: 0, dtype: 'float64', generator: new Generator(2) });
    noGrad(() => emb.weight.narrow(0, 0, 1).fill_(0.5)); // a loaded checkpoint may hold any row
    const ids = tensor([[0, 3, 0, 1]], { dtype: 'int32' });
    const out = emb.forward(ids);
    expect((out.toArray() as number[][][])[0]![0]).toEqual([0.5, 0.5, 0.5]); // the stored row, as PyTorch
    out.mul(randomTensor([1, 4, 3], 3)).sum().backward();
    const g = emb.weight.grad!.toArray() as number[][];
    expect(g[0]).toEqual([0, 0, 0]);
    expect(g[3]!.every((x) => x !== 0) && g[1]!.every((x) => x !== 0)).toBe(true);
  });

  it('rejects a paddingIdx outside the table, naming it', () => {
    expect(() => new Embedding(5, 3, { paddingIdx: 5 })).toThrow('Embedding: paddingIdx must be an integer in -5..4, got 5');
    expect(() => new Embedding(5, 3, { paddingIdx: 1.5 })).toThrow('got 1.5');
  });
});
