// Learning-rate schedules, as PyTorch's LambdaLR driven by Hugging Face's schedule lambdas:
// group.lr = baseLr · factor(t), where t counts scheduler steps from 0 and baseLr is the group's lr
// when the first schedule was attached (PyTorch's `initial_lr`). Construction sets the lr of step 0
// at once (as LambdaLR does), so `lastLr` is always the lr the next `opt.step()` will use.
// WarmupThenDecay, Cerebras Model Zoo's schedule, is stated in absolute rates instead (as its YAML
// files give them) and sets the same lr in every group.

/** What a schedule needs of an optimizer: its groups' learning rates. */
export interface SchedulableOptimizer {
  /** The parameter groups, whose `lr` the schedule sets. */
  paramGroups: Array<{ lr: number; initialLr?: number }>;
}

/** A schedule's state: the current step and each group's base lr. */
export interface SchedulerStateDict {
  /** The step whose lr the groups hold (PyTorch's last_epoch). */
  step: number;
  /** Each group's base (maximum) lr. */
  baseLrs: number[];
}

/** Options of `cosineWithWarmupLr`. */
export interface CosineWithWarmupLrOptions extends CosineWithWarmupOptions {
  /** The peak lr, reached at the end of the warmup. */
  maxLr: number;
}

/** Options of `CosineWithWarmup`. */
export interface CosineWithWarmupOptions {
  /** Steps of linear warmup from 0 (an integer ≥ 0, at most totalSteps). */
  warmupSteps: number;
  /** The step at which the cosine reaches its floor (an integer > 0). */
  totalSteps: number;
  /** The floor as a fraction of the peak, in [0, 1]; default 0.1 (LLaMA's). */
  minLrRatio?: number;
}

/** Options of `LinearWarmup`. */
export interface LinearWarmupOptions {
  /** Steps of linear warmup from 0 (an integer ≥ 0); the lr stays at its base afterwards. */
  warmupSteps: number;
}

/**
 * The lr at `step` of linear warmup then cosine decay to minLrRatio·maxLr: Hugging Face's
 * `get_cosine_with_min_lr_schedule_with_warmup` (num_cycles 0.5), held flat after totalSteps.
 */
export function cosineWithWarmupLr(step: number, opts: CosineWithWarmupLrOptions): number {
  const { maxLr, warmupSteps, totalSteps, minLrRatio = 0.1 } = opts;
  if (typeof maxLr !== 'number' || !Number.isFinite(maxLr) || maxLr < 0) throw new Error(`cosineWithWarmupLr: maxLr must be a finite number ≥ 0, got ${maxLr}`);
  checkCosineOptions('cosineWithWarmupLr', { warmupSteps, totalSteps, minLrRatio });
  checkStep('cosineWithWarmupLr', step);
  return maxLr * cosineFactor(step, warmupSteps, totalSteps, minLrRatio);
}

// HF's _get_cosine_schedule_with_warmup_lr_lambda, written in its order of operations so the lr
// is bit-for-bit HF's (LambdaLR then takes base_lr * factor):
//   if step < warmup: return step / max(1, warmup)
//   progress = (step − warmup) / max(1, total − warmup)
//   factor = 0.5 * (1 + cos(pi * num_cycles * 2 * progress)); factor = factor * (1 − r) + r
// NOTE: HF's cosine rises again after total; we hold the floor r there (HF's own value at total
// is exactly r whenever warmup < total, since cos(π) is exactly −1).
function cosineFactor(step: number, warmupSteps: number, totalSteps: number, minLrRatio: number): number {
  if (step < warmupSteps) return step / Math.max(1, warmupSteps);
  if (step >= totalSteps) return minLrRatio;
  const numCycles = 0.5;
  const progress = (step - warmupSteps) / Math.max(1, totalSteps - warmupSteps);
  let factor = 0.5 * (1.0 + Math.cos(Math.PI * numCycles * 2.0 * progress));
  factor = factor * (1 - minLrRatio) + minLrRatio;
  return Math.max(0, factor);
}

