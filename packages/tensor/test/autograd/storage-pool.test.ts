// The float storage pool and the engine's releases (storage-pool.ts): random graphs with views
// and in-place ops must give the same bits with the pool on, off, and poisoning what it releases,
// and nothing the user holds (intermediates, .grad, grad()'s results) may ever change.

import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type Tensor, Generator, cat, checkpoint, defineOp, grad, keep, noGrad, randn, setStoragePool, storagePoolStats, toDot,
  withReleaseScope,
} from '../../src/index.js';

const defaults = setStoragePool({});
afterEach(() => setStoragePool(defaults));

type Op =
  | { kind: 'add' | 'mul' | 'sub'; a: number; b: number }
  | { kind: 'tanh' | 'sin' | 'softmax' | 'transposeView' | 'expandView' | 'square'; a: number }
  | { kind: 'narrowCat'; a: number; b: number }
  | { kind: 'matmul'; a: number; w: number }
  | { kind: 'constantInPlace'; a: number; scale: number }
  | { kind: 'checkpoint'; a: number; b: number };

const R = 4;
const C = 6;
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constantFrom('add' as const, 'mul' as const, 'sub' as const), a: fc.nat(), b: fc.nat() }),
  fc.record({ kind: fc.constantFrom('tanh' as const, 'sin' as const, 'softmax' as const, 'transposeView' as const, 'expandView' as const, 'square' as const), a: fc.nat() }),
  fc.record({ kind: fc.constant('narrowCat' as const), a: fc.nat(), b: fc.nat() }),
  fc.record({ kind: fc.constant('matmul' as const), a: fc.nat(), w: fc.nat() }),
  fc.record({ kind: fc.constant('constantInPlace' as const), a: fc.nat(), scale: fc.integer({ min: -3, max: 3 }) }),
  fc.record({ kind: fc.constant('checkpoint' as const), a: fc.nat(), b: fc.nat() }),
);
const programArb = fc.record({
  seed: fc.nat(1000), ops: fc.array(opArb, { minLength: 1, maxLength: 14 }), outputs: fc.integer({ min: 1, max: 3 }),
  keepAt: fc.nat(), returnAt: fc.nat(),
});
// keepAt, returnAt: which node a release scope keeps, and which it returns
type Program = { seed: number; ops: Op[]; outputs: number; keepAt: number; returnAt: number };

// Builds the program's graph over the leaves; every node is [R, C] (some are views).
function forward(p: Program, leaves: Tensor[], weights: Tensor[]): Tensor[] {
  const nodes = [...leaves];
  const pick = (i: number) => nodes[i % nodes.length]!;
  for (const op of p.ops) {
    switch (op.kind) {
      case 'add': nodes.push(pick(op.a).add(pick(op.b))); break;
      case 'mul': nodes.push(pick(op.a).mul(pick(op.b))); break;
      case 'sub': nodes.push(pick(op.a).sub(pick(op.b))); break;
      case 'tanh': nodes.push(pick(op.a).tanh()); break;
      case 'sin': nodes.push(pick(op.a).sin()); break;
      case 'square': nodes.push(pick(op.a).square()); break;
      case 'softmax': nodes.push(pick(op.a).softmax(-1)); break;
      // views: a transposed reshape (strides [1, R]) and an expanded row (stride 0)
      case 'transposeView': nodes.push(pick(op.a).reshape([C, R]).transpose(0, 1)); break;
      case 'expandView': nodes.push(pick(op.a).sum(0, true).expand(R, C)); break;
      case 'narrowCat': nodes.push(cat([pick(op.a).narrow(0, 0, 2), pick(op.b).narrow(0, 2, R - 2)], 0)); break;
      case 'matmul': nodes.push(pick(op.a).matmul(weights[op.w % weights.length]!)); break;
      // an in-place op on a copy taken out of the graph, used as a constant
      case 'constantInPlace': {
        const c = noGrad(() => pick(op.a).detach().clone().mul_(op.scale).add_(1));
        nodes.push(pick(op.a).mul(c));
        break;
      }
      case 'checkpoint': {
        const other = pick(op.b);
        // inside: an output no node saves but a saved (squared) view of it reads, and views of the input
        nodes.push(checkpoint((x: Tensor) => {
          const s = x.sin();
          return s.reshape([C, R]).transpose(0, 1).square().add(s.tanh().mul(other)).add(x.reshape([C, R]).transpose(0, 1));
        }, pick(op.a)));
        break;
      }
    }
  }
  return nodes;
}

