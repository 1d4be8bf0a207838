import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Tensor, noGrad, tensor, zeros } from '../../src/index.js';
import { broadcastPairArb, tensorOfShapeArb } from '../arbitraries.js';

// A target of any layout (no grad) and a source that broadcasts to its shape.
const targetAndSourceArb = broadcastPairArb().chain(([, sb, out]) =>
  fc.tuple(tensorOfShapeArb(out, { requiresGrad: false }), tensorOfShapeArb(sb, { requiresGrad: false }), fc.double({ min: -2, max: 2, noNaN: true })));

const values = (t: Tensor) => Array.from(t.toTypedArray());

describe('in-place ops', () => {
  it('add_ equals the out-of-place target + alpha·source for any layout and broadcast', () => {
    fc.assert(fc.property(targetAndSourceArb, ([t, src, alpha]) => {
      const expected = values(t.add(src.mul(alpha)));
      const storage = t.storage;
      t.add_(src, alpha);
      expect(t.storage).toBe(storage);
      values(t).forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 12));
    }), { numRuns: 60 });
  });

  it('mul_, copy_ and fill_ equal their out-of-place counterparts for any layout', () => {
    fc.assert(fc.property(targetAndSourceArb, ([t, src, c]) => {
      const product = values(t.mul(src));
      t.mul_(src);
      expect(values(t)).toEqual(product);
      t.copy_(src);
      expect(values(t)).toEqual(values(src.expand(t.shape as number[])));
      t.fill_(c);
      expect(values(t)).toEqual(new Array(t.numel).fill(c));
      t.mul_(2);
      t.add_(1);
      expect(values(t)).toEqual(new Array(t.numel).fill(c * 2 + 1));
      t.zero_();
      expect(values(t).every((v) => v === 0)).toBe(true);
    }), { numRuns: 60 });
  });

  it('in-place ops write only the elements of a view, not the rest of its base', () => {
    const base = tensor([[1, 2, 3], [4, 5, 6]]);
    base.narrow(1, 1, 1).add_(tensor([[10], [20]]), 2);
    expect(base.toArray()).toEqual([[1, 22, 3], [4, 45, 6]]);
    base.transpose(0, 1).narrow(0, 0, 1).mul_(-1);
    expect(base.toArray()).toEqual([[-1, 22, 3], [-4, 45, 6]]);
    base.narrow(0, 1, 1).zero_();
    expect(base.toArray()).toEqual([[-1, 22, 3], [0, 0, 0]]);
  });

  it('in-place ops return the tensor itself, for chaining', () => {
    const t = zeros([2]);
    expect(t.fill_(1).add_(1).mul_(3)).toBe(t);
    expect(t.toArray()).toEqual([6, 6]);
  });

  it('copy_ converts dtypes as it writes (floats truncate into int32)', () => {
    const i = zeros([3], { dtype: 'int32' });
    i.copy_(tensor([1.9, -1.9, 3]));
    expect(i.toArray()).toEqual([1, -1, 3]);
  });

  it('an in-place op on a tensor that requires grad is refused while recording, and allowed under noGrad', () => {
    const p = tensor([1, 2], { requiresGrad: true });
    const msg = 'cannot modify a tensor that requires grad in place while recording; wrap the update in noGrad()';
    expect(() => p.add_(1)).toThrow(`add_: ${msg}`);
    expect(() => p.mul_(2)).toThrow(`mul_: ${msg}`);
    expect(() => p.copy_(tensor([0, 0]))).toThrow(`copy_: ${msg}`);
    expect(() => p.zero_()).toThrow(`fill_: ${msg}`);
    expect(() => p.fill_(3)).toThrow(`fill_: ${msg}`);
    // a view of it requires grad too
    expect(() => p.narrow(0, 0, 1).fill_(3)).toThrow(`fill_: ${msg}`);
    expect(p.toArray()).toEqual([1, 2]);
    // an optimizer step: p ← p − lr·grad
    p.square().sum().backward();
    noGrad(() => p.add_(p.grad!, -0.5));
    expect(p.toArray()).toEqual([0, 0]);
    expect(p.requiresGrad).toBe(true);
  });

  it('a source that does not broadcast to the target is refused naming both shapes', () => {
    const t = zeros([2, 2]);
    expect(() => t.copy_(tensor([1, 2, 3]))).toThrow("copy_: source of shape [3] cannot be broadcast to the target's shape [2, 2]");
    expect(() => t.add_(tensor([1, 2, 3]))).toThrow("add_: source of shape [3] cannot be broadcast to the target's shape [2, 2]");
    expect(() => t.mul_(zeros([3, 2, 2]))).toThrow("mul_: source of shape [3, 2, 2] cannot be broadcast to the target's shape [2, 2]");
    expect(() => zeros([2, 1]).add_(zeros([2, 3]))).toThrow("add_: source of shape [2, 3] cannot be broadcast to the target's shape [2, 1]");
    expect(() => t.copy_(zeros([2, 2, 2]))).toThrow("copy_: source of shape [2, 2, 2] cannot be broadcast to the target's shape [2, 2]");
  });
});
