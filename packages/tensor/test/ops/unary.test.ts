import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Tensor, gradcheck, gradgradcheck, noGrad, tensor } from '../../src/index.js';
import { GRAD_RUNS, GRADGRAD_RUNS, type ValueKind, tensorArb } from '../arbitraries.js';

// [name, op, values that keep the op away from its kinks and its domain's edge]
const OPS: Array<[string, (x: Tensor) => Tensor, ValueKind]> = [
  ['neg', (x) => x.neg(), 'smooth'],
  ['abs', (x) => x.abs(), 'grid'],
  ['square', (x) => x.square(), 'smooth'],
  ['clamp', (x) => x.clamp(-0.5, 0.5), 'grid'],
  ['clamp with only a min', (x) => x.clamp(0.25), 'grid'],
  ['clamp with only a max', (x) => x.clamp(null, -0.25), 'grid'],
  ['exp', (x) => x.exp(), 'smooth'],
  ['log', (x) => x.log(), 'positive'],
  ['sqrt', (x) => x.sqrt(), 'positive'],
  ['rsqrt', (x) => x.rsqrt(), 'positive'],
  ['sin', (x) => x.sin(), 'smooth'],
  ['cos', (x) => x.cos(), 'smooth'],
  ['tanh', (x) => x.tanh(), 'smooth'],
  ['sigmoid', (x) => x.sigmoid(), 'smooth'],
  ['relu', (x) => x.relu(), 'grid'],
  ['silu', (x) => x.silu(), 'smooth'],
  ['cast to float64', (x) => x.to('float64'), 'smooth'],
];

describe('unary ops: gradients', () => {
  for (const [name, op, kind] of OPS) {
    it(`${name} matches finite differences (gradcheck) for any shape and layout`, () => {
      fc.assert(fc.property(tensorArb({ kind }), (x) => gradcheck(op, [x])), { numRuns: GRAD_RUNS });
    });
    it(`${name} has correct second derivatives (gradgradcheck)`, () => {
      fc.assert(fc.property(tensorArb({ kind, maxSize: 3 }), (x) => gradgradcheck(op, [x])), { numRuns: GRADGRAD_RUNS });
    });
  }
});

describe('unary ops: values', () => {
  const xs = [-2, -0.5, 0, 0.5, 2];
  const closed: Array<[string, (x: Tensor) => Tensor, (v: number) => number]> = [
    ['neg', (x) => x.neg(), (v) => -v],
    ['abs', (x) => x.abs(), Math.abs],
    ['square', (x) => x.square(), (v) => v * v],
    ['exp', (x) => x.exp(), Math.exp],
    ['sin', (x) => x.sin(), Math.sin],
    ['cos', (x) => x.cos(), Math.cos],
    ['tanh', (x) => x.tanh(), Math.tanh],
    ['sigmoid', (x) => x.sigmoid(), (v) => 1 / (1 + Math.exp(-v))],
    ['relu', (x) => x.relu(), (v) => Math.max(v, 0)],
    ['silu', (x) => x.silu(), (v) => v / (1 + Math.exp(-v))],
    ['clamp(-1, 1)', (x) => x.clamp(-1, 1), (v) => Math.min(Math.max(v, -1), 1)],
  ];
  for (const [name, op, f] of closed) {
    it(`${name} computes its closed form elementwise`, () => {
      const out = op(tensor(xs, { dtype: 'float64' }));
      expect(out.dtype).toBe('float64');
      expect(Array.from(out.toTypedArray())).toEqual(xs.map(f));
    });
  }

  it('log, sqrt and rsqrt compute their closed forms on positive values', () => {
    const pos = [0.25, 1, 4, 9];
    const x = tensor(pos, { dtype: 'float64' });
    expect(Array.from(x.log().toTypedArray())).toEqual(pos.map(Math.log));
    expect(Array.from(x.sqrt().toTypedArray())).toEqual(pos.map(Math.sqrt));
    expect(Array.from(x.rsqrt().toTypedArray())).toEqual(pos.map((v) => 1 / Math.sqrt(v)));
  });

  it('unary ops keep the shape of a non-contiguous input and read it in logical order', () => {
    const x = tensor([[1, 2, 3], [4, 5, 6]], { dtype: 'float64' }).transpose(0, 1);
    const y = x.neg();
    expect(y.shape).toEqual([3, 2]);
    expect(y.toArray()).toEqual([[-1, -4], [-2, -5], [-3, -6]]);
  });

  it('float32 ops stay float32', () => {
    expect(tensor([1, 2]).exp().dtype).toBe('float32');
  });

  it('relu, abs and clamp take PyTorch\'s gradients at their kinks', () => {
    const x = tensor([0, -1, 1], { dtype: 'float64', requiresGrad: true });
    x.relu().sum().backward();
    expect(x.grad!.toArray()).toEqual([0, 0, 1]);
    x.grad = null;
    x.abs().sum().backward();
    expect(x.grad!.toArray()).toEqual([0, -1, 1]);
    x.grad = null;
    // the bounds belong to the inside: gradient 1 there
    const b = tensor([-1, -0.5, 0, 1, 2], { dtype: 'float64', requiresGrad: true });
    b.clamp(-1, 1).sum().backward();
    expect(b.grad!.toArray()).toEqual([1, 1, 1, 1, 0]);
  });

  it('cast converts between dtypes, truncating toward zero into int32, and its gradient returns to the source dtype', () => {
    expect(tensor([1.7, -1.7, 2.5]).to('int32').toArray()).toEqual([1, -1, 2]);
    expect(tensor([1.5, 2.5]).to('float64').dtype).toBe('float64');
    const x = tensor([1, 2], { requiresGrad: true });
    x.to('float64').mul(3).sum().backward();
    expect(x.grad!.dtype).toBe('float32');
    expect(x.grad!.toArray()).toEqual([3, 3]);
    expect(x.to('int32').requiresGrad).toBe(false);
  });

  it('neg and abs work on int32; the float-only ops reject it naming the op and dtype', () => {
    const i = tensor([-2, 3], { dtype: 'int32' });
    expect(i.neg().toArray()).toEqual([2, -3]);
    expect(i.abs().dtype).toBe('int32');
    for (const [name, op] of [['exp', (t: Tensor) => t.exp()], ['log', (t: Tensor) => t.log()], ['sqrt', (t: Tensor) => t.sqrt()],
      ['rsqrt', (t: Tensor) => t.rsqrt()], ['sin', (t: Tensor) => t.sin()], ['cos', (t: Tensor) => t.cos()], ['tanh', (t: Tensor) => t.tanh()],
      ['sigmoid', (t: Tensor) => t.sigmoid()], ['silu', (t: Tensor) => t.silu()]] as const) {
      expect(() => op(i)).toThrow(new RegExp(`^${name}: expected a float tensor .*got int32 of shape \\[2\\]`));
    }
  });

  it('clamp rejects missing or crossed bounds', () => {
    const x = tensor([1, 2]);
    expect(() => x.clamp()).toThrow(/clamp: at least one of min and max/);
    expect(() => x.clamp(2, 1)).toThrow(/clamp: min 2 is greater than max 1/);
  });

  it('ops under noGrad record nothing', () => {
    const x = tensor([1, 2], { requiresGrad: true });
    const y = noGrad(() => x.exp());
    expect(y.requiresGrad).toBe(false);
    expect(y.gradFn).toBeNull();
  });
});