function checkCosineOptions(op: string, o: { warmupSteps: unknown; totalSteps: unknown; minLrRatio: unknown }): void {
  const { warmupSteps, totalSteps, minLrRatio } = o;
  if (typeof totalSteps !== 'number' || !Number.isInteger(totalSteps) || totalSteps <= 0) throw new Error(`${op}: totalSteps must be an integer > 0, got ${totalSteps}`);
  checkWarmup(op, warmupSteps);
  if ((warmupSteps as number) > totalSteps) throw new Error(`${op}: warmupSteps (${warmupSteps}) must not exceed totalSteps (${totalSteps})`);
  if (typeof minLrRatio !== 'number' || !(minLrRatio >= 0 && minLrRatio <= 1)) throw new Error(`${op}: minLrRatio must be in [0, 1], got ${minLrRatio}`);
}

function checkWarmup(op: string, warmupSteps: unknown): void {
  if (typeof warmupSteps !== 'number' || !Number.isInteger(warmupSteps) || warmupSteps < 0) {
    throw new Error(`${op}: warmupSteps must be an integer ≥ 0, got ${warmupSteps}`);
  }
}

function checkStep(op: string, step: unknown): void {
  if (typeof step !== 'number' || !Number.isFinite(step) || step < 0) throw new Error(`${op}: step must be a finite number ≥ 0, got ${step}`);
}

/**
 * Base class of the schedules (PyTorch's LambdaLR): group lr = lrAt(step, base lr), which is
 * base lr · factor(step) for the schedules stated as fractions of the peak and the rate itself for
 * those stated in absolute rates (Model Zoo's, `WarmupThenDecay`).
 */
export abstract class LrScheduler {
  /** The optimizer whose group learning rates this schedule sets. */
  readonly optimizer: SchedulableOptimizer;
  /** Each group's base lr (its lr when the first schedule was attached). */
  baseLrs: number[];
  /** The step whose lr the groups hold: 0 after construction, +1 per `step()`. */
  lastStep = 0;
  private lastLrs: number[] = [];
  private readonly name: string;
  private readonly lrAt: (step: number, baseLr: number) => number;

  /** Attaches to an optimizer and sets each group's lr for step 0 to `lrAt(0, its base lr)`. */
  protected constructor(name: string, optimizer: SchedulableOptimizer, lrAt: (step: number, baseLr: number) => number) {
    this.name = name;
    this.lrAt = lrAt;
    if (typeof optimizer !== 'object' || optimizer === null || !Array.isArray(optimizer.paramGroups)) {
      throw new Error(`${name}: expected an optimizer (with paramGroups)`);
    }
    this.optimizer = optimizer;
    // as PyTorch: group.setdefault('initial_lr', group['lr']), so a loaded optimizer keeps its base lr
    for (const group of optimizer.paramGroups) if (group.initialLr === undefined) group.initialLr = group.lr;
    this.baseLrs = optimizer.paramGroups.map((g) => g.initialLr!);
    this.apply();
  }

  /** Advances one step and sets every group's lr for it; call after `opt.step()`. */
  step(): void {
    this.lastStep += 1;
    this.apply();
  }

  /** The lr the next `opt.step()` will use (of the first group). */
  get lastLr(): number {
    return this.lastLrs[0]!;
  }

  /** The lr of every group for the next `opt.step()` (PyTorch's get_last_lr()). */
  getLastLr(): number[] {
    return [...this.lastLrs];
  }

  /** The schedule's state: the step and the base lrs. */
  stateDict(): SchedulerStateDict {
    return { step: this.lastStep, baseLrs: [...this.baseLrs] };
  }

  /** Restores a state from `stateDict()` and sets the groups' lr for its step. */
  loadStateDict(sd: SchedulerStateDict): void {
    const op = `${this.name}.loadStateDict`;
    if (typeof sd !== 'object' || sd === null) throw new Error(`${op}: expected { step, baseLrs }`);
    if (!Number.isInteger(sd.step) || sd.step < 0) throw new Error(`${op}: step must be an integer ≥ 0, got ${sd.step}`);
    if (!Array.isArray(sd.baseLrs) || sd.baseLrs.length !== this.optimizer.paramGroups.length) {
      throw new Error(`${op}: the state has ${Array.isArray(sd.baseLrs) ? sd.baseLrs.length : 'no'} base lrs but the optimizer has ${this.optimizer.paramGroups.length} param groups`);
    }
    sd.baseLrs.forEach((lr, i) => {
      if (typeof lr !== 'number' || !Number.isFinite(lr) || lr < 0) throw new Error(`${op}: baseLrs[${i}] must be a finite number ≥ 0, got ${lr}`);
    });
    this.lastStep = sd.step;
    this.baseLrs = [...sd.baseLrs];
    this.apply();
  }

