// The layouts the elementwise, reduction and copy kernels special-case — column and leading-dim
// broadcasts read in place, adjacent reduced dims summed in one pass, transposed 4-D copies — each
// checked element by element against an index-by-index reference.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Tensor, cat, sumToShape, tensor, where } from '../../src/index.js';
import { type Layout, broadcastOf, buildTensor, numelOf, shapeArb, valuesArb } from '../arbitraries.js';

// The element at a (broadcast) index of t: dims of size 1 and missing leading dims read index 0.
function at(t: Tensor, index: readonly number[]): number {
  let pos = t.offset;
  const lead = index.length - t.ndim;
  for (let d = 0; d < t.ndim; d++) if (t.shape[d] !== 1) pos += index[lead + d]! * t.strides[d]!;
  return t.storage[pos]!;
}

function indices(shape: readonly number[]): number[][] {
  const out: number[][] = [];
  const idx = shape.map(() => 0);
  for (let n = 0; n < numelOf(shape); n++) {
    out.push([...idx]);
    for (let k = shape.length - 1; k >= 0; k--) {
      if (++idx[k]! < shape[k]!) break;
      idx[k] = 0;
    }
  }
  return out;
}

// A float64 tensor of `shape` in any layout, or an expanded (stride-0) view of a smaller one.
const operandArb = (shape: number[]) => fc.tuple(fc.constantFrom<Layout | 'expanded'>('contiguous', 'transposed', 'narrowed', 'strided', 'expanded'), fc.nat())
  .chain(([layout, pick]) => {
    if (layout === 'expanded') {
      const small = shape.map((s, i) => ((pick >> i) & 1 ? 1 : s));
      return valuesArb(numelOf(small), 'lattice').map((v) => buildTensor(small, 'contiguous', v, false).expand(shape));
    }
    // the size of the base buildTensor cuts the layout from (0-d shapes are always contiguous)
    const n = numelOf(shape);
    const baseNumel = shape.length === 0 ? 1 : layout === 'strided' ? 2 * n : layout === 'narrowed' ? n + 2 * numelOf(shape.slice(0, -1)) : n;
    return valuesArb(baseNumel, 'lattice').map((v) => buildTensor(shape, layout, v, false));
  });

// Two operands whose shapes broadcast: column ([N, C] with [N, 1]), row, leading dims, and mixes.
const pairArb = shapeArb({ minDims: 1, maxDims: 4, maxSize: 5 }).chain((full) => fc.tuple(
  fc.array(fc.boolean(), { minLength: full.length, maxLength: full.length }), fc.integer({ min: 0, max: full.length }), fc.boolean(),
).chain(([ones, drop, left]) => {
  const small = full.map((s, i) => (ones[i] ? 1 : s)).slice(drop);
  const [sa, sb] = left ? [small, full] : [full, small];
  return fc.tuple(operandArb(sa), operandArb(sb));
}));

const KINDS: Array<[string, (a: Tensor, b: Tensor) => Tensor, (x: number, y: number) => number]> = [
  ['add', (a, b) => a.add(b), (x, y) => x + y],
  ['sub', (a, b) => a.sub(b), (x, y) => x - y],
  ['mul', (a, b) => a.mul(b), (x, y) => x * y],
  ['div', (a, b) => a.div(b.add(10)), (x, y) => x / (y + 10)],
  ['maximum', (a, b) => a.maximum(b), (x, y) => Math.max(x, y)],
  ['gt', (a, b) => a.gt(b), (x, y) => (x > y ? 1 : 0)],
];

describe('elementwise fast paths', () => {
  for (const [name, op, f] of KINDS) {
    it(`${name} reads row, column, leading-dim and strided operands in place and equals the elementwise reference`, () => {
      fc.assert(fc.property(pairArb, ([a, b]) => {
        const out = op(a, b);
        const shape = broadcastOf(a.shape, b.shape);
        expect([...out.shape]).toEqual(shape);
        const flat = out.toTypedArray();
        indices(shape).forEach((idx, n) => expect(flat[n]).toBe(f(at(a, idx), at(b, idx))));
      }), { numRuns: 60 });
    });
  }

  it('where reads a broadcast condition and broadcast or strided branches in place', () => {
    fc.assert(fc.property(pairArb, fc.nat(), ([a, b], seed) => {
      const shape = broadcastOf(a.shape, b.shape);
      // a condition over the trailing dims only, as a [Tq, Tk] mask against [B, H, Tq, Tk] scores
      const condShape = shape.slice(Math.floor(shape.length / 2));
      const cond = tensor(Int32Array.from({ length: numelOf(condShape) }, (_, i) => ((seed >> (i % 20)) & 1)), { shape: condShape });
      const out = where(cond, a, b);
      const flat = out.toTypedArray();
      indices(shape).forEach((idx, n) => expect(flat[n]).toBe(at(cond, idx) !== 0 ? at(a, idx) : at(b, idx)));
    }), { numRuns: 60 });
  });

  it('a column broadcast [N, C] · [N, 1] scales each row by its own factor', () => {
    const x = tensor([[1, 2, 3], [4, 5, 6]]);
    expect(x.mul(tensor([[2], [-1]])).toArray()).toEqual([[2, 4, 6], [-4, -5, -6]]);
    expect(tensor([[10], [20]]).sub(x).toArray()).toEqual([[9, 8, 7], [16, 15, 14]]);
  });
});

