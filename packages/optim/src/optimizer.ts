// The optimizer base class: parameter groups, per-parameter state, the non-finite gradient check,
// and stateDict/loadStateDict. AdamW and SGD supply only their hyperparameter checks, their state
// (de)serialization and the update of one group (plain loops over typed arrays). At the end,
// gradient clipping: the other thing a training step does to the gradients before the update.
//
// As PyTorch: a group holds its parameters and its hyperparameters (`lr` settable per group), the
// state is keyed by parameter, parameters without a gradient are skipped, and the state dict
// names parameters by their index counted across groups.

import { type FloatArray, Tensor, type Storage, flatBuffer, formatShape, incrementVersion, noGrad } from '@tsgrad/tensor';

/** A parameter as given to an optimizer: a tensor, or a [name, tensor] pair as `namedParameters()` yields. */
export type ParamInput = Tensor | readonly [string, Tensor];

/** A parameter group as given to an optimizer: its parameters and the hyperparameters it overrides. */
export type ParamGroupInput<H> = { params: Iterable<ParamInput> } & Partial<H>;

/** What an optimizer's constructor takes: parameters (one group), or groups of them. */
export type ParamsOrGroups<H> = Iterable<ParamInput> | Iterable<ParamGroupInput<H>>;

/** What every optimizer's hyperparameters include. */
export interface BaseHyper {
  /** Learning rate (settable per group, e.g. by a schedule). */
  lr: number;
}

/** A parameter group as the optimizer holds it: parameters, their names (or null), hyperparameters. */
export type ParamGroup<H extends BaseHyper> = H & {
  params: Tensor[];
  /** Names given with [name, tensor] pairs, else null (PyTorch's `param_names`). */
  paramNames: string[] | null;
  /** The lr a schedule started from (PyTorch's `initial_lr`), set by the first schedule attached. */
  initialLr?: number;
};

/** What to do when a gradient holds NaN or ±Infinity: throw naming the parameter, or skip the whole step. */
export type NonFinitePolicy = 'error' | 'skip';

/** The saved state of one parameter: numbers and plain arrays only, so it survives JSON. */
export type ParamStateDict = Record<string, number | number[] | null>;
/** A parameter's state with its arrays as typed copies (Float32Array/Float64Array) instead of JS arrays. */
export type TypedParamStateDict = Record<string, number | FloatArray | null>;

/** An optimizer's state as plain JSON-safe data: `JSON.parse(JSON.stringify(sd))` loads bit-exactly. */
export interface OptimizerStateDict {
  /** The optimizer class that wrote it ('AdamW', 'SGD'). */
  optimizer: string;
  /** Per-parameter state keyed by the parameter's index counted across groups; absent before its first update. */
  state: Record<string, ParamStateDict>;
  /** Each group's hyperparameters, parameter indices and shapes (and names, when given). */
  paramGroups: Array<Record<string, unknown> & { params: number[]; paramShapes: number[][]; paramNames?: string[] }>;
  /** Steps skipped for non-finite gradients. */
  skippedSteps: number;
}

/** stateDictTyped()'s result: stateDict()'s, with typed-array per-parameter state. */
export type TypedOptimizerStateDict = Omit<OptimizerStateDict, 'state'> & { state: Record<string, TypedParamStateDict> };

/** Base class of the optimizers: parameter groups, state, non-finite checks, state dicts. */
export abstract class Optimizer<H extends BaseHyper, S> {
  /** The parameter groups; each group's hyperparameters (`lr` first) may be changed between steps. */
  readonly paramGroups: Array<ParamGroup<H>> = [];
  /** The hyperparameters a group gets where it does not override them. */
  readonly defaults: Readonly<H>;
  /** What `step()` does on a non-finite gradient. */
  readonly nonFinite: NonFinitePolicy;
  /** How many steps were skipped for non-finite gradients (with `nonFinite: 'skip'`). */
  skippedSteps = 0;
  /** Per-parameter state, created on a parameter's first update. */
  protected state = new Map<Tensor, S>();
  /** The class name, for error messages. */
  protected readonly name: string;

