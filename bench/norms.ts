// softmax and RMSNorm over the rows of x [R, C] (R = B·T = 8·128, C = 256 in the full run),
// forward only and forward + backward with a fixed upstream gradient g. Throughput is elements of
// x per second (millions). tfjs's RMSNorm is composed from its ops, x · rsqrt(mean(x²) + eps) · w
// (tfjs has no fused one); its gradients come from tf.grad / tf.grads.

import * as tf from '@tensorflow/tfjs';
import { Tensor, grad, rmsNorm, softmax, withReleaseScope } from '@tsgrad/tensor';
import type { Row } from './table.js';
import { useBackend } from './tfjs-env.js';
import { type Contender, type ContenderName, alternate, checkClose, median, seededFloats } from './timing.js';

/** Options of benchNorms. */
export interface NormsBenchOptions {
  /** Rows R of x. */
  rows: number;
  /** Columns C of x (the normalised dim). */
  cols: number;
  /** Samples per contender. */
  samples: number;
  /** Each sample repeats the op until it lasts this long. */
  minSampleMs: number;
  /** Which contenders to time (default all three). */
  contenders?: readonly ContenderName[];
}

/** The four benchmarks of this file. */
export type NormCase = 'softmax forward' | 'softmax forward+backward' | 'RMSNorm forward' | 'RMSNorm forward+backward';

/** The cases in table order. */
export const NORM_CASES: readonly NormCase[] = ['softmax forward', 'softmax forward+backward', 'RMSNorm forward', 'RMSNorm forward+backward'];

const EPS = 1e-6;

/** tfjs RMSNorm from its ops: x · rsqrt(mean(x², −1) + eps) · w. */
export function tfjsRmsNorm(x: tf.Tensor, w: tf.Tensor, eps = EPS): tf.Tensor {
  return tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), eps))), w);
}

// tsgrad's case: returns the outputs to compare (forward output, or the input gradients)
function tsgradCase(c: NormCase, xData: Float32Array, wData: Float32Array, gData: Float32Array, shape: number[]): () => Tensor[] {
  const x = new Tensor(xData, shape);
  const w = new Tensor(wData, [shape[1]!]);
  const g = new Tensor(gData, shape);
  const xg = new Tensor(xData, shape).setRequiresGrad();
  const wg = new Tensor(wData, [shape[1]!]).setRequiresGrad();
  switch (c) {
    case 'softmax forward': return () => [softmax(x, -1)];
    case 'softmax forward+backward': return () => grad(softmax(xg, -1), xg, { gradOutputs: [g] });
    case 'RMSNorm forward': return () => [rmsNorm(x, w, EPS)];
    case 'RMSNorm forward+backward': return () => grad(rmsNorm(xg, wg, EPS), [xg, wg], { gradOutputs: [g] });
  }
}

// tfjs's case on the current backend, same outputs in the same order
function tfjsCase(c: NormCase, xData: Float32Array, wData: Float32Array, gData: Float32Array, shape: number[]): { run: () => tf.Tensor[]; inputs: tf.Tensor[] } {
  const x = tf.tensor2d(xData, shape as [number, number]);
  const w = tf.tensor1d(wData);
  const g = tf.tensor2d(gData, shape as [number, number]);
  const inputs = [x, w, g];
  const softmaxGrad = tf.grad((t: tf.Tensor) => tf.softmax(t));
  const rmsGrads = tf.grads((t: tf.Tensor, v: tf.Tensor) => tfjsRmsNorm(t, v));
  switch (c) {
    case 'softmax forward': return { inputs, run: () => [tf.softmax(x)] };
    case 'softmax forward+backward': return { inputs, run: () => [softmaxGrad(x, g)] };
    case 'RMSNorm forward': return { inputs, run: () => [tf.tidy(() => tfjsRmsNorm(x, w))] };
    case 'RMSNorm forward+backward': return { inputs, run: () => rmsGrads([x, w], g) };
  }
}

