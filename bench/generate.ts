// Greedy generation with a KV cache: new tokens per second for `maxNewTokens` tokens after a
// prompt (the prompt's own forward pass is included in the time, as a user would see it).
// tsgrad: model.generate(prompt, { maxNewTokens }); tfjs: TfLlama.generate, the same loop with a
// per-layer tf.concat cache. Every model holds the same weights; the prompt's logits are compared
// before timing.

import * as tf from '@tensorflow/tfjs';
import { type LlamaConfig, LlamaForCausalLM } from '@tsgrad/llama';
import { Generator, noGrad } from '@tsgrad/tensor';
import type { Row } from './table.js';
import { TfLlama } from './tfjs-llama.js';
import { useBackend } from './tfjs-env.js';
import { type Contender, type ContenderName, alternate, checkClose, median, seededInts } from './timing.js';
import { namedWeights } from './train-step.js';

/** Options of benchGenerate. */
export interface GenerateBenchOptions {
  /** The model shape. */
  config: LlamaConfig;
  /** Tokens in the prompt. */
  promptLength: number;
  /** Tokens to generate. */
  maxNewTokens: number;
  /** Samples per contender. */
  samples: number;
  /** Untimed runs per contender before the samples (default 3). */
  warmupRuns?: number;
  /** Which contenders to time (default all three). */
  contenders?: readonly ContenderName[];
}

/** What benchGenerate measured. */
export interface GenerateResult {
  /** Median new tokens per second per contender. */
  tokensPerSecond: Partial<Record<ContenderName, number>>;
  /** Whether each tfjs contender produced tsgrad's tokens (greedy; near-ties may differ). */
  sameTokens: Partial<Record<ContenderName, boolean>>;
}

/** Times greedy generation for every contender; aborts if the prompt logits disagree. */
export async function benchGenerate(opts: GenerateBenchOptions): Promise<GenerateResult> {
  const names = opts.contenders ?? ['tsgrad', 'tfjs-cpu', 'tfjs-wasm'];
  const prompt = Array.from(seededInts(opts.promptLength, opts.config.vocabSize, 31));
  const model = new LlamaForCausalLM(opts.config, { generator: new Generator(1) });
  model.eval();
  const weights = namedWeights(model);
  const ourLogits = noGrad(() => model.forward([prompt]).logits.toTypedArray()); // [1, T, V]

  const outputs = new Map<ContenderName, number[]>();
  const peers: TfLlama[] = [];
  const contenders: Contender[] = [];
  for (const name of names) {
    if (name === 'tsgrad') {
      contenders.push({ name, run: () => { outputs.set(name, model.generate(prompt, { maxNewTokens: opts.maxNewTokens })); } });
      continue;
    }
    const backend = name === 'tfjs-cpu' ? 'cpu' : 'wasm';
    await useBackend(backend);
    const peer = new TfLlama(opts.config, weights);
    peers.push(peer);
    const logits = tf.tidy(() => peer.forward(tf.tensor2d(prompt, [1, prompt.length], 'int32')).dataSync());
    checkClose(`generate prompt logits: tsgrad vs ${name}`, ourLogits, logits, 1e-4, 'generate-logits');
    contenders.push({
      name,
      before: () => useBackend(backend),
      run: () => { outputs.set(name, peer.generate(prompt, opts.maxNewTokens)); },
    });
  }
  // a few untimed runs each: generation's many small kernels take V8 several runs to optimize
  const times = await alternate(contenders, { samples: opts.samples, warmupRuns: opts.warmupRuns ?? 3 });
  for (const p of peers) p.dispose();

  const tokensPerSecond: Partial<Record<ContenderName, number>> = {};
  for (const [name, ms] of times) tokensPerSecond[name] = opts.maxNewTokens / (median(ms) / 1e3);
  const sameTokens: Partial<Record<ContenderName, boolean>> = {};
  const ours = outputs.get('tsgrad');
  for (const [name, out] of outputs) {
    if (name !== 'tsgrad' && ours) sameTokens[name] = out.length === ours.length && out.every((t, i) => t === ours[i]);
  }
  return { tokensPerSecond, sameTokens };
}

/** The generation row. */
export function generateRows(r: GenerateResult, opts: GenerateBenchOptions): Row[] {
  const section = `generation with KV cache, batch 1, greedy, one thread (new tokens/s)`;
  return [{ section, benchmark: `${opts.promptLength}-token prompt + ${opts.maxNewTokens} new tokens`, values: r.tokensPerSecond }];
}