const bits = (t: Tensor | null) => (t ? Array.from(t.toTypedArray()) : null);

// What both observers start from: the program's leaves and weights, its loss, and the lists of
// observed values and of held tensors with their values when taken.
function programState(p: Program) {
  const gen = new Generator(p.seed);
  const leaves = [0, 1, 2].map(() => randn([R, C], { generator: gen }).setRequiresGrad());
  const weights = [0, 1].map(() => randn([C, C], { generator: gen }).mul(0.3).detach().setRequiresGrad());
  const lossOf = (nodes: Tensor[]) => {
    let loss = nodes[nodes.length - 1]!.square().sum();
    for (let k = 2; k <= p.outputs && k <= nodes.length; k++) loss = loss.add(nodes[nodes.length - k]!.sum());
    return loss;
  };
  const held: Array<[Tensor, number[]]> = [];
  const hold = (t: Tensor) => held.push([t, bits(t)!]);
  return { leaves, weights, params: [...leaves, ...weights], lossOf, seen: [] as unknown[], held, hold };
}

// Two training-like steps and a grad() call; returns every value the user could observe, checking
// on the way that values the user holds never change afterwards.
function observe(p: Program): unknown {
  const { leaves, weights, params, lossOf, seen, held, hold } = programState(p);

  // step 1: backward into .grad; every intermediate stays held by us
  const nodes1 = forward(p, leaves, weights);
  nodes1.forEach(hold);
  lossOf(nodes1).backward();
  seen.push(params.map((t) => bits(t.grad)));
  // in place on the gradients, as an optimizer would (they must be their own buffers)
  noGrad(() => params.forEach((t) => t.grad?.mul_(0.5)));
  params.forEach((t) => { if (t.grad) hold(t.grad); });
  // step 2: accumulate into .grad (reusing what step 1 released)
  lossOf(forward(p, leaves, weights)).backward();
  seen.push(params.map((t) => bits(t.grad)));
  // grad(): its results are the caller's
  const results = grad(lossOf(forward(p, leaves, weights)), params);
  results.forEach(hold);
  seen.push(results.map(bits));
  // step 3 reuses buffers again
  lossOf(forward(p, leaves, weights)).backward();
  seen.push(params.map((t) => bits(t.grad)));
  for (const [t, values] of held) expect(bits(t)).toEqual(values);
  return seen;
}

// The same steps inside release scopes (release-scope.ts), as a training loop runs them: a scope
// that releases during backward, keeping one intermediate it reads after the backward and
// returning it; a scope that releases at exit, returning another; grad() inside a scope; and a
// scope returning a loss whose graph is backpropagated after the scope. Returns what the user
// could observe, checking that what they hold (leaves, .grad, the root, kept and returned tensors,
// grad()'s results) never changes.
function observeScoped(p: Program): unknown {
  const { leaves, weights, params, lossOf, seen, held, hold } = programState(p);

  // step 1: released during backward; the kept node and the root are read after it
  const returned1 = withReleaseScope(() => {
    const nodes = forward(p, leaves, weights);
    const kept = keep(nodes[p.keepAt % nodes.length]!);
    const before = bits(kept);
    const loss = lossOf(nodes);
    const value = loss.item();
    loss.backward();
    expect(loss.item()).toBe(value);
    expect(bits(kept)).toEqual(before);
    seen.push(value);
    return kept;
  }, { duringBackward: true });
  hold(returned1);
  seen.push(params.map((t) => bits(t.grad)));
  params.forEach((t) => { if (t.grad) hold(t.grad); });
  leaves.forEach(hold);
  // step 2: released at exit; every node may be read until then, the returned one after
  const returned2 = withReleaseScope(() => {
    const nodes = forward(p, leaves, weights);
    const values = nodes.map(bits);
    lossOf(nodes).backward();
    expect(nodes.map(bits)).toEqual(values);
    return { node: nodes[p.returnAt % nodes.length]! };
  });
  hold(returned2.node);
  seen.push(params.map((t) => bits(t.grad)));
  // grad() inside a scope that releases during backward: its results are returned
  const results = withReleaseScope(() => grad(lossOf(forward(p, leaves, weights)), params), { duringBackward: true });
  results.forEach(hold);
  seen.push(results.map(bits));
  // a loss made in a scope, backpropagated after it: its graph must have survived the exit
  const loss = withReleaseScope(() => lossOf(forward(p, leaves, weights)));
  loss.backward();
  seen.push(params.map((t) => bits(t.grad)));
  // another scoped step reuses what the others released
  withReleaseScope(() => lossOf(forward(p, leaves, weights)).backward(), { duringBackward: true });
  seen.push(params.map((t) => bits(t.grad)));
  for (const [t, values] of held) expect(bits(t)).toEqual(values);
  return seen;
}

