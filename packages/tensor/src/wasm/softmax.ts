// Softmax, log-softmax and cross-entropy along rows as WebAssembly SIMD, four columns at a time:
// the wasm side of their kernels in kernels/fused.ts (the js loops, its reference), all built on
// one exp (exp4).
//
// Rows are staged into this thread's memory with set() (a memcpy), padded to a multiple of four
// columns (−∞ in the forward: exp gives 0 there; 0 in the backward), computed in place and
// copied back. exp is not an instruction: exp(x) = 2ᵗ = 2ⁿ·2ᵛ with t = x·log₂e, n = round(t),
// v = t − n ∈ [−½, ½], 2ᵛ by a degree-5 polynomial and 2ⁿ built from exponent bits (see exp4).
//
// Why it is written this way (measured in the kernel's time, which was 3× what it is now): the
// row max runs four independent maxima with f32x4.pmax (one running f32x4.max is bound by that
// instruction's latency, eight x64 instructions in V8 for its NaN and ±0 rules), and exp takes
// few instructions: 2ⁿ's exponent bits come from adding 1.5·2²³ + 128 to t (the sum's low
// mantissa bits are then n + 128) rather than from i32x4.trunc_sat_f32x4_s, which V8 expands on
// x64, n itself from f32x4.nearest (one instruction), and the reduction stays in base 2. (Keeping
// exp's constants in locals rather than v128.const measured the same; two vectors a step, the
// same or slower.)

import { type FunctionDef, type ValType, buildModule, op } from './builder.js';
import { KernelModule } from './memory.js';

const get = op.local_get, set = op.local_set, tee = op.local_tee;

// 2ᵛ ≈ Σ EXP2_POLY[k]·vᵏ on [−½, ½]: the float32 coefficients of the degree-5 fit that minimizes
// the relative error with the constant term held at 1, so that exp(0) is exactly 1 (the row max's
// entry: log-softmax gives it exactly 0 in a row whose other entries vanish). 9.1e-8 in exact
// arithmetic, 1.9e-7 evaluated in float32. exp4 evaluates half of it (EXP2_HALF_POLY, the same
// coefficients halved: exact, and so is every rounding of the evaluation) and doubles through 2ⁿ⁺¹.
const EXP2_POLY = [1, 0.6931470036506653, 0.24022242426872253, 0.05550733581185341, 0.009671512991189957, 0.001326472731307149];
const EXP2_HALF_POLY = EXP2_POLY.map((c) => c / 2);
// 1.5·2²³ + 128: for t ∈ [−128.5, 126.5), the float t + ROUNDER has n + 128 (n = round(t)) in its
// low mantissa bits, which shifted up 23 bits are 2ⁿ⁺¹'s exponent. Even, so that the sum rounds t's
// halves to even as f32x4.nearest does (an odd one would round some of them the other way, and
// 2ⁿ would not match the n taken off t).
const ROUNDER = 12582912 + 128;
// below this, t = x·log₂e < −127.5 rounds to n = −128, whose 2ⁿ⁺¹ bits are those of +0 (and −∞
// or −1e30 never reach the polynomial); above it exp underflows smoothly to float32 subnormals
const EXP_X_MIN = -88.5;

// The v128 locals exp4 uses: `constants` is the first of EXP_CONSTANTS.length consecutive ones,
// set once by expConstants before any loop; n and t are scratch.
interface ExpLocals { constants: number; n: number; t: number }

const EXP_CONSTANTS = [Math.LOG2E, EXP_X_MIN, ROUNDER, ...EXP2_HALF_POLY];

// Splats exp4's constants into their locals.
function expConstants(l: ExpLocals): number[][] {
  return EXP_CONSTANTS.flatMap((c, i) => [op.f32_const(c), op.f32x4_splat(), set(l.constants + i)]);
}

