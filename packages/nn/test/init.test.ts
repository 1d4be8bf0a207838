import { describe, expect, it } from 'vitest';
import { Generator, zeros } from '@tsgrad/tensor';
import { Parameter, normal_, ones_, zeros_ } from '../src/index.js';

describe('init', () => {
  it('normal_ fills in place with normal(mean, std²) samples, reproducibly from a seeded generator', () => {
    const p = new Parameter(zeros([100, 100]));
    expect(normal_(p, 0.5, new Generator(3))).toBe(p);
    const values = Array.from(p.toTypedArray());
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    const std = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
    expect(Math.abs(mean)).toBeLessThan(0.02);
    expect(std).toBeCloseTo(0.5, 1);
    const again = normal_(new Parameter(zeros([100, 100])), 0.5, new Generator(3));
    expect(again.toArray()).toEqual(p.toArray());
    const shifted = normal_(zeros([100, 100]), 0.5, new Generator(3), 2);
    expect(shifted.sub(p).toTypedArray().every((d) => Math.abs(d - 2) < 1e-6)).toBe(true);
  });

  it('ones_ and zeros_ overwrite a parameter that requires grad', () => {
    const p = new Parameter(zeros([2, 3]));
    expect(ones_(p).toArray()).toEqual([[1, 1, 1], [1, 1, 1]]);
    expect(zeros_(p).toArray()).toEqual([[0, 0, 0], [0, 0, 0]]);
    expect(p.requiresGrad).toBe(true);
  });

  it('writes through a view into the viewed storage', () => {
    const t = zeros([3, 4]);
    ones_(t.transpose(0, 1).narrow(0, 1, 2));
    expect(t.toArray()).toEqual([[0, 1, 1, 0], [0, 1, 1, 0], [0, 1, 1, 0]]);
  });

  it('rejects a negative std', () => {
    expect(() => normal_(zeros([2]), -1)).toThrow('normal_: std must be a non-negative number, got -1');
  });
});