  /** Takes parameters (one group) or groups; `defaults` fill what a group does not override. */
  protected constructor(name: string, paramsOrGroups: ParamsOrGroups<H>, defaults: H, nonFinite: NonFinitePolicy | undefined) {
    this.name = name;
    this.checkHyper(defaults, 'options');
    this.defaults = Object.freeze(copyHyper(defaults));
    if (nonFinite !== undefined && nonFinite !== 'error' && nonFinite !== 'skip') {
      throw new Error(`${name}: invalid nonFinite: ${JSON.stringify(nonFinite)} (expected 'error' or 'skip')`);
    }
    this.nonFinite = nonFinite ?? 'error';
    if (paramsOrGroups == null || typeof (paramsOrGroups as Iterable<unknown>)[Symbol.iterator] !== 'function') {
      throw new Error(`${name}: params must be an iterable of tensors, [name, tensor] pairs or param groups`);
    }
    const items = [...(paramsOrGroups as Iterable<unknown>)];
    if (items.length === 0) throw new Error(`${name}: got an empty parameter list`);
    const isGroup = (x: unknown) => typeof x === 'object' && x !== null && !(x instanceof Tensor) && !Array.isArray(x);
    const groups = items.every(isGroup) ? items as Array<ParamGroupInput<H>> : [{ params: items } as unknown as ParamGroupInput<H>];
    for (const group of groups) this.addParamGroup(group);
  }

  /** Checks one set of hyperparameters (`where` names it in errors: 'options', 'param group 1'). */
  protected abstract checkHyper(hyper: H, where: string): void;
  /** Updates the parameters of one group that have a gradient (already checked to be finite). */
  protected abstract updateGroup(group: ParamGroup<H>, groupIndex: number): void;
  /** A parameter's state as data, its arrays as typed copies (stateDict makes them plain arrays). */
  protected abstract saveParamState(state: S): TypedParamStateDict;
  /** A parameter's state from saved data, checked against the parameter (`where` names it in errors). */
  protected abstract loadParamState(saved: ParamStateDict, param: Tensor, where: string): S;

  /** Adds a group of parameters with its own hyperparameters (PyTorch's `add_param_group`). */
  addParamGroup(input: ParamGroupInput<H>): void {
    const where = `param group ${this.paramGroups.length}`;
    if (typeof input !== 'object' || input === null || !('params' in input)) throw new Error(`${this.name}: ${where} has no 'params'`);
    const allowed = new Set([...Object.keys(this.defaults), 'params']);
    for (const key of Object.keys(input)) {
      if (!allowed.has(key)) throw new Error(`${this.name}: unknown option '${key}' in ${where} (known: ${[...allowed].join(', ')})`);
    }
    const { params: paramInputs, ...overrides } = input;
    const hyper = { ...copyHyper(this.defaults), ...copyHyper(overrides as unknown as Partial<H>) } as H;
    this.checkHyper(hyper, where);
    const { params, paramNames } = this.readParams(paramInputs, where);
    this.paramGroups.push({ ...hyper, params, paramNames });
  }