// eˣ of the v128 on the stack, left on the stack: lanes NaN stay NaN, below −88.5 (−∞ too) give
// 0; x must be < 87.6 (softmax's x − max and log-softmax's x − logsumexp are ≤ 0). Its relative
// error is about 1.9e-7 plus |x|·log₂e·6e-8 (x·log₂e is rounded to float32 before n is taken off:
// the price of two fewer instructions than subtracting n·ln 2 from x in two exact parts, which
// the entries this affects, far below the row max, do not repay).
//
// Its instructions are few and their chain short, which is what its loops' speed depends on (one
// instruction more or one step longer cost a softmax about as much as a cycle per vector): n by
// f32x4.nearest (one x64 instruction) with the exponent bits from t + ROUNDER beside it, and the
// polynomial by Estrin's scheme, whose three products of v are independent, rather than Horner's
// chain of five. Softmax's computing over [1024, 256], staging aside, measured 215 µs with Horner
// and n as (t + ROUNDER) − ROUNDER, 200 with Estrin, 187 with Estrin and nearest.
function exp4(l: ExpLocals): number[][] {
  const k = (i: number) => get(l.constants + i);
  const [log2e, xMin, rounder] = [0, 1, 2];
  const c = (i: number) => k(3 + i); // EXP2_HALF_POLY[i]
  const v = l.t, v2 = l.n;
  return [
    // t = max(x, X_MIN)·log₂e (pmax keeps a NaN x); (t + ROUNDER) << 23: 2ⁿ⁺¹, left on the stack
    k(xMin), op.f32x4_pmax(), k(log2e), op.f32x4_mul(), tee(v), k(rounder), op.f32x4_add(), op.i32_const(23), op.i32x4_shl(),
    // v = t − n ∈ [−½, ½] (exact)
    get(v), get(v), op.f32x4_nearest(), op.f32x4_sub(), tee(v), get(v), op.f32x4_mul(), set(v2),
    // Estrin: (c0 + c1·v) + v²·((c2 + c3·v) + v²·(c4 + c5·v))
    get(v), c(1), op.f32x4_mul(), c(0), op.f32x4_add(),
    get(v), c(3), op.f32x4_mul(), c(2), op.f32x4_add(),
    get(v), c(5), op.f32x4_mul(), c(4), op.f32x4_add(),
    get(v2), op.f32x4_mul(), op.f32x4_add(), get(v2), op.f32x4_mul(), op.f32x4_add(),
    // × 2ⁿ⁺¹ (its bits are under the polynomial on the stack)
    op.f32x4_mul(),
  ];
}

// A loop over the row's vectors: at byte address `at` (from the row's start to its end, step 16).
function overRow(at: number, row: number, end: number, body: number[][]): number[][] {
  return [get(row), set(at), op.loop(), ...body, get(at), op.i32_const(16), op.i32_add(), tee(at), get(end), op.i32_lt_s(), op.br_if(0), op.end()];
}

// The four lanes of v128 local v combined by a binary f32 instruction: (v0 ∘ v1) ∘ (v2 ∘ v3).
function horizontal(v: number, combine: number[]): number[][] {
  return [get(v), op.f32x4_extract_lane(0), get(v), op.f32x4_extract_lane(1), combine, get(v), op.f32x4_extract_lane(2), get(v), op.f32x4_extract_lane(3), combine, combine];
}

// A reduction over the row from `row` to `end` (byte addresses, a multiple of 16 apart), left on
// the stack as an f32: `item(offset)` pushes the v128 at byte address `at` + offset, `combine` and
// `combineLanes` merge two v128s or two f32s (combineLanes null: the four lanes are left in
// accs[0], nothing on the stack), `init` is the start value's lane. Four vectors a step
// go into four accumulators, so that each combine waits on the one four vectors back (a single
// running accumulator makes the loop as slow as the combine's latency). `at` is a scratch i32
// local, `accs` four scratch v128 locals.
function rowReduce(
  at: number, row: number, end: number, accs: [number, number, number, number],
  init: number, item: (offset: number) => number[][], combine: number[], combineLanes: number[] | null,
): number[][] {
  const [a0, a1, a2, a3] = accs;
  return [
    ...accs.flatMap((a) => [op.v128_const_f32x4(init, init, init, init), set(a)]),
    get(row), set(at),
    op.block(), op.loop(),
    get(at), op.i32_const(64), op.i32_add(), get(end), op.i32_gt_s(), op.br_if(1),
    ...accs.flatMap((a, i) => [get(a), ...item(16 * i), combine, set(a)]),
    get(at), op.i32_const(64), op.i32_add(), set(at), op.br(0),
    op.end(), op.end(),
    op.block(), op.loop(),
    get(at), get(end), op.i32_ge_s(), op.br_if(1),
    get(a0), ...item(0), combine, set(a0),
    get(at), op.i32_const(16), op.i32_add(), set(at), op.br(0),
    op.end(), op.end(),
    get(a0), get(a1), combine, get(a2), get(a3), combine, combine, set(a0),
    ...(combineLanes ? horizontal(a0, combineLanes) : []),
  ];
}