// What observe returns with the pool off, on and poisoning: all three must be equal.
function expectSameUnderEveryPool(observation: () => unknown): void {
  setStoragePool({ enabled: false, poison: false });
  const off = observation();
  setStoragePool({ enabled: true, poison: false });
  const on = observation();
  setStoragePool({ enabled: true, poison: true });
  const poisoned = observation();
  expect(on).toEqual(off);
  expect(poisoned).toEqual(off);
}

describe('storage pool', () => {
  it('release scopes over random graphs with views, in-place ops and checkpoints: the same bits with the pool on, off and poisoning, and held values never change', () => {
    fc.assert(fc.property(programArb, (p) => expectSameUnderEveryPool(() => observeScoped(p))), { numRuns: 60, seed: 20261130 });
  });

  it('random graphs with views, in-place ops and checkpoints give the same bits with the pool on, off and poisoning, and held values never change', () => {
    fc.assert(fc.property(programArb, (p) => expectSameUnderEveryPool(() => observe(p))), { numRuns: 60, seed: 20261130 });
  });

  it('hands released buffers out again, zero-filled, for allocations of the same size', () => {
    setStoragePool({ enabled: true, poison: false });
    const gen = new Generator(1);
    const x = randn([64, 64], { generator: gen }).setRequiresGrad();
    const w = randn([64, 64], { generator: gen }).setRequiresGrad();
    x.matmul(w).tanh().matmul(w).sum().backward();
    const { reused, released, pooledBytes } = storagePoolStats();
    expect(released).toBeGreaterThan(0);
    expect(pooledBytes).toBeGreaterThan(0);
    const fresh = randn([64, 64], { generator: gen }).mul(0); // an allocation of a released size
    expect(storagePoolStats().reused).toBeGreaterThan(reused);
    expect(Array.from(fresh.toTypedArray()).every((v) => v === 0)).toBe(true);
    // another step releases and reuses as many buffers as the first released
    x.grad = null;
    w.grad = null;
    const before = storagePoolStats();
    x.matmul(w).tanh().matmul(w).sum().backward();
    expect(storagePoolStats().reused - before.reused).toBeGreaterThan(0);
  });

  it('with poison on, a released buffer reads NaN and is never handed out again', () => {
    setStoragePool({ enabled: true, poison: true });
    const x = randn([8, 8], { generator: new Generator(2) }).setRequiresGrad();
    const before = storagePoolStats();
    x.exp().mul(x).sum().backward();
    const after = storagePoolStats();
    expect(after.released).toBeGreaterThan(before.released);
    expect(after.pooledBytes).toBe(0);
    expect(Array.from(x.grad!.toTypedArray()).every(Number.isFinite)).toBe(true);
  });

  it('releases nothing while the graph is retained or being differentiated again', () => {
    setStoragePool({ enabled: true, poison: false });
    const x = randn([16, 16], { generator: new Generator(3) }).setRequiresGrad();
    const y = x.exp().mul(x).sum();
    const before = storagePoolStats().released;
    y.backward(undefined, { retainGraph: true });
    grad(x.sin().sum(), x, { createGraph: true });
    expect(storagePoolStats().released).toBe(before);
  });

  it('the engine drops each node\'s backward and its inputs\' values as soon as it has run, unless the graph is retained, and toDot draws the same graph after', () => {
    const seen: Array<[boolean, number]> = [];
    let later: Tensor | null = null;
    // a custom op that, in its backward, looks at the node that ran before it
    const probe = defineOp('probe', (x: Tensor) => ({
      output: x.mul(1),
      backward: (g) => {
        seen.push([later!.gradFn!.backward === null, later!.gradFn!.inputs[0]!.storage.length]);
        return [g];
      },
    }));
    const x = randn([3], { generator: new Generator(4) }).setRequiresGrad();
    const inner = probe(x);
    later = inner.exp();
    const loss = later.sum();
    const names = new Map([[x, 'x'], [inner, 'inner'], [loss, 'loss']]);
    const dot = toDot(loss, names);
    loss.backward(undefined, { retainGraph: true });
    loss.backward(); // the second one frees the graph
    // retained, the input kept its 3 elements; freed, a stand-in with none took its place
    expect(seen).toEqual([[false, 3], [true, 0]]);
    expect(later.gradFn!.inputs[0]).not.toBe(inner);
    expect(later.gradFn!.inputs[0]!.gradFn).toBe(inner.gradFn);
    // the structure stays: the same drawing, names included
    expect(toDot(loss, names)).toBe(dot);
    expect(() => loss.backward()).toThrow(/backward through the graph a second time/);
  });
});