  // Sets every group's lr for lastStep (for LambdaLR's schedules base_lr * lambda(last_epoch), in its order).
  private apply(): void {
    const groups = this.optimizer.paramGroups;
    if (groups.length !== this.baseLrs.length) {
      throw new Error(`${this.name}: the optimizer has ${groups.length} param groups but the schedule was made for ${this.baseLrs.length}`);
    }
    this.lastLrs = this.baseLrs.map((base) => this.lrAt(this.lastStep, base));
    groups.forEach((g, i) => { g.lr = this.lastLrs[i]!; });
  }
}

/**
 * Linear warmup from 0, then cosine decay to minLrRatio × each group's initial lr (LLaMA's schedule; see cosineWithWarmupLr).
 *
 * @example
 * ```ts
 * import { AdamW, CosineWithWarmup } from '@tsgrad/optim';
 * import { tensor } from '@tsgrad/tensor';
 *
 * const w = tensor([1], { requiresGrad: true });
 * const opt = new AdamW([w], { lr: 1e-3 }); // the peak lr
 * const schedule = new CosineWithWarmup(opt, { warmupSteps: 2, totalSteps: 6, minLrRatio: 0.1 });
 * const lrs: string[] = [];
 * for (let step = 0; step < 8; step++) {
 *   lrs.push(opt.paramGroups[0]!.lr.toExponential(2)); // the lr this step uses
 *   opt.zeroGrad();
 *   w.square().sum().backward();
 *   opt.step();
 *   schedule.step(); // after opt.step(), as in PyTorch
 * }
 * // up from 0 to the peak in 2 steps, down a cosine to 0.1 × peak at step 6, then flat
 * console.log(lrs.join(' ')); // → 0.00e+0 5.00e-4 1.00e-3 8.68e-4 5.50e-4 2.32e-4 1.00e-4 1.00e-4
 * ```
 */
export class CosineWithWarmup extends LrScheduler {
  /** Warmup length in steps. */
  readonly warmupSteps: number;
  /** The step at which the floor is reached. */
  readonly totalSteps: number;
  /** The floor as a fraction of the peak. */
  readonly minLrRatio: number;

  /** Attaches the schedule and sets each group's lr for step 0 (0 when warmupSteps > 0). */
  constructor(optimizer: SchedulableOptimizer, opts: CosineWithWarmupOptions) {
    const { warmupSteps, totalSteps, minLrRatio = 0.1 } = opts ?? ({} as CosineWithWarmupOptions);
    checkCosineOptions('CosineWithWarmup', { warmupSteps, totalSteps, minLrRatio });
    super('CosineWithWarmup', optimizer, (step, base) => base * cosineFactor(step, warmupSteps, totalSteps, minLrRatio));
    this.warmupSteps = warmupSteps;
    this.totalSteps = totalSteps;
    this.minLrRatio = minLrRatio;
  }
}

/** Linear warmup from 0 to each group's initial lr, then constant (HF's get_constant_schedule_with_warmup). */
export class LinearWarmup extends LrScheduler {
  /** Warmup length in steps. */
  readonly warmupSteps: number;

  /** Attaches the schedule and sets each group's lr for step 0. */
  constructor(optimizer: SchedulableOptimizer, opts: LinearWarmupOptions) {
    const { warmupSteps } = opts ?? ({} as LinearWarmupOptions);
    checkWarmup('LinearWarmup', warmupSteps);
    // HF: step / max(1.0, warmup) while step < warmup, then 1.0
    super('LinearWarmup', optimizer, (step, base) => base * (step < warmupSteps ? step / Math.max(1, warmupSteps) : 1));
    this.warmupSteps = warmupSteps;
  }
}

/** Each group's initial lr at every step (HF's get_constant_schedule; not PyTorch's ConstantLR, which scales by a factor). */
export class ConstantLr extends LrScheduler {
  /** Attaches the schedule (the lr stays each group's initial lr). */
  constructor(optimizer: SchedulableOptimizer) {
    super('ConstantLr', optimizer, (_step, base) => base * 1);
  }
}