// Lanes of a v128 picked by index: i8x16.shuffle's bytes for four f32 lanes of its two operands.
const lanes = (...l: number[]) => op.i8x16_shuffle(l.flatMap((i) => [4 * i, 4 * i + 1, 4 * i + 2, 4 * i + 3]));

// The row's max (see rowReduce) by pmax, which drops NaN (a NaN entry still makes the row NaN
// through its exp in the sum), left on the stack in every lane of a v128. Its four lanes are
// combined by pmax with themselves swapped, not by f32.max: V8 gives f32.max branches for its
// NaN and ±0 rules, which random rows can mispredict (measured: 2–4 µs of softmax's 230 over
// [1024, 256]).
function rowMax(at: number, row: number, end: number, accs: [number, number, number, number]): number[][] {
  const a0 = accs[0];
  return [
    ...rowReduce(at, row, end, accs, -Infinity, (offset) => [get(at), op.v128_load(offset)], op.f32x4_pmax(), null),
    get(a0), get(a0), lanes(2, 3, 0, 1), get(a0), op.f32x4_pmax(), tee(a0), get(a0), lanes(1, 0, 3, 2), get(a0), op.f32x4_pmax(),
  ];
}

// softmaxRows(p, rows, cols4): each row of cols4 floats at p, in place: exp(x − max) / Σ.
// (An all −∞ row gives −∞ − −∞ = NaN everywhere, as the js kernel's 0/0 and PyTorch.)
// Two passes over a row: its max, then exp(x − max) stored over x and summed; the previous row's
// scaling by its 1/Σ rides along in the second pass (the same column, one row back: the first
// row's pass scales itself by 1 after each store), and the last row's gets a loop of its own.
// (A third pass per row measured 4–10 µs more over [1024, 256].)
function softmaxRows(): FunctionDef {
  const [p, rows, cols4] = [0, 1, 2];
  const [row, end, at, r, back] = [3, 4, 5, 6, 7];
  const [m, acc, x, n, u, scale] = [8, 9, 10, 11, 12, 13];
  const e: ExpLocals = { constants: 14, n, t: u };
  // the vector one row back (`back` bytes) × scale
  const scaleBack = [get(at), get(back), op.i32_sub(), get(at), get(back), op.i32_sub(), op.v128_load(0), get(scale), op.f32x4_mul(), op.v128_store(0)];
  const body: number[][] = [
    ...expConstants(e),
    op.i32_const(0), set(back), op.f32_const(1), op.f32x4_splat(), set(scale),
    get(p), set(row), op.i32_const(0), set(r),
    op.loop(),
    get(row), get(cols4), op.i32_const(4), op.i32_mul(), op.i32_add(), set(end),
    // m = the row max, in every lane
    ...rowMax(at, row, end, [acc, x, n, u]), set(m),
    // e = exp(x − m) stored over x; acc = Σ e; the previous row's vector × its 1/Σ
    op.v128_const_f32x4(0, 0, 0, 0), set(acc),
    ...overRow(at, row, end, [
      get(at), get(at), op.v128_load(0), get(m), op.f32x4_sub(), ...exp4(e), tee(x), op.v128_store(0),
      get(acc), get(x), op.f32x4_add(), set(acc),
      ...scaleBack,
    ]),
    op.f32_const(1), ...horizontal(acc, op.f32_add()), op.f32_div(), op.f32x4_splat(), set(scale),
    get(cols4), op.i32_const(4), op.i32_mul(), set(back),
    get(end), set(row),
    get(r), op.i32_const(1), op.i32_add(), tee(r), get(rows), op.i32_lt_s(), op.br_if(0), op.end(),
    // the last row × its 1/Σ: scaleBack with `at` over the row after it (only at − back is touched)
    get(row), get(back), op.i32_add(), set(end),
    ...overRow(at, row, end, scaleBack),
  ];
  const locals: ValType[] = [...Array<ValType>(5).fill('i32'), ...Array<ValType>(6 + EXP_CONSTANTS.length).fill('v128')];
  return { params: ['i32', 'i32', 'i32'], results: [], locals, body, exportAs: 'softmaxRows' };
}