describe('release scopes', () => {
  // a 3-layer tanh MLP on a fixed batch, its weights made outside any scope
  const gen = new Generator(7);
  const ws = [0, 1, 2].map(() => randn([32, 32], { generator: gen }).mul(0.2).detach().setRequiresGrad());
  const x = randn([16, 32], { generator: gen });
  const mlp = () => ws.reduce((h, w) => h.matmul(w).tanh(), x);

  it('a backward inside a scope with duringBackward releases the forward\'s buffers before it ends, and gives the plain gradients', () => {
    setStoragePool({ enabled: true, poison: false });
    mlp().square().sum().backward();
    const plain = ws.map((w) => bits(w.grad));
    ws.forEach((w) => { w.grad = null; });
    // released during the plain backward: only its own temporaries
    let before = storagePoolStats().released;
    mlp().square().sum().backward();
    const engineOnly = storagePoolStats().released - before;
    ws.forEach((w) => { w.grad = null; });
    let during = 0;
    withReleaseScope(() => {
      const loss = mlp().square().sum();
      before = storagePoolStats().released;
      loss.backward();
      during = storagePoolStats().released - before;
    }, { duringBackward: true });
    // the 3 matmul and 3 tanh outputs and the square (7 forward buffers) go back during backward
    expect(during).toBeGreaterThanOrEqual(engineOnly + 7);
    expect(ws.map((w) => bits(w.grad))).toEqual(plain);
  });

  it('releases at exit what the result does not reach, keeps what it reaches (through arrays, objects and the graph)', () => {
    setStoragePool({ enabled: true, poison: true });
    const before = storagePoolStats().released;
    const out = withReleaseScope(() => {
      // a custom op whose backward reads a tensor its forward made, neither an input nor the output
      const expSquare = defineOp('expSquare', (a: Tensor) => {
        const e = a.exp();
        return { output: e.square(), backward: (g) => [g.mul(e.square()).mul(2)] };
      });
      const h = mlp();
      const loss = expSquare(h).mean(); // its graph may hold anything made before its last node
      const sums = noGrad(() => h.sum(1));
      noGrad(() => h.exp().tanh()); // made after the graph, reached by nothing: 2 buffers
      return { list: [sums], loss };
    });
    expect(storagePoolStats().released - before).toBe(2);
    expect(Array.from(out.list[0]!.toTypedArray()).every(Number.isFinite)).toBe(true);
    // the loss's graph survived: its backward reads saved intermediates, which would be NaN
    out.loss.backward();
    ws.forEach((w) => expect(Array.from(w.grad!.toTypedArray()).every(Number.isFinite)).toBe(true));
    ws.forEach((w) => { w.grad = null; });
  });

  it('throws when the result reaches a tensor a backward in the scope released, and keep() prevents it', () => {
    setStoragePool({ enabled: true, poison: true });
    expect(() => withReleaseScope(() => {
      const h = mlp();
      h.square().sum().backward();
      return h;
    }, { duringBackward: true })).toThrow(/withReleaseScope: the result reaches a tensor of shape \[16, 32\] whose storage a backward inside the scope released/);
    const h = withReleaseScope(() => {
      const kept = keep(mlp());
      kept.square().sum().backward();
      return kept;
    }, { duringBackward: true });
    expect(Array.from(h.toTypedArray()).every(Number.isFinite)).toBe(true);
    ws.forEach((w) => { w.grad = null; });
  });

  it('releases nothing when fn throws, refuses a Promise, and is a plain call with the pool off', () => {
    setStoragePool({ enabled: true, poison: true });
    let made: Tensor | null = null;
    expect(() => withReleaseScope(() => {
      made = mlp();
      throw new Error('boom');
    })).toThrow('boom');
    expect(Array.from(made!.toTypedArray()).every(Number.isFinite)).toBe(true);
    expect(() => withReleaseScope(() => Promise.resolve(1))).toThrow(/withReleaseScope: fn returned a Promise/);
    setStoragePool({ enabled: false });
    const before = storagePoolStats().released;
    withReleaseScope(() => mlp().sum());
    expect(storagePoolStats().released).toBe(before);
  });

  it('checkpoint releases its function\'s intermediates when its forward returns, but not its outputs or kept tensors', () => {
    setStoragePool({ enabled: true, poison: true });
    const w = ws[0]!;
    let inner: Tensor | null = null;
    let kept: Tensor | null = null;
    const out = checkpoint((a: Tensor) => {
      inner = a.matmul(w);
      kept = keep(inner.exp());
      return inner.tanh().reshape([32, 16]);
    }, x);
    expect(Array.from(inner!.toTypedArray()).every(Number.isNaN)).toBe(true);
    expect(Array.from(kept!.toTypedArray()).every(Number.isFinite)).toBe(true);
    expect(Array.from(out.toTypedArray()).every(Number.isFinite)).toBe(true);
    out.sum().backward();
    expect(Array.from(w.grad!.toTypedArray()).every(Number.isFinite)).toBe(true);
    w.grad = null;
  });
});

