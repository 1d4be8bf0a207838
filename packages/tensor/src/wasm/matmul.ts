// The float32 matrix multiply as WebAssembly SIMD: C[M, N] = A[M, K] · B[K, N], the same loop
// nest as the js kernel (kernels/matmul.ts, the reference) with a 4×8 register tile of f32x4
// accumulators instead of 3×3 doubles.
//
// Staging: tensors stay Float32Arrays, so each call packs A and B into this thread's wasm memory
// (O(M·K + K·N) copies for O(M·N·K) work) in the order the micro-kernel reads them (K rounded
// up to Kp, a multiple of 4, with zero steps):
//   packed A: panels of MR = 4 rows, panel p holds A[4p + r, k] at p·Kp·4 + 4k + r
//   packed B: panels of NR = 8 columns, panel q holds B[k, 8q + j] at q·Kp·8 + 8k + j
// Lines past the edge are padding (zeros, or neighbouring values, see packOperand), so the kernel
// computes only full tiles into a padded C [4·panelsA, 8·panelsB] and the valid part is copied
// out (to accumulate, C is first copied in and the kernel adds to it). Any layout (A·B, A·Bᵀ,
// Aᵀ·B, strided views, broadcast rows) is just a different packing: the kernel itself is one.
// Contiguous operands are copied in with set() and packed by the module (packAlong, packAcross;
// with the copy of C out, 4–8% of the kernel's time at 256³ and 512³); strided views by a js
// loop (packPanels). Why stage rather than keep tensors
// in wasm memory: Float32Array storage is the core of the design, the copies are O(n²) per
// O(n³), and one memory per thread needs no allocator. The exception is the few-row product of
// generation, O(N·K) copies per O(N·K) work: there weights are kept resident (see residentCopy).
//
// The loop nest inside the module (see `gemm`):
//   for k0 in K step KC                    one K block: A panels and B panels from k0 to k0 + kc
//     for i0 in panelsA step MC_PANELS     an L2-sized block of packed A
//       for q in panelsB                   one B panel (kc·8 floats, stays in L1)
//         for p in i0 … i0 + MC_PANELS     micro: C tile [4, 8] (+)= A panel p · B panel q
//
// Register budget (measured in the prototype): V8 gives wasm SIMD 15 xmm registers and
// hoists every load of a k-step to its top, so the 2 B vectors, the 4 A splats and the 8
// accumulators are live at once: 4 + 8/4 + 4·8/4 + 1 = 15 fits, larger tiles spill.
// Where the time goes (issue #12, AMD EPYC Zen 4, one thread): the kernel alone runs at about
// 43 GFLOP/s, the same for every layout (the packed operands are identical); packing and the
// copies add 4–8%. Unrolling the k loop 2× or 4× lost 30–40% (V8 hoists the extra loads and
// spills); a cheaper loop test, A stored pre-splat (plain loads), other KC or MC_PANELS were flat
// at 256³. Fewer instructions per product would help: relaxed SIMD's f32x4.relaxed_madd (one
// fused instruction for the mul and the add) reached 55 GFLOP/s (Node 20 with
// --experimental-wasm-relaxed-simd). It is not used: its rounding is the hardware's choice, so
// the same model would give different bits in a browser that has it than in Node 20 (the
// playground test compares a page's logits with Node's exactly).
//
// Rounding: each K block of KC = 256 sums into fresh float32 accumulators, then the block's tile
// is added to C. The float32 error then grows with √KC, not √K (normwise about 4e-7 at any K),
// where the js kernel sums in doubles and rounds once per element.

import { type FunctionDef, type ValType, buildModule, op } from './builder.js';
import { versionOfStorage } from '../autograd/graph.js';
import { type KernelInstance, KernelModule } from './memory.js';

const MR = 4;
const NR = 8;
const KC = 256;
// A block of 32 panels (128 rows × KC floats = 128 KiB) stays in L2 while the B panels stream.
const MC_PANELS = 32;

// ************* the module *************

