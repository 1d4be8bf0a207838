/**
 * Neural-network building blocks on @tsgrad/tensor: `Module` and `Parameter`, the layers LLaMA is
 * made of (`Linear`, `Embedding`, `RMSNorm`, `RotaryEmbedding`, `MLP`, `Attention`), initializers,
 * and functional forms (`crossEntropy`, `scaledDotProductAttention`, ...).
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
export { MLP } from './mlp.js';
export type { ProjectionOptions } from './mlp.js';
export { Attention, createKVCache } from './attention.js';
export type { KVCache, AttentionLayerOptions, AttentionForwardOptions } from './attention.js';

// initialization
export { normal_, ones_, zeros_, DEFAULT_INIT_STD } from './init.js';

// functional
export { crossEntropy, silu, softmax, scaledDotProductAttention } from './functional.js';
export type { CrossEntropyOptions, AttentionOptions } from './functional.js';
