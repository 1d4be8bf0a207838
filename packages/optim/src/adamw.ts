// AdamW as PyTorch's torch.optim.AdamW (decoupled weight decay), its single-tensor (non-foreach)
// path, element by element in the same order of operations:
//
//   step += 1
//   p *= 1 − lr·wd                              param.mul_(1 - lr * weight_decay)
//   m = lerp(m, g, 1 − β1)                      exp_avg.lerp_(grad, 1 - beta1)
//   v = β2·v;  v += (1 − β2)·g·g                exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
//   stepSize = lr / (1 − β1^step)
//   denom = √v / √(1 − β2^step) + eps           (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
//   p += (−stepSize · m) / denom                param.addcdiv_(exp_avg, denom, value=-step_size)
//
// NOTE: each of PyTorch's in-place ops is a write to our storage (so p, m and v are rounded to the
// parameter's dtype where PyTorch rounds them); the temporaries (denom, the products) stay in
// float64. Moments live in float32 for float32 parameters and float64 for float64 ones, as PyTorch.
// llm.c folds the decay into the update instead: equal in exact arithmetic, not in float32.
//
// With the 'wasm' backend, a float32 parameter (float32 gradient, β1 > ½) is updated by
// adamwStepWasm from @tsgrad/tensor: the same float64 arithmetic two elements at a time, equal to
// the loop below bit for bit (the loop stays the reference, and runs float64 parameters).

import { type FloatArray, type Storage, type Tensor, adamwStepWasm, getBackend, incrementVersion } from '@tsgrad/tensor';
import {
  type NonFinitePolicy, type ParamGroup, type ParamStateDict, type ParamsOrGroups, type TypedParamStateDict,
  Optimizer, checkNonNegative, loadArray, stateArray,
} from './optimizer.js';

/** AdamW's per-group hyperparameters. */
export interface AdamWHyper {
  /** Learning rate. */
  lr: number;
  /** Decay rates of the first and second moment averages, each in [0, 1). */
  betas: [number, number];
  /** Added to the denominator for stability. */
  eps: number;
  /** Decoupled weight decay: each step multiplies the parameter by 1 − lr·weightDecay. */
  weightDecay: number;
}

/** Options of `new AdamW(params, options)`: PyTorch's defaults except lr, which is required. */
export interface AdamWOptions extends Partial<Omit<AdamWHyper, 'betas'>> {
  /** Learning rate (required). */
  lr: number;
  /** [beta1, beta2], each in [0, 1); default [0.9, 0.999]. A plain array (from JSON) is accepted. */
  betas?: readonly [number, number] | readonly number[];
  /** On a NaN or infinite gradient: 'error' (default) throws naming the parameter; 'skip' skips the whole step. */
  nonFinite?: NonFinitePolicy;
}

/** AdamW's state of one parameter: its own step count (for bias correction) and the two moments. */
export interface AdamWState {
  /** Updates this parameter received. */
  step: number;
  /** First moment m (PyTorch's exp_avg). */
  expAvg: FloatArray;
  /** Second moment v (PyTorch's exp_avg_sq). */
  expAvgSq: FloatArray;
}

/**
 * Adam with decoupled weight decay, exactly as `torch.optim.AdamW`. Parameters may be tensors,
 * [name, tensor] pairs (names appear in errors) or groups `{ params, lr?, betas?, eps?, weightDecay? }`.
 *
 * @example
 * ```ts
 * import { AdamW } from '@tsgrad/optim';
 * import { tensor } from '@tsgrad/tensor';
 *
 * // minimise (w − 3)² from w = 0
 * const w = tensor([0], { requiresGrad: true });
 * const opt = new AdamW([w], { lr: 0.1, weightDecay: 0 });
 * for (let step = 1; step <= 300; step++) {
 *   opt.zeroGrad();
 *   w.sub(3).square().sum().backward();
 *   opt.step();
 *   // Adam's first step is lr in the gradient's direction, whatever the gradient's size
 *   if (step === 1) console.log(w.item().toFixed(4)); // → 0.1000
 * }
 * console.log(w.item().toFixed(3)); // → 3.000
 * ```
 */
export class AdamW extends Optimizer<AdamWHyper, AdamWState> {
  /** Makes an AdamW over parameters or groups (defaults: betas [0.9, 0.999], eps 1e-8, weightDecay 0.01). */
  constructor(paramsOrGroups: ParamsOrGroups<AdamWHyper>, options: AdamWOptions) {
    if (typeof options !== 'object' || options === null) throw new Error('AdamW: options { lr, ... } are required');
    const { lr, betas = [0.9, 0.999], eps = 1e-8, weightDecay = 0.01, nonFinite, ...rest } = options;
    const unknown = Object.keys(rest)[0];
    if (unknown !== undefined) throw new Error(`AdamW: unknown option '${unknown}' (known: lr, betas, eps, weightDecay, nonFinite)`);
    const betaPair = (Array.isArray(betas) ? [...betas] : betas) as [number, number];
    super('AdamW', paramsOrGroups, { lr, betas: betaPair, eps, weightDecay }, nonFinite);
  }

