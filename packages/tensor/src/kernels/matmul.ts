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

/** Either float storage the kernels accept. */
export type FloatArray = Float32Array | Float64Array;

// Register tile. V8 (x64) allocates about 15 double registers: a 4×3 tile keeps 12
// accumulators plus the current A column and one B value live, measured faster than 3×3
// (fewer loads per multiply-add) and than 4×4 (which spills accumulators to the stack).
const MR = 4;
const NR = 3;
// Cache blocking, chosen by measurement (bench/matmul-kernel.ts): a KC-long micro-panel
// of B (KC·NR floats) stays in L1 while MC rows of packed A (MC·KC floats) stay in L2.
const KC = 256;
const MC = 96;
const NC = 1536;
// Below this many multiply-adds packing costs more than it saves: use the plain loop.
const SMALL = 4096;

// Scratch reused across calls, grown on demand (no allocation per call for typical sizes).
// Packed A and packed B share one array (A first, then B): V8 re-reads a typed array's
// length and data pointer on every loop iteration, so one array halves that overhead.
let scratch32 = new Float32Array(0);
let scratch64 = new Float64Array(0);
// The micro-kernel's result. Its accumulators start from this Float64Array (never from the
// literal 0, a small integer), so V8 keeps them unboxed doubles even when it compiles the
// loop on-stack or inlines it.
const tile = new Float64Array(MR * NR);

/** C[M,N] = A[M,K] · B[K,N] (overwrites C, or accumulates into it when accumulate is true). Element A(i,k) is a[aOffset + i*aRowStride + k*aColStride]; likewise B; C is row-major contiguous with row stride N starting at cOffset. */
export function matmulKernel(
  c: FloatArray, cOffset: number,
  a: FloatArray, aOffset: number, aRowStride: number, aColStride: number,
  b: FloatArray, bOffset: number, bRowStride: number, bColStride: number,
  M: number, N: number, K: number, accumulate = false,
): void {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    // An empty sum is zero.
    if (!accumulate) c.fill(0, cOffset, cOffset + M * N);
    return;
  }
  if (M * N * K <= SMALL) {
    matmulSmall(c, cOffset, a, aOffset, aRowStride, aColStride, b, bOffset, bRowStride, bColStride, M, N, K, accumulate);
    return;
  }
  // float32 inputs pack into float32 scratch (half the cache footprint; the multiply-adds
  // still run in doubles); anything involving float64 packs into float64 to keep precision.
  const f32 = a instanceof Float32Array && b instanceof Float32Array;
  const mcMax = Math.min(MC, roundUp(M, MR));
  const ncMax = Math.min(NC, roundUp(N, NR));
  const kcMax = Math.min(KC, K);
  const bStart = mcMax * kcMax;
  const size = bStart + ncMax * kcMax;
  if (f32 && scratch32.length < size) scratch32 = new Float32Array(size);
  if (!f32 && scratch64.length < size) scratch64 = new Float64Array(size);
  const packed = f32 ? scratch32 : scratch64;
  for (let jc = 0; jc < N; jc += NC) {
    const nc = Math.min(NC, N - jc);
    for (let pc = 0; pc < K; pc += KC) {
      const kc = Math.min(KC, K - pc);
      // The first K block overwrites C unless the caller asked to accumulate.
      const add = accumulate || pc > 0;
      packB(packed, bStart, b, bOffset + pc * bRowStride + jc * bColStride, bRowStride, bColStride, kc, nc);
      for (let ic = 0; ic < M; ic += MC) {
        const mc = Math.min(MC, M - ic);
        packA(packed, 0, a, aOffset + ic * aRowStride + pc * aColStride, aRowStride, aColStride, mc, kc);
        macroKernel(c, cOffset + ic * N + jc, N, packed, bStart, mc, nc, kc, add);
      }
    }
  }
}

// Packs A[mc, kc] (any strides) into MR-row panels: panel p holds rows p·MR.. as
// packed[p·MR·kc + k·MR + i]. Rows past mc are zero so edge tiles need no special case.
function packA(packed: FloatArray, start: number, a: FloatArray, offset: number, rowStride: number, colStride: number, mc: number, kc: number): void {
  let p = start;
  for (let i0 = 0; i0 < mc; i0 += MR) {
    const rows = Math.min(MR, mc - i0);
    for (let k = 0; k < kc; k++) {
      const src = offset + i0 * rowStride + k * colStride;
      for (let i = 0; i < rows; i++) packed[p + i] = a[src + i * rowStride];
      for (let i = rows; i < MR; i++) packed[p + i] = 0;
      p += MR;
    }
  }
}

// Packs B[kc, nc] (any strides) into NR-column panels: packed[p·NR·kc + k·NR + j],
// zero-padded past nc.
function packB(packed: FloatArray, start: number, b: FloatArray, offset: number, rowStride: number, colStride: number, kc: number, nc: number): void {
  let p = start;
  for (let j0 = 0; j0 < nc; j0 += NR) {
    const cols = Math.min(NR, nc - j0);
    for (let k = 0; k < kc; k++) {
      const src = offset + k * rowStride + j0 * colStride;
      for (let j = 0; j < cols; j++) packed[p + j] = b[src + j * colStride];
      for (let j = cols; j < NR; j++) packed[p + j] = 0;
      p += NR;
    }
  }
}

