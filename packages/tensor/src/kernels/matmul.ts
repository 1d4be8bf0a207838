// Matrix multiply kernel: C[M, N] = A[M, K] · B[K, N], plain loops on typed arrays.
//
// A and B are read through (offset, rowStride, colStride), so A·B, A·Bᵀ and Aᵀ·B all run
// without the caller materializing a transpose. C is row-major contiguous, row stride N.
//
// Layout of the fast path (the BLIS/GotoBLAS loop nest):
//   for jc in N step NC                      B block   [KC, NC] → packedB (NR-column panels)
//     for pc in K step KC
//       for ic in M step MC                  A block   [MC, KC] → packedA (MR-row panels)
//         for jr in NC step NR, ir in MC step MR
//           micro-kernel: tile[MR, NR] = Σ_k packedA[ir, k] · packedB[k, jr]
// Packing copies every layout into the same contiguous order, so all strides cost the same,
// and the micro-kernel reads two short sequential streams that stay in L1/L2.
// Tiny and skinny products (a few rows, a short K) skip packing: matmulSmall. This file is one
// thread's work: how large products are split by rows across threads is parallel/matmul.ts.
//
// With the 'wasm' backend (the default where WebAssembly SIMD validates, see backend.ts),
// float32 products run the same loop nest in WebAssembly instead: src/wasm/matmul.ts, with
// this file as its reference. The choice is made per thread's share (matmulRows).

import { getBackend } from '../backend.js';
import type { FloatArray } from '../dtype.js';
import { matmulRowsWasm, matmulWasm } from '../wasm/matmul.js';

// Register tile, MR×NR = 3×3 (the micro-kernels below hard-code it). V8 (x64) allocates
// about 15 double registers; it computes all nine products before adding, so even 3×3
// spills a few accumulators, and 4×4, 4×3, 3×4, 2×4 measured 4–10% slower, 5×3 15% slower.
const MR = 3;
const NR = 3;
// Cache blocking. A KC-long micro-panel of B (KC·NR floats) stays in L1 while MC rows of
// packed A (MC·KC floats) stay in L2. Scalar code is compute-bound, so these matter little:
// KC = 512 beat 256 by ~2% (fewer passes over C), 128 lost 5%; MC and NC were flat.
const KC = 512;
const MC = 96;
const NC = 1536;
// Where packing costs more than it saves, use the unpacked loop: up to 16³ multiply-adds,
// up to 4 rows (the packed tile would be mostly padding) or a K of 8 (too short to amortize
// packing and the tile stores). Measured crossovers; see bench/matmul-kernel.ts.
const SMALL = 4096;
const SMALL_M = 4;
const SMALL_K = 8;

// Scratch reused across calls, grown on demand (no allocation per call for typical sizes).
// Packed A and packed B share one array (A first, then B): V8 re-reads an array's length and
// data pointer on every loop iteration, so one array halves that overhead.
// NOTE: the scratch is a plain JS array of doubles (V8's PACKED_DOUBLE_ELEMENTS), not a typed
// array. Once any ArrayBuffer in the process has been detached (a transferred buffer, a grown
// WebAssembly.Memory: tfjs-wasm, or TensorFlow.js's `long` dependency, does it at load time),
// V8 checks every typed-array load in optimized code for detachment, which cost the
// micro-kernel 13–15%; loads from a plain array need no such check. The values are the same
// float32 or float64 values, so the products are bit-identical to packing into typed arrays.
let scratch: number[] = [];
// The split job whose B the scratch holds packed (see matmulPacked), and in which array.
let packedBFor: object | null = null;
let packedBIn: number[] | null = null;
// The micro-kernel's result. Its accumulators start from this Float64Array (never from the
// literal 0, a small integer), so V8 keeps them unboxed doubles even when it compiles the
// loop on-stack or inlines it.
const tile = new Float64Array(MR * NR);

// A scratch array of at least n doubles. Built by push from an empty array so V8 gives it
// packed double elements (new Array(n) would be holey: a hole check on every load).
function scratchOf(n: number): number[] {
  if (scratch.length >= n) return scratch;
  const grown: number[] = [];
  for (let i = 0; i < n; i++) grown.push(0.5);
  scratch = grown;
  return grown;
}