// micro(a, b, c, kc, ldc, add): C tile [4, 8] at byte address c (row stride ldc bytes) gets
// Σ_k A panel (at a) · B panel (at b) over kc steps: stored if add is 0, else added.
function microKernel(): FunctionDef {
  const [a, b, c, kc, ldc, add] = [0, 1, 2, 3, 4, 5];
  const acc = [6, 7, 8, 9, 10, 11, 12, 13]; // acc[2r + h]: row r, columns 4h … 4h + 3
  const [b0, b1, splat] = [14, 15, 16];
  const body: number[][] = [];
  const zero = [...op.f32_const(0), ...op.f32x4_splat()];
  for (const x of acc) body.push(zero, op.local_set(x));
  body.push(op.loop());
  // per k-step: two B vectors, then each of the four A values splat and multiplied into both
  body.push(op.local_get(b), op.v128_load(0), op.local_set(b0));
  body.push(op.local_get(b), op.v128_load(16), op.local_set(b1));
  for (let r = 0; r < MR; r++) {
    body.push(op.local_get(a), op.v128_load32_splat(4 * r), op.local_set(splat));
    for (let h = 0; h < 2; h++) {
      body.push(op.local_get(acc[2 * r + h]!), op.local_get(splat), op.local_get(h === 0 ? b0 : b1), op.f32x4_mul(), op.f32x4_add(), op.local_set(acc[2 * r + h]!));
    }
  }
  body.push(op.local_get(a), op.i32_const(4 * MR), op.i32_add(), op.local_set(a));
  body.push(op.local_get(b), op.i32_const(4 * NR), op.i32_add(), op.local_set(b));
  body.push(op.local_get(kc), op.i32_const(1), op.i32_sub(), op.local_tee(kc), op.br_if(0), op.end());
  // the tile into C, row by row: c[r·ldc + 16h] = acc (+ what is there)
  for (let r = 0; r < MR; r++) {
    for (let h = 0; h < 2; h++) {
      const x = acc[2 * r + h]!;
      body.push(op.local_get(c), op.local_get(add), op.if(),
        op.local_get(c), op.v128_load(16 * h), op.local_get(x), op.f32x4_add(), op.local_set(x), op.end(),
        op.local_get(x), op.v128_store(16 * h));
    }
    body.push(op.local_get(c), op.local_get(ldc), op.i32_add(), op.local_set(c));
  }
  const v128s: ValType[] = new Array(acc.length + 3).fill('v128');
  return { params: ['i32', 'i32', 'i32', 'i32', 'i32', 'i32'], results: [], locals: v128s, body };
}

// gemm(pa, pb, pc, panelsA, panelsB, K, accumulate): padded C at pc [4·panelsA, 8·panelsB] =
// packed A · packed B, or += when accumulate is 1 (then C is staged there first).
function gemmLoops(micro: number): FunctionDef {
  const [pa, pb, pc, panelsA, panelsB, K, accumulate] = [0, 1, 2, 3, 4, 5, 6];
  const [k0, kc, i0, iEnd, p, q, ldc] = [7, 8, 9, 10, 11, 12, 13];
  const get = op.local_get, set = op.local_set;
  // min(x, y) of two locals: select(x, y, x < y)
  const min = (x: number[], y: number[]) => [...x, ...y, ...x, ...y, ...op.i32_lt_s(), ...op.select()];
  // a do-while: body, then `counter += step`, repeat while counter < limit
  const doWhile = (counter: number, step: number[], limit: number[], body: number[][]) => [
    op.loop(), ...body, get(counter), step, op.i32_add(), op.local_tee(counter), limit, op.i32_lt_s(), op.br_if(0), op.end(),
  ];
  const body: number[][] = [
    get(panelsB), op.i32_const(4 * NR), op.i32_mul(), set(ldc),
    op.i32_const(0), set(k0),
    ...doWhile(k0, get(kc), get(K), [
      min(op.i32_const(KC), [...get(K), ...get(k0), ...op.i32_sub()]), set(kc),
      op.i32_const(0), set(i0),
      ...doWhile(i0, op.i32_const(MC_PANELS), get(panelsA), [
        min([...get(i0), ...op.i32_const(MC_PANELS), ...op.i32_add()], get(panelsA)), set(iEnd),
        op.i32_const(0), set(q),
        ...doWhile(q, op.i32_const(1), get(panelsB), [
          get(i0), set(p),
          ...doWhile(p, op.i32_const(1), get(iEnd), [
            // micro(pa + (p·K + k0)·16, pb + (q·K + k0)·32, pc + p·4·ldc + q·32, kc, ldc, k0 + accumulate ≠ 0)
            get(pa), get(p), get(K), op.i32_mul(), get(k0), op.i32_add(), op.i32_const(4 * MR), op.i32_mul(), op.i32_add(),
            get(pb), get(q), get(K), op.i32_mul(), get(k0), op.i32_add(), op.i32_const(4 * NR), op.i32_mul(), op.i32_add(),
            get(pc), get(p), get(ldc), op.i32_mul(), op.i32_const(MR), op.i32_mul(), op.i32_add(), get(q), op.i32_const(4 * NR), op.i32_mul(), op.i32_add(),
            get(kc), get(ldc), get(k0), get(accumulate), op.i32_add(),
            op.call(micro),
          ]),
        ]),
      ]),
    ]),
  ];
  return { params: ['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32'], results: [], locals: new Array<ValType>(7).fill('i32'), body, exportAs: 'gemm' };
}

