// fast-check arbitraries for the tensor tests: shapes, broadcastable shape pairs, float64 tensors
// with values in a safe range (optionally kept away from kinks), non-contiguous leaves made by
// transpose / narrow / strided selection, and int32 index tensors.
//
// NOTE: gradcheck refuses expanded (stride-0) leaves, so no arbitrary here returns one. To test an
// op on an expanded input, generate a contiguous leaf with size-1 dims and expand it inside the
// checked function (see `broadcastPairArb`).

import fc from 'fast-check';
import { type Tensor, tensor } from '../src/index.js';

// ************* shapes *************

/** Options of `shapeArb`. */
export interface ShapeOptions {
  minDims?: number;
  maxDims?: number;
  /** Smallest size of a dim (default 1). */
  minSize?: number;
  /** Largest size of a dim (default 4). */
  maxSize?: number;
}

/** A shape with 0..3 dims of size 1..4 (by default). */
export function shapeArb(opts: ShapeOptions = {}): fc.Arbitrary<number[]> {
  const { minDims = 0, maxDims = 3, minSize = 1, maxSize = 4 } = opts;
  return fc.array(fc.integer({ min: minSize, max: maxSize }), { minLength: minDims, maxLength: maxDims });
}

/** Number of elements of a shape. */
export function numelOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * Two shapes that broadcast together by NumPy rules: both cut from one full shape, with some dims
 * set to 1 and some leading dims dropped. Returns [a, b, broadcast(a, b)].
 */
export function broadcastPairArb(opts: ShapeOptions = {}): fc.Arbitrary<[number[], number[], number[]]> {
  return shapeArb({ minDims: 1, ...opts }).chain((full) => {
    const cut = fc.tuple(
      fc.integer({ min: 0, max: full.length }),
      fc.array(fc.boolean(), { minLength: full.length, maxLength: full.length }),
    ).map(([drop, ones]) => full.map((s, i) => (ones[i] ? 1 : s)).slice(drop));
    return fc.tuple(cut, cut).map(([a, b]) => [a, b, broadcastOf(a, b)] as [number[], number[], number[]]);
  });
}

/** The broadcast of two compatible shapes (written independently of the library's own). */
export function broadcastOf(a: readonly number[], b: readonly number[]): number[] {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    out.push(da === 1 ? db : da);
  }
  return out;
}

// ************* values *************

/**
 * How values are drawn:
 * - 'smooth': any double in [-2, 2];
 * - 'positive': in [0.5, 2] (for log, sqrt, rsqrt, divisors, pow bases);
 * - 'nonzero': magnitude in [0.25, 2] with either sign;
 * - 'grid': odd multiples of 0.025 in (-2, 2): at least 0.025 away from 0 and from every multiple
 *   of 0.05 (so from relu/abs kinks and from clamp bounds such as ±0.5);
 * - 'lattice': multiples of 0.05 in [-2, 2] (never equal to a 'grid' value: no ties in maximum);
 * - 'distinct': distinct multiples of 0.05 (no ties inside one tensor: max/min reductions).
 */
export type ValueKind = 'smooth' | 'positive' | 'nonzero' | 'grid' | 'lattice' | 'distinct';

const double = (min: number, max: number) => fc.double({ min, max, noNaN: true, noDefaultInfinity: true });

/** n values of a kind. */
export function valuesArb(n: number, kind: ValueKind = 'smooth'): fc.Arbitrary<number[]> {
  const fixed = { minLength: n, maxLength: n };
  switch (kind) {
    case 'smooth': return fc.array(double(-2, 2), fixed);
    case 'positive': return fc.array(double(0.5, 2), fixed);
    case 'nonzero': return fc.array(fc.tuple(double(0.25, 2), fc.boolean()).map(([m, s]) => (s ? m : -m)), fixed);
    case 'grid': return fc.array(fc.integer({ min: -40, max: 39 }).map((k) => (k + 0.5) * 0.05), fixed);
    case 'lattice': return fc.array(fc.integer({ min: -40, max: 40 }).map((k) => k * 0.05), fixed);
    case 'distinct': {
      // n may exceed the 81 multiples of 0.05 in [-2, 2]: widen the range instead of failing
      const half = Math.max(40, n);
      return fc.uniqueArray(fc.integer({ min: -half, max: half }), fixed).map((ks) => ks.map((k) => k * 0.05));
    }
  }
}

// ************* tensors *************

