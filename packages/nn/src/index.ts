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
export { Linear, Embedding, RMSNorm, RotaryEmbedding } from './layers.js';
export type { LinearOptions, EmbeddingOptions, RMSNormOptions, RotaryOptions, RotaryTables } from './layers.js';

// initialization
export { normal_, ones_, zeros_, DEFAULT_INIT_STD } from './init.js';

// functional
export { crossEntropy, silu, softmax, scaledDotProductAttention } from './functional.js';
export type { CrossEntropyOptions, AttentionOptions } from './functional.js';
