import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Generator, gradcheck, tensor } from '@tsgrad/tensor';
import { Embedding } from '../src/index.js';

describe('Embedding', () => {
  it('looks up int32 ids of any shape, giving [...ids.shape, dim]', () => {
    const emb = new Embedding(6, 3, { generator: new Generator(0) });
    const rows = emb.weight.toArray() as number[][];
    const ids = tensor([[[5, 0]], [[2, 2]]], { dtype: 'int32' });
    const out = emb.forward(ids);
    expect([...out.shape]).toEqual([2, 1, 2, 3]);
    expect(out.toArray()).toEqual([[[rows[5], rows[0]]], [[rows[2], rows[2]]]]);
    expect([...emb.forward(tensor(4, { dtype: 'int32' })).shape]).toEqual([3]);
  });

  it('gradients with respect to the weight match finite differences, repeated ids included', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 3 }),
        fc.array(fc.nat(), { minLength: 1, maxLength: 5 }),
        fc.integer({ min: 0, max: 1000 }),
        (vocab, dim, raw, seed) => {
          const emb = new Embedding(vocab, dim, { dtype: 'float64', std: 1, generator: new Generator(seed) });
          const ids = tensor(raw.map((r) => r % vocab), { dtype: 'int32' });
          // weight each output differently so repeated ids still test the accumulation
          const coef = tensor(raw.map((_, i) => Array.from({ length: dim }, (_, j) => 1 + i + 0.5 * j)), { dtype: 'float64' });
          return gradcheck(() => emb.forward(ids).mul(coef), [emb.weight]);
        },
      ),
      { numRuns: 20 },
    );
  });

  it('rejects an out-of-range id, naming it and the vocabulary size', () => {
    const emb = new Embedding(64, 4);
    expect(() => emb.forward(tensor([[1, 70]], { dtype: 'int32' }))).toThrow('Embedding: token id 70 is out of range for 64 embeddings');
    expect(() => emb.forward(tensor([-1], { dtype: 'int32' }))).toThrow('Embedding: token id -1 is out of range for 64 embeddings');
  });

  it('rejects ids that are not int32', () => {
    const emb = new Embedding(8, 4);
    expect(() => emb.forward(tensor([1, 2]))).toThrow('Embedding: token ids must be int32, got float32 of shape [2]');
  });
});
