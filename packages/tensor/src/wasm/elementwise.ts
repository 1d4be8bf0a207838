// Flat float32 elementwise kernels as WebAssembly SIMD, four elements at a time: the wasm side of
// the contiguous binary loops of kernels/elementwise.ts (add, sub, mul, div), of its silu, and of
// SwiGLU's forward and backward in kernels/fused.ts (the js loops, their reference).
//
// Operands are staged into this thread's memory in blocks of CHUNK elements with set() (a memcpy;
// every operand of a block fits in L2), the tail of a block padded with zeros to a multiple of
// four, computed, and the outputs copied back.
//
// add, sub, mul and div round each result once to float32, as the js loop's float64 result stored
// into a Float32Array does (float64 carries more than twice float32's bits, so rounding twice
// changes nothing): the two agree bit for bit. silu and SwiGLU run as the js loops do, in float64
// (two elements per step, each float32 widened into an f64x2 lane) with one rounding at the store;
// their exp, which is not an instruction, is a series accurate to about 1e-13 (exp2 below), so the
// results are the js loop's float32 except where its float64 lies within ~1e-13 of a rounding
// boundary. (In float32 lanes the same kernels took half the time but were a few ulps off,
// enough to move the Hugging Face conformance run's final MLP weights past its tolerance.)

import { type FunctionDef, type ValType, buildModule, op } from './builder.js';
import { KernelModule } from './memory.js';

const get = op.local_get, set = op.local_set, tee = op.local_tee;


const splat2 = (x: number): number[] => op.v128_const_f32x4(...(Array.from(new Float32Array(new Float64Array([x, x]).buffer)) as [number, number, number, number]));

/**
 * exp of the f64x2 local x in both lanes, left on the stack; t and u are scratch v128 locals.
 * exp(x) = 2ⁿ·eᶠ with n = round(x·log₂e), f = x − n·ln 2 ∈ [−½ln 2, ½ln 2] (float64: the
 * reduction's error stays near 1e-16·|n|), eᶠ by its Taylor series to degree 10 (truncation below
 * 3e-13), 2ⁿ built from float64 exponent bits. x is clamped to [−708, 708] first, where 2ⁿ is a
 * normal float64: exp(x) of a larger x stays finite (≈ 3e307), which is all 1/(1 + exp(−x))
 * needs. NaN stays NaN (wasm's max and min propagate it).
 */
function exp2(x: number, t: number, u: number): number[][] {
  const code: number[][] = [
    get(x), splat2(-708), op.f64x2_max(), splat2(708), op.f64x2_min(), tee(u),
    splat2(Math.LOG2E), op.f64x2_mul(), op.f64x2_nearest(), set(t),
    get(u), get(t), splat2(Math.LN2), op.f64x2_mul(), op.f64x2_sub(), set(u),
  ];
  // Horner: 1 + u(1 + u(1/2 + u(1/6 + … + u/10!)))
  const inv = [1 / 3628800, 1 / 362880, 1 / 40320, 1 / 5040, 1 / 720, 1 / 120, 1 / 24, 1 / 6, 1 / 2, 1, 1];
  code.push(splat2(inv[0]!));
  for (const c of inv.slice(1)) code.push(get(u), op.f64x2_mul(), splat2(c), op.f64x2_add());
  // × 2ⁿ: the float64 with exponent bits n + 1023 (i64 lanes: 1023 in the low i32 of each)
  const bias = Array.from(new Float32Array(new Int32Array([1023, 0, 1023, 0]).buffer)) as [number, number, number, number];
  code.push(get(t), op.i32x4_trunc_sat_f64x2_s_zero(), op.i64x2_extend_low_i32x4_s(), op.v128_const_f32x4(...bias), op.i64x2_add(),
    op.i32_const(52), op.i64x2_shl(), op.f64x2_mul());
  return code;
}

// A loop over byte offsets i = 0, step, 2·step, …, < bytes (bytes > 0, a multiple of step).
function overBytes(i: number, bytes: number, body: number[][], step = 16): number[][] {
  return [op.i32_const(0), set(i), op.loop(), ...body, get(i), op.i32_const(step), op.i32_add(), tee(i), get(bytes), op.i32_lt_s(), op.br_if(0), op.end()];
}

