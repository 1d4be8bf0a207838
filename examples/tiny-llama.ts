// A tiny LLaMA learns a few sentences byte by byte, then continues a prompt.
// Run: pnpm tsx examples/tiny-llama.ts    (about 10 seconds)
//
// The same model class loads Hugging Face checkpoints (see hf-checkpoint.ts); `pnpm train` is the
// full version of this loop: a YAML config, Moby Dick, evaluation, checkpoints.

import { Generator, tensor } from '@tsgrad/tensor';
import { AdamW, CosineWithWarmup, clipGradNorm } from '@tsgrad/optim';
import { ByteTokenizer, type LlamaConfig, LlamaForCausalLM, countParameters } from '@tsgrad/llama';

const text = [
  'The cat sat on the mat. The dog sat on the log. ',
  'The cat saw the dog, and the dog saw the cat. ',
  'A bird sang in the tree, and the cat looked up. ',
].join('').repeat(4);

const config: LlamaConfig = {
  vocabSize: 256, // one token per byte: ByteTokenizer needs no training
  hiddenSize: 64, intermediateSize: 176, numHiddenLayers: 2,
  numAttentionHeads: 4, numKeyValueHeads: 2, // grouped-query attention: 2 query heads per key/value head
  maxPositionEmbeddings: 64, rmsNormEps: 1e-6, ropeTheta: 10000, tieWordEmbeddings: false,
};
const B = 4; // sequences per batch
const T = 32; // tokens per sequence
const STEPS = 150;

const tokenizer = new ByteTokenizer();
const ids = tokenizer.encode(text);
const gen = new Generator(0);
const model = new LlamaForCausalLM(config, { generator: gen });
console.log(`${countParameters(config)} parameters, ${ids.length} tokens of text`);

const opt = new AdamW(model.parameters(), { lr: 3e-3, betas: [0.9, 0.95], weightDecay: 0.1 });
const sched = new CosineWithWarmup(opt, { warmupSteps: 20, totalSteps: STEPS, minLrRatio: 0.1 });

// B windows of T tokens at random offsets; forward shifts the labels (position t predicts t + 1)
function batch(): number[][] {
  return Array.from({ length: B }, () => {
    const start = Math.floor(gen.uniform() * (ids.length - T));
    return ids.slice(start, start + T);
  });
}

const started = performance.now();
for (let step = 1; step <= STEPS; step++) {
  const inputIds = tensor(batch(), { dtype: 'int32' }); // [B, T]
  const { loss } = model.forward(inputIds, { labels: inputIds });
  opt.zeroGrad();
  loss!.backward();
  clipGradNorm(model.parameters(), 1.0);
  opt.step();
  sched.step();
  if (step === 1 || step % 50 === 0) console.log(`step ${String(step).padStart(3)}  loss ${loss!.item().toFixed(4)}`);
}
console.log(`trained in ${((performance.now() - started) / 1000).toFixed(1)} s`);

const prompt = 'The dog';
const out = model.generate(tokenizer.encode(prompt), { maxNewTokens: 60, temperature: 0.5, seed: 1 });
console.log(`sample: ${JSON.stringify(tokenizer.decode(out))}`);