describe('reduction fast paths', () => {
  it('sum over any set of dims (adjacent runs merged) equals a float64 index-by-index sum', () => {
    const arb = shapeArb({ minDims: 1, maxDims: 4, maxSize: 5 }).chain((shape) => fc.tuple(
      operandArb(shape), fc.subarray(shape.map((_, i) => i), { minLength: 1 }), fc.boolean()));
    fc.assert(fc.property(arb, ([x, dims, keepdim]) => {
      const out = x.sum(dims, keepdim);
      const kept = x.shape.map((s, i) => (dims.includes(i) ? 1 : s));
      const want = new Float64Array(numelOf(kept));
      const keptStrides = kept.map((_, i) => numelOf(kept.slice(i + 1)));
      for (const idx of indices(x.shape)) {
        let o = 0;
        idx.forEach((v, d) => { if (!dims.includes(d)) o += v * keptStrides[d]!; });
        want[o]! += at(x, idx);
      }
      expect([...out.shape]).toEqual(keepdim ? kept : kept.filter((_, i) => !dims.includes(i)));
      const got = out.toTypedArray();
      want.forEach((w, i) => expect(Math.abs(got[i]! - w)).toBeLessThan(1e-12));
    }), { numRuns: 80 });
  });

  it('sumToShape over leading dims is a column sum: [B, T, C] → [C] and [B, T, C] → [T, 1]', () => {
    const g = tensor(Float64Array.from({ length: 24 }, (_, i) => i), { shape: [2, 3, 4] });
    expect(sumToShape(g, [4]).toArray()).toEqual([60, 66, 72, 78]);
    expect(sumToShape(g, [3, 1]).toArray()).toEqual([[60], [92], [124]]);
    const f32 = tensor(Float32Array.from({ length: 4 * 7 * 5 }, (_, i) => (i % 11) * 0.1), { shape: [4, 7, 5] });
    const want = new Float64Array(5);
    for (let i = 0; i < 140; i++) want[i % 5]! += f32.storage[i]!;
    expect(Array.from(sumToShape(f32, [5]).toTypedArray())).toEqual(Array.from(Float32Array.from(want)));
  });
});

describe('copy fast paths', () => {
  it('contiguous() of any permutation of a 4-D tensor, or of a narrowed one, puts every element at its index', () => {
    const arb = fc.tuple(shapeArb({ minDims: 4, maxDims: 4, maxSize: 5 }), fc.constantFrom<number[]>([0, 2, 1, 3], [0, 1, 3, 2], [3, 2, 1, 0], [1, 0, 2, 3], [0, 1, 2, 3]), fc.boolean());
    fc.assert(fc.property(arb, ([shape, perm, narrowed]) => {
      const base = tensor(Float32Array.from({ length: numelOf(shape) }, (_, i) => i), { shape });
      let x = base.permute(perm);
      if (narrowed && x.shape[1]! > 1) x = x.narrow(1, 1, x.shape[1]! - 1);
      const flat = x.contiguous().toTypedArray();
      indices(x.shape).forEach((idx, n) => expect(flat[n]).toBe(at(x, idx)));
    }), { numRuns: 60 });
  });

  it('the transposed [B, T, H, D] ↔ [B, H, T, D] round trip is the identity', () => {
    const x = tensor(Float32Array.from({ length: 2 * 5 * 3 * 4 }, (_, i) => i * 0.5), { shape: [2, 5, 3, 4] });
    const y = x.transpose(1, 2).contiguous(); // [B, H, T, D]
    expect(y.toArray()[1][2][4]).toEqual(x.toArray()[1][4][2]);
    expect(Array.from(y.transpose(1, 2).contiguous().toTypedArray())).toEqual(Array.from(x.storage));
  });

  it('cat of int32 and float32 copies whole runs with the promotion to float32', () => {
    const out = cat([tensor([[1, 2]], { dtype: 'int32' }), tensor([[0.5, 1.5]])], 0);
    expect(out.dtype).toBe('float32');
    expect(out.toArray()).toEqual([[1, 2], [0.5, 1.5]]);
  });
});
