// gradcheck and gradgradcheck, as PyTorch defines them: compare the analytic Jacobian (one
// vector-Jacobian product per output element) with central finite differences, in float64.

import { Tensor } from '../tensor.js';
import { formatShape } from '../shape.js';
import { grad } from './engine.js';

/** Options of gradcheck and gradgradcheck (PyTorch's defaults). */
export interface GradcheckOptions {
  /** Finite-difference step (default 1e-6). */
  eps?: number;
  /** Absolute tolerance (default 1e-5). */
  atol?: number;
  /** Relative tolerance (default 1e-3). */
  rtol?: number;
  /** Throw an error describing the first mismatch (default true); otherwise return false. */
  raiseException?: boolean;
}

type Fn = (...inputs: Tensor[]) => Tensor | Tensor[];

function outputsOf(fn: Fn, inputs: Tensor[]): Tensor[] {
  const out = fn(...inputs);
  return Array.isArray(out) ? out : [out];
}

// Storage positions of every element of t, in row-major order.
function positions(t: Tensor): number[] {
  const out: number[] = [];
  const idx = new Array<number>(t.ndim).fill(0);
  for (let n = 0; n < t.numel; n++) {
    let at = t.offset;
    for (let k = 0; k < t.ndim; k++) at += idx[k]! * t.strides[k]!;
    out.push(at);
    for (let k = t.ndim - 1; k >= 0; k--) {
      if (++idx[k]! < t.shape[k]!) break;
      idx[k] = 0;
    }
  }
  return out;
}

function checkInputs(op: string, inputs: Tensor[]): void {
  inputs.forEach((t, i) => {
    if (!(t instanceof Tensor)) throw new Error(`${op}: input ${i} is not a Tensor`);
    if (t.requiresGrad && t.dtype !== 'float64') {
      throw new Error(`${op}: input ${i} is ${t.dtype}; gradcheck needs float64 inputs (finite differences in float32 are too coarse)`);
    }
    // NOTE: an empty tensor has zero strides in front of its zero-size dim yet nothing to perturb
    if (t.requiresGrad && t.numel > 0 && t.strides.some((s, k) => s === 0 && t.shape[k]! > 1)) {
      throw new Error(`${op}: input ${i} of shape ${formatShape(t.shape)} is expanded (a stride is 0): perturbing one element would move several; pass a contiguous copy`);
    }
  });
}

/**
 * True when the analytic gradients of fn at inputs match central finite differences for every
 * input that requires grad: |analytic − numeric| ≤ atol + rtol·|numeric| element by element.
 * On failure it throws (or returns false) naming the output, the input, the element, and both values.
 *
 * @example
 * ```ts
 * import { type Tensor, Generator, defineOp, gradcheck, randn } from '@tsgrad/tensor';
 *
 * // inputs in float64: finite differences in float32 are too coarse
 * const x = randn([3, 4], { dtype: 'float64', requiresGrad: true, generator: new Generator(0) });
 * console.log(gradcheck((a: Tensor) => a.softmax(1).mul(a).sum(), [x])); // → true
 *
 * // a backward that forgot the factor 2 of d(x²)/dx is caught
 * const badSquare = defineOp('badSquare', (a: Tensor) => ({ output: a.square(), backward: (g: Tensor) => [g.mul(a)] }));
 * console.log(gradcheck(badSquare, [x], { raiseException: false })); // → false
 * ```
 */
