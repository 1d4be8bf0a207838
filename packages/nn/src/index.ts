/**
 * Neural-network building blocks on @tsgrad/tensor: `Module` and `Parameter`, general layers
 * (`Linear`, `Embedding`, `RMSNorm`, `RotaryEmbedding`), initializers, and functional forms
 * (`crossEntropy`, `scaledDotProductAttention`, ...). LLaMA's own attention and MLP live in
 * @tsgrad/llama's model.ts.
 * @module @tsgrad/nn
 */

// modules
export { Module, Parameter, ModuleList } from './module.js';
export type { LoadStateDictResult, StateDictLike, BufferOptions } from './module.js';

// layers
export { Linear } from './linear.js';
export type { LinearOptions } from './linear.js';
export { Embedding } from './embedding.js';
export type { EmbeddingOptions } from './embedding.js';
export { RMSNorm } from './rmsnorm.js';
export type { RMSNormOptions } from './rmsnorm.js';
export { RotaryEmbedding } from './rotary.js';
export type { RotaryOptions, RotaryTables } from './rotary.js';

// initialization
export { normal_, ones_, zeros_, DEFAULT_INIT_STD } from './init.js';

// functional
export { crossEntropy, silu, softmax, scaledDotProductAttention } from './functional.js';
export type { CrossEntropyOptions, AttentionOptions } from './functional.js';
