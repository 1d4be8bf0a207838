// Matmul throughput (float32, GFLOP/s = 2·batch·M·K·N / s) in the three layouts autograd produces:
//   A·B    A [M, K], B [K, N]
//   A·Bᵀ   B stored [N, K]: Linear's forward x·Wᵀ
//   Aᵀ·B   A stored [K, M]: the weight gradient xᵀ·g
// tsgrad multiplies transposed views (no copies); tfjs gets the same layouts through
// tf.matMul(a, b, transposeA, transposeB). The batched shape is [8, 128, 256] @ [8, 256, 128]
// (one product per batch entry, as attention's scores are).

import * as tf from '@tensorflow/tfjs';
import { Tensor, withReleaseScope } from '@tsgrad/tensor';
import type { Row } from './table.js';
import { useBackend } from './tfjs-env.js';
import { type Contender, type ContenderName, alternate, checkClose, geomean, median, seededFloats } from './timing.js';

/** One product shape: batch × ([M, K] @ [K, N]); batch 0 means plain 2-D operands. */
export interface MatmulShape {
  /** Printed name. */
  name: string;
  /** Leading batch dim, or 0 for 2-D operands. */
  batch: number;
  /** Rows of the output. */
  M: number;
  /** The contracted dim. */
  K: number;
  /** Columns of the output. */
  N: number;
}

/** Where the operands' transposes are. */
export type Layout = 'A·B' | 'A·Bᵀ' | 'Aᵀ·B';

/** The layouts measured, in order. */
export const LAYOUTS: readonly Layout[] = ['A·B', 'A·Bᵀ', 'Aᵀ·B'];

/** The issue's shapes. */
export const FULL_SHAPES: readonly MatmulShape[] = [
  { name: '256³', batch: 0, M: 256, K: 256, N: 256 },
  { name: '512³', batch: 0, M: 512, K: 512, N: 512 },
  { name: '512×256×688', batch: 0, M: 512, K: 256, N: 688 },
  { name: '2048×512×512', batch: 0, M: 2048, K: 512, N: 512 },
  { name: '8×[128×256×128]', batch: 8, M: 128, K: 256, N: 128 },
];

/** Tiny shapes for --quick and the test. */
export const QUICK_SHAPES: readonly MatmulShape[] = [
  { name: '32³', batch: 0, M: 32, K: 32, N: 32 },
  { name: '2×[16×32×8]', batch: 2, M: 16, K: 32, N: 8 },
];

/** Options of benchMatmul. */
export interface MatmulBenchOptions {
  /** Shapes to measure. */
  shapes: readonly MatmulShape[];
  /** Samples per contender (tfjs-cpu included). */
  samples: number;
  /** Each sample repeats the product until it lasts this long. */
  minSampleMs: number;
  /** Which contenders to time (default all three). */
  contenders?: readonly ContenderName[];
}

/** The GFLOP/s medians of one (shape, layout). */
export interface MatmulResult {
  /** The shape measured. */
  shape: MatmulShape;
  /** The layout measured. */
  layout: Layout;
  /** Median GFLOP/s per contender. */
  gflops: Partial<Record<ContenderName, number>>;
}

/** The FLOPs of one product: 2·batch·M·K·N. */
export function matmulFlops(s: MatmulShape): number {
  return 2 * Math.max(1, s.batch) * s.M * s.K * s.N;
}

// The stored shapes of A and B for a layout: the operand that is transposed is stored transposed.
function storedShapes(s: MatmulShape, layout: Layout): [number[], number[]] {
  const lead = s.batch > 0 ? [s.batch] : [];
  const a = layout === 'Aᵀ·B' ? [s.K, s.M] : [s.M, s.K];
  const b = layout === 'A·Bᵀ' ? [s.N, s.K] : [s.K, s.N];
  return [[...lead, ...a], [...lead, ...b]];
}

/** tsgrad's product for a layout, on transposed views: a.matmul(b.transpose(-2, -1)) etc. */
export function tsgradMatmul(a: Tensor, b: Tensor, layout: Layout): Tensor {
  if (layout === 'A·Bᵀ') return a.matmul(b.transpose(-2, -1));
  if (layout === 'Aᵀ·B') return a.transpose(-2, -1).matmul(b);
  return a.matmul(b);
}

/** tfjs's product for a layout, through matMul's transpose flags. */
export function tfjsMatmul(a: tf.Tensor, b: tf.Tensor, layout: Layout): tf.Tensor {
  return tf.matMul(a, b, layout === 'Aᵀ·B', layout === 'A·Bᵀ');
}

