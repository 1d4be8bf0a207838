/**
 * Tensors with reverse-mode autograd: creation, the `Tensor` class and its ops, the engine
 * (`backward`, `grad`, `noGrad`), `gradcheck`, custom ops (`defineOp`), `toDot`, and safetensors I/O.
 * Each op's forward and backward sit side by side in one file of ops/.
 * @module @tsgrad/tensor
 */

// creation
export { tensor, zeros, ones, full, zerosLike, onesLike, arange, randn, rand } from './create.js';
export type { CreateOptions, RandomOptions, NestedArray } from './create.js';
export { Generator, manualSeed, getDefaultGenerator } from './random.js';
export type { DType, FloatArray, Storage } from './dtype.js';
export { promoteTypes } from './dtype.js';
export { broadcastShapes, formatShape } from './shape.js';

// which kernels float32 ops run on
export { setBackend, getBackend, wasmSimdSupported } from './backend.js';
export type { Backend } from './backend.js';
// the wasm AdamW update, for @tsgrad/optim (its js loop stays there as the reference)
export { adamwStepWasm } from './wasm/adamw.js';

// the tensor
export { Tensor } from './tensor.js';
export type { TensorLike } from './tensor.js';

// ops that are not methods
export { cat, stack } from './ops/movement.js';
export { where, tril, triu, scatterAdd, indexSelect } from './ops/indexing.js';
export { softmax, logSoftmax, rmsNorm, crossEntropy, swiglu, rotary } from './ops/fused.js';
export type { CrossEntropyOptions } from './ops/fused.js';
export { attention } from './ops/attention.js';
export type { AttentionOptions } from './ops/attention.js';
export { matmul } from './ops/matmul.js';
export { sumToShape } from './ops/binary.js';
export { flatBuffer } from './ops/common.js';

// autograd
export { noGrad, isGradEnabled, recordOp, incrementVersion } from './autograd/graph.js';
export type { GradFn, BackwardFn, SavedVersion, VersionCounter } from './autograd/graph.js';
export { grad } from './autograd/engine.js';
export type { GradOptions } from './autograd/engine.js';
export { gradcheck, gradgradcheck } from './autograd/gradcheck.js';
export type { GradcheckOptions } from './autograd/gradcheck.js';
export { defineOp } from './autograd/function.js';
export { checkpoint } from './autograd/checkpoint.js';
export type { OpResult } from './autograd/function.js';
export { toDot } from './autograd/dot.js';
export { setStoragePool, storagePoolStats } from './storage-pool.js';
export { withReleaseScope, keep } from './release-scope.js';
export type { ReleaseScopeOptions } from './release-scope.js';
export type { StoragePoolOptions } from './storage-pool.js';

// io
export { loadSafetensors, loadSafetensorsWithMetadata, saveSafetensors, saveSafetensorsParts } from './io/safetensors.js';
