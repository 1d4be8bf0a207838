// Softmax along rows as WebAssembly SIMD, four columns at a time: the wasm side of
// softmaxForward / softmaxBackward in kernels/fused.ts (the js loops, its reference).
//
// Rows are staged into this thread's memory with set() (a memcpy), padded to a multiple of four
// columns (−∞ in the forward: exp gives 0 there; 0 in the backward), computed in place and
// copied back. exp is not an instruction: exp(x) = 2ⁿ·2ᶠ with t = x·log₂e, n = round(t),
// f = t − n ∈ [−½, ½], 2ᶠ = e^(f·ln 2) by its Taylor series to degree 7 (truncation below
// 6e-9, under float32's rounding), and 2ⁿ built from exponent bits. Softmax subtracts the row
// max first, so x ≤ 0 here; t is clamped at −127, where 2ⁿ's bits are those of 0.

import { type FunctionDef, type ValType, buildModule, op } from './builder.js';
import { KernelModule } from './memory.js';

const get = op.local_get, set = op.local_set, tee = op.local_tee;

// exp of the v128 local x (all lanes ≤ 0), leaving it on the stack; t, u are scratch v128 locals.
function exp4(x: number, t: number, u: number): number[][] {
  const code: number[][] = [
    // t = max(x·log₂e, −127); u = (t − round(t))·ln 2
    get(x), op.v128_const_f32x4(Math.LOG2E, Math.LOG2E, Math.LOG2E, Math.LOG2E), op.f32x4_mul(),
    op.v128_const_f32x4(-127, -127, -127, -127), op.f32x4_max(), set(t),
    get(t), get(t), op.f32x4_nearest(), tee(t), op.f32x4_sub(), op.v128_const_f32x4(Math.LN2, Math.LN2, Math.LN2, Math.LN2), op.f32x4_mul(), set(u),
  ];
  // Horner: 1 + u(1 + u(1/2 + u(1/6 + … + u/7!)))
  const inv = [1 / 5040, 1 / 720, 1 / 120, 1 / 24, 1 / 6, 1 / 2, 1, 1];
  code.push(op.v128_const_f32x4(inv[0]!, inv[0]!, inv[0]!, inv[0]!));
  for (const c of inv.slice(1)) code.push(get(u), op.f32x4_mul(), op.v128_const_f32x4(c, c, c, c), op.f32x4_add());
  // × 2ⁿ: the float with exponent bits n + 127 (n = −127 gives +0)
  code.push(get(t), op.i32x4_trunc_sat_f32x4_s(), op.v128_const_f32x4(...([127, 127, 127, 127].map((i) => new Float32Array(new Int32Array([i]).buffer)[0]!) as [number, number, number, number])),
    op.i32x4_add(), op.i32_const(23), op.i32x4_shl(), op.f32x4_mul());
  return code;
}

// A loop over the row's vectors: at byte address `at` (from the row's start to its end, step 16).
function overRow(at: number, row: number, end: number, body: number[][]): number[][] {
  return [get(row), set(at), op.loop(), ...body, get(at), op.i32_const(16), op.i32_add(), tee(at), get(end), op.i32_lt_s(), op.br_if(0), op.end()];
}

// The four lanes of v128 local v combined by a binary f32 instruction: (v0 ∘ v1) ∘ (v2 ∘ v3).
function horizontal(v: number, combine: number[]): number[][] {
  return [get(v), op.f32x4_extract_lane(0), get(v), op.f32x4_extract_lane(1), combine, get(v), op.f32x4_extract_lane(2), get(v), op.f32x4_extract_lane(3), combine, combine];
}

// softmaxRows(p, rows, cols4): each row of cols4 floats at p, in place: exp(x − max) / Σ.
// (An all −∞ row gives −∞ − −∞ = NaN everywhere, as the js kernel's 0/0 and PyTorch.)
function softmaxRows(): FunctionDef {
  const [p, rows, cols4] = [0, 1, 2];
  const [row, end, at, r] = [3, 4, 5, 6];
  const [m, acc, x, t, u] = [7, 8, 9, 10, 11];
  const body: number[][] = [
    get(p), set(row), op.i32_const(0), set(r),
    op.loop(),
    get(row), get(cols4), op.i32_const(4), op.i32_mul(), op.i32_add(), set(end),
    // m = the row max, in every lane
    op.v128_const_f32x4(-Infinity, -Infinity, -Infinity, -Infinity), set(acc),
    ...overRow(at, row, end, [get(acc), get(at), op.v128_load(0), op.f32x4_max(), set(acc)]),
    ...horizontal(acc, op.f32_max()), op.f32x4_splat(), set(m),
    // e = exp(x − m) stored over x; acc = Σ e
    op.v128_const_f32x4(0, 0, 0, 0), set(acc),
    ...overRow(at, row, end, [
      get(at), op.v128_load(0), get(m), op.f32x4_sub(), set(x),
      get(at), ...exp4(x, t, u), tee(x), op.v128_store(0),
      get(acc), get(x), op.f32x4_add(), set(acc),
    ]),
    // × 1/Σ
    op.f32_const(1), ...horizontal(acc, op.f32_add()), op.f32_div(), op.f32x4_splat(), set(m),
    ...overRow(at, row, end, [get(at), get(at), op.v128_load(0), get(m), op.f32x4_mul(), op.v128_store(0)]),
    get(end), set(row),
    get(r), op.i32_const(1), op.i32_add(), tee(r), get(rows), op.i32_lt_s(), op.br_if(0), op.end(),
  ];
  const locals: ValType[] = ['i32', 'i32', 'i32', 'i32', 'v128', 'v128', 'v128', 'v128', 'v128'];
  return { params: ['i32', 'i32', 'i32'], results: [], locals, body, exportAs: 'softmaxRows' };
}