// Two float32 at base + i widened to an f64x2; the f64x2 on the stack narrowed and stored there.
const load2 = (base: number, i: number): number[][] => [get(base), get(i), op.i32_add(), op.v128_load64_zero(0), op.f64x2_promote_low_f32x4()];
const store2 = (): number[][] => [op.f32x4_demote_f64x2_zero(), op.v128_store64_lane(0, 0)];

/** The binary kernels with a wasm form. */
export type WasmBinaryKind = 'add' | 'sub' | 'mul' | 'div';
const BINARY: Record<WasmBinaryKind, () => number[]> = { add: op.f32x4_add, sub: op.f32x4_sub, mul: op.f32x4_mul, div: op.f32x4_div };

// <kind>(a, b, out, bytes): out[i] = a[i] ∘ b[i].
function binary(kind: WasmBinaryKind): FunctionDef {
  const [a, b, out, bytes, i] = [0, 1, 2, 3, 4];
  const body = overBytes(i, bytes, [
    get(out), get(i), op.i32_add(),
    get(a), get(i), op.i32_add(), op.v128_load(0),
    get(b), get(i), op.i32_add(), op.v128_load(0),
    BINARY[kind](), op.v128_store(0),
  ]);
  return { params: ['i32', 'i32', 'i32', 'i32'], results: [], locals: ['i32'], body, exportAs: kind };
}

// silu(x, out, bytes): out = x/(1 + exp(−x)), in float64, two elements per step.
function silu(): FunctionDef {
  const [xs, out, bytes, i] = [0, 1, 2, 3];
  const [x, e, t, u] = [4, 5, 6, 7];
  const body = overBytes(i, bytes, [
    ...load2(xs, i), tee(x), op.f64x2_neg(), set(e),
    ...exp2(e, t, u), set(e),
    get(out), get(i), op.i32_add(),
    get(x), splat2(1), get(e), op.f64x2_add(), op.f64x2_div(), ...store2(),
  ], 8);
  const locals: ValType[] = ['i32', 'v128', 'v128', 'v128', 'v128'];
  return { params: ['i32', 'i32', 'i32'], results: [], locals, body, exportAs: 'silu' };
}

// swiglu(gate, up, out, bytes): out = silu(gate)·up, silu rounded to float32 first as the js
// loop does (so it equals the silu kernel's output times up).
function swiglu(): FunctionDef {
  const [gate, up, out, bytes, i] = [0, 1, 2, 3, 4];
  const [x, e, t, u] = [5, 6, 7, 8];
  const body = overBytes(i, bytes, [
    ...load2(gate, i), tee(x), op.f64x2_neg(), set(e),
    ...exp2(e, t, u), set(e),
    get(out), get(i), op.i32_add(),
    get(x), splat2(1), get(e), op.f64x2_add(), op.f64x2_div(), op.f32x4_demote_f64x2_zero(), op.f64x2_promote_low_f32x4(),
    ...load2(up, i), op.f64x2_mul(), ...store2(),
  ], 8);
  const locals: ValType[] = ['i32', 'v128', 'v128', 'v128', 'v128'];
  return { params: ['i32', 'i32', 'i32', 'i32'], results: [], locals, body, exportAs: 'swiglu' };
}

