// RMSNorm along rows as WebAssembly SIMD, four columns at a time: the wasm side of
// rmsNormForward and rmsNormBackward in kernels/fused.ts (the js loops, their reference).
//
// Forward: x's rows and the weight are staged into this thread's memory with set() (a memcpy),
// padded with zeros to a multiple of four columns (zeros add nothing to Σx²), normalized in place
// and copied back; rstd per row comes back too, for the backward.
// Backward: blocks of rows of dOut and x are staged the same way (zeros in the padding give zero
// products), two columns at a time in float64 lanes as the js loop computes (rstd and the weight
// gradient stay float64 in the memory), dX written over dOut and copied back. Only the row's dot
// product is summed in another order (two lanes), so dW equals the js loop's bit for bit and dX
// nearly always. (In float32 lanes it was faster, but its rounding moved the Hugging Face
// conformance run's gradient norm past tolerance, and rstd³ overflowed where doubles do not.)

import { type FunctionDef, type ValType, buildModule, op } from './builder.js';
import { KernelModule } from './memory.js';

const get = op.local_get, set = op.local_set, tee = op.local_tee;

// rmsNormRows(p, w, rstd, rows, cols4, cols, eps): each row x of cols4 floats at p becomes
// x · s · w with s = 1/√(Σx²/cols + eps), stored at rstd + 4r.
function rmsNormRows(): FunctionDef {
  const [p, w, rstd, rows, cols4, cols, eps] = [0, 1, 2, 3, 4, 5, 6];
  const [row, end, at, r, s] = [7, 8, 9, 10, 11];
  const [acc, x] = [12, 13];
  const over = (body: number[][]) => [get(row), set(at), op.loop(), ...body, get(at), op.i32_const(16), op.i32_add(), tee(at), get(end), op.i32_lt_s(), op.br_if(0), op.end()];
  const body: number[][] = [
    get(p), set(row), op.i32_const(0), set(r),
    op.loop(),
    get(row), get(cols4), op.i32_const(4), op.i32_mul(), op.i32_add(), set(end),
    op.f32_const(0), op.f32x4_splat(), set(acc),
    ...over([get(at), op.v128_load(0), tee(x), get(x), op.f32x4_mul(), get(acc), op.f32x4_add(), set(acc)]),
    // s = 1 / sqrt((acc0 + acc1 + acc2 + acc3) / cols + eps)
    op.f32_const(1),
    get(acc), op.f32x4_extract_lane(0), get(acc), op.f32x4_extract_lane(1), op.f32_add(),
    get(acc), op.f32x4_extract_lane(2), get(acc), op.f32x4_extract_lane(3), op.f32_add(), op.f32_add(),
    get(cols), op.f32_div(), get(eps), op.f32_add(), op.f32_sqrt(), op.f32_div(), set(s),
    get(rstd), get(r), op.i32_const(4), op.i32_mul(), op.i32_add(), get(s), op.f32_store(0),
    get(s), op.f32x4_splat(), set(acc),
    // out = (x · s) · w; the weight's column is at the same distance from w as x's from the row
    ...over([get(at), get(at), op.v128_load(0), get(acc), op.f32x4_mul(), get(w), get(at), get(row), op.i32_sub(), op.i32_add(), op.v128_load(0), op.f32x4_mul(), op.v128_store(0)]),
    get(end), set(row),
    get(r), op.i32_const(1), op.i32_add(), tee(r), get(rows), op.i32_lt_s(), op.br_if(0), op.end(),
  ];
  const locals: ValType[] = ['i32', 'i32', 'i32', 'i32', 'f32', 'v128', 'v128'];
  return { params: ['i32', 'i32', 'i32', 'i32', 'i32', 'f32', 'f32'], results: [], locals, body, exportAs: 'rmsNormRows' };
}