// softmaxBackwardRows(g, y, rows, cols4): dX = y ⊙ (g − Σ g·y) per row, written over g.
function softmaxBackwardRows(): FunctionDef {
  const [g, y, rows, cols4] = [0, 1, 2, 3];
  const [row, end, at, r, dy] = [4, 5, 6, 7, 8];
  const [acc] = [9];
  const body: number[][] = [
    get(g), set(row), get(y), get(g), op.i32_sub(), set(dy), op.i32_const(0), set(r),
    op.loop(),
    get(row), get(cols4), op.i32_const(4), op.i32_mul(), op.i32_add(), set(end),
    op.v128_const_f32x4(0, 0, 0, 0), set(acc),
    ...overRow(at, row, end, [get(acc), get(at), op.v128_load(0), get(at), get(dy), op.i32_add(), op.v128_load(0), op.f32x4_mul(), op.f32x4_add(), set(acc)]),
    ...horizontal(acc, op.f32_add()), op.f32x4_splat(), set(acc),
    ...overRow(at, row, end, [
      get(at), get(at), get(dy), op.i32_add(), op.v128_load(0), get(at), op.v128_load(0), get(acc), op.f32x4_sub(), op.f32x4_mul(), op.v128_store(0),
    ]),
    get(end), set(row),
    get(r), op.i32_const(1), op.i32_add(), tee(r), get(rows), op.i32_lt_s(), op.br_if(0), op.end(),
  ];
  const locals: ValType[] = ['i32', 'i32', 'i32', 'i32', 'i32', 'v128'];
  return { params: ['i32', 'i32', 'i32', 'i32'], results: [], locals, body, exportAs: 'softmaxBackwardRows' };
}

/** The softmax module's bytes. */
export function softmaxModuleBytes(): Uint8Array<ArrayBuffer> {
  return buildModule([softmaxRows(), softmaxBackwardRows()]);
}

interface SoftmaxExports {
  softmaxRows: (p: number, rows: number, cols4: number) => void;
  softmaxBackwardRows: (g: number, y: number, rows: number, cols4: number) => void;
}
const softmaxModule = new KernelModule<SoftmaxExports>(softmaxModuleBytes);

// Copies rows [rows, cols] from src (row r at srcOff + r·cols) to f32 at float index `at` with
// rows of cols4 floats, the padding set to `pad`.
function stageRows(f32: Float32Array, at: number, src: Float32Array, srcOff: number, rows: number, cols: number, cols4: number, pad: number): void {
  if (cols === cols4) {
    f32.set(src.subarray(srcOff, srcOff + rows * cols), at);
    return;
  }
  for (let r = 0; r < rows; r++) {
    f32.set(src.subarray(srcOff + r * cols, srcOff + (r + 1) * cols), at + r * cols4);
    f32.fill(pad, at + r * cols4 + cols, at + (r + 1) * cols4);
  }
}

// The reverse of stageRows: rows of cols4 floats at `at` into dst [rows, cols] from 0.
function unstageRows(dst: Float32Array, f32: Float32Array, at: number, rows: number, cols: number, cols4: number): void {
  if (cols === cols4) {
    dst.set(f32.subarray(at, at + rows * cols));
    return;
  }
  for (let r = 0, d = 0, s = at; r < rows; r++, d += cols, s += cols4) {
    for (let j = 0; j < cols; j++) dst[d + j] = f32[s + j]!;
  }
}

/** out[r, :] = softmax(x[r, :]) in wasm SIMD (float32; shapes as softmaxForward in kernels/fused.ts). */
export function softmaxWasm(out: Float32Array, x: Float32Array, xOff: number, rows: number, cols: number): void {
  const cols4 = Math.ceil(cols / 4) * 4;
  const { exports, f32 } = softmaxModule.instance(rows * cols4 * 4);
  stageRows(f32, 0, x, xOff, rows, cols, cols4, -Infinity);
  exports.softmaxRows(0, rows, cols4);
  unstageRows(out, f32, 0, rows, cols, cols4);
}

/** dX = y ⊙ (dOut − Σ_j dOut_j·y_j) in wasm SIMD (float32; shapes as softmaxBackward in kernels/fused.ts). */
export function softmaxBackwardWasm(dX: Float32Array, dOut: Float32Array, dOutOff: number, y: Float32Array, rows: number, cols: number): void {
  const cols4 = Math.ceil(cols / 4) * 4;
  const yAt = rows * cols4;
  const { exports, f32 } = softmaxModule.instance(2 * rows * cols4 * 4);
  stageRows(f32, 0, dOut, dOutOff, rows, cols, cols4, 0);
  stageRows(f32, yAt, y, 0, rows, cols, cols4, 0);
  exports.softmaxBackwardRows(0, 4 * yAt, rows, cols4);
  unstageRows(dX, f32, 0, rows, cols, cols4);
}