// softmaxBackwardRows(g, y, rows, cols4): dX = y ⊙ (g − Σ g·y) per row, written over g.
function softmaxBackwardRows(): FunctionDef {
  const [g, y, rows, cols4] = [0, 1, 2, 3];
  const [row, end, at, r, dy] = [4, 5, 6, 7, 8];
  const [acc, a1, a2, a3] = [9, 10, 11, 12];
  const gy = (offset: number) => [get(at), op.v128_load(offset), get(at), get(dy), op.i32_add(), op.v128_load(offset), op.f32x4_mul()];
  const body: number[][] = [
    get(g), set(row), get(y), get(g), op.i32_sub(), set(dy), op.i32_const(0), set(r),
    op.loop(),
    get(row), get(cols4), op.i32_const(4), op.i32_mul(), op.i32_add(), set(end),
    // acc = Σ g·y in every lane
    ...rowReduce(at, row, end, [acc, a1, a2, a3], 0, gy, op.f32x4_add(), op.f32_add()), op.f32x4_splat(), set(acc),
    ...overRow(at, row, end, [
      get(at), get(at), get(dy), op.i32_add(), op.v128_load(0), get(at), op.v128_load(0), get(acc), op.f32x4_sub(), op.f32x4_mul(), op.v128_store(0),
    ]),
    get(end), set(row),
    get(r), op.i32_const(1), op.i32_add(), tee(r), get(rows), op.i32_lt_s(), op.br_if(0), op.end(),
  ];
  const locals: ValType[] = ['i32', 'i32', 'i32', 'i32', 'i32', 'v128', 'v128', 'v128', 'v128'];
  return { params: ['i32', 'i32', 'i32', 'i32'], results: [], locals, body, exportAs: 'softmaxBackwardRows' };
}

// rowMaxSumExp(p, rows, cols4, stats): for each row of cols4 floats at p, its max m and
// Σ exp(x − m) as two f32 at stats + 8r (log-softmax's and cross-entropy's log-sum-exp, whose log
// the caller takes in doubles). x is only read.
function rowMaxSumExp(): FunctionDef {
  const [p, rows, cols4, stats] = [0, 1, 2, 3];
  const [row, end, at, r] = [4, 5, 6, 7];
  const [m, acc, a1, a2, a3] = [8, 9, 10, 11, 12];
  const e: ExpLocals = { constants: 13, n: a2, t: a3 };
  const item = (offset: number) => [get(at), op.v128_load(offset), get(m), op.f32x4_sub(), ...exp4(e)];
  const body: number[][] = [
    ...expConstants(e),
    get(p), set(row), op.i32_const(0), set(r),
    op.loop(),
    get(row), get(cols4), op.i32_const(4), op.i32_mul(), op.i32_add(), set(end),
    get(stats), ...rowMax(at, row, end, [acc, a1, a2, a3]), tee(m), op.f32x4_extract_lane(0), op.f32_store(0),
    // one running sum: exp's instructions, not the add's latency, bound this loop
    op.v128_const_f32x4(0, 0, 0, 0), set(acc),
    ...overRow(at, row, end, [get(acc), ...item(0), op.f32x4_add(), set(acc)]),
    get(stats), ...horizontal(acc, op.f32_add()), op.f32_store(4),
    get(stats), op.i32_const(8), op.i32_add(), set(stats),
    get(end), set(row),
    get(r), op.i32_const(1), op.i32_add(), tee(r), get(rows), op.i32_lt_s(), op.br_if(0), op.end(),
  ];
  const locals: ValType[] = ['i32', 'i32', 'i32', 'i32', ...Array<ValType>(5 + EXP_CONSTANTS.length).fill('v128')];
  return { params: ['i32', 'i32', 'i32', 'i32'], results: [], locals, body, exportAs: 'rowMaxSumExp' };
}

// shiftRows(p, rows, cols4, params, withExp): each row of cols4 floats at p, in place, with
// (hi, lo, b) the three f32 at params + 12r: x − a, or with withExp ≠ 0, exp(x − a)·b, where
// a = hi + lo is a row's log-sum-exp split in two floats (x − hi − lo keeps the digits a single
// float32 a would lose when |a| is large; x − a ≤ 88). log-softmax's forward and
// cross-entropy's backward (b = the row's gradient).
function shiftRows(): FunctionDef {
  const [p, rows, cols4, params, withExp] = [0, 1, 2, 3, 4];
  const [row, end, at, r] = [5, 6, 7, 8];
  const [hi, lo, b, n, t] = [9, 10, 11, 12, 13];
  const e: ExpLocals = { constants: 14, n, t };
  const shifted = [get(at), op.v128_load(0), get(hi), op.f32x4_sub(), get(lo), op.f32x4_sub()];
  const body: number[][] = [
    ...expConstants(e),
    get(p), set(row), op.i32_const(0), set(r),
    op.loop(),
    get(row), get(cols4), op.i32_const(4), op.i32_mul(), op.i32_add(), set(end),
    get(params), op.f32_load(0), op.f32x4_splat(), set(hi),
    get(params), op.f32_load(4), op.f32x4_splat(), set(lo),
    get(params), op.f32_load(8), op.f32x4_splat(), set(b),
    get(withExp), op.if(),
    ...overRow(at, row, end, [get(at), ...shifted, ...exp4(e), get(b), op.f32x4_mul(), op.v128_store(0)]),
    op.else(),
    ...overRow(at, row, end, [get(at), ...shifted, op.v128_store(0)]),
    op.end(),
    get(params), op.i32_const(12), op.i32_add(), set(params),
    get(end), set(row),
    get(r), op.i32_const(1), op.i32_add(), tee(r), get(rows), op.i32_lt_s(), op.br_if(0), op.end(),
  ];
  const locals: ValType[] = ['i32', 'i32', 'i32', 'i32', ...Array<ValType>(5 + EXP_CONSTANTS.length).fill('v128')];
  return { params: ['i32', 'i32', 'i32', 'i32', 'i32'], results: [], locals, body, exportAs: 'shiftRows' };
}

