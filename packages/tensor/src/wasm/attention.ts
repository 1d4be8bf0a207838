// Fused attention for one (batch·head) slice as WebAssembly SIMD: the wasm side of
// attentionForward / attentionBackward in kernels/attention.ts (the js kernel, its reference;
// float64 always runs there). Same contract: causal by loop bounds, masked keys never seen, a
// row that sees no key outputs zeros with log-sum-exp −∞ and gets no gradient, and nothing of
// size [Tq, Tk] is kept: the backward recomputes each row's probabilities from q, k and the
// forward's log-sum-exp.
//
// It works one query row at a time, which is also the whole of generation's single-query
// attention over the KV cache: the row's scores against its visible keys (four keys per step,
// each a dot product over D, four lanes each, summed across lanes by shuffles), their softmax in
// a row of scratch (exp as in wasm/softmax.ts: 2ⁿ·2ᶠ, a degree-7 polynomial for 2ᶠ), then
// out_i = Σ_j p_j·v_j eight columns at a time. The backward, per row: p_j again, dP_j = dOut_i·v_j,
// dS_j = p_j (dP_j − Σ p·dP)·scale, dq_i = Σ_j dS_j·k_j; and per block of BACKWARD_ROWS rows,
// whose p and dS rows it keeps: dk_j += Σ_i dS_ij·q_i, dv_j += Σ_i p_ij·dOut_i (measured 12% faster
// at T = 128, D = 32 than adding each row's share to dk_j and dv_j in memory).
//
// Staging: each slice's q, k, v (and dOut) are copied into this thread's memory as rows padded
// with zeros to D8, Dv8 columns (multiples of eight: two vectors per step) and the keys to Tk4
// rows (multiples of four). The key mask becomes an additive bias row (0 for a key, −∞ for
// padding, −∞ past Tk), so masked scores are −∞ and their exp is exactly 0. Keys past a row's
// causal limit inside its last group of four are set to −∞ before the max is taken.
//
// Rounding: scores, exp and sums in float32 (the js kernel sums the products in doubles): the
// outputs agree with it to a few float32 roundings (see test/kernels/attention-wasm.test.ts).

import { type FunctionDef, type ValType, buildModule, op } from './builder.js';
import { KernelModule } from './memory.js';

const get = op.local_get, set = op.local_set, tee = op.local_tee;

// Locals beyond the parameters, allocated by type as the code asks for them.
class Locals {
  readonly types: ValType[] = [];
  constructor(private readonly params: number) {}
  add(t: ValType): number {
    this.types.push(t);
    return this.params + this.types.length - 1;
  }
}

const vec4 = (x: number) => op.v128_const_f32x4(x, x, x, x);
const ZERO = vec4(0);

// do { body; at += step } while (at < end): the caller knows the range is not empty.
function repeat(at: number, step: number[], end: number[], body: number[][]): number[][] {
  return [op.loop(), ...body, get(at), step, op.i32_add(), tee(at), end, op.i32_lt_s(), op.br_if(0), op.end()];
}

// while (at < end) { body; at += step }: for ranges that may be empty (a row's causal tail).
function whileLess(at: number, step: number, end: number, body: number[][]): number[][] {
  return [op.block(), op.loop(), get(at), get(end), op.i32_ge_s(), op.br_if(1), ...body,
    get(at), op.i32_const(step), op.i32_add(), set(at), op.br(0), op.end(), op.end()];
}

// 32-bit lanes as the byte indices i8x16.shuffle takes (0–3 the first vector, 4–7 the second).
const lanes = (...l: number[]) => op.i8x16_shuffle(l.flatMap((i) => [4 * i, 4 * i + 1, 4 * i + 2, 4 * i + 3]));

// The four lane sums of a0…a3 as one vector (Σa0, Σa1, Σa2, Σa3), left on the stack; a0 and a2
// are overwritten with partial sums.
function laneSums(a0: number, a1: number, a2: number, a3: number): number[][] {
  return [
    get(a0), get(a1), lanes(0, 1, 4, 5), get(a0), get(a1), lanes(2, 3, 6, 7), op.f32x4_add(), set(a0),
    get(a2), get(a3), lanes(0, 1, 4, 5), get(a2), get(a3), lanes(2, 3, 6, 7), op.f32x4_add(), set(a2),
    get(a0), get(a2), lanes(0, 2, 4, 6), get(a0), get(a2), lanes(1, 3, 5, 7), op.f32x4_add(),
  ];
}

