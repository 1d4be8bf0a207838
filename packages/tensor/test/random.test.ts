import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Generator, getDefaultGenerator, manualSeed, randn } from '../src/index.js';

const draw = (g: Generator, n: number, f: (g: Generator) => number) => Array.from({ length: n }, () => f(g));

describe('Generator', () => {
  it('the same seed gives the same stream, different seeds different streams', () => {
    fc.assert(fc.property(fc.integer(), (seed) => {
      expect(draw(new Generator(seed), 8, (g) => g.nextUint32())).toEqual(draw(new Generator(seed), 8, (g) => g.nextUint32()));
      expect(draw(new Generator(seed), 8, (g) => g.nextUint32())).not.toEqual(draw(new Generator(seed + 1), 8, (g) => g.nextUint32()));
    }), { numRuns: 50 });
  });

  it('nextUint32 gives 32-bit unsigned integers and uniform gives [0, 1)', () => {
    const g = new Generator(9);
    for (let i = 0; i < 1000; i++) {
      const u = g.nextUint32();
      expect(Number.isInteger(u) && u >= 0 && u < 2 ** 32).toBe(true);
      const f = g.uniform();
      expect(f >= 0 && f < 1).toBe(true);
    }
  });

  it('getState / setState resumes the same stream, including a pending normal', () => {
    fc.assert(fc.property(fc.integer(), fc.nat(7), (seed, skip) => {
      const g = new Generator(seed);
      draw(g, skip, (h) => h.normal()); // an odd count leaves a spare normal pending
      const state = g.getState();
      const expected = draw(g, 6, (h) => h.normal()).concat(draw(g, 3, (h) => h.uniform()));
      const resumed = new Generator(0).setState(state);
      expect(draw(resumed, 6, (h) => h.normal()).concat(draw(resumed, 3, (h) => h.uniform()))).toEqual(expected);
    }), { numRuns: 30 });
  });

  it('manualSeed on a generator restarts its stream', () => {
    const g = new Generator(5);
    const first = draw(g, 5, (h) => h.normal());
    g.manualSeed(5);
    expect(draw(g, 5, (h) => h.normal())).toEqual(first);
  });

  it('the module-level manualSeed replaces the default generator', () => {
    const g = manualSeed(77);
    expect(getDefaultGenerator()).toBe(g);
    const a = randn([3]).toArray();
    manualSeed(77);
    expect(randn([3]).toArray()).toEqual(a);
  });

  it('normal samples have mean ≈ 0 and variance ≈ 1', () => {
    const xs = draw(new Generator(31), 10_000, (g) => g.normal());
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    const variance = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1);
    expect(Math.abs(mean)).toBeLessThan(0.05);
    expect(Math.abs(variance - 1)).toBeLessThan(0.07);
  });

  it('randint stays in [0, n) and hits every value', () => {
    const g = new Generator(3);
    const seen = new Set(draw(g, 500, (h) => h.randint(7)));
    expect([...seen].sort()).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(() => g.randint(0)).toThrow('Generator.randint: n must be a positive integer, got 0');
    expect(() => g.randint(2.5)).toThrow(/^Generator.randint: n must be a positive integer/);
  });

  it('permutation returns every index once and is reproducible', () => {
    fc.assert(fc.property(fc.integer(), fc.nat(20), (seed, n) => {
      const p = new Generator(seed).permutation(n);
      expect([...p].sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
      expect(new Generator(seed).permutation(n)).toEqual(p);
    }), { numRuns: 50 });
  });

  it('bad seeds and states are refused', () => {
    expect(() => new Generator(NaN)).toThrow('Generator: seed must be a finite number, got NaN');
    expect(() => new Generator(0).setState([1, 2, 3])).toThrow('Generator.setState: expected the 5 numbers getState() returns');
  });
});
