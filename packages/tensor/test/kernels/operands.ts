// Matmul operands for the kernel tests (js and wasm alike): seeded values and the strided layouts
// a view can have.

import type { FloatArray } from '../../src/dtype.js';

/** How an operand is laid out in its buffer. */
export type Layout = 'rowMajor' | 'transposed' | 'subBlock' | 'subBlockTransposed' | 'expanded';

/** An [rows, cols] operand: the buffer plus how element (r, c) is found in it. */
export interface View { data: FloatArray; offset: number; rowStride: number; colStride: number }

/** Deterministic values in [-1, 1) (mulberry32), so a failing case replays from its seed. */
export function fill(data: FloatArray, seed: number): void {
  let s = seed >>> 0;
  for (let i = 0; i < data.length; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    data[i] = ((t ^ (t >>> 14)) >>> 0) / 2 ** 31 - 1;
  }
}

/**
 * Lays out a seeded [rows, cols] operand. subBlock cuts it from a bigger matrix at an offset, taking
 * every second column (subBlockTransposed: the transpose of that); expanded repeats one row (row
 * stride 0), as a broadcast view does.
 */
export function makeView(layout: Layout, dtype: 'float32' | 'float64', rows: number, cols: number, seed: number): View {
  const pad = 3;
  let view: Omit<View, 'data'>, size: number;
  if (layout === 'rowMajor') [view, size] = [{ offset: 0, rowStride: cols, colStride: 1 }, rows * cols];
  else if (layout === 'transposed') [view, size] = [{ offset: 0, rowStride: 1, colStride: rows }, rows * cols];
  else if (layout === 'expanded') [view, size] = [{ offset: 1, rowStride: 0, colStride: 1 }, cols + 1];
  else {
    // the parent is [rows + pad, 2·cols + pad] (or its transpose); the block starts at (2, 1)
    const parentCols = 2 * cols + pad;
    size = (rows + pad) * parentCols;
    view = layout === 'subBlock'
      ? { offset: 2 * parentCols + 1, rowStride: parentCols, colStride: 2 }
      : { offset: 2 + (rows + pad), rowStride: 1, colStride: 2 * (rows + pad) };
  }
  const n = Math.max(size, 1);
  const data = dtype === 'float32' ? new Float32Array(n) : new Float64Array(n);
  fill(data, seed);
  return { data, ...view };
}