/**
 * Memory layouts of a generated leaf:
 * - 'contiguous';
 * - 'transposed': a contiguous tensor with the last two dims swapped, then transposed back (ndim ≥ 2);
 * - 'narrowed': a slice from the middle of a tensor two wider in the last dim (ndim ≥ 1);
 * - 'strided': every other element of the last dim (stride 2 on the last dim; ndim ≥ 1).
 * A layout that needs more dims than the shape has falls back to 'contiguous'.
 */
export type Layout = 'contiguous' | 'transposed' | 'narrowed' | 'strided';

/** Every layout, for `fc.constantFrom(...LAYOUTS)`. */
export const LAYOUTS: readonly Layout[] = ['contiguous', 'transposed', 'narrowed', 'strided'];

// The shape of the contiguous base a layout is cut from.
function baseShape(shape: readonly number[], layout: Layout): number[] {
  const n = shape.length;
  if (layout === 'transposed' && n >= 2) return [...shape.slice(0, -2), shape[n - 1]!, shape[n - 2]!];
  if (layout === 'narrowed' && n >= 1) return [...shape.slice(0, -1), shape[n - 1]! + 2];
  if (layout === 'strided' && n >= 1) return [...shape.slice(0, -1), shape[n - 1]!, 2];
  return [...shape];
}

/** A float64 tensor of `shape` with the given layout over `values` (numel of the base). */
export function buildTensor(shape: readonly number[], layout: Layout, values: readonly number[], requiresGrad = true): Tensor {
  const base = tensor(Float64Array.from(values), { shape: baseShape(shape, layout) });
  const n = shape.length;
  let t = base;
  if (layout === 'transposed' && n >= 2) t = base.transpose(-1, -2);
  else if (layout === 'narrowed' && n >= 1) t = base.narrow(-1, 1, shape[n - 1]!);
  else if (layout === 'strided' && n >= 1) t = base.narrow(-1, 0, 1).squeeze(-1);
  // base does not require grad, so t is a leaf (no gradFn) even when it is a view
  if (requiresGrad) t.setRequiresGrad(true);
  return label(t, layout);
}

// Counterexamples print as `float64[2, 3] transposed [[...]]` instead of a dump of the object.
function label(t: Tensor, layout: Layout): Tensor {
  Object.defineProperty(t, fc.toStringMethod, {
    value: () => `${t.dtype}[${t.shape.join(', ')}] ${layout} ${JSON.stringify(t.toArray())}`,
  });
  return t;
}

/** Options of `tensorArb`. */
export interface TensorOptions {
  kind?: ValueKind;
  /** Layouts to draw from (default: all). */
  layouts?: readonly Layout[];
  /** Mark the tensor as requiring grad (default true). */
  requiresGrad?: boolean;
}

/** A float64 leaf of a given shape, in a random layout, with values of the given kind. */
export function tensorOfShapeArb(shape: readonly number[], opts: TensorOptions = {}): fc.Arbitrary<Tensor> {
  const { kind = 'smooth', layouts = LAYOUTS, requiresGrad = true } = opts;
  return fc.constantFrom(...layouts).chain((layout) =>
    valuesArb(numelOf(baseShape(shape, layout)), kind).map((values) => buildTensor(shape, layout, values, requiresGrad)));
}

/** A float64 leaf of a random shape (0..3 dims, sizes 1..4 by default). */
export function tensorArb(opts: TensorOptions & ShapeOptions = {}): fc.Arbitrary<Tensor> {
  return shapeArb(opts).chain((shape) => tensorOfShapeArb(shape, opts));
}

/** An int32 tensor of `shape` with values in [0, upper). */
export function indexArb(shape: readonly number[], upper: number): fc.Arbitrary<Tensor> {
  return fc.array(fc.integer({ min: 0, max: upper - 1 }), { minLength: numelOf(shape), maxLength: numelOf(shape) })
    .map((values) => label(tensor(Int32Array.from(values), { shape }), 'contiguous'));
}

/** A 0/1 int32 mask of `shape`. */
export function maskArb(shape: readonly number[]): fc.Arbitrary<Tensor> {
  return indexArb(shape, 2);
}

// ************* run counts *************

/** fast-check runs per gradcheck property (small: every run does O(numel) forward passes). */
export const GRAD_RUNS = 30;
/** fast-check runs per gradgradcheck property. */
export const GRADGRAD_RUNS = 15;
