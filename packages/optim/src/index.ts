/**
 * Optimizers (`AdamW`, `SGD`), gradient clipping (`clipGradNorm`) and learning-rate schedules
 * (`CosineWithWarmup`, ...), matching PyTorch and Hugging Face.
 * @module @tsgrad/optim
 */

// optimizers
export { Optimizer } from './optimizer.js';
export type {
  BaseHyper, NonFinitePolicy, OptimizerStateDict, ParamGroup, ParamGroupInput, ParamInput, ParamStateDict, ParamsOrGroups, TypedOptimizerStateDict, TypedParamStateDict,
} from './optimizer.js';
export { AdamW } from './adamw.js';
export type { AdamWHyper, AdamWOptions, AdamWState } from './adamw.js';
export { SGD } from './sgd.js';
export type { SGDHyper, SGDOptions, SGDState } from './sgd.js';

// gradient clipping
export { clipGradNorm } from './optimizer.js';
export type { ClipGradNormOptions } from './optimizer.js';

// schedules
export { LrScheduler, CosineWithWarmup, LinearWarmup, ConstantLr, WarmupThenDecay, cosineWithWarmupLr, warmupThenDecayLr } from './schedule.js';
export type {
  CosineWithWarmupLrOptions, CosineWithWarmupOptions, LinearWarmupOptions, SchedulableOptimizer, SchedulerStateDict, WarmupThenDecayOptions,
} from './schedule.js';