// swigluBackward(dOut, gate, up, dGate, dUp, bytes): with s = σ(x), x = gate, g = dOut, in float64:
// dGate = g·up·s·(1 + x·(1 − s)), dUp = g·x·s.
function swigluBackward(): FunctionDef {
  const [dOut, gate, up, dGate, dUp, bytes, i] = [0, 1, 2, 3, 4, 5, 6];
  const [x, s, g, t, u] = [7, 8, 9, 10, 11];
  const body = overBytes(i, bytes, [
    ...load2(gate, i), tee(x), op.f64x2_neg(), set(s),
    splat2(1), splat2(1), ...exp2(s, t, u), op.f64x2_add(), op.f64x2_div(), set(s),
    ...load2(dOut, i), set(g),
    get(dGate), get(i), op.i32_add(),
    get(g), ...load2(up, i), op.f64x2_mul(), get(s), op.f64x2_mul(),
    splat2(1), get(x), splat2(1), get(s), op.f64x2_sub(), op.f64x2_mul(), op.f64x2_add(), op.f64x2_mul(),
    ...store2(),
    get(dUp), get(i), op.i32_add(), get(g), get(x), op.f64x2_mul(), get(s), op.f64x2_mul(), ...store2(),
  ], 8);
  const locals: ValType[] = ['i32', 'v128', 'v128', 'v128', 'v128', 'v128'];
  return { params: ['i32', 'i32', 'i32', 'i32', 'i32', 'i32'], results: [], locals, body, exportAs: 'swigluBackward' };
}

/** The elementwise module's bytes. */
function elementwiseModuleBytes(): Uint8Array<ArrayBuffer> {
  return buildModule([binary('add'), binary('sub'), binary('mul'), binary('div'), silu(), swiglu(), swigluBackward()]);
}

type Flat = (...addressesThenBytes: number[]) => void;
type ElementwiseExports = Record<WasmBinaryKind | 'silu' | 'swiglu' | 'swigluBackward', Flat>;
const elementwiseModule = new KernelModule<ElementwiseExports>(elementwiseModuleBytes);

// Elements per staged block: 64 KiB per operand.
const CHUNK = 16384;

// Runs `kernel` over n elements in blocks: operand k (inputs, then outputs) at float CHUNK·k.
function staged(kernel: keyof ElementwiseExports, inputs: [Float32Array, number][], outputs: [Float32Array, number][], n: number): void {
  const { exports, f32 } = elementwiseModule.instance((inputs.length + outputs.length) * CHUNK * 4);
  const fn = exports[kernel];
  const args = [...inputs, ...outputs].map((_, k) => k * CHUNK * 4);
  for (let start = 0; start < n; start += CHUNK) {
    const len = Math.min(CHUNK, n - start), len4 = Math.ceil(len / 4) * 4;
    inputs.forEach(([a, off], k) => {
      f32.set(a.subarray(off + start, off + start + len), k * CHUNK);
      if (len4 > len) f32.fill(0, k * CHUNK + len, k * CHUNK + len4);
    });
    fn(...args, len4 * 4);
    outputs.forEach(([o, off], k) => o.set(f32.subarray((inputs.length + k) * CHUNK, (inputs.length + k) * CHUNK + len), off + start));
  }
}

/** out[outOff + i] = a[aOff + i] ∘ b[bOff + i] for n elements, in wasm SIMD (as binaryForward in kernels/elementwise.ts). */
export function binaryWasm(kind: WasmBinaryKind, out: Float32Array, a: Float32Array, aOff: number, b: Float32Array, bOff: number, n: number, outOff: number): void {
  staged(kind, [[a, aOff], [b, bOff]], [[out, outOff]], n);
}

/** out = x·σ(x) over n elements, in wasm SIMD (as unaryForward's 'silu' in kernels/elementwise.ts). */
export function siluWasm(out: Float32Array, x: Float32Array, xOff: number, n: number): void {
  staged('silu', [[x, xOff]], [[out, 0]], n);
}

/** out = silu(gate) ⊙ up over n elements, in wasm SIMD (as swigluForward in kernels/fused.ts). */
export function swigluWasm(out: Float32Array, gate: Float32Array, gOff: number, up: Float32Array, uOff: number, n: number): void {
  staged('swiglu', [[gate, gOff], [up, uOff]], [[out, 0]], n);
}

/** dGate and dUp of SwiGLU over n elements, in wasm SIMD (as swigluBackward in kernels/fused.ts). */
export function swigluBackwardWasm(dGate: Float32Array, dUp: Float32Array, dOut: Float32Array, dOutOff: number, gate: Float32Array, gOff: number, up: Float32Array, uOff: number, n: number): void {
  staged('swigluBackward', [[dOut, dOutOff], [gate, gOff], [up, uOff]], [[dGate, 0], [dUp, 0]], n);
}