// logSoftmaxBackwardRows(g, y, rows, cols4): dX = g − exp(y)·Σ g per row, written over g (y ≤ 0).
function logSoftmaxBackwardRows(): FunctionDef {
  const [g, y, rows, cols4] = [0, 1, 2, 3];
  const [row, end, at, r, dy] = [4, 5, 6, 7, 8];
  const [acc, a1, a2, a3] = [9, 10, 11, 12];
  const e: ExpLocals = { constants: 13, n: a2, t: a3 };
  const body: number[][] = [
    ...expConstants(e),
    get(g), set(row), get(y), get(g), op.i32_sub(), set(dy), op.i32_const(0), set(r),
    op.loop(),
    get(row), get(cols4), op.i32_const(4), op.i32_mul(), op.i32_add(), set(end),
    ...rowReduce(at, row, end, [acc, a1, a2, a3], 0, (offset) => [get(at), op.v128_load(offset)], op.f32x4_add(), op.f32_add()), op.f32x4_splat(), set(acc),
    ...overRow(at, row, end, [
      get(at), get(at), op.v128_load(0), get(at), get(dy), op.i32_add(), op.v128_load(0), ...exp4(e), get(acc), op.f32x4_mul(), op.f32x4_sub(), op.v128_store(0),
    ]),
    get(end), set(row),
    get(r), op.i32_const(1), op.i32_add(), tee(r), get(rows), op.i32_lt_s(), op.br_if(0), op.end(),
  ];
  const locals: ValType[] = ['i32', 'i32', 'i32', 'i32', 'i32', ...Array<ValType>(4 + EXP_CONSTANTS.length).fill('v128')];
  return { params: ['i32', 'i32', 'i32', 'i32'], results: [], locals, body, exportAs: 'logSoftmaxBackwardRows' };
}

/** The softmax module's bytes (softmax, log-softmax and cross-entropy's kernels). */
function softmaxModuleBytes(): Uint8Array<ArrayBuffer> {
  return buildModule([softmaxRows(), softmaxBackwardRows(), rowMaxSumExp(), shiftRows(), logSoftmaxBackwardRows()]);
}

interface SoftmaxExports {
  softmaxRows: (p: number, rows: number, cols4: number) => void;
  softmaxBackwardRows: (g: number, y: number, rows: number, cols4: number) => void;
  rowMaxSumExp: (p: number, rows: number, cols4: number, stats: number) => void;
  shiftRows: (p: number, rows: number, cols4: number, params: number, withExp: number) => void;
  logSoftmaxBackwardRows: (g: number, y: number, rows: number, cols4: number) => void;
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
  if (rows === 0 || cols === 0) return; // (the kernel's loops run at least once)
  const cols4 = Math.ceil(cols / 4) * 4;
  const { exports, f32 } = softmaxModule.instance(rows * cols4 * 4);
  stageRows(f32, 0, x, xOff, rows, cols, cols4, -Infinity);
  exports.softmaxRows(0, rows, cols4);
  unstageRows(out, f32, 0, rows, cols, cols4);
}

/** dX = y ⊙ (dOut − Σ_j dOut_j·y_j) in wasm SIMD (float32; shapes as softmaxBackward in kernels/fused.ts). */
export function softmaxBackwardWasm(dX: Float32Array, dOut: Float32Array, dOutOff: number, y: Float32Array, rows: number, cols: number): void {
  backwardRows('softmaxBackwardRows', dX, dOut, dOutOff, y, rows, cols);
}

