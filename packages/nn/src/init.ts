// In-place initializers, as torch.nn.init: they overwrite a tensor's values under noGrad, so they
// work on parameters that require grad. Hugging Face initializes LLaMA with normal(0, 0.02) for
// Linear and Embedding weights and ones for RMSNorm weights.

import { type Generator, type Tensor, getDefaultGenerator, noGrad, randn } from '@tsgrad/tensor';

/** The default standard deviation of Linear and Embedding weights (Hugging Face's initializer_range). */
export const DEFAULT_INIT_STD = 0.02;

/** Fills t in place with samples of normal(mean, std²) drawn from generator (default: the default generator); returns t. */
export function normal_(t: Tensor, std = 1, generator: Generator = getDefaultGenerator(), mean = 0): Tensor {
  if (!(std >= 0)) throw new Error(`normal_: std must be a non-negative number, got ${std}`);
  // draw in float64 and scale before the one rounding to t's dtype
  const samples = randn(t.shape, { generator, dtype: 'float64' });
  noGrad(() => t.copy_(samples.mul(std).add(mean)));
  return t;
}

/** Fills t in place with ones; returns t. */
export function ones_(t: Tensor): Tensor {
  noGrad(() => t.fill_(1));
  return t;
}

/** Fills t in place with zeros; returns t. */
export function zeros_(t: Tensor): Tensor {
  noGrad(() => t.fill_(0));
  return t;
}