// The four lanes of v combined by a binary f32 instruction, left on the stack as a scalar.
function across(v: number, combine: number[]): number[][] {
  return [get(v), op.f32x4_extract_lane(0), get(v), op.f32x4_extract_lane(1), combine, get(v), op.f32x4_extract_lane(2), get(v), op.f32x4_extract_lane(3), combine, combine];
}

// exp of the v128 local x (lanes ≤ 0 or −∞), left on the stack; t and u are scratch v128 locals.
// exp(x) = 2ⁿ·2ᶠ, t = max(x·log₂e, −127), n = round(t), f = t − n ∈ [−½, ½]; 2ᶠ = e^(f·ln 2) by
// its Taylor series to degree 7 (truncation below 6e-9); 2ⁿ from exponent bits (n = −127: +0).
function exp4(x: number, t: number, u: number): number[][] {
  const code: number[][] = [
    get(x), vec4(Math.LOG2E), op.f32x4_mul(), vec4(-127), op.f32x4_max(), set(t),
    get(t), get(t), op.f32x4_nearest(), tee(t), op.f32x4_sub(), vec4(Math.LN2), op.f32x4_mul(), set(u),
  ];
  const inv = [1 / 5040, 1 / 720, 1 / 120, 1 / 24, 1 / 6, 1 / 2, 1, 1];
  code.push(vec4(inv[0]!));
  for (const c of inv.slice(1)) code.push(get(u), op.f32x4_mul(), vec4(c), op.f32x4_add());
  const bias = new Float32Array(new Int32Array([127]).buffer)[0]!; // the int 127 in f32 lanes
  code.push(get(t), op.i32x4_trunc_sat_f32x4_s(), vec4(bias), op.i32x4_add(), op.i32_const(23), op.i32x4_shl(), op.f32x4_mul());
  return code;
}

// Four scores at once: lane r of the result = Σ_d x[d]·row_r[d] over rowBytes bytes, rows r at
// kj + r·rowBytes, left on the stack. Uses the given locals (k1…k3, d: i32; xv, a0…a3: v128).
function dot4(x: number, kj: number, rowBytes: number, l: { k1: number; k2: number; k3: number; d: number; xv: number; a: number[] }): number[][] {
  const [a0, a1, a2, a3] = l.a as [number, number, number, number];
  const code: number[][] = [
    get(kj), get(rowBytes), op.i32_add(), tee(l.k1), get(rowBytes), op.i32_add(), tee(l.k2), get(rowBytes), op.i32_add(), set(l.k3),
    ZERO, set(a0), ZERO, set(a1), ZERO, set(a2), ZERO, set(a3), op.i32_const(0), set(l.d),
  ];
  const step = [get(x), get(l.d), op.i32_add(), op.v128_load(0), set(l.xv)];
  ([[a0, kj], [a1, l.k1], [a2, l.k2], [a3, l.k3]] as const).forEach(([acc, row]) => {
    step.push(get(acc), get(l.xv), get(row), get(l.d), op.i32_add(), op.v128_load(0), op.f32x4_mul(), op.f32x4_add(), set(acc));
  });
  code.push(...repeat(l.d, op.i32_const(16), get(rowBytes), step), ...laneSums(a0, a1, a2, a3));
  return code;
}

// The common row setup: n = first + step·i keys visible, nB = 4n, n4B = 4·roundUp(n, 4).
function rowLimits(i: number, first: number, stepL: number, n: number, nB: number, n4B: number): number[][] {
  return [
    get(first), get(stepL), get(i), op.i32_mul(), op.i32_add(), tee(n), op.i32_const(2), op.i32_shl(), set(nB),
    get(n), op.i32_const(3), op.i32_add(), op.i32_const(-4), op.i32_and(), op.i32_const(2), op.i32_shl(), set(n4B),
  ];
}