  // Tensors and names of a group's parameters, each checked (leaf, float, contiguous, in no other group).
  private readParams(inputs: Iterable<ParamInput>, where: string): { params: Tensor[]; paramNames: string[] | null } {
    if (inputs instanceof Tensor) throw new Error(`${this.name}: ${where}: params must be an iterable of tensors, not a single tensor; wrap it in [ ]`);
    if (inputs == null || typeof (inputs as Iterable<unknown>)[Symbol.iterator] !== 'function') {
      throw new Error(`${this.name}: ${where}: params must be an iterable of tensors or [name, tensor] pairs`);
    }
    const params: Tensor[] = [];
    const names: string[] = [];
    const seen = new Set<Tensor>();
    for (const group of this.paramGroups) for (const p of group.params) seen.add(p);
    for (const item of inputs) {
      const named = Array.isArray(item);
      if (named && (item.length !== 2 || typeof item[0] !== 'string')) {
        throw new Error(`${this.name}: parameter ${params.length} of ${where}: a named parameter must be a [string, Tensor] pair`);
      }
      const p = named ? item[1] : item;
      const label = named ? `parameter ${params.length} ('${item[0]}') of ${where}` : `parameter ${params.length} of ${where}`;
      if (params.length > 0 && named !== (names.length > 0)) {
        throw new Error(`${this.name}: ${where} mixes named ([name, tensor]) and unnamed parameters`);
      }
      if (!(p instanceof Tensor)) throw new Error(`${this.name}: ${label} is not a Tensor`);
      if (p.gradFn !== null) throw new Error(`${this.name}: ${label} is not a leaf tensor (it was produced by '${p.gradFn.name}'); optimize the leaf`);
      if (p.dtype === 'int32') throw new Error(`${this.name}: ${label} is int32; only float32 and float64 tensors can be optimized`);
      if (!p.isContiguous()) {
        throw new Error(`${this.name}: ${label} is not contiguous (shape ${formatShape(p.shape)}, strides ${formatShape(p.strides)}); updates run in place on its storage`);
      }
      if (seen.has(p)) throw new Error(`${this.name}: ${label} appears more than once (in this group or another)`);
      seen.add(p);
      params.push(p);
      if (named) names.push(item[0]);
    }
    if (params.length === 0) throw new Error(`${this.name}: ${where} has no parameters`);
    return { params, paramNames: names.length > 0 ? names : null };
  }

  /** Updates every parameter that has a gradient, unless a gradient is non-finite (see `nonFinite`). */
  step(): void {
    this.paramGroups.forEach((group, i) => this.checkHyper(group, `param group ${i}`));
    const bad = this.findNonFinite();
    if (bad !== null) {
      if (this.nonFinite === 'skip') {
        this.skippedSteps++;
        return;
      }
      throw new Error(`${this.name}.step: ${bad}; pass nonFinite: 'skip' to skip such steps`);
    }
    this.paramGroups.forEach((group, i) => this.updateGroup(group, i));
  }

  /** Clears the gradients: sets them to null (PyTorch's default), or zeroes them in place. */
  zeroGrad(setToNone = true): void {
    for (const group of this.paramGroups) {
      for (const p of group.params) {
        if (setToNone) p.grad = null;
        else if (p.grad !== null) noGrad(() => p.grad!.zero_());
      }
    }
  }

  /** The name of parameter i of a group, for messages: `parameter 2 ('w') of param group 0`. */
  protected describe(group: ParamGroup<H>, groupIndex: number, i: number): string {
    const name = group.paramNames ? ` ('${group.paramNames[i]}')` : '';
    return `parameter ${i}${name} of param group ${groupIndex}`;
  }

  /**
   * A parameter's gradient as (storage, offset) of its row-major elements, or null when it has none.
   * NOTE: a non-contiguous gradient is copied (the only allocation a step may make).
   */
  protected gradData(group: ParamGroup<H>, groupIndex: number, i: number): [Storage, number] | null {
    const p = group.params[i]!;
    const g = p.grad;
    if (g === null) return null;
    if (g.numel !== p.numel || g.ndim !== p.ndim || g.shape.some((s, k) => s !== p.shape[k])) {
      const what = this.describe(group, groupIndex, i);
      throw new Error(`${this.name}.step: the gradient of ${what} has shape ${formatShape(g.shape)} but the parameter has shape ${formatShape(p.shape)}`);
    }
    return flatBuffer(g);
  }

  // A description of the first non-finite gradient element, or null when all are finite.
  private findNonFinite(): string | null {
    for (let gi = 0; gi < this.paramGroups.length; gi++) {
      const group = this.paramGroups[gi]!;
      for (let i = 0; i < group.params.length; i++) {
        const data = this.gradData(group, gi, i);
        if (data === null) continue;
        const [g, off] = data;
        for (let k = 0, n = group.params[i]!.numel; k < n; k++) {
          const x = g[off + k]!;
          if (x - x !== 0) return `the gradient of ${this.describe(group, gi, i)} is not finite (${x} at element ${k})`;
        }
      }
    }
    return null;
  }

