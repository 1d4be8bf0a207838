// Elementwise kernels: plain loops on typed arrays. They know nothing of autograd or shapes
// beyond what they are given; ops/ decides layouts and calls them on contiguous buffers.
// Shapes: every buffer here is flat, n elements, row-major.
// With the 'wasm' backend, contiguous float32 add, sub, mul and div of at least WASM_MIN_LENGTH
// elements, and float32 silu of any length (so silu(g)·up stays bit-equal to the wasm swiglu), run
// in src/wasm/elementwise.ts (these loops their reference, and float64's kernels).

import { getBackend } from '../backend.js';
import type { Storage } from '../dtype.js';
import { type WasmBinaryKind, binaryWasm, siluWasm } from '../wasm/elementwise.js';

// Below this many elements the js loop beats staging the operands into wasm memory.
const WASM_MIN_LENGTH = 512;
const WASM_BINARY = new Set<BinaryKernel>(['add', 'sub', 'mul', 'div']);

/**
 * Drops size-1 dims and merges neighbours that every strided operand walks as one (stride of the
 * outer = stride of the inner · its size), so a broadcast or a transpose loops over as few dims as
 * it really has: [B, T, C] + [C] becomes [B·T, C] + [1·0, 1]. Returns the new shape and strides.
 */
export function collapseDims(shape: readonly number[], strides: ReadonlyArray<readonly number[]>): [number[], number[][]] {
  const outShape: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  for (let i = 0; i < shape.length; i++) {
    const size = shape[i]!;
    if (size === 1) continue;
    const last = outShape.length - 1;
    if (last >= 0 && strides.every((st, k) => outStrides[k]![last]! === st[i]! * size)) {
      // the previous (outer) dim steps exactly over this one: merge them
      outShape[last]! *= size;
      strides.forEach((st, k) => (outStrides[k]![last] = st[i]!));
      continue;
    }
    outShape.push(size);
    strides.forEach((st, k) => outStrides[k]!.push(st[i]!));
  }
  if (outShape.length === 0) {
    outShape.push(1);
    outStrides.forEach((st) => st.push(0));
  }
  return [outShape, outStrides];
}

/**
 * Copies a strided view into another strided view of the same shape:
 * dst[dOff + Σ i_k·dStrides_k] = src[sOff + Σ i_k·sStrides_k] for every index i.
 * The two innermost (collapsed) dims are explicit loops, so a [B, T, H, D] ↔ [B, H, T, D]
 * transpose runs T·D elements per step of the outer counter.
 */
export function copyStrided(
  dst: Storage, dOff: number, dStrides: readonly number[],
  src: Storage, sOff: number, sStrides: readonly number[],
  shape: readonly number[],
): void {
  if (shape.length === 0) {
    dst[dOff] = src[sOff]!;
    return;
  }
  for (const s of shape) if (s === 0) return;
  const [dims, [ds, ss]] = collapseDims(shape, [dStrides, sStrides]) as [number[], [number[], number[]]];
  const ndim = dims.length;
  const inner = dims[ndim - 1]!;
  const dIn = ds[ndim - 1]!;
  const sIn = ss[ndim - 1]!;
  if (ndim === 1 && dIn === 1 && sIn === 1) {
    // one contiguous run: a block copy (converting types as assignment does)
    dst.set(src.subarray(sOff, sOff + inner), dOff);
    return;
  }
  const rows = ndim >= 2 ? dims[ndim - 2]! : 1;
  const dRow = ndim >= 2 ? ds[ndim - 2]! : 0;
  const sRow = ndim >= 2 ? ss[ndim - 2]! : 0;
  const outer = ndim - 2; // dims walked by the odometer
  const index = new Array<number>(Math.max(outer, 0)).fill(0);
  let d = dOff;
  let s = sOff;
  for (;;) {
    for (let r = 0, dr = d, sr = s; r < rows; r++, dr += dRow, sr += sRow) {
      if (dIn === 1 && sIn === 1) {
        for (let j = 0; j < inner; j++) dst[dr + j] = src[sr + j]!;
      } else {
        for (let j = 0; j < inner; j++) dst[dr + j * dIn] = src[sr + j * sIn]!;
      }
    }
    // odometer over the outer dims
    let k = outer - 1;
    while (k >= 0) {
      index[k]!++;
      d += ds[k]!;
      s += ss[k]!;
      if (index[k]! < dims[k]!) break;
      d -= ds[k]! * dims[k]!;
      s -= ss[k]! * dims[k]!;
      index[k] = 0;
      k--;
    }
    if (k < 0) return;
  }
}

