// GFLOP/s of matmulKernel (single thread) for the shapes and layouts autograd uses, against a
// naive i-k-j loop. Run: npx tsx bench/matmul-kernel.ts [--quick] [--f64]
// Every number is the median of several timed runs (the machine is shared, timings drift).
import { matmulKernel, type FloatArray } from '../packages/tensor/src/kernels/matmul';

type Layout = 'A·B' | 'A·Bᵀ' | 'Aᵀ·B';

/** One benchmark shape: C[M, N] = A[M, K] · B[K, N]. */
interface Shape { M: number; K: number; N: number }

const quick = process.argv.includes('--quick');
const f64 = process.argv.includes('--f64');
const shapes: Shape[] = [
  { M: 512, K: 512, N: 512 },
  { M: 256, K: 256, N: 256 },
  { M: 512, K: 256, N: 688 },
  { M: 2048, K: 512, N: 512 },
  { M: 8, K: 128, N: 256 },
];
const layouts: Layout[] = ['A·B', 'A·Bᵀ', 'Aᵀ·B'];

function random(n: number): FloatArray {
  const x = f64 ? new Float64Array(n) : new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = Math.random() * 2 - 1;
  return x;
}

// The baseline: row-major A·B with the cache-friendly i-k-j order, no packing or tiling.
function naive(c: FloatArray, a: FloatArray, b: FloatArray, M: number, N: number, K: number): void {
  c.fill(0, 0, M * N);
  for (let i = 0; i < M; i++) {
    for (let k = 0; k < K; k++) {
      const aik = a[i * K + k];
      const bRow = k * N, cRow = i * N;
      for (let j = 0; j < N; j++) c[cRow + j] += aik * b[bRow + j];
    }
  }
}

// Median GFLOP/s of `run`, each timed sample repeating it for at least ~0.15 s.
function gflops(flops: number, run: () => void, samples: number): number {
  run();
  let reps = 1;
  for (let t0 = performance.now(); performance.now() - t0 < 50; reps++) run();
  reps = Math.max(1, Math.ceil(reps * 3));
  const rates: number[] = [];
  for (let s = 0; s < samples; s++) {
    const t0 = performance.now();
    for (let r = 0; r < reps; r++) run();
    rates.push((flops * reps) / ((performance.now() - t0) * 1e6));
  }
  rates.sort((x, y) => x - y);
  return rates[rates.length >> 1]!;
}

function bench(shape: Shape, layout: Layout | 'naive'): number {
  const { M, K, N } = shape;
  const a = random(M * K), b = random(K * N), c = f64 ? new Float64Array(M * N) : new Float32Array(M * N);
  const flops = 2 * M * N * K;
  const samples = quick ? 3 : 7;
  if (layout === 'naive') return gflops(flops, () => naive(c, a, b, M, N, K), samples);
  // A·Bᵀ: b holds [N, K] row-major; Aᵀ·B: a holds [K, M] row-major.
  const [aRs, aCs] = layout === 'Aᵀ·B' ? [1, M] : [K, 1];
  const [bRs, bCs] = layout === 'A·Bᵀ' ? [1, K] : [N, 1];
  return gflops(flops, () => matmulKernel(c, 0, a, 0, aRs, aCs, b, 0, bRs, bCs, M, N, K), samples);
}

console.log(`matmulKernel, ${f64 ? 'float64' : 'float32'}, single thread, GFLOP/s (median)`);
console.log(['M×K×N'.padEnd(14), 'naive', ...layouts].map((s) => s.padStart(8)).join(' '));
for (const shape of shapes) {
  const row = [`${shape.M}×${shape.K}×${shape.N}`.padEnd(14)];
  row.push(bench(shape, 'naive').toFixed(2));
  for (const layout of layouts) row.push(bench(shape, layout).toFixed(2));
  console.log(row.map((s) => s.padStart(8)).join(' '));
}