  /** The optimizer's state as plain data (step counts, moments, group hyperparameters); parameters are not included. */
  stateDict(): OptimizerStateDict {
    const typed = this.stateDictTyped();
    const state: Record<string, ParamStateDict> = {};
    for (const [index, s] of Object.entries(typed.state)) {
      state[index] = Object.fromEntries(Object.entries(s).map(([key, v]) => [key, ArrayBuffer.isView(v) ? Array.from(v) : v]));
    }
    return { ...typed, state };
  }

  /**
   * stateDict() with every state array as a typed copy of the same values: for writers of binary
   * checkpoints, which then need no JS arrays of numbers (megabytes that stay on V8's heap until a
   * major collection).
   */
  stateDictTyped(): TypedOptimizerStateDict {
    const state: Record<string, TypedParamStateDict> = {};
    const paramGroups: OptimizerStateDict['paramGroups'] = [];
    let index = 0;
    for (const group of this.paramGroups) {
      const { params, paramNames, ...hyper } = group;
      const ids: number[] = [];
      for (const p of params) {
        const s = this.state.get(p);
        if (s !== undefined) state[String(index)] = this.saveParamState(s);
        ids.push(index++);
      }
      const saved = { ...copyHyper(hyper), params: ids, paramShapes: params.map((p) => [...p.shape]) };
      paramGroups.push(paramNames ? { ...saved, paramNames: [...paramNames] } : saved);
    }
    return { optimizer: this.name, state, paramGroups, skippedSteps: this.skippedSteps };
  }

  /** Restores a state from `stateDict()` (also after JSON), checking groups, parameter counts and shapes; all or nothing. */
  loadStateDict(sd: OptimizerStateDict): void {
    const op = `${this.name}.loadStateDict`;
    if (typeof sd !== 'object' || sd === null || !Array.isArray(sd.paramGroups) || typeof sd.state !== 'object' || sd.state === null) {
      throw new Error(`${op}: expected an object with 'state' and 'paramGroups' (as stateDict() returns)`);
    }
    if (sd.optimizer !== this.name) throw new Error(`${op}: the state dict was written by ${JSON.stringify(sd.optimizer)}, not ${this.name}`);
    if (sd.paramGroups.length !== this.paramGroups.length) {
      throw new Error(`${op}: the state dict has ${sd.paramGroups.length} param groups but the optimizer has ${this.paramGroups.length}`);
    }
    const newState = new Map<Tensor, S>();
    const newHypers: H[] = [];
    const initialLrs: Array<number | undefined> = [];
    this.paramGroups.forEach((group, gi) => {
      const saved = sd.paramGroups[gi]!;
      const where = `param group ${gi}`;
      if (typeof saved !== 'object' || saved === null) throw new Error(`${op}: ${where} of the state dict is not an object`);
      if (!Array.isArray(saved.params) || saved.params.length !== group.params.length) {
        throw new Error(`${op}: ${where} has ${Array.isArray(saved.params) ? saved.params.length : 'no'} parameters in the state dict but ${group.params.length} in the optimizer`);
      }
      const { params: ids, paramShapes, paramNames, initialLr, ...hyper } = saved;
      const known = new Set(Object.keys(this.defaults));
      for (const key of Object.keys(hyper)) if (!known.has(key)) throw new Error(`${op}: unknown hyperparameter '${key}' in ${where}`);
      const merged = { ...copyHyper(this.defaults), ...copyHyper(hyper as Partial<H>) } as H;
      this.checkHyper(merged, `${where} of the state dict`);
      if (initialLr !== undefined && (typeof initialLr !== 'number' || !Number.isFinite(initialLr))) {
        throw new Error(`${op}: ${where}: initialLr must be a finite number, got ${JSON.stringify(initialLr)}`);
      }
      newHypers.push(merged);
      initialLrs.push(initialLr as number | undefined);
      group.params.forEach((p, i) => {
        const what = this.describe(group, gi, i);
        const savedName = paramNames?.[i];
        if (savedName !== undefined && group.paramNames && savedName !== group.paramNames[i]) {
          throw new Error(`${op}: ${what} is named '${savedName}' in the state dict`);
        }
        const shape = paramShapes?.[i];
        if (paramShapes !== undefined && (!Array.isArray(shape) || shape.length !== p.ndim || shape.some((s, k) => s !== p.shape[k]))) {
          throw new Error(`${op}: ${what} has shape ${JSON.stringify(shape)} in the state dict but ${formatShape(p.shape)} in the optimizer`);
        }
        // as PyTorch, saved parameters map to ours by position; their ids only key the state
        const savedState = sd.state[String(ids[i])];
        if (savedState !== undefined) newState.set(p, this.loadParamState(savedState, p, `${op}: ${what}`));
      });
    });
    const skipped = sd.skippedSteps ?? 0;
    if (!Number.isInteger(skipped) || skipped < 0) throw new Error(`${op}: skippedSteps must be a non-negative integer, got ${skipped}`);
    // Everything checked: now replace.
    this.state = newState;
    this.skippedSteps = skipped;
    this.paramGroups.forEach((group, gi) => {
      Object.assign(group, newHypers[gi]);
      if (initialLrs[gi] === undefined) delete group.initialLr;
      else group.initialLr = initialLrs[gi];
    });
  }
}

