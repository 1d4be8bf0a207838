// Timing helpers shared by every benchmark: medians, geometric means, seeded data, and the
// alternation loop. The machine is shared (2 cores, other jobs running), so a contender is never
// timed in one block: rounds go tsgrad → tfjs-cpu → tfjs-wasm → tsgrad → …, the starting contender
// rotating each round, and each figure is the median of its samples.

/** The three implementations compared. */
export type ContenderName = 'tsgrad' | 'tfjs-cpu' | 'tfjs-wasm';

/** The contenders in table order. */
export const CONTENDERS: readonly ContenderName[] = ['tsgrad', 'tfjs-cpu', 'tfjs-wasm'];

/** One implementation of a benchmark: `before` makes it current (e.g. switches tfjs's backend), `run` is timed. */
export interface Contender<N extends string = ContenderName> {
  /** Which implementation this is. */
  name: N;
  /** Called before each timed sample and not timed (default: nothing). */
  before?: () => Promise<void> | void;
  /** The work being timed, once. */
  run: () => void;
  /** How many samples to take (default: the `samples` option of `alternate`). */
  samples?: number;
  /** Whether to run once untimed first (default true); false takes one run per sample and no warm-up. */
  warmup?: boolean;
}

/** Options of `alternate`. */
export interface AlternateOptions {
  /** Samples per contender unless the contender says otherwise. */
  samples: number;
  /** Each sample repeats `run` until it lasts at least this long (default 0: one run per sample). */
  minSampleMs?: number;
  /** Called after every contender's warm-up run and before any timed sample: the correctness check. */
  check?: () => void;
  /** Untimed runs per contender before the first sample (default 1; the first sets the repeat count). */
  warmupRuns?: number;
}

/** The median of a non-empty list. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new Error('median: empty list');
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** The geometric mean of a non-empty list of positive numbers. */
export function geomean(xs: readonly number[]): number {
  if (xs.length === 0) throw new Error('geomean: empty list');
  return Math.exp(xs.reduce((acc, x) => acc + Math.log(x), 0) / xs.length);
}

/** Milliseconds one call of `fn` takes (a single measurement). */
export function timeOnce(fn: () => void): number {
  const t0 = performance.now();
  fn();
  return performance.now() - t0;
}

/**
 * Times every contender in alternating rounds; returns milliseconds per `run` for each sample.
 * The number of repeats per sample is calibrated once per contender from a first (untimed) run,
 * which also serves as warm-up; `check` then compares the warm-up outputs before anything is timed.
 */
export async function alternate<N extends string>(contenders: readonly Contender<N>[], opts: AlternateOptions): Promise<Map<N, number[]>> {
  const minMs = opts.minSampleMs ?? 0;
  const reps = new Map<N, number>();
  const times = new Map<N, number[]>();
  for (const c of contenders) {
    times.set(c.name, []);
    reps.set(c.name, 1);
    if (c.warmup === false) continue;
    await c.before?.();
    const once = timeOnce(c.run);
    if (minMs > 0) reps.set(c.name, Math.max(1, Math.ceil(minMs / Math.max(once, 1e-3))));
    for (let w = 1; w < (opts.warmupRuns ?? 1); w++) c.run();
  }
  opts.check?.();
  const wanted = (c: Contender<N>): number => c.samples ?? opts.samples;
  const rounds = Math.max(...contenders.map(wanted));
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < contenders.length; i++) {
      const c = contenders[(i + r) % contenders.length]!;
      const list = times.get(c.name)!;
      if (list.length >= wanted(c)) continue;
      await c.before?.();
      const n = reps.get(c.name)!;
      const t0 = performance.now();
      for (let k = 0; k < n; k++) c.run();
      list.push((performance.now() - t0) / n);
    }
  }
  return times;
}

/** A deterministic stream of floats in [−1, 1) (mulberry32), so every contender sees the same data. */
export function seededFloats(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = ((t ^ (t >>> 14)) >>> 0) / 2 ** 31 - 1;
  }
  return out;
}

/** Deterministic integers in [0, max), e.g. token ids. */
export function seededInts(n: number, max: number, seed: number): Int32Array {
  const f = seededFloats(n, seed);
  return Int32Array.from(f, (x) => Math.min(max - 1, Math.floor(((x + 1) / 2) * max)));
}

/**
 * The normwise relative error max|a − b| / max|b|, which stays meaningful where single entries of
 * b are near zero (a matmul's output, say); 0 when both are all zeros.
 */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (Number.isNaN(d)) return NaN;
    if (d > diff) diff = d;
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return scale === 0 ? diff : diff / scale;
}

/** The largest relative error each correctness check family saw (e.g. 'matmul' → 3e-7), for the report. */
export const largestErrors = new Map<string, number>();

/**
 * Throws a loud error when `actual` differs from `expected` by more than `tol` (see relativeError);
 * otherwise records the error under `family` (default: the first word of `what`) and returns it.
 */
export function checkClose(what: string, actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-4, family = what.split(' ')[0]!): number {
  const err = relativeError(actual, expected);
  if (err < tol) largestErrors.set(family, Math.max(largestErrors.get(family) ?? 0, err));
  if (!(err < tol)) {
    throw new Error(`bench: CORRECTNESS CHECK FAILED for ${what}: max relative error ${err} ≥ ${tol}; not timing a wrong result`);
  }
  return err;
}
