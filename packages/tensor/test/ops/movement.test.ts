import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Tensor, arange, cat, gradcheck, gradgradcheck, noGrad, stack, tensor, zeros } from '../../src/index.js';
import { GRAD_RUNS, GRADGRAD_RUNS, numelOf, shapeArb, tensorArb, tensorOfShapeArb } from '../arbitraries.js';

function primeFactors(n: number): number[] {
  const out: number[] = [];
  for (let p = 2; n > 1; p++) while (n % p === 0) { out.push(p); n /= p; }
  return out;
}

// A shape with `numel` elements: the prime factors dealt into up to four dims, one size maybe −1.
function reshapeTargetArb(numel: number): fc.Arbitrary<number[]> {
  const factors = primeFactors(numel);
  return fc.tuple(
    fc.integer({ min: 1, max: 4 }),
    fc.array(fc.nat(3), { minLength: factors.length, maxLength: factors.length }),
    fc.boolean(),
    fc.nat(3),
  ).map(([dims, groups, infer, at]) => {
    const shape = new Array<number>(dims).fill(1);
    factors.forEach((f, i) => (shape[groups[i]! % dims] *= f));
    if (infer) shape[at % dims] = -1;
    return shape;
  });
}

// A leaf and a permutation of its dims.
const permutedArb = tensorArb({ minDims: 1 }).chain((x) =>
  fc.tuple(fc.constant(x), fc.shuffledSubarray(x.shape.map((_, i) => i), { minLength: x.ndim, maxLength: x.ndim })));

// A leaf, a dim, and a [start, start + length) range inside it.
const narrowedArb = tensorArb({ minDims: 1 }).chain((x) => fc.integer({ min: 0, max: x.ndim - 1 }).chain((d) =>
  fc.integer({ min: 0, max: x.shape[d]! }).chain((start) =>
    fc.tuple(fc.constant(x), fc.constant(d), fc.constant(start), fc.integer({ min: 0, max: x.shape[d]! - start })))));

// A leaf whose shape has some size-1 dims, and a shape it expands to (maybe with new leading dims).
const expandableArb = shapeArb({ minDims: 1 }).chain((full) =>
  fc.tuple(fc.array(fc.boolean(), { minLength: full.length, maxLength: full.length }), fc.integer({ min: 0, max: full.length - 1 }))
    .chain(([ones, drop]) => {
      const small = full.map((s, i) => (ones[i] ? 1 : s)).slice(drop);
      return fc.tuple(tensorOfShapeArb(small), fc.constant(full));
    }));

// Several leaves that agree outside one dim, and that dim.
const catArb = shapeArb({ minDims: 1 }).chain((shape) => fc.integer({ min: 0, max: shape.length - 1 }).chain((d) =>
  fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 3 }).chain((sizes) =>
    fc.tuple(fc.tuple(...sizes.map((s) => tensorOfShapeArb(shape.map((v, i) => (i === d ? s : v))))), fc.constant(d)))));

const sameShapeArb = shapeArb().chain((shape) => fc.integer({ min: 1, max: 3 }).chain((n) =>
  fc.tuple(fc.tuple(...new Array(n).fill(0).map(() => tensorOfShapeArb(shape))), fc.integer({ min: -shape.length - 1, max: shape.length }))));