// dotRows(x, w, out, M, N4, K4): out[i·N4 + j] = Σ_k x[i·K4 + k] · w[j·K4 + k] for i < M, j < N4:
// the few-row product x·Wᵀ of generation (N4 and K4 multiples of 4, rows zero-padded), four
// rows of W per pass so each load of x feeds four products.
// `interleaved` (export dotRowsInterleaved) reads W with each group of four rows interleaved by
// vectors: row j + r, steps k … k + 3 at w + (j·K4 + 4k + 4r)·4, so one pass reads its group as
// a single sequential stream (the layout of the resident copies, see residentCopy).
// It takes two steps of four per iteration (K4 must then be a multiple of 8): 3–7% faster
// products at the bench's sizes, the sums added in the same order.
function dotRows(interleaved: boolean): FunctionDef {
  const [x, w, out, M, N4, K4] = [0, 1, 2, 3, 4, 5];
  const [i, j, k, xRow, w0, rowBytes] = [6, 7, 8, 9, 10, 11];
  const sums = [12, 13, 14, 15];
  const xv = 16;
  const get = op.local_get, set = op.local_set;
  const body: number[][] = [
    get(K4), op.i32_const(4), op.i32_mul(), set(rowBytes),
    op.i32_const(0), set(i),
    op.loop(),
    get(x), get(i), get(rowBytes), op.i32_mul(), op.i32_add(), set(xRow),
    op.i32_const(0), set(j),
    op.loop(),
    get(w), get(j), get(rowBytes), op.i32_mul(), op.i32_add(), set(w0),
  ];
  for (const s of sums) body.push(op.f32_const(0), op.f32x4_splat(), set(s));
  body.push(op.i32_const(0), set(k), op.loop());
  // interleaved: two steps of four per iteration (K4 a multiple of 8), same order of additions
  for (let step = 0; step < (interleaved ? 2 : 1); step++) {
    body.push(get(xRow), get(k), op.i32_add(), op.v128_load(16 * step), set(xv));
    for (let r = 0; r < 4; r++) {
      // sums[r] += x[k…k+3] · w[j + r, k…k+3]; row j + r starts r·rowBytes after w0, or, interleaved,
      // the group's vectors for steps k … k + 3 start at w0 + 4k (k here counts bytes of x)
      body.push(get(sums[r]!), get(xv), get(w0), get(k));
      if (interleaved) body.push(op.i32_const(2), op.i32_shl(), op.i32_add(), op.v128_load(64 * step + 16 * r));
      else {
        body.push(op.i32_add());
        if (r > 0) body.push(get(rowBytes), op.i32_const(r), op.i32_mul(), op.i32_add());
        body.push(op.v128_load(0));
      }
      body.push(op.f32x4_mul(), op.f32x4_add(), set(sums[r]!));
    }
  }
  body.push(get(k), op.i32_const(interleaved ? 32 : 16), op.i32_add(), op.local_tee(k), get(rowBytes), op.i32_lt_s(), op.br_if(0), op.end());
  // each sum's four lanes added, (l0 + l1) + (l2 + l3), into out[i·N4 + j + r]
  for (let r = 0; r < 4; r++) {
    const s = sums[r]!;
    body.push(get(out), get(i), get(N4), op.i32_mul(), get(j), op.i32_add(), op.i32_const(4), op.i32_mul(), op.i32_add(),
      get(s), op.f32x4_extract_lane(0), get(s), op.f32x4_extract_lane(1), op.f32_add(),
      get(s), op.f32x4_extract_lane(2), get(s), op.f32x4_extract_lane(3), op.f32_add(), op.f32_add(),
      op.f32_store(4 * r));
  }
  body.push(get(j), op.i32_const(4), op.i32_add(), op.local_tee(j), get(N4), op.i32_lt_s(), op.br_if(0), op.end(),
    get(i), op.i32_const(1), op.i32_add(), op.local_tee(i), get(M), op.i32_lt_s(), op.br_if(0), op.end());
  const locals: ValType[] = [...new Array<ValType>(6).fill('i32'), ...new Array<ValType>(5).fill('v128')];
  return { params: ['i32', 'i32', 'i32', 'i32', 'i32', 'i32'], results: [], locals, body, exportAs: interleaved ? 'dotRowsInterleaved' : 'dotRows' };
}

// 32-bit lanes i (0–3 of the first vector, 4–7 of the second) as the byte indices i8x16.shuffle takes.
const lanes = (...l: number[]) => l.flatMap((i) => [4 * i, 4 * i + 1, 4 * i + 2, 4 * i + 3]);