/** Times one case for every contender after checking their outputs agree (aborts if not). */
export async function measureNormCase(c: NormCase, opts: NormsBenchOptions): Promise<Partial<Record<ContenderName, number>>> {
  const names = opts.contenders ?? ['tsgrad', 'tfjs-cpu', 'tfjs-wasm'];
  const shape = [opts.rows, opts.cols];
  const n = opts.rows * opts.cols;
  const xData = seededFloats(n, 11).map((v) => 3 * v);
  const wData = seededFloats(opts.cols, 12).map((v) => 1 + 0.5 * v);
  const gData = seededFloats(n, 13);

  let ours: Tensor[] = [];
  let checked = false;
  const peers = new Map<ContenderName, { out: tf.Tensor[]; inputs: tf.Tensor[] }>();
  const contenders: Contender[] = [];
  for (const name of names) {
    if (name === 'tsgrad') {
      const run = tsgradCase(c, xData, wData, gData, shape);
      // Until the check, the outputs are kept for it; after it, each run's buffers go back to
      // tsgrad's storage pool at once (withReleaseScope), as tfjs disposes its previous outputs.
      contenders.push({ name, run: () => { ours = withReleaseScope(() => { const out = run(); return checked ? [] : out; }); } });
      continue;
    }
    const backend = name === 'tfjs-cpu' ? 'cpu' : 'wasm';
    await useBackend(backend);
    const { run, inputs } = tfjsCase(c, xData, wData, gData, shape);
    const peer = { out: [] as tf.Tensor[], inputs };
    peers.set(name, peer);
    contenders.push({
      name,
      before: () => useBackend(backend),
      run: () => {
        tf.dispose(peer.out);
        peer.out = run();
      },
    });
  }
  const check = (): void => {
    for (const [name, peer] of peers) {
      ours.forEach((t, i) => checkClose(`${c} output ${i}: tsgrad vs ${name}`, t.toTypedArray(), peer.out[i]!.dataSync()));
    }
    checked = true;
  };
  // Warm-up, for every contender alike: each first runs for one sample's length, as in the matmul
  // cases. alternate() takes the repeats per sample from one run, and a process's first run of an
  // op compiles its wasm and starts on baseline code: tsgrad's first softmax took 46 ms (its wasm
  // memory made and module compiled), then 0.5, 0.4, 0.34 ms … down to 0.3 ms after 50 runs, so
  // `--only norms` timed it 3 runs to a 100 ms sample, right after that first run. tsgrad's
  // warm-up runs release their outputs as its timed runs do (`checked`), rather than leave a
  // megabyte of garbage per run for the collector to reclaim during the timed samples; alternate()'s
  // first run keeps them again for the check.
  checked = true;
  for (const contender of contenders) {
    await contender.before?.();
    const t0 = performance.now();
    do contender.run(); while (performance.now() - t0 < opts.minSampleMs);
  }
  checked = false;
  const times = await alternate(contenders, { samples: opts.samples, minSampleMs: opts.minSampleMs, check });
  for (const peer of peers.values()) tf.dispose([...peer.out, ...peer.inputs]);
  const melems: Partial<Record<ContenderName, number>> = {};
  for (const [name, ms] of times) melems[name] = n / (median(ms) * 1e3);
  return melems;
}

/** The four cases as table rows (million elements of x per second). */
export async function benchNorms(opts: NormsBenchOptions, log: (line: string) => void = () => {}): Promise<Row[]> {
  const section = `softmax and RMSNorm over [${opts.rows}, ${opts.cols}], one thread (million elements/s)`;
  const rows: Row[] = [];
  for (const c of NORM_CASES) {
    const values = await measureNormCase(c, opts);
    rows.push({ section, benchmark: c, values });
    log(`${c}: ${Object.entries(values).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ')}`);
  }
  return rows;
}
