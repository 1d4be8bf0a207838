// A small WebAssembly module builder: the kernels in this folder are written as TypeScript that
// emits instructions, and the bytes are assembled here at load time (no .wasm file, no toolchain).
//
// What it covers is what the kernels need and no more: function types, one imported memory,
// functions with locals, exports, and the instructions named in `op` below (the scalar ones the
// loops use and the 128-bit SIMD ones). The binary format is the one in the WebAssembly spec
// (https://webassembly.github.io/spec/core/binary/): a magic number, a version, then sections,
// each a one-byte id and a length-prefixed body; integers are LEB128.

/** A value type: i32, i64, f32, f64 or v128. */
export type ValType = 'i32' | 'i64' | 'f32' | 'f64' | 'v128';

const VAL_TYPE: Record<ValType, number> = { i32: 0x7f, i64: 0x7e, f32: 0x7d, f64: 0x7c, v128: 0x7b };

/** Unsigned LEB128: seven bits per byte, low bits first, the high bit set on all but the last byte. */
export function uleb(n: number): number[] {
  if (!Number.isInteger(n) || n < 0) throw new Error(`wasm builder: uleb needs a non-negative integer, got ${n}`);
  const out: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return out;
}

/** Signed LEB128 (two's complement): like uleb, but stops once the rest is all sign bits. */
export function sleb(n: number): number[] {
  if (!Number.isInteger(n)) throw new Error(`wasm builder: sleb needs an integer, got ${n}`);
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n = Math.floor(n / 128);
    const signBitSet = (byte & 0x40) !== 0;
    if ((n === 0 && !signBitSet) || (n === -1 && signBitSet)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

// A name or vector: its length (uleb), then its contents.
function vec(items: number[][]): number[] {
  return [...uleb(items.length), ...items.flat()];
}
function name(s: string): number[] {
  const bytes = Array.from(new TextEncoder().encode(s));
  return [...uleb(bytes.length), ...bytes];
}

// A memory access's immediate: log2 of the alignment, then the constant byte offset added to the address.
function memarg(align: number, offset: number): number[] {
  return [...uleb(align), ...uleb(offset)];
}

// Instructions with a 0xfd prefix (SIMD) carry their opcode as a uleb.
function simd(code: number): number[] {
  return [0xfd, ...uleb(code)];
}

/** The instructions the kernels use, by their text-format names. Each returns its bytes; the memory ones take a constant byte offset. */
export const op = {
  // control
  block: (): number[] => [0x02, 0x40],
  loop: (): number[] => [0x03, 0x40],
  if: (): number[] => [0x04, 0x40],
  else: (): number[] => [0x05],
  end: (): number[] => [0x0b],
  br: (depth: number): number[] => [0x0c, ...uleb(depth)],
  br_if: (depth: number): number[] => [0x0d, ...uleb(depth)],
  return: (): number[] => [0x0f],
  call: (fn: number): number[] => [0x10, ...uleb(fn)],
  drop: (): number[] => [0x1a],
  select: (): number[] => [0x1b],
  // locals
  local_get: (i: number): number[] => [0x20, ...uleb(i)],
  local_set: (i: number): number[] => [0x21, ...uleb(i)],
  local_tee: (i: number): number[] => [0x22, ...uleb(i)],
  // scalar memory
  i32_load: (offset = 0): number[] => [0x28, ...memarg(2, offset)],
  f32_load: (offset = 0): number[] => [0x2a, ...memarg(2, offset)],
  f32_store: (offset = 0): number[] => [0x38, ...memarg(2, offset)],
  // i32 arithmetic
  i32_const: (n: number): number[] => [0x41, ...sleb(n | 0)],
  i32_eqz: (): number[] => [0x45],
  i32_eq: (): number[] => [0x46],
  i32_ne: (): number[] => [0x47],
  i32_lt_s: (): number[] => [0x48],
  i32_lt_u: (): number[] => [0x49],
  i32_gt_s: (): number[] => [0x4a],
  i32_le_s: (): number[] => [0x4c],
  i32_ge_s: (): number[] => [0x4e],
  i32_add: (): number[] => [0x6a],
  i32_sub: (): number[] => [0x6b],
  i32_mul: (): number[] => [0x6c],
  i32_and: (): number[] => [0x71],
  i32_shl: (): number[] => [0x74],
  // f32 arithmetic
  f32_const: (x: number): number[] => {
    const bytes = new Uint8Array(new Float32Array([x]).buffer);
    return [0x43, ...bytes];
  },
  f32_sqrt: (): number[] => [0x91],
  f32_add: (): number[] => [0x92],
  f32_sub: (): number[] => [0x93],
  f32_mul: (): number[] => [0x94],
  f32_div: (): number[] => [0x95],
  f32_max: (): number[] => [0x97],
  // added for the attention kernel (wasm/attention.ts): scalar float comparison
  f32_gt: (): number[] => [0x5e],
  // v128 (SIMD): loads and stores
  v128_load: (offset = 0): number[] => [...simd(0x00), ...memarg(4, offset)],
  v128_load32_splat: (offset = 0): number[] => [...simd(0x09), ...memarg(2, offset)],
  v128_store: (offset = 0): number[] => [...simd(0x0b), ...memarg(4, offset)],
  /** Picks 16 bytes from the 32 of two vectors (indices 0–15 the first, 16–31 the second). */
  i8x16_shuffle: (bytes: number[]): number[] => {
    if (bytes.length !== 16 || bytes.some((b) => b < 0 || b > 31)) throw new Error(`wasm builder: i8x16.shuffle needs 16 lane indices in 0..31, got ${bytes}`);
    return [...simd(0x0d), ...bytes];
  },
  f32x4_splat: (): number[] => simd(0x13),
  f32x4_extract_lane: (lane: number): number[] => [...simd(0x1f), lane],
  /** Four f32 lanes given as numbers. */
  v128_const_f32x4: (x: number, y: number, z: number, w: number): number[] => [...simd(0x0c), ...new Uint8Array(new Float32Array([x, y, z, w]).buffer)],
  f32x4_nearest: (): number[] => simd(0x6a),
  // v128 integer lanes (for building powers of two from exponent bits)
  i32x4_trunc_sat_f32x4_s: (): number[] => simd(0xf8),
  i32x4_shl: (): number[] => simd(0xab),
  i32x4_add: (): number[] => simd(0xae),
  // v128 float arithmetic, four lanes at once
  f32x4_add: (): number[] => simd(0xe4),
  f32x4_sub: (): number[] => simd(0xe5),
  f32x4_mul: (): number[] => simd(0xe6),
  f32x4_div: (): number[] => simd(0xe7),
  f32x4_min: (): number[] => simd(0xe8),
  f32x4_max: (): number[] => simd(0xe9),
  // pseudo-min/max: pmax(a, b) = a < b ? b : a (NaN in b is dropped, in a kept), one x64
  // instruction where f32x4.max's NaN and ±0 rules cost V8 eight (softmax's row max and clamp)
  f32x4_pmin: (): number[] => simd(0xea),
  f32x4_pmax: (): number[] => simd(0xeb),
  // elementwise, RMSNorm-backward and AdamW kernels (wasm/elementwise.ts, rmsnorm.ts, adamw.ts):
  // f64x2 arithmetic on float32 values widened two at a time, and 8-byte loads and stores
  f64x2_splat: (): number[] => simd(0x14),
  /** Loads 8 bytes into the low half, zeroing the high half. */
  v128_load64_zero: (offset = 0): number[] => [...simd(0x5d), ...memarg(3, offset)],
  /** Stores 8 bytes: lane `lane` (0 or 1) of the vector seen as two i64s. */
  v128_store64_lane: (lane: number, offset = 0): number[] => [...simd(0x5b), ...memarg(3, offset), lane],
  f64x2_promote_low_f32x4: (): number[] => simd(0x5f),
  f32x4_demote_f64x2_zero: (): number[] => simd(0x5e),
  f64x2_sqrt: (): number[] => simd(0xef),
  f64x2_add: (): number[] => simd(0xf0),
  f64x2_sub: (): number[] => simd(0xf1),
  f64x2_mul: (): number[] => simd(0xf2),
  f64x2_div: (): number[] => simd(0xf3),
  f64x2_neg: (): number[] => simd(0xed),
  f64x2_min: (): number[] => simd(0xf4),
  f64x2_max: (): number[] => simd(0xf5),
  f64x2_nearest: (): number[] => simd(0x94),
  // 2ⁿ in float64 lanes from exponent bits: n to i32 lanes, widened to i64, biased and shifted
  i32x4_trunc_sat_f64x2_s_zero: (): number[] => simd(0xfc),
  i64x2_extend_low_i32x4_s: (): number[] => simd(0xc7),
  i64x2_shl: (): number[] => simd(0xcb),
  i64x2_add: (): number[] => simd(0xce),
  // float64 scalars (RMSNorm's backward in wasm/rmsnorm.ts)
  f64_load: (offset = 0): number[] => [0x2b, ...memarg(3, offset)],
  f64_add: (): number[] => [0xa0],
  f64_mul: (): number[] => [0xa2],
  f64_div: (): number[] => [0xa3],
  f64x2_extract_lane: (lane: number): number[] => [...simd(0x21), lane],
};

/** One function: its signature, extra locals (after the parameters), body instructions, and an optional export name. */
export interface FunctionDef {
  /** Parameter types. */
  params: ValType[];
  /** Result types. */
  results: ValType[];
  /** Locals beyond the parameters; local indices continue after the parameters'. */
  locals: ValType[];
  /** The instructions (the final `end` is added by the builder). */
  body: number[][];
  /** The name it is exported under, if any. */
  exportAs?: string;
}

/**
 * Assembles a module that imports one memory as `env.memory` (at least `minPages` pages of 64 KiB)
 * and defines `functions` in order (function i is `call(i)`).
 */
export function buildModule(functions: FunctionDef[], minPages = 1): Uint8Array<ArrayBuffer> {
  const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];
  // one type per function (duplicates are allowed and keep the indices obvious)
  const types = vec(functions.map((f) => [0x60, ...vec(f.params.map((t) => [VAL_TYPE[t]])), ...vec(f.results.map((t) => [VAL_TYPE[t]]))]));
  // import "env" "memory": kind 0x02 (memory), limits with a minimum only
  const imports = vec([[...name('env'), ...name('memory'), 0x02, 0x00, ...uleb(minPages)]]);
  const funcs = vec(functions.map((_, i) => uleb(i)));
  const exports = vec(functions.flatMap((f, i) => (f.exportAs ? [[...name(f.exportAs), 0x00, ...uleb(i)]] : [])));
  const code = vec(functions.map((f) => {
    // locals are declared as runs of one type: (count, type)
    const runs: number[][] = [];
    for (const t of f.locals) {
      const last = runs[runs.length - 1];
      if (last && last[1] === VAL_TYPE[t]) last[0]!++;
      else runs.push([1, VAL_TYPE[t]]);
    }
    const body = [...vec(runs.map(([count, type]) => [...uleb(count!), type!])), ...f.body.flat(), ...op.end()];
    return [...uleb(body.length), ...body];
  }));
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, // "\0asm"
    0x01, 0x00, 0x00, 0x00, // version 1
    ...section(1, types),
    ...section(2, imports),
    ...section(3, funcs),
    ...section(7, exports),
    ...section(10, code),
  ]);
}
