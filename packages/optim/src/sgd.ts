// SGD as PyTorch's torch.optim.SGD, its single-tensor path, element by element:
//
//   d = g + wd·p                                grad = grad.add(param, alpha=weight_decay)
//   if momentum ≠ 0:
//     buf = d (first step)                      buf = torch.clone(grad)
//     else buf = momentum·buf; buf += (1 − dampening)·d    buf.mul_(momentum).add_(grad, alpha=1 - dampening)
//     d = nesterov ? d + momentum·buf : buf
//   p += −lr·d                                  param.add_(grad, alpha=-lr)
//
// NOTE: as in adamw.ts, PyTorch's in-place ops are writes to our storage (p and buf are rounded
// to the parameter's dtype); the temporary d stays in float64.

import { type FloatArray, type Storage, type Tensor, incrementVersion } from '@tsgrad/tensor';
import {
  type NonFinitePolicy, type ParamGroup, type ParamStateDict, type ParamsOrGroups, type TypedParamStateDict,
  Optimizer, checkNonNegative, loadArray, stateArray,
} from './optimizer.js';

/** SGD's per-group hyperparameters. */
export interface SGDHyper {
  /** Learning rate. */
  lr: number;
  /** Momentum factor (0: plain SGD). */
  momentum: number;
  /** Dampening of the gradient's share of the momentum buffer. */
  dampening: number;
  /** L2 penalty added to the gradient (coupled, unlike AdamW's). */
  weightDecay: number;
  /** Nesterov momentum (needs momentum > 0 and dampening 0). */
  nesterov: boolean;
}

/** Options of `new SGD(params, options)`: PyTorch's defaults except lr, which is required. */
export interface SGDOptions extends Partial<SGDHyper> {
  /** Learning rate (required). */
  lr: number;
  /** On a NaN or infinite gradient: 'error' (default) throws naming the parameter; 'skip' skips the whole step. */
  nonFinite?: NonFinitePolicy;
}

/** SGD's state of one parameter (kept only when momentum ≠ 0). */
export interface SGDState {
  /** The momentum buffer (PyTorch's momentum_buffer). */
  momentumBuffer: FloatArray;
}

/** Stochastic gradient descent with optional (Nesterov) momentum and weight decay, exactly as `torch.optim.SGD`. */
export class SGD extends Optimizer<SGDHyper, SGDState> {
  /** Makes an SGD over parameters or groups (defaults: momentum 0, dampening 0, weightDecay 0, nesterov false). */
  constructor(paramsOrGroups: ParamsOrGroups<SGDHyper>, options: SGDOptions) {
    if (typeof options !== 'object' || options === null) throw new Error('SGD: options { lr, ... } are required');
    const { lr, momentum = 0, dampening = 0, weightDecay = 0, nesterov = false, nonFinite, ...rest } = options;
    const unknown = Object.keys(rest)[0];
    if (unknown !== undefined) throw new Error(`SGD: unknown option '${unknown}' (known: lr, momentum, dampening, weightDecay, nesterov, nonFinite)`);
    super('SGD', paramsOrGroups, { lr, momentum, dampening, weightDecay, nesterov }, nonFinite);
  }

  protected override checkHyper(h: SGDHyper, where: string): void {
    checkNonNegative('SGD', where, 'lr', h.lr);
    checkNonNegative('SGD', where, 'momentum', h.momentum);
    checkNonNegative('SGD', where, 'weightDecay', h.weightDecay);
    if (typeof h.dampening !== 'number' || !Number.isFinite(h.dampening)) throw new Error(`SGD: invalid dampening in ${where}: ${h.dampening}`);
    if (typeof h.nesterov !== 'boolean') throw new Error(`SGD: invalid nesterov in ${where}: ${JSON.stringify(h.nesterov)} (expected a boolean)`);
    if (h.nesterov && (h.momentum <= 0 || h.dampening !== 0)) {
      throw new Error(`SGD: nesterov momentum requires a momentum > 0 and zero dampening (${where} has momentum ${h.momentum}, dampening ${h.dampening})`);
    }
  }

  protected override updateGroup(group: ParamGroup<SGDHyper>, groupIndex: number): void {
    for (let i = 0; i < group.params.length; i++) {
      const p = group.params[i]!;
      const grad = this.gradData(group, groupIndex, i);
      if (grad === null) continue;
      let buf: FloatArray | null = null;
      let first = false;
      if (group.momentum !== 0) {
        let s = this.state.get(p);
        if (s === undefined) {
          s = { momentumBuffer: stateArray(p) };
          this.state.set(p, s);
          first = true;
        }
        buf = s.momentumBuffer;
      }
      sgdUpdate(p.storage, p.offset, grad[0], grad[1], buf, first, p.numel, group);
      incrementVersion(p); // a write in place, as PyTorch's param.add_: a graph that saved p must not use it
    }
  }

  protected override saveParamState(s: SGDState): TypedParamStateDict {
    return { momentumBuffer: s.momentumBuffer.slice() };
  }

  protected override loadParamState(saved: ParamStateDict, p: Tensor, where: string): SGDState {
    if (typeof saved !== 'object' || saved === null) throw new Error(`${where}: the state must be an object { momentumBuffer }`);
    return { momentumBuffer: loadArray(saved.momentumBuffer, p, 'momentumBuffer', where) };
  }
}

// One SGD step of one parameter, in place. p: [n] from pOff, g: [n] from gOff, buf: [n] or null.
function sgdUpdate(
  p: Storage, pOff: number, g: Storage, gOff: number, buf: FloatArray | null, first: boolean,
  n: number, h: SGDHyper,
): void {
  const { lr, momentum, dampening, weightDecay, nesterov } = h;
  for (let i = 0; i < n; i++) {
    let d = g[gOff + i]!;
    if (weightDecay !== 0) d = d + weightDecay * p[pOff + i]!;
    if (buf !== null) {
      if (first) {
        buf[i] = d;
      } else {
        buf[i] *= momentum;
        buf[i] += (1 - dampening) * d;
      }
      d = nesterov ? d + momentum * buf[i]! : buf[i]!;
    }
    p[pOff + i] += -lr * d;
  }
}