/** Options of `WarmupThenDecay` and `warmupThenDecayLr`: absolute rates, as Model Zoo's configs give them. */
export interface WarmupThenDecayOptions {
  /** The lr at step 0, where the warmup starts. */
  initialLr: number;
  /** The lr at the end of the warmup, where the decay starts. */
  maxLr: number;
  /** The lr after the decay, held from then on. */
  endLr: number;
  /** Steps of linear warmup initialLr → maxLr (an integer ≥ 0; 0: none). */
  warmupSteps: number;
  /** Steps of decay maxLr → endLr after the warmup (an integer ≥ 0; 0: none, maxLr is held). */
  decaySteps: number;
  /** The decay's shape: 'cosine' (Model Zoo's CosineDecay; the default) or 'linear' (a second Linear phase). */
  decay?: 'cosine' | 'linear';
}

/**
 * The lr at `step` of Cerebras Model Zoo's schedule: a Linear warmup initialLr → maxLr over warmupSteps,
 * then a CosineDecay (or Linear) maxLr → endLr over decaySteps, then endLr held.
 */
export function warmupThenDecayLr(step: number, opts: WarmupThenDecayOptions): number {
  const o = checkWarmupThenDecay('warmupThenDecayLr', opts);
  checkStep('warmupThenDecayLr', step);
  return warmupThenDecayRate(step, o);
}

// Written as the trainer has always computed it (bit for bit: its losses must not move), each phase
// a straight line or a half cosine between its two end rates:
//   warmup:  initial + (max − initial)·step / warmup
//   cosine:  end + (max − end)·½(1 + cos(π·t / decay)),   t = step − warmup
//   linear:  max + (end − max)·t / decay
function warmupThenDecayRate(step: number, o: Required<WarmupThenDecayOptions>): number {
  if (step < o.warmupSteps) return o.initialLr + ((o.maxLr - o.initialLr) * step) / o.warmupSteps;
  const t = step - o.warmupSteps;
  if (o.decaySteps <= 0) return o.maxLr;
  if (t >= o.decaySteps) return o.endLr;
  if (o.decay === 'linear') return o.maxLr + ((o.endLr - o.maxLr) * t) / o.decaySteps;
  return o.endLr + (o.maxLr - o.endLr) * 0.5 * (1 + Math.cos((Math.PI * t) / o.decaySteps));
}

function checkWarmupThenDecay(op: string, opts: WarmupThenDecayOptions): Required<WarmupThenDecayOptions> {
  if (typeof opts !== 'object' || opts === null) throw new Error(`${op}: expected options { initialLr, maxLr, endLr, warmupSteps, decaySteps }`);
  const { initialLr, maxLr, endLr, warmupSteps, decaySteps, decay = 'cosine' } = opts;
  for (const [name, lr] of [['initialLr', initialLr], ['maxLr', maxLr], ['endLr', endLr]] as const) {
    if (typeof lr !== 'number' || !Number.isFinite(lr) || lr < 0) throw new Error(`${op}: ${name} must be a finite number ≥ 0, got ${lr}`);
  }
  checkWarmup(op, warmupSteps);
  if (typeof decaySteps !== 'number' || !Number.isInteger(decaySteps) || decaySteps < 0) throw new Error(`${op}: decaySteps must be an integer ≥ 0, got ${decaySteps}`);
  if (decay !== 'cosine' && decay !== 'linear') throw new Error(`${op}: decay must be 'cosine' or 'linear', got ${JSON.stringify(decay)}`);
  return { initialLr, maxLr, endLr, warmupSteps, decaySteps, decay };
}

/**
 * Cerebras Model Zoo's schedule (see warmupThenDecayLr): linear warmup, then cosine or linear decay,
 * then flat. Its rates are absolute, as in a Model Zoo config: every group gets the same lr, whatever
 * lr it was made with.
 */
export class WarmupThenDecay extends LrScheduler {
  /** The schedule's rates and phase lengths. */
  readonly options: Readonly<Required<WarmupThenDecayOptions>>;

  /** Attaches the schedule and sets every group's lr to initialLr (the lr of step 0). */
  constructor(optimizer: SchedulableOptimizer, opts: WarmupThenDecayOptions) {
    const o = checkWarmupThenDecay('WarmupThenDecay', opts);
    super('WarmupThenDecay', optimizer, (step) => warmupThenDecayRate(step, o));
    this.options = o;
  }
}
