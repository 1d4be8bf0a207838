// Elementwise kernels: plain loops on typed arrays. They know nothing of autograd or shapes
// beyond what they are given; ops/ decides layouts and calls them on contiguous buffers.
// Shapes: every buffer here is flat, n elements, row-major.

import type { Storage } from '../dtype.js';

/**
 * Copies a strided view into another strided view of the same shape:
 * dst[dOff + Σ i_k·dStrides_k] = src[sOff + Σ i_k·sStrides_k] for every index i.
 */
export function copyStrided(
  dst: Storage, dOff: number, dStrides: readonly number[],
  src: Storage, sOff: number, sStrides: readonly number[],
  shape: readonly number[],
): void {
  const ndim = shape.length;
  if (ndim === 0) {
    dst[dOff] = src[sOff]!;
    return;
  }
  for (const s of shape) if (s === 0) return;
  const inner = shape[ndim - 1]!;
  const dIn = dStrides[ndim - 1]!;
  const sIn = sStrides[ndim - 1]!;
  const index = new Array<number>(ndim - 1).fill(0);
  let d = dOff;
  let s = sOff;
  for (;;) {
    if (dIn === 1 && sIn === 1) {
      for (let j = 0; j < inner; j++) dst[d + j] = src[s + j]!;
    } else {
      for (let j = 0; j < inner; j++) dst[d + j * dIn] = src[s + j * sIn]!;
    }
    // odometer over the outer dims
    let k = ndim - 2;
    while (k >= 0) {
      index[k]!++;
      d += dStrides[k]!;
      s += sStrides[k]!;
      if (index[k]! < shape[k]!) break;
      d -= dStrides[k]! * shape[k]!;
      s -= sStrides[k]! * shape[k]!;
      index[k] = 0;
      k--;
    }
    if (k < 0) return;
  }
}

/** Names of the unary elementwise kernels. */
export type UnaryKernel =
  | 'neg' | 'exp' | 'log' | 'sqrt' | 'rsqrt' | 'sin' | 'cos' | 'tanh' | 'sigmoid' | 'relu' | 'silu'
  | 'abs' | 'sign' | 'square' | 'reciprocal';

/** out[i] = f(x[i]) for n elements. */
export function unaryForward(kind: UnaryKernel, out: Storage, x: Storage, xOff: number, n: number): void {
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
    case 'reciprocal': for (let i = 0; i < n; i++) out[i] = 1 / x[xOff + i]!; return;
  }
}

/** Names of the binary elementwise kernels. */
export type BinaryKernel = 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'maximum' | 'minimum' | 'gt' | 'lt' | 'ge' | 'le' | 'eq' | 'ne';

/** out[i] = f(a[i], b[i]) over n elements; a and b are contiguous from their offsets. */
export function binaryForward(kind: BinaryKernel, out: Storage, a: Storage, aOff: number, b: Storage, bOff: number, n: number): void {
  switch (kind) {
    case 'add': for (let i = 0; i < n; i++) out[i] = a[aOff + i]! + b[bOff + i]!; return;
    case 'sub': for (let i = 0; i < n; i++) out[i] = a[aOff + i]! - b[bOff + i]!; return;
    case 'mul': for (let i = 0; i < n; i++) out[i] = a[aOff + i]! * b[bOff + i]!; return;
    case 'div': for (let i = 0; i < n; i++) out[i] = a[aOff + i]! / b[bOff + i]!; return;
    case 'pow': for (let i = 0; i < n; i++) out[i] = Math.pow(a[aOff + i]!, b[bOff + i]!); return;
    case 'maximum': for (let i = 0; i < n; i++) out[i] = Math.max(a[aOff + i]!, b[bOff + i]!); return;
    case 'minimum': for (let i = 0; i < n; i++) out[i] = Math.min(a[aOff + i]!, b[bOff + i]!); return;
    case 'gt': for (let i = 0; i < n; i++) out[i] = a[aOff + i]! > b[bOff + i]! ? 1 : 0; return;
    case 'lt': for (let i = 0; i < n; i++) out[i] = a[aOff + i]! < b[bOff + i]! ? 1 : 0; return;
    case 'ge': for (let i = 0; i < n; i++) out[i] = a[aOff + i]! >= b[bOff + i]! ? 1 : 0; return;
    case 'le': for (let i = 0; i < n; i++) out[i] = a[aOff + i]! <= b[bOff + i]! ? 1 : 0; return;
    case 'eq': for (let i = 0; i < n; i++) out[i] = a[aOff + i]! === b[bOff + i]! ? 1 : 0; return;
    case 'ne': for (let i = 0; i < n; i++) out[i] = a[aOff + i]! !== b[bOff + i]! ? 1 : 0; return;
  }
}

