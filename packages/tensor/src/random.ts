// A seeded pseudo-random generator (xoshiro128**, seeded through splitmix32), so every run that
// sets a seed is reproducible in Node and in browsers alike.

/** A seeded source of random numbers: uniform, normal, integers and permutations. */
export class Generator {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;
  private spareNormal: number | null = null;

  /** Creates a generator seeded with `seed` (any integer; the same seed gives the same stream). */
  constructor(seed = 0) {
    this.manualSeed(seed);
  }

  /** Reseeds the generator. */
  manualSeed(seed: number): this {
    if (!Number.isFinite(seed)) throw new Error(`Generator: seed must be a finite number, got ${seed}`);
    let x = (Math.trunc(seed) ^ Math.trunc(seed / 2 ** 32)) >>> 0;
    const next = () => {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
    this.spareNormal = null;
    return this;
  }

  /** The next 32 random bits as an unsigned integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.s1 << 9) >>> 0;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    this.s0 >>>= 0; this.s1 >>>= 0; this.s2 >>>= 0; this.s3 >>>= 0;
    return result;
  }

  /** A uniform number in [0, 1) with 53 random bits. */
  uniform(): number {
    const hi = this.nextUint32() >>> 5;
    const lo = this.nextUint32() >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** A standard normal number (Box–Muller; the second value of each pair is kept for the next call). */
  normal(): number {
    if (this.spareNormal !== null) {
      const v = this.spareNormal;
      this.spareNormal = null;
      return v;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spareNormal = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** A uniform integer in [0, n). */
  randint(n: number): number {
    if (!Number.isInteger(n) || n <= 0) throw new Error(`Generator.randint: n must be a positive integer, got ${n}`);
    return Math.floor(this.uniform() * n);
  }

  /** A uniformly random permutation of 0..n−1 (Fisher–Yates). */
  permutation(n: number): number[] {
    const out = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = this.randint(i + 1);
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  }

  /** The generator's full state, to save alongside a checkpoint. */
  getState(): number[] {
    return [this.s0, this.s1, this.s2, this.s3, this.spareNormal ?? NaN];
  }

  /** Restores a state from getState(). */
  setState(state: readonly number[]): this {
    if (!Array.isArray(state) || state.length !== 5) throw new Error('Generator.setState: expected the 5 numbers getState() returns');
    [this.s0, this.s1, this.s2, this.s3] = state.slice(0, 4).map((v) => v >>> 0) as [number, number, number, number];
    this.spareNormal = Number.isNaN(state[4]) ? null : state[4]!;
    return this;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

let defaultGenerator = new Generator(0);

/** The generator used when an op is given none. */
export function getDefaultGenerator(): Generator {
  return defaultGenerator;
}

/** Seeds the default generator, as `torch.manual_seed`. */
export function manualSeed(seed: number): Generator {
  defaultGenerator = new Generator(seed);
  return defaultGenerator;
}

/**
 * Runs fn with `generator` as the default generator, restoring the previous one afterwards
 * (internal: checkpoint's recompute replays the random stream its forward drew from).
 */
export function withDefaultGenerator<T>(generator: Generator, fn: () => T): T {
  const previous = defaultGenerator;
  defaultGenerator = generator;
  try {
    return fn();
  } finally {
    defaultGenerator = previous;
  }
}