// packAcross(src, ld, dst, panels, K, vecs): the packing of an operand whose source runs across
// the lines (A·B's B, Aᵀ·B's A), staged as K rows of ld floats: panel p, step k is the
// 4·vecs floats at src[k·ld + p·4·vecs …], copied as vecs vectors to dst + (p·K + k)·16·vecs.
function packAcross(): FunctionDef {
  const [src, ld, dst, panels, K, vecs] = [0, 1, 2, 3, 4, 5];
  const [p, k, s, d, width] = [6, 7, 8, 9, 10];
  const get = op.local_get, set = op.local_set;
  const body: number[][] = [
    get(vecs), op.i32_const(16), op.i32_mul(), set(width), // bytes per panel step
    op.i32_const(0), set(p),
    op.loop(),
    get(src), get(p), get(width), op.i32_mul(), op.i32_add(), set(s),
    get(dst), get(p), get(K), op.i32_mul(), get(width), op.i32_mul(), op.i32_add(), set(d),
    op.i32_const(0), set(k),
    op.loop(),
    get(d), get(s), op.v128_load(0), op.v128_store(0),
    get(vecs), op.i32_const(2), op.i32_eq(), op.if(), get(d), get(s), op.v128_load(16), op.v128_store(16), op.end(),
    get(s), get(ld), op.i32_const(4), op.i32_mul(), op.i32_add(), set(s),
    get(d), get(width), op.i32_add(), set(d),
    get(k), op.i32_const(1), op.i32_add(), op.local_tee(k), get(K), op.i32_lt_s(), op.br_if(0), op.end(),
    get(p), op.i32_const(1), op.i32_add(), op.local_tee(p), get(panels), op.i32_lt_s(), op.br_if(0), op.end(),
  ];
  return { params: ['i32', 'i32', 'i32', 'i32', 'i32', 'i32'], results: [], locals: new Array<ValType>(5).fill('i32'), body, exportAs: 'packAcross' };
}

// packAlong(src, ld, dst, groups, K, vecs): the packing of an operand whose source runs along k
// (A·B's A, A·Bᵀ's B), staged as rows of ld floats, one per line (K a multiple of 4): each group
// of four lines is read four k-steps at a time and transposed, 4×4, into the panel's layout.
// Group g is lanes 4·(g mod vecs) … of panel ⌊g / vecs⌋ (a panel is 4·vecs lines wide).
function packAlong(): FunctionDef {
  const [src, ld, dst, groups, K, vecs] = [0, 1, 2, 3, 4, 5];
  const [g, k, row, d, width, rowBytes, h] = [6, 7, 8, 9, 10, 11, 12];
  const [v0, v1, v2, v3, t0, t1, t2, t3] = [13, 14, 15, 16, 17, 18, 19, 20];
  const get = op.local_get, set = op.local_set;
  const shuffle = (x: number, y: number, l: number[]) => [...get(x), ...get(y), ...op.i8x16_shuffle(lanes(...l))];
  const body: number[][] = [
    get(vecs), op.i32_const(16), op.i32_mul(), set(width),
    get(ld), op.i32_const(4), op.i32_mul(), set(rowBytes),
    op.i32_const(0), set(g),
    op.loop(),
    // h = g mod vecs: which half of the panel; d = the group's first lane: panel ⌊g/vecs⌋, lane 4h
    get(g), get(vecs), op.i32_const(1), op.i32_sub(), op.i32_and(), set(h),
    get(dst), get(g), get(h), op.i32_sub(), op.i32_const(16), op.i32_mul(), get(K), op.i32_mul(), op.i32_add(), get(h), op.i32_const(16), op.i32_mul(), op.i32_add(), set(d),
    get(src), get(g), op.i32_const(4), op.i32_mul(), get(rowBytes), op.i32_mul(), op.i32_add(), set(row),
    op.i32_const(0), set(k),
    op.loop(),
    // v_r = line r's steps k … k + 3
    get(row), op.v128_load(0), set(v0),
    get(row), get(rowBytes), op.i32_add(), op.v128_load(0), set(v1),
    get(row), get(rowBytes), op.i32_const(2), op.i32_mul(), op.i32_add(), op.v128_load(0), set(v2),
    get(row), get(rowBytes), op.i32_const(3), op.i32_mul(), op.i32_add(), op.v128_load(0), set(v3),
    // transpose: out_j = (v0[j], v1[j], v2[j], v3[j]), step k + j of the four lines
    shuffle(v0, v1, [0, 4, 1, 5]), set(t0), shuffle(v0, v1, [2, 6, 3, 7]), set(t1),
    shuffle(v2, v3, [0, 4, 1, 5]), set(t2), shuffle(v2, v3, [2, 6, 3, 7]), set(t3),
    get(d), shuffle(t0, t2, [0, 1, 4, 5]), op.v128_store(0),
    get(d), get(width), op.i32_add(), shuffle(t0, t2, [2, 3, 6, 7]), op.v128_store(0),
    get(d), get(width), op.i32_const(2), op.i32_mul(), op.i32_add(), shuffle(t1, t3, [0, 1, 4, 5]), op.v128_store(0),
    get(d), get(width), op.i32_const(3), op.i32_mul(), op.i32_add(), shuffle(t1, t3, [2, 3, 6, 7]), op.v128_store(0),
    get(row), op.i32_const(16), op.i32_add(), set(row),
    get(d), get(width), op.i32_const(4), op.i32_mul(), op.i32_add(), set(d),
    get(k), op.i32_const(4), op.i32_add(), op.local_tee(k), get(K), op.i32_lt_s(), op.br_if(0), op.end(),
    get(g), op.i32_const(1), op.i32_add(), op.local_tee(g), get(groups), op.i32_lt_s(), op.br_if(0), op.end(),
  ];
  const locals: ValType[] = [...new Array<ValType>(7).fill('i32'), ...new Array<ValType>(8).fill('v128')];
  return { params: ['i32', 'i32', 'i32', 'i32', 'i32', 'i32'], results: [], locals, body, exportAs: 'packAlong' };
}

