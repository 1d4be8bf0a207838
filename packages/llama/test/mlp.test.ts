import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Generator, gradcheck } from '@tsgrad/tensor';
import { LlamaMLP } from '../src/model.js';
import { expectClose, randomTensor } from './helpers.js';

describe('LlamaMLP', () => {
  it('has Hugging Face field names and no biases', () => {
    const mlp = new LlamaMLP(4, 6);
    expect(mlp.namedParameters().map(([n, p]) => [n, [...p.shape]])).toEqual([
      ['gate_proj.weight', [6, 4]],
      ['up_proj.weight', [6, 4]],
      ['down_proj.weight', [4, 6]],
    ]);
  });

  it('computes down(silu(gate(x)) ⊙ up(x))', () => {
    const mlp = new LlamaMLP(3, 5, { dtype: 'float64', generator: new Generator(1), std: 0.5 });
    const x = randomTensor([2, 4, 3], 2);
    const g = x.matmul(mlp.gate_proj.weight.transpose(0, 1));
    const u = x.matmul(mlp.up_proj.weight.transpose(0, 1));
    const h = g.mul(g.neg().exp().add(1).pow(-1)).mul(u);
    expectClose(mlp.forward(x), h.matmul(mlp.down_proj.weight.transpose(0, 1)), 1e-14);
  });

  it('gradients with respect to x and every weight match finite differences', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 2 }), { maxLength: 2 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 0, max: 1000 }),
        (lead, hidden, inter, seed) => {
          const mlp = new LlamaMLP(hidden, inter, { dtype: 'float64', std: 1, generator: new Generator(seed) });
          const x = randomTensor([...lead, hidden], seed + 1, { requiresGrad: true });
          return gradcheck((xi) => mlp.forward(xi), [x, ...mlp.parameters()]);
        },
      ),
      { numRuns: 15 },
    );
  });
});