/** Names of the unary elementwise kernels. */
export type UnaryKernel =
  | 'neg' | 'exp' | 'log' | 'sqrt' | 'rsqrt' | 'sin' | 'cos' | 'tanh' | 'sigmoid' | 'relu' | 'silu'
  | 'abs' | 'sign' | 'square';

/** out[i] = f(x[i]) for n elements. */
export function unaryForward(kind: UnaryKernel, out: Storage, x: Storage, xOff: number, n: number): void {
  if (kind === 'silu' && out instanceof Float32Array && x instanceof Float32Array && getBackend() === 'wasm') {
    siluWasm(out, x, xOff, n);
    return;
  }
  switch (kind) {
    case 'neg': for (let i = 0; i < n; i++) out[i] = -x[xOff + i]!; return;
    case 'exp': for (let i = 0; i < n; i++) out[i] = Math.exp(x[xOff + i]!); return;
    case 'log': for (let i = 0; i < n; i++) out[i] = Math.log(x[xOff + i]!); return;
    case 'sqrt': for (let i = 0; i < n; i++) out[i] = Math.sqrt(x[xOff + i]!); return;
    case 'rsqrt': for (let i = 0; i < n; i++) out[i] = 1 / Math.sqrt(x[xOff + i]!); return;
    case 'sin': for (let i = 0; i < n; i++) out[i] = Math.sin(x[xOff + i]!); return;
    case 'cos': for (let i = 0; i < n; i++) out[i] = Math.cos(x[xOff + i]!); return;
    case 'tanh': for (let i = 0; i < n; i++) out[i] = Math.tanh(x[xOff + i]!); return;
    case 'sigmoid': for (let i = 0; i < n; i++) out[i] = 1 / (1 + Math.exp(-x[xOff + i]!)); return;
    case 'relu': for (let i = 0; i < n; i++) { const v = x[xOff + i]!; out[i] = v > 0 ? v : 0; } return;
    case 'silu': for (let i = 0; i < n; i++) { const v = x[xOff + i]!; out[i] = v / (1 + Math.exp(-v)); } return;
    case 'abs': for (let i = 0; i < n; i++) out[i] = Math.abs(x[xOff + i]!); return;
    case 'sign': for (let i = 0; i < n; i++) out[i] = Math.sign(x[xOff + i]!); return;
    case 'square': for (let i = 0; i < n; i++) { const v = x[xOff + i]!; out[i] = v * v; } return;
  }
}

/** Names of the binary elementwise kernels. */
export type BinaryKernel = 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'maximum' | 'minimum' | 'gt' | 'lt' | 'ge' | 'le' | 'eq' | 'ne';

/** out[outOff + i] = f(a[i], b[i]) over n elements; a and b are contiguous from their offsets. */
export function binaryForward(kind: BinaryKernel, out: Storage, a: Storage, aOff: number, b: Storage, bOff: number, n: number, outOff = 0): void {
  if (n >= WASM_MIN_LENGTH && WASM_BINARY.has(kind) && out instanceof Float32Array && a instanceof Float32Array && b instanceof Float32Array && getBackend() === 'wasm') {
    binaryWasm(kind as WasmBinaryKind, out, a, aOff, b, bOff, n, outOff);
    return;
  }
  switch (kind) {
    case 'add': for (let i = 0; i < n; i++) out[outOff + i] = a[aOff + i]! + b[bOff + i]!; return;
    case 'sub': for (let i = 0; i < n; i++) out[outOff + i] = a[aOff + i]! - b[bOff + i]!; return;
    case 'mul': for (let i = 0; i < n; i++) out[outOff + i] = a[aOff + i]! * b[bOff + i]!; return;
    case 'div': for (let i = 0; i < n; i++) out[outOff + i] = a[aOff + i]! / b[bOff + i]!; return;
    case 'pow': for (let i = 0; i < n; i++) out[outOff + i] = Math.pow(a[aOff + i]!, b[bOff + i]!); return;
    case 'maximum': for (let i = 0; i < n; i++) out[outOff + i] = Math.max(a[aOff + i]!, b[bOff + i]!); return;
    case 'minimum': for (let i = 0; i < n; i++) out[outOff + i] = Math.min(a[aOff + i]!, b[bOff + i]!); return;
    case 'gt': for (let i = 0; i < n; i++) out[outOff + i] = a[aOff + i]! > b[bOff + i]! ? 1 : 0; return;
    case 'lt': for (let i = 0; i < n; i++) out[outOff + i] = a[aOff + i]! < b[bOff + i]! ? 1 : 0; return;
    case 'ge': for (let i = 0; i < n; i++) out[outOff + i] = a[aOff + i]! >= b[bOff + i]! ? 1 : 0; return;
    case 'le': for (let i = 0; i < n; i++) out[outOff + i] = a[aOff + i]! <= b[bOff + i]! ? 1 : 0; return;
    case 'eq': for (let i = 0; i < n; i++) out[outOff + i] = a[aOff + i]! === b[bOff + i]! ? 1 : 0; return;
    case 'ne': for (let i = 0; i < n; i++) out[outOff + i] = a[aOff + i]! !== b[bOff + i]! ? 1 : 0; return;
  }
}