/** The matmul module's bytes: function 0 the micro-kernel, 1 `gemm`, 2 `dotRows`, 3 `packAcross`, 4 `packAlong`, 5 `dotRowsInterleaved`. */
export function matmulModuleBytes(): Uint8Array<ArrayBuffer> {
  return buildModule([microKernel(), gemmLoops(0), dotRows(false), packAcross(), packAlong(), dotRows(true)]);
}

// ************* this thread's instance *************

type Gemm = (pa: number, pb: number, pc: number, panelsA: number, panelsB: number, K: number, accumulate: number) => void;
type DotRows = (x: number, w: number, out: number, M: number, N4: number, K4: number) => void;
type Pack = (src: number, ld: number, dst: number, count: number, K: number, vecs: number) => void;

interface MatmulExports { gemm: Gemm; dotRows: DotRows; dotRowsInterleaved: DotRows; packAlong: Pack; packAcross: Pack }
type Instance = KernelInstance<MatmulExports>;

const matmulModule = new KernelModule<MatmulExports>(matmulModuleBytes);
// The split job whose B this thread's memory holds packed (see matmulWasm), and in which instance.
let packedBFor: object | null = null;
let packedBIn: Instance | null = null;

// ************* staging and the calls *************

/**
 * The generic packing, for operands neither packing function in the module reads (strided views,
 * broadcast rows): `lines` strided vectors of length K go into panels of `width` lines
 * interleaved along k: line l, step k goes to dst[start + ⌊l/width⌋·Kp·width + k·width + l % width]
 * from src[offset + l·lineStride + k·kStride]. Steps K … Kp and lines past the end are zeros.
 * For A the lines are rows (width MR), for B columns (width NR).
 */
function packPanels(dst: Float32Array, start: number, src: Float32Array, offset: number, lineStride: number, kStride: number, lines: number, K: number, Kp: number, width: number): void {
  const padded = Math.ceil(lines / width) * width;
  for (let l = 0; l < padded; l++) {
    const d0 = start + (l - (l % width)) * Kp + (l % width);
    let k = 0, d = d0;
    if (l < lines) for (let s = offset + l * lineStride; k < K; k++, s += kStride, d += width) dst[d] = src[s]!;
    for (; k < Kp; k++, d += width) dst[d] = 0;
  }
}

/**
 * Packs an operand (lines of length K, see packPanels) at float index `dst` of this thread's
 * memory, Kp = K rounded up to 4. Contiguous sources (row-major or transposed matrices) are
 * copied in with set() (a memcpy) to the staging area at float index `stage` (stageFloats floats,
 * see stagingFloats), zero-padded to whole panels and Kp steps, and packed there by the module's
 * SIMD packAlong or packAcross, a block of lines or of steps at a time: the staging area then stays
 * small (a whole operand staged at once doubled the memory a product touches: 11 MB instead of 6
 * per thread for a weight gradient at sequence 2048); anything else goes through packPanels.
 */
function packOperand(inst: Instance, dst: number, stage: number, stageFloats: number, src: Float32Array, offset: number, lineStride: number, kStride: number, lines: number, K: number, Kp: number, width: number): void {
  const { f32 } = inst;
  const padded = Math.ceil(lines / width) * width;
  const vecs = width / 4;
  if (kStride === 1 && lineStride >= K) {
    // lines run along k: stage them as rows of Kp floats, whole panels of lines at a time
    const block = Math.max(width, Math.floor(stageFloats / Kp / width) * width);
    for (let l0 = 0; l0 < padded; l0 += block) {
      const l1 = Math.min(l0 + block, padded), real = Math.min(l1, lines);
      if (lineStride === Kp && K === Kp) f32.set(src.subarray(offset + l0 * K, offset + real * K), stage);
      else {
        for (let l = l0; l < real; l++) {
          f32.set(src.subarray(offset + l * lineStride, offset + l * lineStride + K), stage + (l - l0) * Kp);
          if (Kp > K) f32.fill(0, stage + (l - l0) * Kp + K, stage + (l - l0 + 1) * Kp);
        }
      }
      f32.fill(0, stage + Math.max(0, real - l0) * Kp, stage + (l1 - l0) * Kp);
      inst.exports.packAlong(4 * stage, Kp, 4 * (dst + l0 * Kp), (l1 - l0) / 4, Kp, vecs);
    }
  } else if (lineStride === 1 && kStride >= lines) {
    // steps k run across the lines (A·B's B, Aᵀ·B's A): stage a block of steps as rows of ld
    // floats (`lines` when the rows are one block: one set() copies them; else `padded`), and
    // pack each panel's part of the block. When ld = lines is not a multiple of the panel width,
    // the last panel's extra lanes read the first values of the next row (after the block's last
    // row, the zeros filled here): they reach only padded lines of C, which are never copied out.
    // Steps K … Kp must be zeros, as in the other operand (stale memory could hold NaN, and 0 · NaN
    // is NaN).
    const whole = kStride === lines;
    const ld = whole ? lines : padded;
    const steps = Math.max(1, Math.floor((stageFloats - width) / ld));
    for (let k0 = 0; k0 < Kp; k0 += steps) {
      const k1 = Math.min(k0 + steps, Kp), real = Math.max(0, Math.min(k1, K) - k0);
      if (whole) f32.set(src.subarray(offset + k0 * lines, offset + (k0 + real) * lines), stage);
      else {
        for (let k = 0; k < real; k++) {
          f32.set(src.subarray(offset + (k0 + k) * kStride, offset + (k0 + k) * kStride + lines), stage + k * padded);
          if (padded > lines) f32.fill(0, stage + k * padded + lines, stage + (k + 1) * padded);
        }
      }
      f32.fill(0, stage + real * ld, stage + (k1 - k0) * ld + width);
      for (let p = 0; p < padded / width; p++) {
        inst.exports.packAcross(4 * (stage + p * width), ld, 4 * (dst + p * Kp * width + k0 * width), 1, k1 - k0, vecs);
      }
    }
  } else {
    packPanels(f32, dst, src, offset, lineStride, kStride, lines, K, Kp, width);
  }
}