// Stages dOut and the forward's output y, runs one of the module's backward row loops over them,
// and copies dX out: the shared body of the softmax and log-softmax backwards.
function backwardRows(loop: 'softmaxBackwardRows' | 'logSoftmaxBackwardRows', dX: Float32Array, dOut: Float32Array, dOutOff: number, y: Float32Array, rows: number, cols: number): void {
  const cols4 = Math.ceil(cols / 4) * 4;
  const yAt = rows * cols4;
  const { exports, f32 } = softmaxModule.instance(2 * rows * cols4 * 4);
  stageRows(f32, 0, dOut, dOutOff, rows, cols, cols4, 0);
  stageRows(f32, yAt, y, 0, rows, cols, cols4, 0);
  exports[loop](0, 4 * yAt, rows, cols4);
  unstageRows(dX, f32, 0, rows, cols, cols4);
}

/** lse[r] = logsumexp(x[r, :]) with the sums in wasm SIMD and the log in doubles (float32 x [rows, cols] from xOff). */
export function logSumExpWasm(lse: Float64Array, x: Float32Array, xOff: number, rows: number, cols: number): void {
  const cols4 = Math.ceil(cols / 4) * 4;
  const statsAt = rows * cols4;
  const { exports, f32 } = softmaxModule.instance((statsAt + 2 * rows) * 4);
  stageRows(f32, 0, x, xOff, rows, cols, cols4, -Infinity);
  exports.rowMaxSumExp(0, rows, cols4, 4 * statsAt);
  for (let r = 0; r < rows; r++) lse[r] = f32[statsAt + 2 * r]! + Math.log(f32[statsAt + 2 * r + 1]!);
}

/** out[r, :] = x[r, :] − logsumexp(x[r, :]) in wasm SIMD (float32; shapes as logSoftmaxForward in kernels/fused.ts). */
export function logSoftmaxWasm(out: Float32Array, x: Float32Array, xOff: number, rows: number, cols: number): void {
  const cols4 = Math.ceil(cols / 4) * 4;
  const statsAt = rows * cols4;
  const paramsAt = statsAt + 2 * rows;
  const { exports, f32 } = softmaxModule.instance((paramsAt + 3 * rows) * 4);
  stageRows(f32, 0, x, xOff, rows, cols, cols4, -Infinity);
  exports.rowMaxSumExp(0, rows, cols4, 4 * statsAt);
  // the shift m + log Σ as (hi, lo) = (m, log Σ): m is exact in float32, log Σ small
  for (let r = 0; r < rows; r++) {
    f32[paramsAt + 3 * r] = f32[statsAt + 2 * r]!;
    f32[paramsAt + 3 * r + 1] = Math.log(f32[statsAt + 2 * r + 1]!);
  }
  exports.shiftRows(0, rows, cols4, 4 * paramsAt, 0);
  unstageRows(out, f32, 0, rows, cols, cols4);
}

/** dX = dOut − exp(y)·Σ_j dOut_j in wasm SIMD (float32; shapes as logSoftmaxBackward in kernels/fused.ts). */
export function logSoftmaxBackwardWasm(dX: Float32Array, dOut: Float32Array, dOutOff: number, y: Float32Array, rows: number, cols: number): void {
  backwardRows('logSoftmaxBackwardRows', dX, dOut, dOutOff, y, rows, cols);
}

/** dX[r, :] = exp(x[r, :] − lse[r])·scale[r] in wasm SIMD (float32 x and dX [rows, cols]): cross-entropy's backward before its target and ignored-row corrections. */
export function expShiftedWasm(dX: Float32Array, x: Float32Array, xOff: number, lse: Float64Array, scale: Float64Array, rows: number, cols: number): void {
  const cols4 = Math.ceil(cols / 4) * 4;
  const paramsAt = rows * cols4;
  const { exports, f32 } = softmaxModule.instance((paramsAt + 3 * rows) * 4);
  stageRows(f32, 0, x, xOff, rows, cols, cols4, 0);
  for (let r = 0; r < rows; r++) {
    const hi = Math.fround(lse[r]!);
    f32[paramsAt + 3 * r] = hi;
    f32[paramsAt + 3 * r + 1] = lse[r]! - hi;
    f32[paramsAt + 3 * r + 2] = scale[r]!;
  }
  exports.shiftRows(0, rows, cols4, 4 * paramsAt, 1);
  unstageRows(dX, f32, 0, rows, cols, cols4);
}