// Σ_j w_j · rows_j over the weights w_j read from w to wEnd in steps of wStep bytes (rows_j at
// rows + j·rowBytes), eight columns per pass over the rows: dst[c…c+7] (a row of rowBytes) =
// that sum · (scaleBy, a splat v128 local, or none), or += it when accumulate.
function weightedRows(dst: number, rows: number, rowBytes: number, w: number, wStep: number[], wEnd: number, scaleBy: number | null,
  accumulate: boolean, l: { c: number; vp: number; pj: number; a: number[] }): number[][] {
  const [a0, a1, s] = l.a as [number, number, number];
  const store = (h: number, acc: number) => [
    get(dst), get(l.c), op.i32_add(), get(acc), ...(scaleBy === null ? [] : [get(scaleBy), op.f32x4_mul()]),
    ...(accumulate ? [get(dst), get(l.c), op.i32_add(), op.v128_load(h), op.f32x4_add()] : []), op.v128_store(h),
  ];
  return [
    op.i32_const(0), set(l.c),
    ...repeat(l.c, op.i32_const(32), get(rowBytes), [
      ZERO, set(a0), ZERO, set(a1), get(rows), get(l.c), op.i32_add(), set(l.vp), get(w), set(l.pj),
      ...repeat(l.pj, wStep, get(wEnd), [
        get(l.pj), op.v128_load32_splat(0), set(s),
        get(a0), get(s), get(l.vp), op.v128_load(0), op.f32x4_mul(), op.f32x4_add(), set(a0),
        get(a1), get(s), get(l.vp), op.v128_load(16), op.f32x4_mul(), op.f32x4_add(), set(a1),
        get(l.vp), get(rowBytes), op.i32_add(), set(l.vp),
      ]),
      store(0, a0).flat(), store(16, a1).flat(),
    ]),
  ];
}

