// The platform-independent surface of @tsgrad/llama, shared by the Node and browser entries.

export {
  LlamaForCausalLM, LlamaModel, LlamaDecoderLayer, LlamaAttention, LlamaMLP,
} from './model.js';
export type {
  LlamaInitOptions, CausalLMOutput, CausalLMForwardOptions, DecoderInputs, LlamaAttentionOptions,
  LlamaAttentionForwardOptions, ProjectionOptions,
} from './model.js';
export { KVCache } from './kv-cache.js';
export type { GenerateOptions, BatchGenerateOptions } from './generate.js';
export {
  llamaConfigFromHF, llamaConfigToHF, llamaPreset, countParameters, estimateTrainingMemory, kernelStagingBytes,
  ffnHiddenSize, flopsPerToken, trainingFlopsPerStep, resolvedHeadDim, validateLlamaConfig,
} from './config.js';
export type { LlamaConfig, LlamaPresetName, TrainingMemory } from './config.js';
export { ByteTokenizer, createStreamingDecoder } from './tokenizer.js';
export type { ByteTokenizerJSON, StreamingDecoder } from './tokenizer.js';
export { Tokenizer, byteLevelTokenizer } from './hf-tokenizer.js';
export type { TokenizerJSON, AddedTokenJSON, EncodeOptions, DecodeOptions } from './hf-tokenizer.js';
export type { BpeModelJSON } from './bpe.js';
export { trainBpeTokenizer } from './bpe-trainer.js';
export type { TrainBpeOptions } from './bpe-trainer.js';
export { sampleToken } from './sampling.js';
export type { SamplingOptions } from './sampling.js';
export { setFileSource, getFileSource, fetchFileSource } from './file-source.js';
export type { FileSource } from './file-source.js';