describe('movement ops: gradients', () => {
  const check = (fn: (...xs: Tensor[]) => Tensor, xs: Tensor[], second: boolean) =>
    gradcheck(fn, xs) && (!second || gradgradcheck(fn, xs));

  for (const second of [false, true]) {
    const what = second ? 'first and second derivatives (gradcheck and gradgradcheck)' : 'finite differences';
    const runs = second ? GRADGRAD_RUNS : GRAD_RUNS;
    it(`reshape to any shape with the same numel (one size −1) matches ${what}`, () => {
      fc.assert(fc.property(tensorArb().chain((x) => fc.tuple(fc.constant(x), reshapeTargetArb(x.numel))), ([x, s]) =>
        check((t) => t.reshape(s), [x], second)), { numRuns: runs });
    });
    it(`transpose and permute match ${what}`, () => {
      fc.assert(fc.property(permutedArb, ([x, p]) =>
        check((t) => t.permute(p), [x], second) && check((t) => t.transpose(0, -1), [x], second)), { numRuns: runs });
    });
    it(`expand (stride-0 view inside the checked function) matches ${what}`, () => {
      fc.assert(fc.property(expandableArb, ([x, full]) => check((t) => t.expand(full).mul(t.expand(full)), [x], second)), { numRuns: runs });
    });
    it(`unsqueeze, squeeze and flatten match ${what}`, () => {
      fc.assert(fc.property(tensorArb({ maxSize: 2 }), (x) =>
        check((t) => t.unsqueeze(0), [x], second) && check((t) => t.unsqueeze(-1).squeeze(-1), [x], second)
        && check((t) => t.squeeze(), [x], second) && check((t) => t.flatten(), [x], second)), { numRuns: runs });
    });
    it(`narrow and slice match ${what}`, () => {
      fc.assert(fc.property(narrowedArb, ([x, d, start, len]) =>
        check((t) => t.narrow(d, start, len), [x], second)
        && check((t) => t.slice(d, start - x.shape[d]!, start + len), [x], second)), { numRuns: runs });
    });
    it(`contiguous and clone match ${what}`, () => {
      fc.assert(fc.property(tensorArb(), (x) =>
        check((t) => t.contiguous().mul(2), [x], second) && check((t) => t.clone(), [x], second)), { numRuns: runs });
    });
    it(`cat along any dim matches ${what}`, () => {
      fc.assert(fc.property(catArb, ([xs, d]) => check((...ts) => cat(ts, d), xs, second)), { numRuns: runs });
    });
    it(`stack along any dim matches ${what}`, () => {
      fc.assert(fc.property(sameShapeArb, ([xs, d]) => check((...ts) => stack(ts, d), xs, second)), { numRuns: runs });
    });
  }
});