// forwardRows(q, k, v, bias, out, stats, srow, Tq, rowK, rowV, first, step, scale): for each
// query row i (keys 0 … first + step·i − 1 visible): out row i (rowV bytes) = softmax(q_i·kᵀ·scale
// + bias)·v, and stats[2i], stats[2i + 1] = the row max and Σ exp(s − max) (−∞ and 0 when the
// row sees no key; its output is then zeros). srow is one row of scratch (Tk4 floats).
function forwardRows(): FunctionDef {
  const params: ValType[] = ['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'f32'];
  const [q, k, v, bias, out, stats, srow, Tq, rowK, rowV, first, stepL, scale] = params.map((_, i) => i) as number[] as [number, number, number, number, number, number, number, number, number, number, number, number, number];
  const L = new Locals(params.length);
  const [i, n, nB, n4B, qi, kj, j, outRow, k1, k2, k3, d, c, vp, pj, kStep] = Array.from({ length: 16 }, () => L.add('i32'));
  const [mx, sum] = [L.add('f32'), L.add('f32')];
  const [a0, a1, a2, a3, xv, x, t, u, m, acc, scaleV] = Array.from({ length: 11 }, () => L.add('v128'));
  const dots = { k1, k2, k3, d, xv, a: [a0, a1, a2, a3] };
  const body: number[][] = [
    get(scale), op.f32x4_splat(), set(scaleV),
    get(rowK), op.i32_const(4), op.i32_mul(), set(kStep),
    op.i32_const(0), set(i),
    op.loop(),
    get(q), get(i), get(rowK), op.i32_mul(), op.i32_add(), set(qi),
    get(out), get(i), get(rowV), op.i32_mul(), op.i32_add(), set(outRow),
    ...rowLimits(i, first, stepL, n, nB, n4B),
    // scores, four keys per step: srow[j…j+3] = q_i·k_j…·scale + bias
    op.i32_const(0), set(j), get(k), set(kj),
    ...repeat(j, op.i32_const(16), get(n4B), [
      get(srow), get(j), op.i32_add(),
      ...dot4(qi, kj, rowK, dots), get(scaleV), op.f32x4_mul(), get(bias), get(j), op.i32_add(), op.v128_load(0), op.f32x4_add(),
      op.v128_store(0),
      get(kj), get(kStep), op.i32_add(), set(kj),
    ]),
    // keys past the causal limit in the last group of four: −∞
    get(nB), set(j),
    ...whileLess(j, 4, n4B, [get(srow), get(j), op.i32_add(), op.f32_const(-Infinity), op.f32_store(0)]),
    // the row max
    vec4(-Infinity), set(m), op.i32_const(0), set(j),
    ...repeat(j, op.i32_const(16), get(n4B), [get(m), get(srow), get(j), op.i32_add(), op.v128_load(0), op.f32x4_max(), set(m)]),
    ...across(m, op.f32_max()), set(mx),
    get(mx), op.f32_const(-Infinity), op.f32_gt(), op.if(),
    // srow = exp(s − max), sum = Σ
    get(mx), op.f32x4_splat(), set(m), ZERO, set(acc), op.i32_const(0), set(j),
    ...repeat(j, op.i32_const(16), get(n4B), [
      get(srow), get(j), op.i32_add(), op.v128_load(0), get(m), op.f32x4_sub(), set(x),
      get(srow), get(j), op.i32_add(), ...exp4(x, t, u), tee(x), op.v128_store(0),
      get(acc), get(x), op.f32x4_add(), set(acc),
    ]),
    ...across(acc, op.f32_add()), set(sum),
    op.f32_const(1), get(sum), op.f32_div(), op.f32x4_splat(), set(m),
    // out_i = Σ_j p_j·v_j / sum over the n visible keys
    get(srow), get(nB), op.i32_add(), set(k1),
    ...weightedRows(outRow, v, rowV, srow, op.i32_const(4), k1, m, false, { c, vp, pj, a: [a0, a1, a2] }),
    op.else(),
    // no key to see: a zero output row
    op.f32_const(0), set(sum), op.i32_const(0), set(c),
    ...repeat(c, op.i32_const(16), get(rowV), [get(outRow), get(c), op.i32_add(), ZERO, op.v128_store(0)]),
    op.end(),
    get(stats), get(i), op.i32_const(8), op.i32_mul(), op.i32_add(), get(mx), op.f32_store(0),
    get(stats), get(i), op.i32_const(8), op.i32_mul(), op.i32_add(), get(sum), op.f32_store(4),
    get(i), op.i32_const(1), op.i32_add(), tee(i), get(Tq), op.i32_lt_s(), op.br_if(0), op.end(),
  ];
  return { params, results: [], locals: L.types, body, exportAs: 'forwardRows' };
}

// Query rows per block of the backward: each block's P and dS rows are kept in scratch, so that
// dk and dv get one update per key per block (sums over the block's rows in registers) instead
// of a read-modify-write per query row.
const BACKWARD_ROWS = 16;

// backwardRows(q, k, v, bias, g, lse, dq, dk, dv, P, dS, Tq, rowK, rowV, first, step, scale,
// scratchRow): block by block of BACKWARD_ROWS query rows, for each row i whose log-sum-exp is
// finite (lse[2i] + lse[2i + 1]: its float32 rounding and the rest, so the subtraction keeps the
// float64 value's precision): p_j = exp(q_i·k_j·scale + bias_j − lse_i), dP_j = g_i·v_j,
// dS_j = p_j (dP_j − Σ p·dP)·scale, into row r of the scratch blocks P and dS (rows of
// scratchRow bytes; zeros past the row's keys and for a row that sees none), and dq_i = Σ_j
// dS_j·k_j (stored); then for each key j the block's rows see: dk_j += Σ_r dS_rj·q_r and
// dv_j += Σ_r P_rj·g_r (accumulated).
function backwardRows(): FunctionDef {
  const params: ValType[] = ['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'f32', 'i32'];
  const [q, k, v, bias, g, lse, dq, dk, dv, P, dS, Tq, rowK, rowV, first, stepL, scale, scratchRow] = params.map((_, i) => i) as number[] as
    [number, number, number, number, number, number, number, number, number, number, number, number, number, number, number, number, number, number];
  const L = new Locals(params.length);
  const [i, n, nB, n4B, qi, gi, kj, j, k1, k2, k3, d, c, vp, pj, kStep, vStep, dqi, pEnd] = Array.from({ length: 19 }, () => L.add('i32'));
  const [i0, rEnd, blockNB, prow, dprow, blockBytes, kDst, vDst, wAt, wEnd, qBlock, gBlock] = Array.from({ length: 12 }, () => L.add('i32'));
  const li = L.add('f32');
  const [a0, a1, a2, a3, xv, x, t, u, m, acc, scaleV, rest] = Array.from({ length: 12 }, () => L.add('v128'));
  const dots = { k1, k2, k3, d, xv, a: [a0, a1, a2, a3] };
  const sums = { c, vp, pj, a: [a0, a1, a2] };
  const at = (base: number, off: number) => [get(base), get(off), op.i32_add()];
  const zeroFrom = (from: number[], rows: number[]) => rows.flatMap((r) => [from, set(j), ...whileLess(j, 4, blockNB, [...at(r, j), op.f32_const(0), op.f32_store(0)])]);
  const row: number[][] = [
    get(q), get(i), get(rowK), op.i32_mul(), op.i32_add(), set(qi),
    get(dq), get(i), get(rowK), op.i32_mul(), op.i32_add(), set(dqi),
    get(g), get(i), get(rowV), op.i32_mul(), op.i32_add(), set(gi),
    ...rowLimits(i, first, stepL, n, nB, n4B),
    get(li), op.f32x4_splat(), set(m),
    get(lse), get(i), op.i32_const(8), op.i32_mul(), op.i32_add(), op.f32_load(4), op.f32x4_splat(), set(rest),
    // prow[j…j+3] = exp(q_i·k_j…·scale + bias − lse_i)
    op.i32_const(0), set(j), get(k), set(kj),
    ...repeat(j, op.i32_const(16), get(n4B), [
      ...dot4(qi, kj, rowK, dots), get(scaleV), op.f32x4_mul(), ...at(bias, j), op.v128_load(0), op.f32x4_add(), get(m), op.f32x4_sub(), get(rest), op.f32x4_sub(), set(x),
      ...at(prow, j), ...exp4(x, t, u), op.v128_store(0),
      get(kj), get(kStep), op.i32_add(), set(kj),
    ]),
    get(nB), set(j),
    ...whileLess(j, 4, n4B, [...at(prow, j), op.f32_const(0), op.f32_store(0)]),
    // dprow[j…j+3] = g_i·v_j…, acc = Σ p·dP
    ZERO, set(acc), op.i32_const(0), set(j), get(v), set(kj),
    ...repeat(j, op.i32_const(16), get(n4B), [
      ...dot4(gi, kj, rowV, dots), set(x),
      ...at(dprow, j), get(x), op.v128_store(0),
      get(acc), get(x), ...at(prow, j), op.v128_load(0), op.f32x4_mul(), op.f32x4_add(), set(acc),
      get(kj), get(vStep), op.i32_add(), set(kj),
    ]),
    ...across(acc, op.f32_add()), op.f32x4_splat(), set(m),
    // dprow = dS = p ⊙ (dP − Σ p·dP) · scale (the scale of S folded in once, as the js kernel)
    op.i32_const(0), set(j),
    ...repeat(j, op.i32_const(16), get(n4B), [
      ...at(dprow, j), ...at(prow, j), op.v128_load(0), ...at(dprow, j), op.v128_load(0), get(m), op.f32x4_sub(), op.f32x4_mul(), get(scaleV), op.f32x4_mul(), op.v128_store(0),
    ]),
    // dq_i = Σ_j dS_j·k_j
    get(dprow), get(nB), op.i32_add(), set(pEnd),
    ...weightedRows(dqi, k, rowK, dprow, op.i32_const(4), pEnd, null, false, sums),
    // the keys past this row's that the block's last row sees: zeros
    ...zeroFrom(get(nB), [dprow, prow]),
  ];
  const body: number[][] = [
    get(scale), op.f32x4_splat(), set(scaleV),
    get(rowK), op.i32_const(4), op.i32_mul(), set(kStep),
    get(rowV), op.i32_const(4), op.i32_mul(), set(vStep),
    op.i32_const(0), set(i0),
    op.loop(),
    // rows [i0, rEnd), rEnd = min(i0 + BACKWARD_ROWS, Tq); their keys [0, blockN), those of the last row
    get(i0), op.i32_const(BACKWARD_ROWS), op.i32_add(), tee(rEnd), get(Tq), get(rEnd), get(Tq), op.i32_lt_s(), op.select(), set(rEnd),
    get(first), get(stepL), get(rEnd), op.i32_const(1), op.i32_sub(), op.i32_mul(), op.i32_add(), op.i32_const(2), op.i32_shl(), set(blockNB),
    get(rEnd), get(i0), op.i32_sub(), get(scratchRow), op.i32_mul(), set(blockBytes),
    get(i0), set(i),
    op.loop(),
    get(P), get(i), get(i0), op.i32_sub(), get(scratchRow), op.i32_mul(), op.i32_add(), set(prow),
    get(dS), get(i), get(i0), op.i32_sub(), get(scratchRow), op.i32_mul(), op.i32_add(), set(dprow),
    get(lse), get(i), op.i32_const(8), op.i32_mul(), op.i32_add(), op.f32_load(0), tee(li),
    op.f32_const(-Infinity), op.f32_gt(), op.if(),
    ...row,
    op.else(),
    ...zeroFrom(op.i32_const(0), [dprow, prow]),
    op.end(),
    get(i), op.i32_const(1), op.i32_add(), tee(i), get(rEnd), op.i32_lt_s(), op.br_if(0), op.end(),
    // dk_j += Σ_r dS_rj·q_r and dv_j += Σ_r P_rj·g_r over the block's rows r, for its keys j
    get(q), get(i0), get(rowK), op.i32_mul(), op.i32_add(), set(qBlock),
    get(g), get(i0), get(rowV), op.i32_mul(), op.i32_add(), set(gBlock),
    op.i32_const(0), set(j), get(dk), set(kDst), get(dv), set(vDst),
    ...repeat(j, op.i32_const(4), get(blockNB), [
      get(dS), get(j), op.i32_add(), tee(wAt), get(blockBytes), op.i32_add(), set(wEnd),
      ...weightedRows(kDst, qBlock, rowK, wAt, get(scratchRow), wEnd, null, true, sums),
      get(P), get(j), op.i32_add(), tee(wAt), get(blockBytes), op.i32_add(), set(wEnd),
      ...weightedRows(vDst, gBlock, rowV, wAt, get(scratchRow), wEnd, null, true, sums),
      get(kDst), get(rowK), op.i32_add(), set(kDst),
      get(vDst), get(rowV), op.i32_add(), set(vDst),
    ]),
    get(rEnd), tee(i0), get(Tq), op.i32_lt_s(), op.br_if(0), op.end(),
  ];
  return { params, results: [], locals: L.types, body, exportAs: 'backwardRows' };
}

/** The attention module's bytes: function 0 `forwardRows`, 1 `backwardRows`. */
function attentionModuleBytes(): Uint8Array<ArrayBuffer> {
  return buildModule([forwardRows(), backwardRows()]);
}

// ************* staging and the calls *************

type ForwardRows = (q: number, k: number, v: number, bias: number, out: number, stats: number, srow: number,
  Tq: number, rowK: number, rowV: number, first: number, step: number, scale: number) => void;
type BackwardRows = (q: number, k: number, v: number, bias: number, g: number, lse: number, dq: number, dk: number, dv: number,
  P: number, dS: number, Tq: number, rowK: number, rowV: number, first: number, step: number, scale: number, scratchRow: number) => void;
const attentionModule = new KernelModule<{ forwardRows: ForwardRows; backwardRows: BackwardRows }>(attentionModuleBytes);

/** A float32 matrix read through strides: element (i, j) is data[offset + i·rowStride + j·colStride]. */
export interface StridedF32 {
  /** The storage holding the elements. */
  data: Float32Array;
  /** Index of element (0, 0). */
  offset: number;
  /** Step between rows. */
  rowStride: number;
  /** Step between columns. */
  colStride: number;
}

/** The sizes of one slice as the wasm kernel takes them (see attentionPlan in kernels/attention.ts). */
export interface WasmAttentionSizes {
  /** Queries, keys, head dim of q and k, head dim of v. */
  Tq: number; Tk: number; D: number; Dv: number;
  /** Whether query i sees only keys 0..Tk−Tq+i. */
  causal: boolean;
  /** Multiplies q·kᵀ before the softmax. */
  scale: number;
}

const up = (x: number, m: number) => Math.ceil(x / m) * m;

// Copies a [rows, cols] strided matrix to f32 at float index `at` as rows of `width` floats,
// then zeros up to `padRows` rows (padding columns and rows are zeros: finite, adding nothing).
function stage(f32: Float32Array, at: number, m: StridedF32, rows: number, cols: number, width: number, padRows: number): void {
  const { data, offset, rowStride, colStride } = m;
  if (colStride === 1 && rowStride === cols && cols === width) {
    f32.set(data.subarray(offset, offset + rows * cols), at);
  } else if (colStride === 1) {
    for (let r = 0; r < rows; r++) {
      f32.set(data.subarray(offset + r * rowStride, offset + r * rowStride + cols), at + r * width);
      if (width > cols) f32.fill(0, at + r * width + cols, at + (r + 1) * width);
    }
  } else {
    for (let r = 0; r < rows; r++) {
      for (let j = 0, s = offset + r * rowStride; j < cols; j++, s += colStride) f32[at + r * width + j] = data[s]!;
      if (width > cols) f32.fill(0, at + r * width + cols, at + (r + 1) * width);
    }
  }
  f32.fill(0, at + rows * width, at + padRows * width);
}

// The forward's operands, as both directions stage them: q, k and v padded to their slots, and
// the key mask as additive biases.
function stageInputs(
  f32: Float32Array, at: SliceLayout, q: StridedF32, k: StridedF32, v: StridedF32, mask: Float64Array | null, maskOff: number, s: WasmAttentionSizes,
): void {
  stage(f32, at.q, q, s.Tq, s.D, at.D8, s.Tq);
  stage(f32, at.k, k, s.Tk, s.D, at.D8, at.Tk4);
  stage(f32, at.v, v, s.Tk, s.Dv, at.Dv8, at.Tk4);
  stageBias(f32, at.bias, mask, maskOff, s.Tk, at.Tk4);
}

// The key mask as an additive bias of Tk4 floats at `at`: 0 for a key, −∞ for padding and past Tk.
function stageBias(f32: Float32Array, at: number, mask: Float64Array | null, maskOff: number, Tk: number, Tk4: number): void {
  if (!mask) f32.fill(0, at, at + Tk);
  else for (let j = 0; j < Tk; j++) f32[at + j] = mask[maskOff + j] === 0 ? -Infinity : 0;
  f32.fill(-Infinity, at + Tk, at + Tk4);
}

// Where one slice's operands are staged, in floats (each region a multiple of 4 floats, so every
// row starts 16-byte aligned): the inputs, then the forward's row of scratch, output rows and
// per-row (max, sum), or the backward's scratch blocks P and dS (BACKWARD_ROWS rows each), dOut,
// the log-sum-exps and the three gradients. A class with every field set in the constructor (one
// object shape): building it per slice costs next to nothing, unlike spread objects.
class SliceLayout {
  D8: number; Dv8: number; Tk4: number;
  q: number; k: number; v: number; bias: number;
  row: number; out: number; stats: number;
  P: number; dS: number; g: number; lse: number; dq: number; dk: number; dv: number;
  end: number;
  constructor(s: WasmAttentionSizes, backward: boolean) {
    const D8 = up(s.D, 8), Dv8 = up(s.Dv, 8), Tk4 = up(s.Tk, 4), Tq4 = up(s.Tq, 4);
    this.D8 = D8; this.Dv8 = Dv8; this.Tk4 = Tk4;
    this.q = 0; this.k = s.Tq * D8; this.v = this.k + Tk4 * D8; this.bias = this.v + Tk4 * Dv8;
    const inputsEnd = this.bias + Tk4;
    // forward
    this.row = inputsEnd; this.out = this.row + Tk4; this.stats = this.out + s.Tq * Dv8;
    // backward
    this.P = inputsEnd; this.dS = this.P + BACKWARD_ROWS * Tk4; this.g = this.dS + BACKWARD_ROWS * Tk4; this.lse = this.g + s.Tq * Dv8;
    this.dq = this.lse + 2 * Tq4; this.dk = this.dq + s.Tq * D8; this.dv = this.dk + Tk4 * D8;
    this.end = backward ? this.dv + Tk4 * Dv8 : this.stats + 2 * Tq4;
  }
}

// The visible keys of row i are 0 … first + step·i − 1.
const limits = (s: WasmAttentionSizes) => (s.causal ? { first: s.Tk - s.Tq + 1, step: 1 } : { first: s.Tk, step: 0 });

/**
 * attentionForward of kernels/attention.ts in wasm SIMD (float32, Tq, Tk, D, Dv ≥ 1): out [Tq, Dv]
 * contiguous from outOff; lse (when not null) gets each row's log-sum-exp from lseOff (−∞ for a
 * row that sees no key); mask: Tk zeros and ones from maskOff, or null.
 */
export function attentionForwardWasm(
  out: Float32Array, outOff: number, lse: Float64Array | null, lseOff: number,
  q: StridedF32, k: StridedF32, v: StridedF32, mask: Float64Array | null, maskOff: number, s: WasmAttentionSizes,
): void {
  const at = new SliceLayout(s, false);
  const { exports, f32 } = attentionModule.instance(4 * at.end);
  stageInputs(f32, at, q, k, v, mask, maskOff, s);
  const { first, step } = limits(s);
  exports.forwardRows(4 * at.q, 4 * at.k, 4 * at.v, 4 * at.bias, 4 * at.out, 4 * at.stats, 4 * at.row,
    s.Tq, 4 * at.D8, 4 * at.Dv8, first, step, s.scale);
  if (s.Dv === at.Dv8) out.set(f32.subarray(at.out, at.out + s.Tq * s.Dv), outOff);
  else for (let i = 0; i < s.Tq; i++) out.set(f32.subarray(at.out + i * at.Dv8, at.out + i * at.Dv8 + s.Dv), outOff + i * s.Dv);
  if (lse) {
    for (let i = 0; i < s.Tq; i++) {
      const max = f32[at.stats + 2 * i]!;
      lse[lseOff + i] = max === -Infinity ? -Infinity : max + Math.log(f32[at.stats + 2 * i + 1]!);
    }
  }
}

// dst[dOff + r·cols + j] += f32[at + r·width + j] for r < rows, j < cols.
function addOut(dst: Float32Array, dOff: number, f32: Float32Array, at: number, rows: number, cols: number, width: number): void {
  for (let r = 0; r < rows; r++) {
    for (let j = 0, d = dOff + r * cols, s = at + r * width; j < cols; j++) dst[d + j] += f32[s + j]!;
  }
}

/**
 * attentionBackward of kernels/attention.ts in wasm SIMD (float32, Tq, Tk, D, Dv ≥ 1): adds the
 * gradients into dQ [Tq, D], dK [Tk, D], dV [Tk, Dv] (contiguous from their offsets; null when not
 * wanted), from dOut and the forward's log-sum-exp of each row (from lseOff).
 */
export function attentionBackwardWasm(
  dQ: Float32Array | null, dqOff: number, dK: Float32Array | null, dkOff: number, dV: Float32Array | null, dvOff: number,
  dOut: StridedF32, q: StridedF32, k: StridedF32, v: StridedF32, mask: Float64Array | null, maskOff: number,
  lse: Float64Array, lseOff: number, s: WasmAttentionSizes,
): void {
  const at = new SliceLayout(s, true);
  const { exports, f32 } = attentionModule.instance(4 * at.end);
  stageInputs(f32, at, q, k, v, mask, maskOff, s);
  stage(f32, at.g, dOut, s.Tq, s.Dv, at.Dv8, s.Tq);
  for (let i = 0; i < s.Tq; i++) {
    const L = lse[lseOff + i]!;
    f32[at.lse + 2 * i] = L; // rounded to float32 …
    f32[at.lse + 2 * i + 1] = L === -Infinity ? 0 : L - f32[at.lse + 2 * i]!; // … and what the rounding lost
  }
  f32.fill(0, at.dq, at.end); // dq is stored row by row; dk and dv accumulate from zero
  const { first, step } = limits(s);
  exports.backwardRows(4 * at.q, 4 * at.k, 4 * at.v, 4 * at.bias, 4 * at.g, 4 * at.lse, 4 * at.dq, 4 * at.dk, 4 * at.dv,
    4 * at.P, 4 * at.dS, s.Tq, 4 * at.D8, 4 * at.Dv8, first, step, s.scale, 4 * at.Tk4);
  if (dQ) addOut(dQ, dqOff, f32, at.dq, s.Tq, s.D, at.D8);
  if (dK) addOut(dK, dkOff, f32, at.dk, s.Tk, s.D, at.D8);
  if (dV) addOut(dV, dvOff, f32, at.dv, s.Tk, s.Dv, at.Dv8);
}
