// Release scopes: deterministic reuse of forward buffers, as TensorFlow.js's `tidy`. The engine
// can release what a backward allocates by itself (nothing else ever sees it), but the forward's
// tensors are the user's: only the user can say "nothing made here is needed after this point,
// except what I return". A scope says that. Its rules, and why each is safe:
//
// - Exit: a float storage first allocated inside fn goes back to the pool unless it is reachable
//   from fn's result (arrays, plain objects, Maps and Sets are walked; for each tensor its
//   storage, `.grad` and graph inputs), was `keep`-ed, or may be held by a graph node the result
//   still needs: a node's backward closure can only hold buffers that existed when it was
//   recorded, so everything older than the newest such node stays.
// - duringBackward: a backward inside the scope also releases each forward buffer as soon as every
//   graph node recorded after its allocation has run (nothing else in the graph can hold it) —
//   except the roots, seeds and leaves of that backward and gradients in flight. Tensors made in
//   the scope that the code still reads after that backward (other than the loss) must be `keep`-ed.
//   If the result reaches a storage released this way, the scope throws instead of returning it.

import { Tensor } from './tensor.js';
import { closeScope, keepStorage, nodeSequenceOf, openScope, wasReleasedEarly } from './storage-pool.js';

/** Options of `withReleaseScope`. */
export interface ReleaseScopeOptions {
  /**
   * Also release forward storages during a backward inside the scope, as soon as it has consumed
   * them (default false). Then tensors made in the scope and read after that backward, other than
   * the tensor backward was called on, must be passed to `keep`.
   */
  duringBackward?: boolean;
}

/**
 * Runs fn and returns its result; float storages first allocated inside fn that the result does
 * not reach (and that were not `keep`-ed) go back to the storage pool when it returns, instead of
 * waiting for the garbage collector (TensorFlow.js's `tidy`). Read the rules in the package README
 * ("Memory") before using `duringBackward`.
 *
 * @example
 * ```ts
 * import { keep, randn, withReleaseScope } from '@tsgrad/tensor';
 *
 * const w = randn([64, 64]).setRequiresGrad();
 * const x = randn([8, 64]);
 * const loss = withReleaseScope(() => {
 *   const l = x.matmul(w).tanh().square().mean(); // the intermediates go back to the pool at the end
 *   const value = l.item();
 *   l.backward(); // with duringBackward, each forward buffer goes back as soon as backward is past it
 *   return value;
 * }, { duringBackward: true });
 * console.log(Number.isFinite(loss), w.grad!.shape); // → true [ 64, 64 ]
 * const kept = withReleaseScope(() => keep(x.mul(2))); // kept: never released by any scope
 * console.log(kept.shape); // → [ 8, 64 ]
 * ```
 */
export function withReleaseScope<T>(fn: () => T, opts: ReleaseScopeOptions = {}): T {
  if (typeof fn !== 'function') throw new Error(`withReleaseScope: expected a function, got ${typeof fn}`);
  const scope = openScope(opts.duringBackward ?? false);
  if (!scope) return fn(); // the pool is off: the collector frees everything
  let result: T;
  try {
    result = fn();
  } catch (err) {
    closeScope(scope, new Set(), Infinity); // release nothing: who holds what is unknown
    throw err;
  }
  if (result instanceof Promise) {
    closeScope(scope, new Set(), Infinity);
    throw new Error('withReleaseScope: fn returned a Promise; a scope covers synchronous code only (await inside it would let other code allocate in it)');
  }
  const { reachable, liveBefore, released } = reachFrom(result);
  closeScope(scope, reachable, liveBefore);
  if (released) {
    throw new Error(`withReleaseScope: the result reaches a tensor of shape [${released.shape.join(', ')}] whose storage a backward inside the scope released (duringBackward); pass it to keep() before that backward`);
  }
  return result;
}

/**
 * Exempts t's storage from every release scope and from checkpoint's release of intermediates,
 * for good (as TensorFlow.js's `keep`); returns t. For tensors made in a scope that outlive it
 * without being returned: a cache a module fills on first use, or a forward tensor read after a
 * backward in a scope with duringBackward.
 */
export function keep<T extends Tensor>(t: T): T {
  if (!(t instanceof Tensor)) throw new Error(`keep: expected a Tensor, got ${t === null ? 'null' : typeof t}`);
  keepStorage(t.storage.buffer);
  return t;
}

// The storages the value reaches, the tick of the newest graph node it needs whose backward has
// not run, and a tensor whose storage was released during backward, if any.
function reachFrom(value: unknown): { reachable: Set<ArrayBufferLike>; liveBefore: number; released: Tensor | null } {
  const reachable = new Set<ArrayBufferLike>();
  let liveBefore = 0;
  let released: Tensor | null = null;
  const seen = new Set<unknown>();
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (v === null || typeof v !== 'object' || seen.has(v)) continue;
    seen.add(v);
    if (v instanceof Tensor) {
      reachable.add(v.storage.buffer);
      if (!released && v.storage.length > 0 && wasReleasedEarly(v.storage.buffer)) released = v;
      if (v.grad) stack.push(v.grad);
      const fn = v.gradFn;
      if (fn) {
        if (fn.backward !== null) liveBefore = Math.max(liveBefore, nodeSequenceOf(fn));
        for (const input of fn.inputs) stack.push(input);
      }
    } else if (Array.isArray(v)) {
      for (const x of v) stack.push(x);
    } else if (v instanceof Map) {
      for (const [k, x] of v) stack.push(k, x);
    } else if (v instanceof Set) {
      for (const x of v) stack.push(x);
    } else {
      const proto = Object.getPrototypeOf(v);
      if (proto === Object.prototype || proto === null) for (const x of Object.values(v)) stack.push(x);
    }
  }
  return { reachable, liveBefore, released };
}