/** out[outOff + i] = f(a[i], s) with a scalar operand (the common `x * 0.5` case, no broadcast copy). */
export function binaryScalarForward(kind: BinaryKernel, out: Storage, a: Storage, aOff: number, s: number, n: number, scalarOnLeft: boolean, outOff = 0): void {
  if (scalarOnLeft) {
    // only the non-commutative kernels need the swapped form
    switch (kind) {
      case 'sub': for (let i = 0; i < n; i++) out[outOff + i] = s - a[aOff + i]!; return;
      case 'div': for (let i = 0; i < n; i++) out[outOff + i] = s / a[aOff + i]!; return;
      case 'pow': for (let i = 0; i < n; i++) out[outOff + i] = Math.pow(s, a[aOff + i]!); return;
      case 'gt': for (let i = 0; i < n; i++) out[outOff + i] = s > a[aOff + i]! ? 1 : 0; return;
      case 'lt': for (let i = 0; i < n; i++) out[outOff + i] = s < a[aOff + i]! ? 1 : 0; return;
      case 'ge': for (let i = 0; i < n; i++) out[outOff + i] = s >= a[aOff + i]! ? 1 : 0; return;
      case 'le': for (let i = 0; i < n; i++) out[outOff + i] = s <= a[aOff + i]! ? 1 : 0; return;
      default: break;
    }
  }
  switch (kind) {
    case 'add': for (let i = 0; i < n; i++) out[outOff + i] = a[aOff + i]! + s; return;
    case 'sub': for (let i = 0; i < n; i++) out[outOff + i] = a[aOff + i]! - s; return;
    case 'mul': for (let i = 0; i < n; i++) out[outOff + i] = a[aOff + i]! * s; return;
    case 'div': for (let i = 0; i < n; i++) out[outOff + i] = a[aOff + i]! / s; return;
    case 'pow':
      if (s === 2) for (let i = 0; i < n; i++) { const v = a[aOff + i]!; out[outOff + i] = v * v; }
      else for (let i = 0; i < n; i++) out[outOff + i] = Math.pow(a[aOff + i]!, s);
      return;
    case 'maximum': for (let i = 0; i < n; i++) out[outOff + i] = Math.max(a[aOff + i]!, s); return;
    case 'minimum': for (let i = 0; i < n; i++) out[outOff + i] = Math.min(a[aOff + i]!, s); return;
    case 'gt': for (let i = 0; i < n; i++) out[outOff + i] = a[aOff + i]! > s ? 1 : 0; return;
    case 'lt': for (let i = 0; i < n; i++) out[outOff + i] = a[aOff + i]! < s ? 1 : 0; return;
    case 'ge': for (let i = 0; i < n; i++) out[outOff + i] = a[aOff + i]! >= s ? 1 : 0; return;
    case 'le': for (let i = 0; i < n; i++) out[outOff + i] = a[aOff + i]! <= s ? 1 : 0; return;
    case 'eq': for (let i = 0; i < n; i++) out[outOff + i] = a[aOff + i]! === s ? 1 : 0; return;
    case 'ne': for (let i = 0; i < n; i++) out[outOff + i] = a[aOff + i]! !== s ? 1 : 0; return;
  }
}