/** Times one (shape, layout) for each contender after checking that all agree (aborts if not). */
export async function measureMatmul(s: MatmulShape, layout: Layout, opts: MatmulBenchOptions): Promise<MatmulResult> {
  const names = opts.contenders ?? ['tsgrad', 'tfjs-cpu', 'tfjs-wasm'];
  const [aShape, bShape] = storedShapes(s, layout);
  const aData = seededFloats(aShape.reduce((p, d) => p * d, 1), 1);
  const bData = seededFloats(bShape.reduce((p, d) => p * d, 1), 2);

  const a = new Tensor(aData, aShape);
  const b = new Tensor(bData, bShape);
  let ours: Tensor | null = null;
  let checked = false;
  const contenders: Contender[] = [];
  const peers = new Map<ContenderName, { a: tf.Tensor; b: tf.Tensor; out: tf.Tensor | null }>();
  for (const name of names) {
    if (name === 'tsgrad') {
      // Until the check, the product is kept for it; after it, each product's buffer goes back to
      // tsgrad's storage pool at once (withReleaseScope), as tfjs disposes its previous product.
      contenders.push({ name, run: () => { ours = withReleaseScope(() => { const out = tsgradMatmul(a, b, layout); return checked ? null : out; }); } });
      continue;
    }
    const backend = name === 'tfjs-cpu' ? 'cpu' : 'wasm';
    await useBackend(backend);
    const peer = { a: tf.tensor(aData, aShape), b: tf.tensor(bData, bShape), out: null as tf.Tensor | null };
    peers.set(name, peer);
    contenders.push({
      name,
      before: () => useBackend(backend),
      run: () => {
        peer.out?.dispose();
        peer.out = tfjsMatmul(peer.a, peer.b, layout);
      },
    });
  }
  const what = `matmul ${s.name} ${layout}`;
  const check = (): void => {
    const mine = (ours as Tensor | null)?.toTypedArray();
    for (const [name, peer] of peers) {
      if (mine && peer.out) checkClose(`${what}: tsgrad vs ${name}`, mine, peer.out.dataSync());
    }
    checked = true;
  };
  // Warm-up: each contender first runs for at least one sample's length (alternate() itself runs
  // it once, then times). The first product of a process compiles the wasm modules and starts
  // on unoptimized code, which took a few hundred ms to reach full speed here (100 ms windows
  // of a fresh process ran at 0.2, 4, 8, 10, then 10–12 GFLOP/s under load); with one warm-up
  // run, the suite's first case (256³ A·B) measured both wasm contenders about 20% below the
  // following cases on a quiet machine.
  for (const c of contenders) {
    await c.before?.();
    const t0 = performance.now();
    do c.run(); while (performance.now() - t0 < opts.minSampleMs);
  }
  const times = await alternate(contenders, { samples: opts.samples, minSampleMs: opts.minSampleMs, check });
  for (const peer of peers.values()) tf.dispose([peer.a, peer.b, ...(peer.out ? [peer.out] : [])]);

  const gflops: Partial<Record<ContenderName, number>> = {};
  for (const [name, ms] of times) gflops[name] = matmulFlops(s) / (median(ms) * 1e6);
  return { shape: s, layout, gflops };
}

/** Every shape in every layout, plus the geometric mean over them, as table rows. */
export async function benchMatmul(opts: MatmulBenchOptions, log: (line: string) => void = () => {}): Promise<{ rows: Row[]; results: MatmulResult[] }> {
  const results: MatmulResult[] = [];
  const rows: Row[] = [];
  const section = 'matmul, float32, one thread (GFLOP/s)';
  for (const s of opts.shapes) {
    for (const layout of LAYOUTS) {
      const r = await measureMatmul(s, layout, opts);
      results.push(r);
      rows.push({ section, benchmark: `${s.name} ${layout}`, values: r.gflops });
      log(`matmul ${s.name} ${layout}: ${Object.entries(r.gflops).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')}`);
    }
  }
  const mean: Partial<Record<ContenderName, number>> = {};
  for (const name of opts.contenders ?? (['tsgrad', 'tfjs-cpu', 'tfjs-wasm'] as const)) {
    mean[name] = geomean(results.map((r) => r.gflops[name]!));
  }
  rows.push({ section, benchmark: `geometric mean (${results.length} shape × layout)`, values: mean });
  return { rows, results };
}
