// GFLOP/s of parallelMatmul (matmulKernel, split by rows once workers run) for the shapes and layouts autograd uses, against a naive i-k-j loop:
// first on one thread, then split across this thread and worker threads (shared memory).
// Run: npx tsx bench/matmul-kernel.ts [--quick] [--f64] [--threads=N] (N workers, default 1)
// Every number is the median of several timed runs: the machine is shared, timings drift.
import { loadavg } from 'node:os';
import type { FloatArray } from '../packages/tensor/src/dtype.js';
import { parallelMatmul } from '../packages/tensor/src/parallel/matmul.js';
import { disableWorkerThreads, enableWorkerThreads } from '../packages/tensor/src/node/worker-pool.js';

type Layout = 'A·B' | 'A·Bᵀ' | 'Aᵀ·B';

/** One benchmark shape: C[M, N] = A[M, K] · B[K, N]. */
interface Shape { M: number; K: number; N: number }

const quick = process.argv.includes('--quick');
const f64 = process.argv.includes('--f64');
const workers = Number(process.argv.find((s) => s.startsWith('--threads='))?.slice(10) ?? 1);
const shapes: Shape[] = [
  { M: 512, K: 512, N: 512 },
  { M: 256, K: 256, N: 256 },
  { M: 512, K: 256, N: 688 },
  { M: 2048, K: 512, N: 512 },
  { M: 8, K: 128, N: 256 },
];
const layouts: Layout[] = ['A·B', 'A·Bᵀ', 'Aᵀ·B'];

// Random values in [-1, 1); in shared memory when `shared`, so worker threads can take rows.
function random(n: number, shared: boolean): FloatArray {
  const bytes = n * (f64 ? 8 : 4);
  const buffer = shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes);
  const x = f64 ? new Float64Array(buffer) : new Float32Array(buffer);
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

// Median GFLOP/s of `run` over several samples, each repeating it for about 0.15 s.
function gflops(flops: number, run: () => void): number {
  run();
  const t0 = performance.now();
  run();
  const reps = Math.max(1, Math.round(150 / (performance.now() - t0)));
  const rates: number[] = [];
  for (let s = 0; s < (quick ? 3 : 7); s++) {
    const t1 = performance.now();
    for (let r = 0; r < reps; r++) run();
    rates.push((flops * reps) / ((performance.now() - t1) * 1e6));
  }
  rates.sort((x, y) => x - y);
  return rates[rates.length >> 1];
}

function bench(shape: Shape, layout: Layout | 'naive', shared: boolean): number {
  const { M, K, N } = shape;
  const a = random(M * K, shared), b = random(K * N, shared), c = random(M * N, shared);
  const flops = 2 * M * N * K;
  if (layout === 'naive') return gflops(flops, () => naive(c, a, b, M, N, K));
  // A·Bᵀ: b holds [N, K] row-major; Aᵀ·B: a holds [K, M] row-major.
  const [aRs, aCs] = layout === 'Aᵀ·B' ? [1, M] : [K, 1];
  const [bRs, bCs] = layout === 'A·Bᵀ' ? [1, K] : [N, 1];
  return gflops(flops, () => parallelMatmul(c, 0, a, 0, aRs, aCs, b, 0, bRs, bCs, M, N, K));
}

const load = loadavg()[0].toFixed(2);
console.log(`parallelMatmul, ${f64 ? 'float64' : 'float32'}, GFLOP/s (median); load average ${load} on this machine`);
const single = shapes.map((shape) => [bench(shape, 'naive', false), ...layouts.map((l) => bench(shape, l, false))]);
await enableWorkerThreads(workers);
const split = shapes.map((shape) => layouts.map((l) => bench(shape, l, true)));
disableWorkerThreads();

const threads = `${1 + workers} thr`;
const header = ['M×K×N', 'naive', ...layouts.map((l) => `${l} 1 thr`), ...layouts.map((l) => `${l} ${threads}`)];
console.log(header.map((s, i) => (i === 0 ? s.padEnd(14) : s.padStart(12))).join(''));
shapes.forEach((shape, i) => {
  const cells = [...single[i], ...split[i]].map((x) => x.toFixed(2).padStart(12));
  console.log(`${shape.M}×${shape.K}×${shape.N}`.padEnd(14) + cells.join(''));
});