// C block [mc, nc] (row stride ldc, from cStart) = or += packedA [mc, kc] · packedB [kc, nc],
// packed A at packed[0..], packed B at packed[bStart..].
function macroKernel(c: FloatArray, cStart: number, ldc: number, packed: FloatArray, bStart: number, mc: number, nc: number, kc: number, add: boolean): void {
  for (let jr = 0; jr < nc; jr += NR) {
    const cols = Math.min(NR, nc - jr);
    const bPanel = bStart + jr * kc;
    for (let ir = 0; ir < mc; ir += MR) {
      const rows = Math.min(MR, mc - ir);
      tile.fill(0);
      microKernel(packed, ir * kc, packed, bPanel, kc, tile);
      let ci = cStart + ir * ldc + jr;
      for (let i = 0; i < rows; i++, ci += ldc) {
        for (let j = 0; j < cols; j++) c[ci + j] = add ? c[ci + j] + tile[i * NR + j] : tile[i * NR + j];
      }
    }
  }
}

// tile[MR, NR] += Σ_k pa[ia + k·MR + i] · pb[ib + k·NR + j] over kc steps.
// NOTE: `| 0` on the indices tells V8 they are int32, removing an overflow check per load.
function microKernel(pa: FloatArray, ia: number, pb: FloatArray, ib: number, kc: number, out: Float64Array): void {
  let c00 = out[0], c01 = out[1], c02 = out[2];
  let c10 = out[3], c11 = out[4], c12 = out[5];
  let c20 = out[6], c21 = out[7], c22 = out[8];
  let c30 = out[9], c31 = out[10], c32 = out[11];
  let k = 0;
  for (; k + 2 <= kc; k += 2) {
    let a0 = pa[ia], a1 = pa[(ia + 1) | 0], a2 = pa[(ia + 2) | 0], a3 = pa[(ia + 3) | 0];
    let b = pb[ib];
    c00 += a0 * b; c10 += a1 * b; c20 += a2 * b; c30 += a3 * b;
    b = pb[(ib + 1) | 0];
    c01 += a0 * b; c11 += a1 * b; c21 += a2 * b; c31 += a3 * b;
    b = pb[(ib + 2) | 0];
    c02 += a0 * b; c12 += a1 * b; c22 += a2 * b; c32 += a3 * b;
    a0 = pa[(ia + 4) | 0]; a1 = pa[(ia + 5) | 0]; a2 = pa[(ia + 6) | 0]; a3 = pa[(ia + 7) | 0];
    b = pb[(ib + 3) | 0];
    c00 += a0 * b; c10 += a1 * b; c20 += a2 * b; c30 += a3 * b;
    b = pb[(ib + 4) | 0];
    c01 += a0 * b; c11 += a1 * b; c21 += a2 * b; c31 += a3 * b;
    b = pb[(ib + 5) | 0];
    c02 += a0 * b; c12 += a1 * b; c22 += a2 * b; c32 += a3 * b;
    ia = (ia + 2 * MR) | 0;
    ib = (ib + 2 * NR) | 0;
  }
  if (k < kc) {
    const a0 = pa[ia], a1 = pa[(ia + 1) | 0], a2 = pa[(ia + 2) | 0], a3 = pa[(ia + 3) | 0];
    let b = pb[ib];
    c00 += a0 * b; c10 += a1 * b; c20 += a2 * b; c30 += a3 * b;
    b = pb[(ib + 1) | 0];
    c01 += a0 * b; c11 += a1 * b; c21 += a2 * b; c31 += a3 * b;
    b = pb[(ib + 2) | 0];
    c02 += a0 * b; c12 += a1 * b; c22 += a2 * b; c32 += a3 * b;
  }
  out[0] = c00; out[1] = c01; out[2] = c02;
  out[3] = c10; out[4] = c11; out[5] = c12;
  out[6] = c20; out[7] = c21; out[8] = c22;
  out[9] = c30; out[10] = c31; out[11] = c32;
}

// The plain loop for tiny products, where packing would cost more than it saves.
function matmulSmall(
  c: FloatArray, cOffset: number,
  a: FloatArray, aOffset: number, aRowStride: number, aColStride: number,
  b: FloatArray, bOffset: number, bRowStride: number, bColStride: number,
  M: number, N: number, K: number, accumulate: boolean,
): void {
  for (let i = 0; i < M; i++) {
    const aRow = aOffset + i * aRowStride;
    const cRow = cOffset + i * N;
    for (let j = 0; j < N; j++) {
      let s = accumulate ? c[cRow + j] : 0;
      let ai = aRow, bi = bOffset + j * bColStride;
      for (let k = 0; k < K; k++, ai += aColStride, bi += bRowStride) s += a[ai] * b[bi];
      c[cRow + j] = s;
    }
  }
}

function roundUp(x: number, m: number): number {
  return Math.ceil(x / m) * m;
}
