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
// changes nothing): the two agree bit for bit. SwiGLU needs exp, which is not an instruction:
// exp4 below approximates it within a few float32 ulps.

import { type FunctionDef, type ValType, buildModule, op } from './builder.js';
import { KernelModule } from './memory.js';

const get = op.local_get, set = op.local_set, tee = op.local_tee;

const splat4 = (x: number): number[] => op.v128_const_f32x4(x, x, x, x);

/**
 * exp of the v128 local x in every lane, left on the stack; t and u are scratch v128 locals.
 * exp(x) = 2ⁿ·eᶠ with n = round(x·log₂e) and f = x − n·ln 2 ∈ [−½ln 2, ½ln 2], taken in two steps
 * (Cody and Waite: ln 2's high part has so few bits that n·hi is exact), so the reduction adds no
 * error that grows with |x|; eᶠ by its Taylor series to degree 7 (truncation below 6e-9), 2ⁿ built
 * from exponent bits. x is clamped to [−88, 88] first: below, n = −127 and 2ⁿ's bits are those of
 * 0 (exp underflows to 0); above, the result stays finite (≈ 2¹²⁷), which is all 1/(1 + exp(−x))
 * needs. NaN stays NaN (wasm's max and min propagate it).
 */
export function exp4(x: number, t: number, u: number): number[][] {
  const LN2_HI = 0.693145751953125; // 0x3f317200: ln 2 to 15 bits
  const LN2_LO = Math.LN2 - LN2_HI;
  const code: number[][] = [
    get(x), splat4(-88), op.f32x4_max(), splat4(88), op.f32x4_min(), tee(u),
    splat4(Math.LOG2E), op.f32x4_mul(), op.f32x4_nearest(), set(t),
    get(u), get(t), splat4(LN2_HI), op.f32x4_mul(), op.f32x4_sub(), get(t), splat4(LN2_LO), op.f32x4_mul(), op.f32x4_sub(), set(u),
  ];
  // Horner: 1 + u(1 + u(1/2 + u(1/6 + … + u/7!)))
  const inv = [1 / 5040, 1 / 720, 1 / 120, 1 / 24, 1 / 6, 1 / 2, 1, 1];
  code.push(splat4(inv[0]!));
  for (const c of inv.slice(1)) code.push(get(u), op.f32x4_mul(), splat4(c), op.f32x4_add());
  // × 2ⁿ: the float with exponent bits n + 127
  const bias = new Float32Array(new Int32Array([127]).buffer)[0]!;
  code.push(get(t), op.i32x4_trunc_sat_f32x4_s(), splat4(bias), op.i32x4_add(), op.i32_const(23), op.i32x4_shl(), op.f32x4_mul());
  return code;
}

// A loop over byte offsets i = 0, 16, …, < bytes (bytes > 0, a multiple of 16).
function overBytes(i: number, bytes: number, body: number[][]): number[][] {
  return [op.i32_const(0), set(i), op.loop(), ...body, get(i), op.i32_const(16), op.i32_add(), tee(i), get(bytes), op.i32_lt_s(), op.br_if(0), op.end()];
}

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

// swiglu(gate, up, out, bytes): out = gate·σ(gate)·up, σ(x) = 1/(1 + exp(−x)).
function swiglu(): FunctionDef {
  const [gate, up, out, bytes, i] = [0, 1, 2, 3, 4];
  const [x, e, t, u] = [5, 6, 7, 8];
  const body = overBytes(i, bytes, [
    get(gate), get(i), op.i32_add(), op.v128_load(0), tee(x), op.f32x4_neg(), set(e),
    ...exp4(e, t, u), set(e),
    get(out), get(i), op.i32_add(),
    get(x), splat4(1), get(e), op.f32x4_add(), op.f32x4_div(),
    get(up), get(i), op.i32_add(), op.v128_load(0), op.f32x4_mul(), op.v128_store(0),
  ]);
  const locals: ValType[] = ['i32', 'v128', 'v128', 'v128', 'v128'];
  return { params: ['i32', 'i32', 'i32', 'i32'], results: [], locals, body, exportAs: 'swiglu' };
}

// silu(x, out, bytes): out = x·σ(x), the same instructions as swiglu's first factor, so that
// silu(gate)·up and swiglu(gate, up) agree bit for bit as in js.
function silu(): FunctionDef {
  const [xs, out, bytes, i] = [0, 1, 2, 3];
  const [x, e, t, u] = [4, 5, 6, 7];
  const body = overBytes(i, bytes, [
    get(xs), get(i), op.i32_add(), op.v128_load(0), tee(x), op.f32x4_neg(), set(e),
    ...exp4(e, t, u), set(e),
    get(out), get(i), op.i32_add(),
    get(x), splat4(1), get(e), op.f32x4_add(), op.f32x4_div(), op.v128_store(0),
  ]);
  const locals: ValType[] = ['i32', 'v128', 'v128', 'v128', 'v128'];
  return { params: ['i32', 'i32', 'i32'], results: [], locals, body, exportAs: 'silu' };
}

// swigluBackward(dOut, gate, up, dGate, dUp, bytes): with s = σ(x), x = gate, g = dOut:
// dGate = g·up·s·(1 + x·(1 − s)), dUp = g·x·s.
function swigluBackward(): FunctionDef {
  const [dOut, gate, up, dGate, dUp, bytes, i] = [0, 1, 2, 3, 4, 5, 6];
  const [x, s, g, t, u] = [7, 8, 9, 10, 11];
  const at = (base: number): number[][] => [get(base), get(i), op.i32_add()];
  const body = overBytes(i, bytes, [
    ...at(gate), op.v128_load(0), tee(x), op.f32x4_neg(), set(s),
    splat4(1), splat4(1), ...exp4(s, t, u), op.f32x4_add(), op.f32x4_div(), set(s),
    ...at(dOut), op.v128_load(0), set(g),
    ...at(dGate),
    get(g), ...at(up), op.v128_load(0), op.f32x4_mul(), get(s), op.f32x4_mul(),
    splat4(1), get(x), splat4(1), get(s), op.f32x4_sub(), op.f32x4_mul(), op.f32x4_add(), op.f32x4_mul(),
    op.v128_store(0),
    ...at(dUp), get(g), get(x), op.f32x4_mul(), get(s), op.f32x4_mul(), op.v128_store(0),
  ]);
  const locals: ValType[] = ['i32', 'v128', 'v128', 'v128', 'v128', 'v128'];
  return { params: ['i32', 'i32', 'i32', 'i32', 'i32', 'i32'], results: [], locals, body, exportAs: 'swigluBackward' };
}

/** The elementwise module's bytes. */
export function elementwiseModuleBytes(): Uint8Array<ArrayBuffer> {
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