/**
 * C[M,N] = A[M,K] · B[K,N] (overwrites C, or accumulates into it when accumulate is true). Element A(i,k) is a[aOffset + i*aRowStride + k*aColStride]; likewise B; C is row-major contiguous with row stride N starting at cOffset.
 * `job`: set by the threads splitting one product (parallel/matmul.ts): calls with the same job share B, so a thread packs it once for all its row chunks.
 */
export function matmulKernel(
  c: FloatArray, cOffset: number,
  a: FloatArray, aOffset: number, aRowStride: number, aColStride: number,
  b: FloatArray, bOffset: number, bRowStride: number, bColStride: number,
  M: number, N: number, K: number, accumulate = false, job: object | null = null,
): void {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    // An empty sum is zero.
    if (!accumulate) c.fill(0, cOffset, cOffset + M * N);
    return;
  }
  if (N === 1 && M > 1) {
    // A matrix times a column: C[M, 1] is laid out exactly as Cᵀ[1, M] = Bᵀ·Aᵀ, which the
    // single-row path below handles faster.
    matmulKernel(c, cOffset, b, bOffset, bColStride, bRowStride, a, aOffset, aColStride, aRowStride, 1, M, K, accumulate);
    return;
  }
  matmulRows(c, cOffset, a, aOffset, aRowStride, aColStride, b, bOffset, bRowStride, bColStride, M, N, K, accumulate, job);
}

// The unpacked loop where packing would not pay, else the packed path;
// float32 in wasm when that backend is on (tiny products and short K stay in js).
function matmulRows(
  c: FloatArray, cOffset: number,
  a: FloatArray, aOffset: number, aRowStride: number, aColStride: number,
  b: FloatArray, bOffset: number, bRowStride: number, bColStride: number,
  M: number, N: number, K: number, accumulate: boolean, job: object | null,
): void {
  const small = M * N * K <= SMALL || K <= SMALL_K;
  if (!small && getBackend() === 'wasm' && c instanceof Float32Array && a instanceof Float32Array && b instanceof Float32Array) {
    // a row chunk of a split product (job set) takes the packed path whatever its rows, so every
    // row is computed as one thread computes it
    if (M > SMALL_M || job !== null) {
      matmulWasm(c, cOffset, a, aOffset, aRowStride, aColStride, b, bOffset, bRowStride, bColStride, M, N, K, accumulate, job);
      return;
    }
    if (aColStride === 1 && bRowStride === 1) {
      matmulRowsWasm(c, cOffset, a, aOffset, aRowStride, b, bOffset, bColStride, M, N, K, accumulate);
      return;
    }
  }
  if (small || M <= SMALL_M) {
    matmulSmall(c, cOffset, a, aOffset, aRowStride, aColStride, b, bOffset, bRowStride, bColStride, M, N, K, accumulate);
  } else {
    matmulPacked(c, cOffset, a, aOffset, aRowStride, aColStride, b, bOffset, bRowStride, bColStride, M, N, K, accumulate, job);
  }
}

// The fast path: pack blocks of A and B, then run the micro-kernel over them (see the top).
function matmulPacked(
  c: FloatArray, cOffset: number,
  a: FloatArray, aOffset: number, aRowStride: number, aColStride: number,
  b: FloatArray, bOffset: number, bRowStride: number, bColStride: number,
  M: number, N: number, K: number, accumulate: boolean, job: object | null,
): void {
  // Row chunks of one split product share B: when B is a single block, pack it for the job's
  // first chunk on this thread and keep it (at a place that does not depend on the chunk's rows).
  const keepB = job !== null && N <= NC && K <= KC;
  const mcMax = keepB ? MC : Math.min(MC, roundUp(M, MR));
  const ncMax = Math.min(NC, roundUp(N, NR));
  const kcMax = Math.min(KC, K);
  const bStart = mcMax * kcMax;
  const packed = scratchOf(bStart + ncMax * kcMax);
  const havePackedB = keepB && packedBFor === job && packedBIn === packed;
  packedBFor = keepB ? job : null;
  packedBIn = packed;
  for (let jc = 0; jc < N; jc += NC) {
    const nc = Math.min(NC, N - jc);
    for (let pc = 0; pc < K; pc += KC) {
      const kc = Math.min(KC, K - pc);
      // The first K block overwrites C unless the caller asked to accumulate.
      const add = accumulate || pc > 0;
      if (!havePackedB) packPanels(packed, bStart, b, bOffset + pc * bRowStride + jc * bColStride, bColStride, bRowStride, nc, kc);
      for (let ic = 0; ic < M; ic += MC) {
        const mc = Math.min(MC, M - ic);
        packPanels(packed, 0, a, aOffset + ic * aRowStride + pc * aColStride, aRowStride, aColStride, mc, kc);
        macroKernel(c, cOffset + ic * N + jc, N, packed, bStart, mc, nc, kc, add);
      }
    }
  }
}