/** Reads a saved typed-array state entry (a plain array, or a typed array), checking its length. */
export function loadArray(saved: unknown, like: Tensor, key: string, where: string): FloatArray {
  const ok = Array.isArray(saved) || saved instanceof Float32Array || saved instanceof Float64Array;
  if (!ok) throw new Error(`${where}: state '${key}' must be an array of numbers`);
  const arr = saved as ArrayLike<number>;
  if (arr.length !== like.numel) throw new Error(`${where}: state '${key}' has ${arr.length} elements but the parameter has ${like.numel}`);
  const out = like.dtype === 'float64' ? new Float64Array(like.numel) : new Float32Array(like.numel);
  for (let i = 0; i < arr.length; i++) {
    const x = arr[i];
    if (typeof x !== 'number') throw new Error(`${where}: state '${key}' holds a non-number at element ${i}`);
    out[i] = x;
  }
  return out;
}

/** A new zeroed array to hold a parameter's state in its precision (float32 moments for float32 params, as PyTorch). */
export function stateArray(p: Tensor): FloatArray {
  return p.dtype === 'float64' ? new Float64Array(p.numel) : new Float32Array(p.numel);
}

/** Throws unless value is a finite number ≥ 0 (an optimizer option). */
export function checkNonNegative(op: string, where: string, key: string, value: unknown): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new Error(`${op}: invalid ${key} in ${where}: ${JSON.stringify(value) ?? String(value)} (must be a finite number ≥ 0)`);
  }
}

// A copy of a hyperparameter object with arrays (betas) copied, so groups never share them.
function copyHyper<T extends object>(h: T): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined) out[k] = Array.isArray(v) ? [...v] : v;
  return out as T;
}

// ************* gradient clipping *************

// Gradient clipping by total norm, as torch.nn.utils.clip_grad_norm_:
//
//   total = ‖(‖g₁‖, ‖g₂‖, …)‖ = ‖all gradient elements‖       (accumulated in float64)
//   coef  = maxNorm / (total + 1e-6), clamped to 1               clip_coef_clamped
//   g    *= coef                                                  (in place)
//
// PyTorch multiplies by the clamped coefficient always; multiplying by exactly 1 changes nothing,
// so we touch the gradients only when coef < 1.

/** Options of `clipGradNorm`. */
export interface ClipGradNormOptions {
  /** Throw when the total norm is NaN or infinite (PyTorch's error_if_nonfinite); default false. */
  errorIfNonfinite?: boolean;
}