describe('checkpoint and the pool', () => {
  const gen = new Generator(11);
  const w = randn([16, 16], { generator: gen }).mul(0.3).detach().setRequiresGrad();
  const x = randn([32, 16], { generator: gen }).setRequiresGrad();

  it('the forward gives its intermediates back to the pool as it returns (storagePoolStats), the plain call does not', () => {
    setStoragePool({ enabled: true, poison: false });
    const fn = (a: Tensor) => a.matmul(w).tanh().sin(); // intermediates: matmul's and tanh's outputs
    let before = storagePoolStats();
    fn(x);
    expect(storagePoolStats().released - before.released).toBe(0);
    before = storagePoolStats();
    const out = checkpoint(fn, x);
    const after = storagePoolStats();
    expect(after.released - before.released).toBe(2);
    // both are [32, 16] float32 buffers: what the pool holds grew by theirs, less what it handed out
    expect(after.pooledBytes - before.pooledBytes).toBe(2 * 32 * 16 * 4 - (after.reused - before.reused) * 32 * 16 * 4);
    // and the next allocation of that size takes one of them back
    const reusedBefore = storagePoolStats().reused;
    x.detach().mul(2);
    expect(storagePoolStats().reused).toBe(reusedBefore + 1);
    out.sum().backward();
    w.grad = null;
    x.grad = null;
  });

  it('the recompute gives an op output no node saved back before its backward starts, a saved one once its readers have run, and keeps what a saved tensor views', () => {
    setStoragePool({ enabled: true, poison: true });
    // what each call of fn made: the last call is the recompute
    const made: Array<{ unsaved: Tensor; viewedBySaved: Tensor; saved: Tensor }> = [];
    const seen: Record<string, boolean[]> = {};
    const finite = (t: Tensor) => Array.from(t.toTypedArray()).every(Number.isFinite);
    // the identity, whose backward notes which of the last call's tensors still hold their values
    const look = (tag: string) => defineOp(tag, (t: Tensor) => ({
      output: t.clone(),
      backward: (g: Tensor) => {
        const last = made[made.length - 1]!;
        seen[tag] = [finite(last.unsaved), finite(last.viewedBySaved), finite(last.saved)];
        return [g];
      },
      saved: [],
    }));
    const [atInput, atOutput] = [look('atInput'), look('atOutput')];
    const fn = (a: Tensor) => {
      const unsaved = atInput(a.matmul(w)); // read by tanh, which saves its output, not its input
      const saved = unsaved.tanh(); // read by tanh's backward and sin's, both before atInput's
      // sin's output is saved by no node, but square saves a transposed view of it
      const viewedBySaved = saved.sin();
      const squared = viewedBySaved.reshape([16, 32]).transpose(0, 1).square();
      made.push({ unsaved, viewedBySaved, saved });
      return atOutput(squared.transpose(0, 1).reshape([32, 16]).add(saved));
    };
    fn(x).sum().backward();
    const plain = [bits(x.grad), bits(w.grad)];
    x.grad = null;
    w.grad = null;
    checkpoint(fn, x).sum().backward();
    expect(made.length).toBe(3);
    // atOutput's backward runs first, atInput's last
    expect(seen).toEqual({ atOutput: [false, true, true], atInput: [false, false, false] });
    expect([bits(x.grad), bits(w.grad)]).toEqual(plain);
    x.grad = null;
    w.grad = null;
  });
});