// The staging area's floats: about 256 KiB, or more when one block (a panel of lines along k, or a
// step across the widest operand's lines) needs it, and a panel width of zeros after.
const STAGE_FLOATS = 1 << 16;
function stagingFloats(Kp: number, widest: number): number {
  return Math.max(STAGE_FLOATS, NR * Kp, widest) + NR;
}

const roundUp = (x: number, m: number) => Math.ceil(x / m) * m;
// byte addresses start at multiples of 64 (a cache line)
const align64 = (bytes: number) => roundUp(bytes, 64);

/**
 * C[M,N] = A[M,K] · B[K,N] in wasm SIMD (float32 only; overwrites C, or accumulates into it). A(i,k) is a[aOffset + i*aRowStride + k*aColStride]; likewise B; C is row-major contiguous from cOffset.
 * `job`: set by the threads splitting one product (see parallel/): calls with the same job share B, so it is packed once per thread.
 */
export function matmulWasm(
  c: Float32Array, cOffset: number,
  a: Float32Array, aOffset: number, aRowStride: number, aColStride: number,
  b: Float32Array, bOffset: number, bRowStride: number, bColStride: number,
  M: number, N: number, K: number, accumulate: boolean, job: object | null = null,
): void {
  const panelsA = Math.ceil(M / MR), panelsB = Math.ceil(N / NR);
  const ldc = panelsB * NR;
  // K rounded up to 4 (packAlong moves four steps at a time); the extra steps are zeros in both
  const Kp = roundUp(K, 4);
  // packed B first: its place does not depend on M, so row chunks of one job can share it
  const pb = 0;
  const pa = align64(pb + panelsB * NR * Kp * 4);
  const pc = align64(pa + panelsA * MR * Kp * 4);
  const stage = align64(pc + panelsA * MR * ldc * 4);
  // staging: a block of an operand at a time (see packOperand)
  const stageFloats = stagingFloats(Kp, Math.max(panelsA * MR, panelsB * NR));
  const inst = matmulModule.instance(stage + stageFloats * 4);
  if (job === null || packedBFor !== job || packedBIn !== inst) {
    packOperand(inst, pb / 4, stage / 4, stageFloats, b, bOffset, bColStride, bRowStride, N, K, Kp, NR);
  }
  packedBFor = job;
  packedBIn = inst;
  packOperand(inst, pa / 4, stage / 4, stageFloats, a, aOffset, aRowStride, aColStride, M, K, Kp, MR);
  const f32 = inst.f32;
  // C moves between the caller's rows (stride N) and the padded ones (stride ldc) by set(), a
  // memcpy per row; to accumulate, C is staged first and the module adds the product to it
  // (the js loop of M·N additions this replaces took a third of a 128×64×128 product's time)
  const cRows = pc / 4;
  if (accumulate) {
    if (ldc === N) f32.set(c.subarray(cOffset, cOffset + M * N), cRows);
    else for (let i = 0; i < M; i++) f32.set(c.subarray(cOffset + i * N, cOffset + (i + 1) * N), cRows + i * ldc);
  }
  inst.exports.gemm(pa, pb, pc, panelsA, panelsB, Kp, accumulate ? 1 : 0);
  if (ldc === N) c.set(f32.subarray(cRows, cRows + M * N), cOffset);
  else for (let i = 0; i < M; i++) c.set(f32.subarray(cRows + i * ldc, cRows + i * ldc + N), cOffset + i * N);
}

