// Test helpers: seeded random tensors and element-wise comparison (@tsgrad/nn's, shared: the layer
// tests here are the ones that moved from nn), and the fixture README's relative error (the
// Hugging Face comparisons).

import type { Tensor } from '@tsgrad/tensor';
import { expect } from 'vitest';
import type { LlamaConfig } from '../src/index.js';

export { expectClose, maxAbsDiff, randomTensor } from '../../nn/test/helpers.js';

/** A tiny grouped-query config (hidden 8, 2 layers, 2 heads over 1 kv head, context 16) with large init for visible gradients; `over` replaces fields. */
export function tinyConfig(over: Partial<LlamaConfig> = {}): LlamaConfig {
  return {
    vocabSize: 16, hiddenSize: 8, intermediateSize: 12, numHiddenLayers: 2, numAttentionHeads: 2,
    numKeyValueHeads: 1, maxPositionEmbeddings: 16, rmsNormEps: 1e-6, ropeTheta: 10000,
    tieWordEmbeddings: false, initializerRange: 0.5, ...over,
  };
}

/** max |a − b| / max |b| over two tensors of the same shape: the fixture README's relative error. */
export function relativeError(a: Tensor, b: Tensor): number {
  expect([...a.shape]).toEqual([...b.shape]);
  const x = a.toTypedArray();
  const y = b.toTypedArray();
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < y.length; i++) {
    diff = Math.max(diff, Math.abs(x[i]! - y[i]!));
    scale = Math.max(scale, Math.abs(y[i]!));
  }
  return diff / scale;
}