describe('movement ops: values', () => {
  it('reshape keeps the row-major order of the elements for any layout', () => {
    fc.assert(fc.property(tensorArb().chain((x) => fc.tuple(fc.constant(x), reshapeTargetArb(x.numel))), ([x, s]) => {
      const y = x.reshape(s);
      expect(y.numel).toBe(x.numel);
      expect(s.every((v, i) => v === -1 || y.shape[i] === v)).toBe(true);
      expect(Array.from(y.toTypedArray())).toEqual(Array.from(x.toTypedArray()));
    }), { numRuns: 100 });
  });

  it('permute moves element [i0, i1, ...] to the permuted position', () => {
    fc.assert(fc.property(permutedArb, ([x, p]) => {
      const y = x.permute(p);
      expect(y.shape).toEqual(p.map((d) => x.shape[d]));
      const xv = x.toTypedArray();
      const yv = y.toTypedArray();
      const idx = new Array<number>(y.ndim).fill(0);
      for (let n = 0; n < y.numel; n++) {
        const src = new Array<number>(x.ndim);
        p.forEach((d, i) => (src[d] = idx[i]!));
        const at = src.reduce((a, v, k) => a * x.shape[k]! + v, 0);
        expect(yv[n]).toBe(xv[at]);
        for (let k = y.ndim - 1; k >= 0; k--) {
          if (++idx[k]! < y.shape[k]!) break;
          idx[k] = 0;
        }
      }
    }), { numRuns: 50 });
  });

  it('reshape infers one −1 and rejects two, or a numel that does not match', () => {
    const x = arange(12);
    expect(x.reshape(3, -1).shape).toEqual([3, 4]);
    expect(x.reshape([-1, 2, 2]).shape).toEqual([3, 2, 2]);
    expect(x.view(2, 6).shape).toEqual([2, 6]);
    expect(() => x.reshape(-1, -1)).toThrow('reshape: only one dimension can be -1, got [-1, -1]');
    expect(() => x.reshape(5, -1)).toThrow('reshape: cannot reshape [12] (12 elements) to [5, -1]');
    expect(() => x.reshape(5, 2)).toThrow('reshape: cannot reshape [12] (12 elements) to [5, 2] (10 elements)');
    expect(() => x.reshape(2.5, 2)).toThrow(/^reshape: invalid size 2.5/);
  });

  it('transpose, permute, narrow and slice give the expected elements', () => {
    const x = arange(6).reshape(2, 3);
    expect(x.transpose(0, 1).toArray()).toEqual([[0, 3], [1, 4], [2, 5]]);
    expect(x.transpose(-1, -2).toArray()).toEqual([[0, 3], [1, 4], [2, 5]]);
    expect(arange(24).reshape(2, 3, 4).permute(2, 0, 1).shape).toEqual([4, 2, 3]);
    expect(arange(24).reshape(2, 3, 4).permute([2, 0, 1]).toArray()[1]).toEqual([[1, 5, 9], [13, 17, 21]]);
    expect(x.narrow(1, 1, 2).toArray()).toEqual([[1, 2], [4, 5]]);
    expect(x.slice(1, -2).toArray()).toEqual([[1, 2], [4, 5]]);
    expect(x.slice(1, 0, -1).toArray()).toEqual([[0, 1], [3, 4]]);
    expect(x.slice(0, 5, 9).shape).toEqual([0, 3]);
    expect(x.slice(1, -10, 10).toArray()).toEqual(x.toArray());
  });

  it('expand repeats size-1 dims with stride 0 and adds leading dims; −1 keeps a size', () => {
    const x = tensor([[1], [2]]);
    const e = x.expand(3, 2, 4);
    expect(e.shape).toEqual([3, 2, 4]);
    expect(e.strides).toEqual([0, 1, 0]);
    expect(e.toArray()[2]).toEqual([[1, 1, 1, 1], [2, 2, 2, 2]]);
    expect(x.expand(-1, 3).shape).toEqual([2, 3]);
    expect(() => x.expand(3, 4)).toThrow('expand: cannot expand [2, 1] to [3, 4] (dim 0: 2 vs 3)');
    expect(() => x.expand(2)).toThrow('expand: cannot expand [2, 1] to [2] (fewer dims)');
  });

  it('squeeze removes size-1 dims (one, or all) and leaves other dims alone; unsqueeze inserts one; flatten merges a range', () => {
    const x = zeros([1, 3, 1, 2]);
    expect(x.squeeze().shape).toEqual([3, 2]);
    expect(x.squeeze(2).shape).toEqual([1, 3, 2]);
    expect(x.squeeze(1)).toBe(x);
    expect(x.unsqueeze(-1).shape).toEqual([1, 3, 1, 2, 1]);
    expect(x.unsqueeze(0).shape).toEqual([1, 1, 3, 1, 2]);
    expect(x.flatten().shape).toEqual([6]);
    expect(x.flatten(1, 2).shape).toEqual([1, 3, 2]);
    expect(tensor(5).flatten().shape).toEqual([1]);
    expect(tensor(5).squeeze(-1).shape).toEqual([]);
    expect(tensor(5).unsqueeze(-1).shape).toEqual([1]);
    expect(() => x.flatten(2, 1)).toThrow(/^flatten: startDim 2 comes after endDim 1/);
  });

  it('cat and stack join along a dim, promoting dtypes', () => {
    const a = tensor([[1, 2], [3, 4]]);
    const b = tensor([[5, 6]]);
    expect(cat([a, b], 0).toArray()).toEqual([[1, 2], [3, 4], [5, 6]]);
    expect(cat([a, a.transpose(0, 1)], -1).toArray()).toEqual([[1, 2, 1, 3], [3, 4, 2, 4]]);
    expect(stack([a, a], 0).shape).toEqual([2, 2, 2]);
    expect(stack([a, a.mul(10)], -1).toArray()).toEqual([[[1, 10], [2, 20]], [[3, 30], [4, 40]]]);
    expect(stack([tensor(1), tensor(2)]).toArray()).toEqual([1, 2]);
    expect(cat([tensor([1], { dtype: 'int32' }), tensor([2.5], { dtype: 'float64' })]).dtype).toBe('float64');
  });

  it('movement ops reject bad arguments with errors naming the op and shapes', () => {
    const a = zeros([2, 3]);
    expect(() => cat([a, zeros([2, 2])], 0)).toThrow('cat: tensor 1 has shape [2, 2], which does not match [2, 3] outside dim 0');
    expect(() => cat([], 0)).toThrow('cat: expected at least one tensor');
    expect(() => cat([tensor(1), tensor(2)], 0)).toThrow('cat: zero-dimensional tensors cannot be concatenated; use stack');
    expect(() => stack([a, zeros([3, 2])])).toThrow('stack: tensor 1 has shape [3, 2], expected [2, 3]');
    expect(() => a.permute(0)).toThrow('permute: expected 2 dims for shape [2, 3], got [0]');
    expect(() => a.permute(1, 1)).toThrow('permute: dims [1, 1] repeat a dim');
    expect(() => a.transpose(0, 2)).toThrow('transpose: dim 2 is out of range for a tensor with 2 dims (expected -2 to 1)');
    expect(() => a.narrow(1, 2, 2)).toThrow('narrow: range [2, 4) is out of bounds for dim 1 of size 3 (shape [2, 3])');
    expect(() => a.narrow(-3, 0, 1)).toThrow(/^narrow: dim -3 is out of range/);
    expect(() => a.unsqueeze(4)).toThrow(/^unsqueeze: dim 4 is out of range for a tensor with 3 dims/);
    expect(() => a.squeeze(2)).toThrow(/^squeeze: dim 2 is out of range/);
  });
});

