// tensor.toString(): shape, dtype and the values, with long dims elided as PyTorch does.

import { formatShape } from './shape.js';
import type { Tensor } from './tensor.js';

const EDGE = 3; // values shown at each end of a long dim
const LONG = 6; // dims longer than this are elided

/** Renders a tensor as `tensor([[1.0000, 2.0000], …], shape=[2, 2], dtype=float32)`. */
export function formatTensor(t: Tensor): string {
  const values = t.toTypedArray();
  const isInt = t.dtype === 'int32';
  const num = (v: number) => (isInt ? String(v) : Number.isFinite(v) ? v.toFixed(4) : String(v));
  const strides: number[] = [];
  let s = 1;
  for (let i = t.ndim - 1; i >= 0; i--) {
    strides[i] = s;
    s *= t.shape[i]!;
  }
  const render = (dim: number, start: number, indent: string): string => {
    if (dim === t.ndim) return num(values[start]!);
    const size = t.shape[dim]!;
    const picks: Array<number | null> = size > LONG
      ? [...Array.from({ length: EDGE }, (_, i) => i), null, ...Array.from({ length: EDGE }, (_, i) => size - EDGE + i)]
      : Array.from({ length: size }, (_, i) => i);
    const parts = picks.map((i) => (i === null ? '...' : render(dim + 1, start + i * strides[dim]!, indent + ' ')));
    const sep = dim === t.ndim - 1 ? ', ' : `,\n${indent} `;
    return `[${parts.join(sep)}]`;
  };
  const grad = t.gradFn ? `, gradFn=${t.gradFn.name}` : t.requiresGrad ? ', requiresGrad=true' : '';
  return `tensor(${render(0, 0, '       ')}, shape=${formatShape(t.shape)}, dtype=${t.dtype}${grad})`;
}