// Packs `lines` strided vectors of length kc into panels of three, interleaved along k:
// line l, step k goes to packed[start + (l/3)·3·kc + 3k + l%3] from src[offset + l·lineStride
// + k·kStride]. For A the lines are rows (panels of MR), for B columns (panels of NR).
// Lines past the end are zero: the micro-kernel computes full tiles, edge tiles store only
// their valid part, and zeros (unlike stale scratch) are never slow denormals.
function packPanels(packed: number[], start: number, src: FloatArray, offset: number, lineStride: number, kStride: number, lines: number, kc: number): void {
  let p = start;
  for (let l0 = 0; l0 < lines; l0 += 3, offset += 3 * lineStride) {
    const width = Math.min(3, lines - l0);
    for (let k = 0, s = offset; k < kc; k++, s += kStride, p += 3) {
      packed[p] = src[s];
      packed[p + 1] = width > 1 ? src[s + lineStride] : 0;
      packed[p + 2] = width > 2 ? src[s + 2 * lineStride] : 0;
    }
  }
}

// C block [mc, nc] (row stride ldc, from cStart) = or += packedA [mc, kc] · packedB [kc, nc],
// packed A at packed[0..], packed B at packed[bStart..].
function macroKernel(c: FloatArray, cStart: number, ldc: number, packed: number[], bStart: number, mc: number, nc: number, kc: number, add: boolean): void {
  for (let jr = 0; jr < nc; jr += NR) {
    const cols = Math.min(NR, nc - jr);
    const bPanel = bStart + jr * kc;
    for (let ir = 0; ir < mc; ir += MR) {
      const rows = Math.min(MR, mc - ir);
      tile.fill(0);
      microKernel(packed, ir * kc, bPanel, kc, tile);
      let ci = cStart + ir * ldc + jr;
      for (let i = 0; i < rows; i++, ci += ldc) {
        for (let j = 0; j < cols; j++) c[ci + j] = add ? c[ci + j] + tile[i * NR + j] : tile[i * NR + j];
      }
    }
  }
}

// tile[3, 3] += Σ_k p[ia + 3k + i] · p[ib + 3k + j] for k < kc: a 3-row panel of packed A
// times a 3-column panel of packed B, nine accumulators in registers.
// NOTE: `| 0` on the indices tells V8 they are int32, removing an overflow check per load.
function microKernel(p: number[], ia: number, ib: number, kc: number, out: Float64Array): void {
  let c00 = out[0], c01 = out[1], c02 = out[2];
  let c10 = out[3], c11 = out[4], c12 = out[5];
  let c20 = out[6], c21 = out[7], c22 = out[8];
  for (const end = (ia + 3 * kc) | 0; ia < end; ia = (ia + 3) | 0, ib = (ib + 3) | 0) {
    const a0 = p[ia], a1 = p[(ia + 1) | 0], a2 = p[(ia + 2) | 0];
    let b = p[ib];
    c00 += a0 * b; c10 += a1 * b; c20 += a2 * b;
    b = p[(ib + 1) | 0];
    c01 += a0 * b; c11 += a1 * b; c21 += a2 * b;
    b = p[(ib + 2) | 0];
    c02 += a0 * b; c12 += a1 * b; c22 += a2 * b;
  }
  out[0] = c00; out[1] = c01; out[2] = c02;
  out[3] = c10; out[4] = c11; out[5] = c12;
  out[6] = c20; out[7] = c21; out[8] = c22;
}

