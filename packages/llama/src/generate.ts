// Generation with a KV cache: the prompt is run once, then each new token is one position of
// compute that appends its keys and values to every layer's cache.

import { Generator, Tensor, noGrad } from '@tsgrad/tensor';
import type { GenerateOptions, LlamaForCausalLM } from './model.js';
import { checkSamplingOptions, sampleToken } from './sampling.js';

/** The prompt followed by the generated ids (see LlamaForCausalLM.generate). */
export function generateTokens(model: LlamaForCausalLM, promptIds: number[], opts: GenerateOptions): number[] {
  const { maxNewTokens, seed = 0, stopTokens = [] } = opts;
  const V = model.config.vocabSize;
  if (!Array.isArray(promptIds) || promptIds.length === 0) throw new Error('generate: the prompt must be a non-empty array of token ids');
  for (const id of promptIds) {
    if (!Number.isInteger(id) || id < 0 || id >= V) throw new Error(`generate: prompt token id ${id} is out of range for vocabSize ${V}`);
  }
  if (!Number.isInteger(maxNewTokens) || maxNewTokens < 0) throw new Error(`generate: maxNewTokens must be a non-negative integer, got ${maxNewTokens}`);
  checkSamplingOptions(opts);
  const limit = model.config.maxPositionEmbeddings;
  if (promptIds.length > limit) throw new Error(`generate: the prompt has ${promptIds.length} tokens, more than maxPositionEmbeddings ${limit}`);
  const generator = new Generator(seed);
  const out = [...promptIds];
  const wasTraining = model.training;
  model.eval();
  try {
    noGrad(() => {
      const caches = model.createCaches();
      let input = new Tensor(Int32Array.from(promptIds), [1, promptIds.length]);
      for (let n = 0; n < maxNewTokens; n++) {
        const { logits } = model.forward(input, { kvCaches: caches }); // [1, T, V]
        const T = logits.shape[1]!;
        const last = logits.narrow(1, T - 1, 1).toTypedArray(); // [V]
        const next = sampleToken(last, opts, generator);
        out.push(next);
        opts.onToken?.(next);
        if (stopTokens.includes(next) || out.length >= limit) break;
        input = new Tensor(Int32Array.of(next), [1, 1]);
      }
    });
  } finally {
    model.train(wasTraining);
  }
  return out;
}
