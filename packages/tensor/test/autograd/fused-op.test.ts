// recordFusedOp states the fused-op rule once: under createGraph the composite backward runs (and is
// recorded), otherwise the kernel backward. Here a tiny fused op written through it, with no branch
// of its own, gets second derivatives right, and each backward runs exactly when the rule says.

import { describe, expect, it } from 'vitest';
import { recordFusedOp } from '../../src/autograd/graph.js';
import { type Tensor, grad, gradcheck, gradgradcheck, tensor } from '../../src/index.js';

// y = x³ elementwise with a plain-loop "kernel" for the forward and the backward (dx = 3x²·g), and
// the same backward written with tensor ops as its composite; counts which backward ran.
function makeCube() {
  const calls = { backward: 0, composite: 0 };
  const cube = (x: Tensor): Tensor => {
    const xs = x.contiguous();
    const out = tensor(Array.from(xs.toTypedArray(), (v) => v * v * v), { shape: [...x.shape], dtype: x.dtype });
    return recordFusedOp(out, 'cube', [x], {
      backward: (g) => {
        calls.backward++;
        const gs = g.contiguous().toTypedArray();
        const xv = xs.toTypedArray();
        return [tensor(Array.from(xv, (v, i) => 3 * v * v * gs[i]!), { shape: [...x.shape], dtype: x.dtype })];
      },
      composite: (g) => {
        calls.composite++;
        return [g.mul(x.square()).mul(3)];
      },
      saved: [x],
    });
  };
  return { cube, calls };
}

const x0 = () => tensor([0.5, -1.25, 2, 0.75], { shape: [2, 2], dtype: 'float64', requiresGrad: true });

describe('recordFusedOp', () => {
  it('a fused op written through it, with no createGraph branch of its own, passes gradcheck and gradgradcheck', () => {
    const { cube, calls } = makeCube();
    expect(gradcheck(cube, [x0()])).toBe(true);
    expect(gradgradcheck(cube, [x0()])).toBe(true);
    expect(calls.composite).toBeGreaterThan(0);
  });

  it('runs the kernel backward without createGraph (unrecorded) and the composite with it (recorded)', () => {
    const { cube, calls } = makeCube();
    const x = x0();
    const [fast] = grad(cube(x).sum(), x);
    expect(calls).toEqual({ backward: 1, composite: 0 });
    expect(fast!.requiresGrad).toBe(false);
    const [recorded] = grad(cube(x).sum(), x, { createGraph: true });
    expect(calls).toEqual({ backward: 1, composite: 1 });
    expect(recorded!.requiresGrad).toBe(true);
    // both are 3x², and the recorded one differentiates again to 6x
    expect(Array.from(fast!.toTypedArray())).toEqual([0.75, 4.6875, 12, 1.6875]);
    expect(Array.from(recorded!.toTypedArray())).toEqual([0.75, 4.6875, 12, 1.6875]);
    const [second] = grad(recorded!.sum(), x);
    expect(Array.from(second!.toTypedArray())).toEqual([3, -7.5, 12, 4.5]);
  });

  it('keeps the version check of recordOp: an in-place write to a saved tensor makes backward throw', () => {
    const { cube } = makeCube();
    const x = x0();
    const y = cube(x.mul(1));
    const saved = y.gradFn!.inputs[0]!;
    saved.detach().mul_(2);
    expect(() => y.sum().backward()).toThrow(/saved by 'cube' is at version 1; expected version 0/);
  });
});
