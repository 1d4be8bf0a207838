// The rotary embedding as WebAssembly SIMD, four pairs at a time: the wasm side of rotaryForward
// and rotaryBackward in kernels/fused.ts (the js loops, their reference; shapes as there).
//
// x's rows sit at any offsets (a [B, H, T, D] transposed view of [B, T, H, D]); the whole span of
// storage they cover is staged with one set() (a memcpy), as are the cos and sin rows of the T
// positions, and each row is read at its own offset in the copy. The output (a fresh dense
// tensor) is written the same way and its span copied back. Each product is rounded to float32
// and then the sum or difference, as the js loop's fround(a·cos) ∓ fround(b·sin) stored to float32
// (float64 holds more than twice float32's bits, so its second rounding changes nothing): the two
// agree bit for bit. The backward is the forward with the table sin' = (−sin[h:], −sin[:h]):
// dA = g_a·cos[i] − g_b·sin'[i], dB = g_b·cos[h + i] + g_a·sin'[h + i].

import { type FunctionDef, type ValType, buildModule, op } from './builder.js';
import { KernelModule } from './memory.js';

const get = op.local_get, set = op.local_set, tee = op.local_tee;

// rotaryRows(xRows, outRows, N, T, xStep, outStep, cos, sin, rowBytes, halfBytes): for each of the
// N row tables' entries (byte addresses, i32) and each t < T, the row x at xRows[n] + t·xStep
// gives out at outRows[n] + t·outStep: out[i] = a·cos[i] − b·sin[i], out[h + i] = b·cos[h + i] +
// a·sin[h + i] (a = x[i], b = x[h + i]); cos and sin advance one row (rowBytes) per t.
function rotaryRows(): FunctionDef {
  const [xRows, outRows, N, T, xStep, outStep, cos, sin, rowBytes, halfBytes] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const [n, t, xr, or, c, s, i] = [10, 11, 12, 13, 14, 15, 16];
  const [a, b] = [17, 18];
  const addr = (base: number, half: boolean): number[][] => half ? [get(base), get(i), op.i32_add(), get(halfBytes), op.i32_add()] : [get(base), get(i), op.i32_add()];
  const body: number[][] = [
    op.i32_const(0), set(n),
    op.loop(),
    get(xRows), get(n), op.i32_const(4), op.i32_mul(), op.i32_add(), op.i32_load(0), set(xr),
    get(outRows), get(n), op.i32_const(4), op.i32_mul(), op.i32_add(), op.i32_load(0), set(or),
    get(cos), set(c), get(sin), set(s), op.i32_const(0), set(t),
    op.loop(),
    op.i32_const(0), set(i),
    op.loop(),
    ...addr(xr, false), op.v128_load(0), set(a),
    ...addr(xr, true), op.v128_load(0), set(b),
    ...addr(or, false), get(a), ...addr(c, false), op.v128_load(0), op.f32x4_mul(), get(b), ...addr(s, false), op.v128_load(0), op.f32x4_mul(), op.f32x4_sub(), op.v128_store(0),
    ...addr(or, true), get(b), ...addr(c, true), op.v128_load(0), op.f32x4_mul(), get(a), ...addr(s, true), op.v128_load(0), op.f32x4_mul(), op.f32x4_add(), op.v128_store(0),
    get(i), op.i32_const(16), op.i32_add(), tee(i), get(halfBytes), op.i32_lt_s(), op.br_if(0),
    op.end(),
    get(xr), get(xStep), op.i32_add(), set(xr), get(or), get(outStep), op.i32_add(), set(or),
    get(c), get(rowBytes), op.i32_add(), set(c), get(s), get(rowBytes), op.i32_add(), set(s),
    get(t), op.i32_const(1), op.i32_add(), tee(t), get(T), op.i32_lt_s(), op.br_if(0),
    op.end(),
    get(n), op.i32_const(1), op.i32_add(), tee(n), get(N), op.i32_lt_s(), op.br_if(0),
    op.end(),
  ];
  const locals: ValType[] = ['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'v128', 'v128'];
  return { params: ['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32'], results: [], locals, body, exportAs: 'rotaryRows' };
}

/** The rotary module's bytes. */
function rotaryModuleBytes(): Uint8Array<ArrayBuffer> {
  return buildModule([rotaryRows()]);
}

interface RotaryExports {
  rotaryRows: (xRows: number, outRows: number, N: number, T: number, xStep: number, outStep: number, cos: number, sin: number, rowBytes: number, halfBytes: number) => void;
}
const rotaryModule = new KernelModule<RotaryExports>(rotaryModuleBytes);

// The storage span [lo, hi) covered by N·T rows of D at rows[n] + t·step (step ≥ 0).
function span(rows: Int32Array, step: number, T: number, D: number): [number, number] {
  let lo = Infinity, hi = -Infinity;
  for (const r of rows) {
    lo = Math.min(lo, r);
    hi = Math.max(hi, r + (T - 1) * step + D);
  }
  return [lo, hi];
}

/**
 * True when rotaryWasm can run these rows: half of D a multiple of four, the output's rows tiling
 * its span exactly (a fresh dense tensor), the input's span at most four times its size.
 */
export function rotaryWasmFits(outRows: Int32Array, outT: number, xRows: Int32Array, xT: number, N: number, T: number, D: number): boolean {
  if (D % 8 !== 0 || N === 0 || T === 0 || outT < 0 || xT < 0) return false;
  const size = N * T * D;
  const [oLo, oHi] = span(outRows, outT, T, D);
  const [xLo, xHi] = span(xRows, xT, T, D);
  return oHi - oLo === size && xHi - xLo <= 4 * size;
}

/**
 * The rotary rows of rotaryForward (backward: false) or rotaryBackward (backward: true) in wasm
 * SIMD, float32; the rows must pass rotaryWasmFits.
 */
export function rotaryWasm(
  backward: boolean, out: Float32Array, outRows: Int32Array, outT: number, x: Float32Array, xRows: Int32Array, xT: number,
  cos: Float32Array, cosOff: number, sin: Float32Array, sinOff: number, N: number, T: number, D: number,
): void {
  const h = D / 2;
  const [oLo, oHi] = span(outRows, outT, T, D);
  const [xLo, xHi] = span(xRows, xT, T, D);
  // floats: x's span, out's span, cos and sin rows [T, D], then the two row tables (i32)
  const xAt = 0, outAt = xHi - xLo, cosAt = outAt + (oHi - oLo), sinAt = cosAt + T * D, rowsAt = sinAt + T * D;
  const { exports, f32 } = rotaryModule.instance((rowsAt + 2 * N) * 4);
  const i32 = new Int32Array(f32.buffer, 4 * rowsAt, 2 * N);
  f32.set(x.subarray(xLo, xHi), xAt);
  f32.set(cos.subarray(cosOff, cosOff + T * D), cosAt);
  if (!backward) f32.set(sin.subarray(sinOff, sinOff + T * D), sinAt);
  else {
    for (let t = 0, r = sinOff, d = sinAt; t < T; t++, r += D, d += D) {
      for (let i = 0; i < h; i++) {
        f32[d + i] = -sin[r + h + i]!;
        f32[d + h + i] = -sin[r + i]!;
      }
    }
  }
  for (let n = 0; n < N; n++) {
    i32[n] = 4 * (xAt + xRows[n]! - xLo);
    i32[N + n] = 4 * (outAt + outRows[n]! - oLo);
  }
  exports.rotaryRows(4 * rowsAt, 4 * (rowsAt + N), N, T, 4 * xT, 4 * outT, 4 * cosAt, 4 * sinAt, 4 * D, 4 * h);
  out.set(f32.subarray(outAt, outAt + (oHi - oLo)), oLo);
}
