import '@tensorflow/tfjs';
import { LlamaForCausalLM, llamaPreset } from '../packages/llama/src/index.js';
import { Generator } from '../packages/tensor/src/index.js';
const config = llamaPreset('bench');
const model = new LlamaForCausalLM(config, { generator: new Generator(1) });
model.eval();
const prompt = Array.from({ length: 16 }, (_, i) => (i * 37) % 256);
const reps = Number(process.argv[2] ?? 8);
const r: number[] = [];
for (let s = 0; s < reps; s++) {
  const t = performance.now();
  model.generate(prompt, { maxNewTokens: 64 });
  r.push(64 / ((performance.now() - t) / 1000));
}
console.log(r.map((x) => x.toFixed(0)).join(' '));
