// One AdamW step over a float32 parameter as WebAssembly SIMD: the wasm side of adamwUpdate in
// @tsgrad/optim's adamw.ts (the js loop, its reference, and the only one for float64).
//
// The js loop computes in float64 and rounds to float32 at each store into p, m or v (PyTorch's
// in-place ops). This kernel does the same, two elements at a time: each float32 is widened into
// an f64x2 lane, the arithmetic is float64 (IEEE, so each operation gives the js loop's double),
// and the stores narrow back. It therefore agrees with the js loop bit for bit.
//
// p, g, m and v are staged into this thread's memory in blocks of CHUNK elements (a memcpy each),
// padded with zeros to an even length; p, m and v are copied back.

import { type FunctionDef, type ValType, buildModule, op } from './builder.js';
import { KernelModule } from './memory.js';

const get = op.local_get, set = op.local_set, tee = op.local_tee;

// adamw(p, g, m, v, bytes, decay, weight, beta2, oneMinusBeta2, negStepSize, biasCorrection2Sqrt, eps),
// two floats per step, byte offset i from 0 to bytes (a multiple of 8):
//   p = p·decay
//   m = m + weight·(g − m)                    (torch.lerp for weight < ½)
//   v = v·β2;  v = v + ((1 − β2)·g)·g
//   p = p + (−stepSize·m) / (√v / √(1 − β2^step) + eps)
// each line's results rounded to float32 as they are stored.
function adamw(): FunctionDef {
  const [p, g, m, v, bytes, decay, weight, beta2, oneMinusBeta2, negStepSize, bc2Sqrt, eps] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
  const [i, gi, pi, mi, vi] = [12, 13, 14, 15, 16];
  const [kDecay, kWeight, kBeta2, kOneMinusBeta2, kNegStep, kBc2, kEps] = [17, 18, 19, 20, 21, 22, 23];
  const load = (base: number): number[][] => [get(base), get(i), op.i32_add(), op.v128_load64_zero(0), op.f64x2_promote_low_f32x4()];
  // narrow the f64x2 on the stack to float32 and back: the value a Float32Array store keeps
  const round = (): number[][] => [op.f32x4_demote_f64x2_zero(), op.f64x2_promote_low_f32x4()];
  const store = (base: number, local: number): number[][] => [get(base), get(i), op.i32_add(), get(local), op.f32x4_demote_f64x2_zero(), op.v128_store64_lane(0, 0)];
  const body: number[][] = [
    ...[[decay, kDecay], [weight, kWeight], [beta2, kBeta2], [oneMinusBeta2, kOneMinusBeta2], [negStepSize, kNegStep], [bc2Sqrt, kBc2], [eps, kEps]]
      .flatMap(([from, to]) => [get(from!), op.f64x2_splat(), set(to!)]),
    op.i32_const(0), set(i),
    op.loop(),
    ...load(g), set(gi),
    ...load(p), get(kDecay), op.f64x2_mul(), ...round(), set(pi),
    ...load(m), tee(mi), get(kWeight), get(gi), get(mi), op.f64x2_sub(), op.f64x2_mul(), op.f64x2_add(), ...round(), set(mi),
    ...load(v), get(kBeta2), op.f64x2_mul(), ...round(),
    get(kOneMinusBeta2), get(gi), op.f64x2_mul(), get(gi), op.f64x2_mul(), op.f64x2_add(), ...round(), set(vi),
    get(pi),
    get(kNegStep), get(mi), op.f64x2_mul(),
    get(vi), op.f64x2_sqrt(), get(kBc2), op.f64x2_div(), get(kEps), op.f64x2_add(),
    op.f64x2_div(), op.f64x2_add(), set(pi),
    ...store(p, pi), ...store(m, mi), ...store(v, vi),
    get(i), op.i32_const(8), op.i32_add(), tee(i), get(bytes), op.i32_lt_s(), op.br_if(0),
    op.end(),
  ];
  const params: ValType[] = ['i32', 'i32', 'i32', 'i32', 'i32', 'f64', 'f64', 'f64', 'f64', 'f64', 'f64', 'f64'];
  const locals: ValType[] = ['i32', 'v128', 'v128', 'v128', 'v128', 'v128', 'v128', 'v128', 'v128', 'v128', 'v128', 'v128'];
  return { params, results: [], locals, body, exportAs: 'adamw' };
}

/** The AdamW module's bytes. */
function adamwModuleBytes(): Uint8Array<ArrayBuffer> {
  return buildModule([adamw()]);
}

interface AdamWExports {
  adamw: (p: number, g: number, m: number, v: number, bytes: number, decay: number, weight: number, beta2: number, oneMinusBeta2: number, negStepSize: number, bc2Sqrt: number, eps: number) => void;
}
const adamwModule = new KernelModule<AdamWExports>(adamwModuleBytes);

// Elements per staged block: 64 KiB per operand.
const CHUNK = 16384;

/**
 * One AdamW step over n float32 elements in wasm SIMD, in place: p (from pOff), m, v (from 0) are
 * updated with the gradient g (from gOff). The coefficients are those of @tsgrad/optim's adamw.ts:
 * decay = 1 − lr·weightDecay, weight = 1 − β1 (which must be below ½: torch.lerp's other form is
 * not here), stepSize = lr / (1 − β1^step), biasCorrection2Sqrt = √(1 − β2^step). Agrees with that
 * js loop bit for bit; for optimizers, not part of the tensor API proper.
 */
export function adamwStepWasm(
  p: Float32Array, pOff: number, g: Float32Array, gOff: number, m: Float32Array, v: Float32Array, n: number,
  c: { decay: number; weight: number; beta2: number; stepSize: number; biasCorrection2Sqrt: number; eps: number },
): void {
  if (!(c.weight < 0.5)) throw new Error(`adamwStepWasm: the lerp weight 1 − β1 must be below 0.5, got ${c.weight}`);
  const { exports, f32 } = adamwModule.instance(4 * CHUNK * 4);
  const [pAt, gAt, mAt, vAt] = [0, CHUNK, 2 * CHUNK, 3 * CHUNK];
  for (let start = 0; start < n; start += CHUNK) {
    const len = Math.min(CHUNK, n - start), len2 = len + (len & 1);
    f32.set(p.subarray(pOff + start, pOff + start + len), pAt);
    f32.set(g.subarray(gOff + start, gOff + start + len), gAt);
    f32.set(m.subarray(start, start + len), mAt);
    f32.set(v.subarray(start, start + len), vAt);
    if (len2 > len) for (const at of [pAt, gAt, mAt, vAt]) f32[at + len] = 0;
    exports.adamw(4 * pAt, 4 * gAt, 4 * mAt, 4 * vAt, 4 * len2, c.decay, c.weight, c.beta2, 1 - c.beta2, -c.stepSize, c.biasCorrection2Sqrt, c.eps);
    p.set(f32.subarray(pAt, pAt + len), pOff + start);
    m.set(f32.subarray(mAt, mAt + len), start);
    v.set(f32.subarray(vAt, vAt + len), start);
  }
}
