// Ops whose kernels write every element take their output from the pool without zeroing it
// (allocOverwritten in dtype.ts). With the pool poisoning, such a buffer starts as NaN, so an
// element a kernel leaves unwritten shows up here as a NaN or a difference from the zeroed run.
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { type Tensor, grad, logSoftmax, randn, setStoragePool, softmax, tensor } from '../../src/index.js';
import { Generator } from '../../src/random.js';

const defaults = setStoragePool({});
afterEach(() => setStoragePool(defaults));

// the op's outputs (and input gradients) as plain arrays, with the pool off (every buffer fresh, zeroed) or poisoning
function run(poison: boolean, f: () => Tensor[]): number[][] {
  setStoragePool(poison ? { enabled: true, poison: true } : { enabled: false, poison: false });
  return f().map((t) => Array.from(t.toTypedArray()));
}

describe('outputs taken from the pool unzeroed are written in full', () => {
  it('matmul (batched, broadcast, transposed, 1-wide, K = 0) and softmax/logSoftmax forward and backward equal the zeroed run, with no NaN', () => {
    fc.assert(fc.property(
      fc.record({ b: fc.integer({ min: 1, max: 3 }), m: fc.integer({ min: 1, max: 40 }), k: fc.integer({ min: 0, max: 40 }), n: fc.integer({ min: 1, max: 40 }), seed: fc.integer({ min: 0, max: 1e6 }), transposeB: fc.boolean() }),
      ({ b, m, k, n, seed, transposeB }) => {
        const ops = () => {
          const gen = new Generator(seed);
          const x = randn([b, m, k], { generator: gen, requiresGrad: true });
          const w = transposeB ? randn([n, k], { generator: gen }).transpose(0, 1) : randn([k, n], { generator: gen });
          const y = x.matmul(w); // [b, m, n], w broadcast over b
          const s = softmax(y, -1);
          const l = logSoftmax(y, 1);
          const [dx] = grad(s.mul(tensor(2)).sum().add(l.sum()), [x]);
          return [y, s, l, dx!];
        };
        const zeroed = run(false, ops);
        const poisoned = run(true, ops);
        for (const values of poisoned) expect(values.some(Number.isNaN)).toBe(false);
        expect(poisoned).toEqual(zeroed);
      },
    ), { numRuns: 60 });
  });
});