/** out[i] = f(a[i], s) with a scalar right operand (the common `x * 0.5` case, no broadcast copy). */
export function binaryScalarForward(kind: BinaryKernel, out: Storage, a: Storage, aOff: number, s: number, n: number, scalarOnLeft: boolean): void {
  if (scalarOnLeft) {
    // only the non-commutative kernels need the swapped form
    switch (kind) {
      case 'sub': for (let i = 0; i < n; i++) out[i] = s - a[aOff + i]!; return;
      case 'div': for (let i = 0; i < n; i++) out[i] = s / a[aOff + i]!; return;
      case 'pow': for (let i = 0; i < n; i++) out[i] = Math.pow(s, a[aOff + i]!); return;
      case 'gt': for (let i = 0; i < n; i++) out[i] = s > a[aOff + i]! ? 1 : 0; return;
      case 'lt': for (let i = 0; i < n; i++) out[i] = s < a[aOff + i]! ? 1 : 0; return;
      case 'ge': for (let i = 0; i < n; i++) out[i] = s >= a[aOff + i]! ? 1 : 0; return;
      case 'le': for (let i = 0; i < n; i++) out[i] = s <= a[aOff + i]! ? 1 : 0; return;
      default: break;
    }
  }
  switch (kind) {
    case 'add': for (let i = 0; i < n; i++) out[i] = a[aOff + i]! + s; return;
    case 'sub': for (let i = 0; i < n; i++) out[i] = a[aOff + i]! - s; return;
    case 'mul': for (let i = 0; i < n; i++) out[i] = a[aOff + i]! * s; return;
    case 'div': for (let i = 0; i < n; i++) out[i] = a[aOff + i]! / s; return;
    case 'pow':
      if (s === 2) for (let i = 0; i < n; i++) { const v = a[aOff + i]!; out[i] = v * v; }
      else for (let i = 0; i < n; i++) out[i] = Math.pow(a[aOff + i]!, s);
      return;
    case 'maximum': for (let i = 0; i < n; i++) out[i] = Math.max(a[aOff + i]!, s); return;
    case 'minimum': for (let i = 0; i < n; i++) out[i] = Math.min(a[aOff + i]!, s); return;
    case 'gt': for (let i = 0; i < n; i++) out[i] = a[aOff + i]! > s ? 1 : 0; return;
    case 'lt': for (let i = 0; i < n; i++) out[i] = a[aOff + i]! < s ? 1 : 0; return;
    case 'ge': for (let i = 0; i < n; i++) out[i] = a[aOff + i]! >= s ? 1 : 0; return;
    case 'le': for (let i = 0; i < n; i++) out[i] = a[aOff + i]! <= s ? 1 : 0; return;
    case 'eq': for (let i = 0; i < n; i++) out[i] = a[aOff + i]! === s ? 1 : 0; return;
    case 'ne': for (let i = 0; i < n; i++) out[i] = a[aOff + i]! !== s ? 1 : 0; return;
  }
}

/**
 * out[r, j] = f(a[r, j], b[j]): a is [rows, cols] contiguous, b is one row [cols] repeated for every
 * row (a bias or a norm weight) — the broadcast that needs no expanded copy.
 */
export function binaryRowForward(kind: BinaryKernel, out: Storage, a: Storage, aOff: number, b: Storage, bOff: number, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) {
    binaryForward(kind, out.subarray(r * cols, (r + 1) * cols), a, aOff + r * cols, b, bOff, cols);
  }
}