// ************* the few-row path, with resident weights *************
//
// Generation multiplies one row (or a few) by the same weight matrices for every token: x·Wᵀ with
// W [N, K] read once per call, so staging W (N·K floats, a set() per call) cost about four times
// dotRows itself (issue #12 profile: ~40% of generation vs ~10%). A W seen a second time is kept
// instead, resident in a memory of the module's own (privateInstance in memory.ts): the thread's
// shared memory is overwritten by every call's staging and replaced when a call needs more, this one
// is neither. Its first RESIDENT_SCRATCH bytes take each call's rows of x and of the output; the
// RESIDENT_BYTES above them hold the copies, placed first-fit.
//
// A copy is valid for one storage (the Float32Array object, weakly keyed), one view of it (offset,
// row stride, N, K) and one version of it (autograd/graph.ts: copy_, the optimizers' steps and
// every in-place write bump it); a changed version re-stages the copy in place before use, so a
// product never sees stale weights. Code that writes a storage directly must call
// incrementVersion, as the version counters already require. Storages in shared memory are never
// kept: the worker pool's staging buffers (parallel/) are rewritten for every job without a version.
// A growing KV cache read as W (llama's kv-cache.ts writes its rows without a version bump) is
// seen at a new length every token, so each of its views is seen once and never kept; a storage
// remembers at most MAX_VIEWS views seen once (the oldest are forgotten).
// Admission on the second sighting keeps one-off operands (activations) out. When the region is
// full, copies whose storage was collected or that went unused for IDLE_CALLS calls are dropped;
// if that frees nothing the new W is staged per call as before (so a model whose weights exceed
// the cap keeps the first RESIDENT_BYTES resident rather than thrashing).

const RESIDENT_SCRATCH = 1 << 20;
const RESIDENT_BYTES = 64 << 20;
const IDLE_CALLS = 4096;
const MAX_VIEWS = 16;

/** One view of a storage, seen by the few-row path, and where its copy is (at < 0: not kept). */
interface ResidentCopy {
  readonly storage: WeakRef<Float32Array>;
  readonly offset: number;
  readonly rowStride: number;
  readonly N: number;
  readonly K: number;
  /** Bytes the copy takes: N4 rows of K4 floats, 64-aligned. */
  readonly bytes: number;
  /** The storage's version the copy holds. */
  version: number;
  /** Byte address of the copy in the resident memory, or -1. */
  at: number;
  /** The few-row call that last used it. */
  lastUse: number;
}

let residentOn = true;
let residentCap = RESIDENT_BYTES;
let residentInst: Instance | null = null;
const seenViews = new WeakMap<Float32Array, ResidentCopy[]>();
// the kept copies, by address
let kept: ResidentCopy[] = [];
let rowCalls = 0;

/** Turns resident weights for the few-row product on or off and sets the bytes they may take (at most 64 MiB, the default); for tests and benchmarks. Drops every kept copy. */
export function setResidentWeights(on: boolean, maxBytes = RESIDENT_BYTES): void {
  residentOn = on;
  residentCap = Math.min(maxBytes, RESIDENT_BYTES);
  for (const copy of kept) copy.at = -1;
  kept = [];
}

/** The bytes of weights kept resident now, and how many copies (for tests). */
export function residentWeightStats(): { bytes: number; copies: number } {
  return { bytes: kept.reduce((sum, copy) => sum + copy.bytes, 0), copies: kept.length };
}

// Copies `rows` rows of K floats (row stride `stride`, from `offset`) to float index dst as rows of
// K4 floats, zero-padded, then zero rows up to padRows.
function stageRows(f32: Float32Array, dst: number, src: Float32Array, offset: number, stride: number, rows: number, padRows: number, K: number, K4: number): void {
  if (stride === K4 && K === K4) f32.set(src.subarray(offset, offset + rows * K), dst);
  else for (let r = 0; r < rows; r++) f32.set(src.subarray(offset + r * stride, offset + r * stride + K), dst + r * K4);
  if (K !== K4) for (let r = 0; r < rows; r++) f32.fill(0, dst + r * K4 + K, dst + (r + 1) * K4);
  f32.fill(0, dst + rows * K4, dst + padRows * K4);
}

// Copies W (N rows of K floats, row stride `stride`, from `offset`) to float index dst in the
// layout dotRowsInterleaved reads: rows in groups of four, each group's steps k … k + 3 stored as
// four consecutive vectors (rows j … j + 3), zero-padded to N4 rows and K4 steps. Read as rows, a
// resident W made generation ~35% slower than staging it per call: four rows read side by side,
// 1 KiB each, defeat the prefetcher once W has left the cache (the staged copy is hot).
function stageInterleaved(f32: Float32Array, dst: number, src: Float32Array, offset: number, stride: number, N: number, N4: number, K: number, K4: number): void {
  f32.fill(0, dst, dst + N4 * K4);
  for (let j = 0; j < N; j++) {
    const group = dst + (j - (j % 4)) * K4 + 4 * (j % 4);
    for (let k = 0, s = offset + j * stride; k < K; k++, s++) f32[group + 4 * (k - (k % 4)) + (k % 4)] = src[s]!;
  }
}