/**
 * Scales the gradients in place so their total `normType`-norm is at most `maxNorm`; returns the
 * total norm before clipping. Parameters without a gradient are ignored (0 when none has one).
 * NOTE: a non-finite total is returned as is and, unlike PyTorch (which multiplies by NaN or 0),
 * leaves the gradients untouched, so the optimizer's non-finite check can name the culprit.
 *
 * @example
 * ```ts
 * import { clipGradNorm } from '@tsgrad/optim';
 * import { tensor } from '@tsgrad/tensor';
 *
 * const a = tensor([0, 0], { requiresGrad: true });
 * const b = tensor([0], { requiresGrad: true });
 * a.mul(tensor([3, 4])).sum().add(b.mul(12).sum()).backward(); // grads [3, 4] and [12]: norm 13
 * const norm = clipGradNorm([a, b], 1); // the norm over all the gradients together
 * console.log(norm); // → 13
 * console.log(a.grad!.toString(), b.grad!.toString());
 * // → tensor([0.2308, 0.3077], shape=[2], dtype=float32) tensor([0.9231], shape=[1], dtype=float32)
 * ```
 */
export function clipGradNorm(params: Tensor | Iterable<Tensor>, maxNorm: number, normType = 2, opts: ClipGradNormOptions = {}): number {
  if (typeof maxNorm !== 'number' || !(maxNorm >= 0)) throw new Error(`clipGradNorm: maxNorm must be a number ≥ 0, got ${maxNorm}`);
  if (typeof normType !== 'number' || !(normType > 0)) {
    throw new Error(`clipGradNorm: normType must be a number > 0 or Infinity, got ${normType}`);
  }
  const list = params instanceof Tensor ? [params] : [...params];
  // NOTE: the same gradient tensor may sit on two parameters (a `.grad` assigned to both, or one
  // parameter listed twice): it counts in the norm once per parameter, as in PyTorch, but is scaled once.
  const grads = new Set<Tensor>();
  const all: Tensor[] = [];
  list.forEach((p, i) => {
    if (!(p instanceof Tensor)) throw new Error(`clipGradNorm: parameter ${i} is not a Tensor`);
    if (p.grad !== null) {
      all.push(p.grad);
      grads.add(p.grad);
    }
  });
  if (all.length === 0) return 0;
  const total = totalNorm(all, normType);
  if (!Number.isFinite(total)) {
    if (opts.errorIfNonfinite) {
      throw new Error(`clipGradNorm: the total norm of order ${normType} of the gradients is ${total}; the gradients cannot be clipped`);
    }
    return total;
  }
  const clipCoef = maxNorm / (total + 1e-6);
  if (clipCoef < 1) for (const g of grads) scale(g, clipCoef);
  return total;
}

// The normType-norm of all elements of all tensors, in float64.
function totalNorm(tensors: readonly Tensor[], normType: number): number {
  let acc = 0;
  let sawNaN = false;
  for (const t of tensors) {
    const [data, off] = flatBuffer(t);
    const n = t.numel;
    if (normType === 2) {
      for (let i = 0; i < n; i++) acc += data[off + i]! * data[off + i]!;
    } else if (normType === Infinity) {
      for (let i = 0; i < n; i++) {
        const a = Math.abs(data[off + i]!);
        if (a > acc) acc = a;
        else if (a !== a) sawNaN = true;
      }
    } else if (normType === 1) {
      for (let i = 0; i < n; i++) acc += Math.abs(data[off + i]!);
    } else {
      for (let i = 0; i < n; i++) acc += Math.abs(data[off + i]!) ** normType;
    }
  }
  if (sawNaN) return NaN;
  if (normType === 2) return Math.sqrt(acc);
  if (normType === Infinity || normType === 1) return acc;
  return acc ** (1 / normType);
}

// g *= coef in place. A non-contiguous g is scaled in a dense copy written back through its view.
function scale(g: Tensor, coef: number): void {
  if (g.isContiguous()) {
    const d = g.storage;
    for (let i = g.offset, end = g.offset + g.numel; i < end; i++) d[i] *= coef;
    incrementVersion(g);
    return;
  }
  const dense = g.toTypedArray();
  for (let i = 0; i < dense.length; i++) dense[i] *= coef;
  noGrad(() => g.copy_(new Tensor(dense, g.shape)));
}