export function gradcheck(fn: Fn, inputs: Tensor[], opts: GradcheckOptions = {}): boolean {
  const eps = opts.eps ?? 1e-6;
  const atol = opts.atol ?? 1e-5;
  const rtol = opts.rtol ?? 1e-3;
  const raise = opts.raiseException ?? true;
  checkInputs('gradcheck', inputs);
  const differentiable = inputs.map((t, i) => [t, i] as const).filter(([t]) => t.requiresGrad);
  if (differentiable.length === 0) throw new Error('gradcheck: no input requires grad');

  const outputs = outputsOf(fn, inputs);
  // numeric: one column of the Jacobian per input element
  const numeric: Float64Array[][] = outputs.map(() => []);
  for (const [t] of differentiable) {
    const where = positions(t);
    const cols = outputs.map((o) => new Float64Array(o.numel * t.numel));
    where.forEach((at, col) => {
      const orig = t.storage[at]!;
      t.storage[at] = orig + eps;
      const plus = outputsOf(fn, inputs).map((o) => o.toTypedArray());
      t.storage[at] = orig - eps;
      const minus = outputsOf(fn, inputs).map((o) => o.toTypedArray());
      t.storage[at] = orig;
      outputs.forEach((o, oi) => {
        for (let r = 0; r < o.numel; r++) cols[oi]![r * t.numel + col] = (plus[oi]![r]! - minus[oi]![r]!) / (2 * eps);
      });
    });
    outputs.forEach((_, oi) => numeric[oi]!.push(cols[oi]!));
  }
  // analytic: one row of the Jacobian per output element
  for (const [oi, out] of outputs.entries()) {
    if (!out.requiresGrad) {
      // an output that depends on no input must have a zero numeric Jacobian
      for (const [k, [t, i]] of differentiable.entries()) {
        const bad = numeric[oi]![k]!.findIndex((v) => Math.abs(v) > atol);
        if (bad >= 0) return fail(raise, `gradcheck: output ${oi} does not require grad, but its numeric derivative with respect to input ${i} (shape ${formatShape(t.shape)}) element ${bad % t.numel} is ${numeric[oi]![k]![bad]}`);
      }
      continue;
    }
    for (let r = 0; r < out.numel; r++) {
      const seed = Tensor.zeros(out.shape, out.dtype);
      seed.storage[r] = 1;
      const rows = grad([out], differentiable.map(([t]) => t), { gradOutputs: [seed], retainGraph: true });
      for (const [k, [t, i]] of differentiable.entries()) {
        const a = rows[k]!.toTypedArray();
        const num = numeric[oi]![k]!;
        for (let e = 0; e < t.numel; e++) {
          const n = num[r * t.numel + e]!;
          const an = a[e]!;
          if (!(Math.abs(an - n) <= atol + rtol * Math.abs(n))) {
            return fail(raise, `gradcheck: Jacobian mismatch for output ${oi} (element ${r}) with respect to input ${i} (shape ${formatShape(t.shape)}), element ${e}: analytic ${an}, numeric ${n} (atol ${atol}, rtol ${rtol})`);
          }
        }
      }
    }
  }
  return true;
}

function fail(raise: boolean, message: string): false {
  if (raise) throw new Error(message);
  return false;
}

/**
 * Checks second derivatives: gradcheck of (inputs, v) ↦ vᵀ·J_fn(inputs), the gradient of fn with
 * random output weights v, computed with createGraph — as PyTorch's gradgradcheck.
 */
export function gradgradcheck(fn: Fn, inputs: Tensor[], opts: GradcheckOptions & { seed?: number } = {}): boolean {
  checkInputs('gradgradcheck', inputs);
  const outputs = outputsOf(fn, inputs);
  let state = (opts.seed ?? 12345) >>> 0;
  const random = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32 - 0.5;
  };
  const weights = outputs.map((o) => {
    const v = Tensor.zeros(o.shape, 'float64');
    for (let i = 0; i < v.numel; i++) v.storage[i] = random();
    return v.setRequiresGrad(true);
  });
  const differentiable = inputs.filter((t) => t.requiresGrad);
  const firstOrder = (...args: Tensor[]): Tensor[] => {
    const ins = args.slice(0, inputs.length);
    const vs = args.slice(inputs.length);
    const outs = outputsOf(fn, ins);
    const used = outs.map((o, i) => [o, vs[i]!] as const).filter(([o]) => o.requiresGrad);
    const wrt = ins.filter((t) => t.requiresGrad);
    return grad(used.map(([o]) => o), wrt, { gradOutputs: used.map(([, v]) => v), createGraph: true });
  };
  if (differentiable.length === 0) throw new Error('gradgradcheck: no input requires grad');
  return gradcheck(firstOrder, [...inputs, ...weights], opts);
}