describe('views alias storage', () => {
  const views: Array<[string, (b: Tensor) => Tensor]> = [
    ['reshape', (b) => b.reshape(3, 2)],
    ['transpose', (b) => b.transpose(0, 1)],
    ['permute', (b) => b.permute(1, 0)],
    ['expand', (b) => b.unsqueeze(0).expand(4, 2, 3)],
    ['unsqueeze', (b) => b.unsqueeze(1)],
    ['squeeze', (b) => b.unsqueeze(0).squeeze(0)],
    ['narrow', (b) => b.narrow(1, 1, 2)],
    ['slice', (b) => b.slice(0, 1)],
    ['flatten', (b) => b.flatten()],
  ];
  for (const [name, make] of views) {
    it(`${name} shares storage with its base, and writes through either are seen by the other`, () => {
      const base = arange(6, undefined, 1, { dtype: 'float32' }).reshape(2, 3);
      const v = make(base);
      expect(v.storage).toBe(base.storage);
      // which elements of a [2, 3] base the view reaches: 1 there, 0 elsewhere
      const reached = zeros([2, 3]);
      noGrad(() => make(reached).fill_(1));
      const r = Array.from(reached.toTypedArray());
      noGrad(() => v.fill_(7));
      expect(Array.from(base.toTypedArray())).toEqual(r.map((m, i) => (m ? 7 : i)));
      noGrad(() => base.copy_(tensor([[1, 2, 3], [4, 5, 6]])));
      expect(v.toArray()).toEqual(make(tensor([[1, 2, 3], [4, 5, 6]])).toArray());
      noGrad(() => v.add_(10));
      expect(Array.from(base.toTypedArray())).toEqual(r.map((m, i) => i + 1 + 10 * m));
    });
  }

  it('a write through a transposed view lands at the transposed position of the base', () => {
    const base = zeros([2, 3]);
    const t = base.transpose(0, 1);
    noGrad(() => t.narrow(0, 2, 1).copy_(tensor([[8, 9]])));
    expect(base.toArray()).toEqual([[0, 0, 8], [0, 0, 9]]);
  });

  it('contiguous returns the same tensor when already contiguous and copies otherwise', () => {
    const x = arange(6).reshape(2, 3);
    expect(x.contiguous()).toBe(x);
    const t = x.transpose(0, 1);
    const c = t.contiguous();
    expect(c).not.toBe(t);
    expect(c.storage).not.toBe(x.storage);
    expect(c.isContiguous()).toBe(true);
    expect(c.toArray()).toEqual(t.toArray());
    // a narrowed row range is still contiguous (with an offset): no copy
    const rows = arange(12).reshape(4, 3).narrow(0, 1, 2);
    expect(rows.contiguous()).toBe(rows);
  });

  it('clone always copies into fresh storage', () => {
    const x = arange(4);
    const c = x.clone();
    expect(c.storage).not.toBe(x.storage);
    noGrad(() => c.fill_(0));
    expect(x.toArray()).toEqual([0, 1, 2, 3]);
  });

  it('reshape of a layout that cannot be viewed copies, and the copy does not alias', () => {
    const x = arange(6).reshape(2, 3).transpose(0, 1);
    const y = x.reshape(6);
    expect(y.storage).not.toBe(x.storage);
    expect(y.toArray()).toEqual([0, 3, 1, 4, 2, 5]);
    // a transposed tensor reshaped without merging the swapped dims stays a view
    const z = arange(24).reshape(2, 3, 4).transpose(1, 2).reshape(2, 4, 3, 1);
    expect(z.storage.length).toBe(24);
    expect(z.toArray()[1][3]).toEqual([[15], [19], [23]]);
  });
});