// The unpacked loop for tiny and single-row products, where packing costs more than it saves:
// a dot product per element of C, four columns at a time so each A element feeds four sums.
function matmulSmall(
  c: FloatArray, cOffset: number,
  a: FloatArray, aOffset: number, aRowStride: number, aColStride: number,
  b: FloatArray, bOffset: number, bRowStride: number, bColStride: number,
  M: number, N: number, K: number, accumulate: boolean,
): void {
  if (aColStride === 1 && bRowStride === 1) {
    matmulSmallAlongK(c, cOffset, a, aOffset, aRowStride, b, bOffset, bColStride, M, N, K, accumulate);
    return;
  }
  for (let i = 0; i < M; i++) {
    const aRow = aOffset + i * aRowStride;
    const cRow = cOffset + i * N;
    let j = 0;
    for (; j + 4 <= N; j += 4) {
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (let k = 0, ai = aRow, bi = bOffset + j * bColStride; k < K; k++, ai += aColStride, bi += bRowStride) {
        const x = a[ai];
        s0 += x * b[bi];
        s1 += x * b[bi + bColStride];
        s2 += x * b[bi + 2 * bColStride];
        s3 += x * b[bi + 3 * bColStride];
      }
      store4(c, cRow + j, accumulate, s0, s1, s2, s3);
    }
    for (; j < N; j++) {
      let s = 0;
      for (let k = 0, ai = aRow, bi = bOffset + j * bColStride; k < K; k++, ai += aColStride, bi += bRowStride) s += a[ai] * b[bi];
      c[cRow + j] = accumulate ? c[cRow + j] + s : s;
    }
  }
}

// matmulSmall when both operands run contiguously along K, as x·Wᵀ does for a Linear layer's
// weight W [N, K] (one row per generated token): four dot products at a time with K unrolled
// by four, which measured ~20% faster than the strided loop (fewer index updates and loop
// tests per load; the loads, not the multiply-adds, are the limit here).
function matmulSmallAlongK(
  c: FloatArray, cOffset: number,
  a: FloatArray, aOffset: number, aRowStride: number,
  b: FloatArray, bOffset: number, bColStride: number,
  M: number, N: number, K: number, accumulate: boolean,
): void {
  const K4 = K - (K % 4);
  // each row of A, read N times, is copied into the plain double scratch (see `scratch`: loads
  // from it skip the detached-buffer check typed arrays may need)
  const xs = scratchOf(K);
  packedBFor = null; // xs may overwrite a kept packed B
  for (let i = 0; i < M; i++) {
    for (let k = 0, ai = aOffset + i * aRowStride; k < K; k++) xs[k] = a[ai + k];
    const cRow = cOffset + i * N;
    let j = 0;
    for (; j + 4 <= N; j += 4) {
      const r0 = bOffset + j * bColStride, r1 = r0 + bColStride, r2 = r1 + bColStride, r3 = r2 + bColStride;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      let k = 0;
      for (; k < K4; k += 4) {
        const x0 = xs[k], x1 = xs[k + 1], x2 = xs[k + 2], x3 = xs[k + 3];
        s0 += x0 * b[r0 + k] + x1 * b[r0 + k + 1] + x2 * b[r0 + k + 2] + x3 * b[r0 + k + 3];
        s1 += x0 * b[r1 + k] + x1 * b[r1 + k + 1] + x2 * b[r1 + k + 2] + x3 * b[r1 + k + 3];
        s2 += x0 * b[r2 + k] + x1 * b[r2 + k + 1] + x2 * b[r2 + k + 2] + x3 * b[r2 + k + 3];
        s3 += x0 * b[r3 + k] + x1 * b[r3 + k + 1] + x2 * b[r3 + k + 2] + x3 * b[r3 + k + 3];
      }
      for (; k < K; k++) {
        const xk = xs[k];
        s0 += xk * b[r0 + k]; s1 += xk * b[r1 + k]; s2 += xk * b[r2 + k]; s3 += xk * b[r3 + k];
      }
      store4(c, cRow + j, accumulate, s0, s1, s2, s3);
    }
    for (; j < N; j++) {
      const r = bOffset + j * bColStride;
      let s = 0;
      for (let k = 0; k < K; k++) s += xs[k] * b[r + k];
      c[cRow + j] = accumulate ? c[cRow + j] + s : s;
    }
  }
}

// Writes four sums to C[o], …, C[o + 3], or adds them to what is there.
function store4(c: FloatArray, o: number, accumulate: boolean, s0: number, s1: number, s2: number, s3: number): void {
  if (accumulate) {
    c[o] += s0; c[o + 1] += s1; c[o + 2] += s2; c[o + 3] += s3;
  } else {
    c[o] = s0; c[o + 1] = s1; c[o + 2] = s2; c[o + 3] = s3;
  }
}

function roundUp(x: number, m: number): number {
  return Math.ceil(x / m) * m;
}