  protected override checkHyper(h: AdamWHyper, where: string): void {
    checkNonNegative('AdamW', where, 'lr', h.lr);
    checkNonNegative('AdamW', where, 'eps', h.eps);
    checkNonNegative('AdamW', where, 'weightDecay', h.weightDecay);
    if (!Array.isArray(h.betas) || h.betas.length !== 2) throw new Error(`AdamW: invalid betas in ${where}: expected [beta1, beta2]`);
    h.betas.forEach((b, i) => {
      if (typeof b !== 'number' || !(b >= 0 && b < 1)) throw new Error(`AdamW: invalid betas[${i}] in ${where}: ${b} (must be in [0, 1))`);
    });
  }

  protected override updateGroup(group: ParamGroup<AdamWHyper>, groupIndex: number): void {
    const { lr, eps, weightDecay } = group;
    const [beta1, beta2] = group.betas;
    for (let i = 0; i < group.params.length; i++) {
      const p = group.params[i]!;
      const grad = this.gradData(group, groupIndex, i);
      if (grad === null) continue; // as PyTorch: no gradient, no update, the step count stays
      let s = this.state.get(p);
      if (s === undefined) {
        s = { step: 0, expAvg: stateArray(p), expAvgSq: stateArray(p) };
        this.state.set(p, s);
      }
      s.step += 1;
      adamwUpdate(p.storage, p.offset, grad[0], grad[1], s.expAvg, s.expAvgSq, p.numel, lr, beta1, beta2, eps, weightDecay, s.step);
      incrementVersion(p); // a write in place, as PyTorch's param.addcdiv_: a graph that saved p must not use it
    }
  }

  protected override saveParamState(s: AdamWState): TypedParamStateDict {
    return { step: s.step, expAvg: s.expAvg.slice(), expAvgSq: s.expAvgSq.slice() };
  }

  protected override loadParamState(saved: ParamStateDict, p: Tensor, where: string): AdamWState {
    if (typeof saved !== 'object' || saved === null) throw new Error(`${where}: the state must be an object { step, expAvg, expAvgSq }`);
    const step = saved.step;
    if (typeof step !== 'number' || !Number.isInteger(step) || step < 0) throw new Error(`${where}: state 'step' must be a non-negative integer, got ${JSON.stringify(step)}`);
    return { step, expAvg: loadArray(saved.expAvg, p, 'expAvg', where), expAvgSq: loadArray(saved.expAvgSq, p, 'expAvgSq', where) };
  }
}

// One AdamW step of one parameter, in place. p: [n] from pOff, g: [n] from gOff, expAvg, expAvgSq: [n].
function adamwUpdate(
  p: Storage, pOff: number, g: Storage, gOff: number, expAvg: FloatArray, expAvgSq: FloatArray,
  n: number, lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, step: number,
): void {
  const decay = 1 - lr * weightDecay;
  const weight = 1 - beta1; // the lerp weight
  const biasCorrection1 = 1 - beta1 ** step;
  const biasCorrection2 = 1 - beta2 ** step;
  const stepSize = lr / biasCorrection1;
  const biasCorrection2Sqrt = Math.sqrt(biasCorrection2);
  const oneMinusBeta2 = 1 - beta2;
  if (p instanceof Float32Array && g instanceof Float32Array && expAvg instanceof Float32Array && expAvgSq instanceof Float32Array && weight < 0.5 && getBackend() === 'wasm') {
    adamwStepWasm(p, pOff, g, gOff, expAvg, expAvgSq, n, { decay, weight, beta2, stepSize, biasCorrection2Sqrt, eps });
    return;
  }
  for (let i = 0; i < n; i++) {
    const gi = g[gOff + i]!;
    if (weightDecay !== 0) p[pOff + i] *= decay;
    // torch.lerp(m, g, w): m + w·(g − m) for |w| < 0.5, else g − (g − m)·(1 − w)
    const m = expAvg[i]!;
    expAvg[i] = weight < 0.5 ? m + weight * (gi - m) : gi - (gi - m) * (1 - weight);
    expAvgSq[i] *= beta2;
    expAvgSq[i] += oneMinusBeta2 * gi * gi; // ((1 − β2)·g)·g, PyTorch's order
    const denom = Math.sqrt(expAvgSq[i]!) / biasCorrection2Sqrt + eps;
    p[pOff + i] += (-stepSize * expAvg[i]!) / denom;
  }
}