/**
 * out = f(a, b) over `shape`, out contiguous, a and b read through strides (0 along the dims they
 * are broadcast over): every broadcast — a row ([N, C] op [C]), a column ([N, C] op [N, 1]), leading
 * dims — without an expanded copy. Each row of the innermost dim runs as a dense, scalar or
 * strided loop, whichever its strides allow.
 */
export function binaryStridedForward(kind: BinaryKernel, out: Storage, a: Storage, aOff: number, aStrides: readonly number[], b: Storage, bOff: number, bStrides: readonly number[], shape: readonly number[]): void {
  for (const s of shape) if (s === 0) return;
  const [dims, [as, bs]] = collapseDims(shape, [aStrides, bStrides]) as [number[], [number[], number[]]];
  const ndim = dims.length;
  const inner = dims[ndim - 1]!;
  const aIn = as[ndim - 1]!;
  const bIn = bs[ndim - 1]!;
  const index = new Array<number>(ndim - 1).fill(0);
  let ai = aOff;
  let bi = bOff;
  for (let o = 0; ; o += inner) {
    if (aIn === 1 && bIn === 1) binaryForward(kind, out, a, ai, b, bi, inner, o);
    else if (aIn === 1 && bIn === 0) binaryScalarForward(kind, out, a, ai, b[bi]!, inner, false, o);
    else if (aIn === 0 && bIn === 1) binaryScalarForward(kind, out, b, bi, a[ai]!, inner, true, o);
    else binaryStridedRow(kind, out, o, a, ai, aIn, b, bi, bIn, inner);
    let k = ndim - 2;
    while (k >= 0) {
      index[k]!++;
      ai += as[k]!;
      bi += bs[k]!;
      if (index[k]! < dims[k]!) break;
      ai -= as[k]! * dims[k]!;
      bi -= bs[k]! * dims[k]!;
      index[k] = 0;
      k--;
    }
    if (k < 0) return;
  }
}

// out[o + j] = f(a[aOff + j·aStep], b[bOff + j·bStep]) for j < n: a row of any strides.
function binaryStridedRow(kind: BinaryKernel, out: Storage, o: number, a: Storage, aOff: number, aStep: number, b: Storage, bOff: number, bStep: number, n: number): void {
  let i = aOff;
  let k = bOff;
  const end = o + n;
  switch (kind) {
    case 'add': for (; o < end; o++, i += aStep, k += bStep) out[o] = a[i]! + b[k]!; return;
    case 'sub': for (; o < end; o++, i += aStep, k += bStep) out[o] = a[i]! - b[k]!; return;
    case 'mul': for (; o < end; o++, i += aStep, k += bStep) out[o] = a[i]! * b[k]!; return;
    case 'div': for (; o < end; o++, i += aStep, k += bStep) out[o] = a[i]! / b[k]!; return;
    case 'pow': for (; o < end; o++, i += aStep, k += bStep) out[o] = Math.pow(a[i]!, b[k]!); return;
    case 'maximum': for (; o < end; o++, i += aStep, k += bStep) out[o] = Math.max(a[i]!, b[k]!); return;
    case 'minimum': for (; o < end; o++, i += aStep, k += bStep) out[o] = Math.min(a[i]!, b[k]!); return;
    case 'gt': for (; o < end; o++, i += aStep, k += bStep) out[o] = a[i]! > b[k]! ? 1 : 0; return;
    case 'lt': for (; o < end; o++, i += aStep, k += bStep) out[o] = a[i]! < b[k]! ? 1 : 0; return;
    case 'ge': for (; o < end; o++, i += aStep, k += bStep) out[o] = a[i]! >= b[k]! ? 1 : 0; return;
    case 'le': for (; o < end; o++, i += aStep, k += bStep) out[o] = a[i]! <= b[k]! ? 1 : 0; return;
    case 'eq': for (; o < end; o++, i += aStep, k += bStep) out[o] = a[i]! === b[k]! ? 1 : 0; return;
    case 'ne': for (; o < end; o++, i += aStep, k += bStep) out[o] = a[i]! !== b[k]! ? 1 : 0; return;
  }
}