// The resident copy of W (b as N rows of K, row stride `stride`, from `offset`; copied as N4 rows of
// K8 steps), staged if its version changed; null when W is not kept (first sighting, too large, no room).
function residentCopy(b: Float32Array, offset: number, stride: number, N: number, K: number, N4: number, K8: number): ResidentCopy | null {
  rowCalls++;
  const bytes = align64(N4 * K8 * 4);
  if (bytes > residentCap || (typeof SharedArrayBuffer !== 'undefined' && b.buffer instanceof SharedArrayBuffer)) return null;
  let views = seenViews.get(b);
  if (!views) seenViews.set(b, views = []);
  const version = versionOfStorage(b);
  let copy = views.find((v) => v.offset === offset && v.rowStride === stride && v.N === N && v.K === K);
  if (!copy) {
    if (views.length >= MAX_VIEWS) {
      const unkept = views.findIndex((v) => v.at < 0);
      if (unkept >= 0) views.splice(unkept, 1);
    }
    views.push({ storage: new WeakRef(b), offset, rowStride: stride, N, K, bytes, version, at: -1, lastUse: rowCalls });
    return null;
  }
  copy.lastUse = rowCalls;
  if (copy.at >= 0 && copy.version === version) return copy;
  if (copy.at < 0 && !place(copy)) return null;
  residentInst ??= matmulModule.privateInstance(RESIDENT_SCRATCH + RESIDENT_BYTES);
  stageInterleaved(residentInst.f32, copy.at / 4, b, offset, stride, N, N4, K, K8);
  copy.version = version;
  return copy;
}

// Gives the copy an address (first fit among the kept ones), dropping dead and idle copies if
// nothing fits; false if still nothing does.
function place(copy: ResidentCopy): boolean {
  for (let attempt = 0; attempt < 2; attempt++) {
    let start = RESIDENT_SCRATCH;
    for (let i = 0; i <= kept.length; i++) {
      const end = i < kept.length ? kept[i]!.at : RESIDENT_SCRATCH + residentCap;
      if (end - start >= copy.bytes) {
        copy.at = start;
        kept.splice(i, 0, copy);
        return true;
      }
      if (i < kept.length) start = kept[i]!.at + kept[i]!.bytes;
    }
    const live = kept.filter((k) => k.storage.deref() !== undefined && rowCalls - k.lastUse < IDLE_CALLS);
    if (live.length === kept.length) return false;
    for (const k of kept) if (!live.includes(k)) k.at = -1;
    kept = live;
  }
  return false;
}

/**
 * The few-row product with both operands contiguous along K (x·Wᵀ of generation): C[M,N] = A·B where A(i,k) = a[aOffset + i*aRowStride + k] and B(k,j) = b[bOffset + j*bColStride + k]; float32 only.
 * B is kept resident in wasm memory from its second use on (see above).
 */
export function matmulRowsWasm(
  c: Float32Array, cOffset: number,
  a: Float32Array, aOffset: number, aRowStride: number,
  b: Float32Array, bOffset: number, bColStride: number,
  M: number, N: number, K: number, accumulate: boolean,
): void {
  const N4 = roundUp(N, 4);
  const K8 = roundUp(K, 8); // resident copies (dotRowsInterleaved) take steps in pairs of four
  const copy = residentOn && align64(M * K8 * 4) + M * N4 * 4 <= RESIDENT_SCRATCH ? residentCopy(b, bOffset, bColStride, N, K, N4, K8) : null;
  const K4 = copy ? K8 : roundUp(K, 4);
  const xBytes = align64(M * K4 * 4);
  let inst: Instance, pw: number, px: number;
  if (copy) {
    inst = residentInst!;
    pw = copy.at;
    px = 0;
  } else {
    // W staged for this call, rows copied with set() (a memcpy), its padding rows zeros
    pw = 0;
    px = align64(N4 * K4 * 4);
    inst = matmulModule.instance(px + xBytes + M * N4 * 4);
    packedBFor = null; // the staging overwrites a kept packed B
    stageRows(inst.f32, pw / 4, b, bOffset, bColStride, N, N4, K, K4);
  }
  const po = px + xBytes;
  const f32 = inst.f32;
  stageRows(f32, px / 4, a, aOffset, aRowStride, M, M, K, K4);
  if (copy) inst.exports.dotRowsInterleaved(px, pw, po, M, N4, K4);
  else inst.exports.dotRows(px, pw, po, M, N4, K4);
  for (let i = 0, s = po / 4, d = cOffset; i < M; i++, s += N4, d += N) {
    if (accumulate) {
      for (let j = 0; j < N; j++) c[d + j] += f32[s + j]!;
    } else {
      c.set(f32.subarray(s, s + N), d);
    }
  }
}