// rmsNormBackwardRows(g, x, w, rstd, dW, rows, cols2, cols): for each row (s = rstd[r], float64),
// two columns per step in float64: dot = Σ (g·w)·x; dW += (g·x)·s; then, with k = s·s·s·dot/cols,
// g becomes dX = (s·g)·w − x·k, rounded to float32. g, x, w are float32 rows of cols2 (even).
function rmsNormBackwardRows(): FunctionDef {
  const [g, x, w, rstd, dW, rows, cols2, cols] = [0, 1, 2, 3, 4, 5, 6, 7];
  const [row, xRow, end, at, r, s] = [8, 9, 10, 11, 12, 13];
  const [acc, sv, kv, gv, xv] = [14, 15, 16, 17, 18];
  const load2 = (base: number): number[][] => [get(base), get(at), op.i32_add(), op.v128_load64_zero(0), op.f64x2_promote_low_f32x4()];
  // a loop over the row's pairs; `at` is the byte offset within the float32 row (0, 8, …)
  const over = (body: number[][]) => [op.i32_const(0), set(at), op.loop(), ...body, get(at), op.i32_const(8), op.i32_add(), tee(at), get(end), op.i32_lt_s(), op.br_if(0), op.end()];
  const dWAt = (): number[][] => [get(dW), get(at), op.i32_const(2), op.i32_mul(), op.i32_add()];
  const body: number[][] = [
    get(g), set(row), get(x), set(xRow), op.i32_const(0), set(r),
    get(cols2), op.i32_const(4), op.i32_mul(), set(end),
    op.loop(),
    get(rstd), get(r), op.i32_const(8), op.i32_mul(), op.i32_add(), op.f64_load(0), tee(s), op.f64x2_splat(), set(sv),
    op.f32_const(0), op.f32x4_splat(), set(acc), // all bits 0: two float64 zeros
    ...over([
      get(row), get(at), op.i32_add(), op.v128_load64_zero(0), op.f64x2_promote_low_f32x4(), set(gv),
      get(xRow), get(at), op.i32_add(), op.v128_load64_zero(0), op.f64x2_promote_low_f32x4(), set(xv),
      get(acc), get(gv), ...load2(w), op.f64x2_mul(), get(xv), op.f64x2_mul(), op.f64x2_add(), set(acc),
      ...dWAt(), ...dWAt(), op.v128_load(0), get(gv), get(xv), op.f64x2_mul(), get(sv), op.f64x2_mul(), op.f64x2_add(), op.v128_store(0),
    ]),
    // k = s·s·s·dot / cols
    get(s), get(s), op.f64_mul(), get(s), op.f64_mul(),
    get(acc), op.f64x2_extract_lane(0), get(acc), op.f64x2_extract_lane(1), op.f64_add(),
    op.f64_mul(), get(cols), op.f64_div(), op.f64x2_splat(), set(kv),
    ...over([
      get(row), get(at), op.i32_add(),
      get(sv), get(row), get(at), op.i32_add(), op.v128_load64_zero(0), op.f64x2_promote_low_f32x4(), op.f64x2_mul(), ...load2(w), op.f64x2_mul(),
      get(xRow), get(at), op.i32_add(), op.v128_load64_zero(0), op.f64x2_promote_low_f32x4(), get(kv), op.f64x2_mul(), op.f64x2_sub(),
      op.f32x4_demote_f64x2_zero(), op.v128_store64_lane(0, 0),
    ]),
    get(row), get(end), op.i32_add(), set(row),
    get(xRow), get(end), op.i32_add(), set(xRow),
    get(r), op.i32_const(1), op.i32_add(), tee(r), get(rows), op.i32_lt_s(), op.br_if(0), op.end(),
  ];
  const locals: ValType[] = ['i32', 'i32', 'i32', 'i32', 'i32', 'f64', 'v128', 'v128', 'v128', 'v128', 'v128'];
  return { params: ['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'f64'], results: [], locals, body, exportAs: 'rmsNormBackwardRows' };
}

/** The RMSNorm module's bytes. */
function rmsNormModuleBytes(): Uint8Array<ArrayBuffer> {
  return buildModule([rmsNormRows(), rmsNormBackwardRows()]);
}

interface RmsNormExports {
  rmsNormRows: (p: number, w: number, rstd: number, rows: number, cols4: number, cols: number, eps: number) => void;
  rmsNormBackwardRows: (g: number, x: number, w: number, rstd: number, dW: number, rows: number, cols2: number, cols: number) => void;
}
const rmsNormModule = new KernelModule<RmsNormExports>(rmsNormModuleBytes);

/** out = x · rstd · w with rstd[r] = 1/√(mean(x[r]²) + eps) in wasm SIMD (float32; shapes as rmsNormForward in kernels/fused.ts). */
export function rmsNormWasm(out: Float32Array, rstd: Float64Array, x: Float32Array, xOff: number, w: Float32Array, wOff: number, rows: number, cols: number, eps: number): void {
  const cols4 = Math.ceil(cols / 4) * 4;
  const wAt = rows * cols4, rstdAt = wAt + cols4;
  const { exports, f32 } = rmsNormModule.instance((rstdAt + rows) * 4);
  if (cols === cols4) f32.set(x.subarray(xOff, xOff + rows * cols));
  else {
    for (let r = 0; r < rows; r++) {
      f32.set(x.subarray(xOff + r * cols, xOff + (r + 1) * cols), r * cols4);
      f32.fill(0, r * cols4 + cols, (r + 1) * cols4);
    }
  }
  f32.set(w.subarray(wOff, wOff + cols), wAt);
  f32.fill(0, wAt + cols, wAt + cols4);
  exports.rmsNormRows(0, 4 * wAt, 4 * rstdAt, rows, cols4, cols, eps);
  if (cols === cols4) out.set(f32.subarray(0, rows * cols));
  else for (let r = 0, d = 0, s = 0; r < rows; r++, d += cols, s += cols4) for (let j = 0; j < cols; j++) out[d + j] = f32[s + j]!;
  for (let r = 0; r < rows; r++) rstd[r] = f32[rstdAt + r]!;
}

// Floats of dOut (and of x) per staged block of the backward: 64 KiB each.
const BLOCK = 16384;

// Copies rows of cols floats (from src at off, row after row) into f32 at `at` as rows of colsPad, zero-padded.
function stageRows(f32: Float32Array, at: number, src: Float32Array, off: number, rows: number, cols: number, colsPad: number): void {
  if (cols === colsPad) {
    f32.set(src.subarray(off, off + rows * cols), at);
    return;
  }
  for (let r = 0; r < rows; r++) {
    f32.set(src.subarray(off + r * cols, off + (r + 1) * cols), at + r * colsPad);
    f32.fill(0, at + r * colsPad + cols, at + (r + 1) * colsPad);
  }
}

/** dX and dW (added into) of RMSNorm in wasm SIMD (float32 dX, float64 dW; shapes as rmsNormBackward in kernels/fused.ts). */
export function rmsNormBackwardWasm(dX: Float32Array, dW: Float64Array, dOut: Float32Array, dOutOff: number, x: Float32Array, xOff: number, w: Float32Array, wOff: number, rstd: Float64Array, rows: number, cols: number): void {
  const cols2 = cols + (cols & 1);
  const blockRows = Math.min(rows, Math.max(1, Math.floor(BLOCK / cols2)));
  // floats: dOut's block, x's block, w; then (8-byte aligned: every offset so far is even) dW and rstd as doubles
  const gAt = 0, xAt = blockRows * cols2, wAt = 2 * xAt, dWAt = wAt + cols2, rstdAt = dWAt + 2 * cols2;
  const { exports, f32 } = rmsNormModule.instance((rstdAt + 2 * blockRows) * 4);
  const f64 = new Float64Array(f32.buffer, 4 * dWAt, cols2 + blockRows);
  f32.set(w.subarray(wOff, wOff + cols), wAt);
  f32.fill(0, wAt + cols, wAt + cols2);
  f64.set(dW.subarray(0, cols));
  f64.fill(0, cols, cols2);
  for (let r0 = 0; r0 < rows; r0 += blockRows) {
    const n = Math.min(blockRows, rows - r0);
    stageRows(f32, gAt, dOut, dOutOff + r0 * cols, n, cols, cols2);
    stageRows(f32, xAt, x, xOff + r0 * cols, n, cols, cols2);
    f64.set(rstd.subarray(r0, r0 + n), cols2);
    exports.rmsNormBackwardRows(4 * gAt, 4 * xAt, 4 * wAt, 4 * rstdAt, 4 * dWAt, n, cols2, cols);
    if (cols === cols2) dX.set(f32.subarray(gAt, gAt + n * cols), r0 * cols);
    else for (let r = 0; r < n; r++) dX.set(f32.subarray(gAt + r * cols2, gAt + r * cols2 + cols), (r0 + r) * cols);
  }
  dW.set(f64.subarray(0, cols));
}
