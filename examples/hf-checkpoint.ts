// Loading a Hugging Face checkpoint folder (config.json + model.safetensors) and generating from it.
// Run: pnpm tsx examples/hf-checkpoint.ts
//
// The folder is the llama-hf-tiny test fixture: a 2-layer LLaMA with random weights, written by
// transformers' `LlamaForCausalLM.save_pretrained`, together with the logits and loss that PyTorch
// computed for a fixed batch (reference.safetensors, reference.json). In Python the same steps are
//
//   model = transformers.LlamaForCausalLM.from_pretrained(dir)
//   model(input_ids, labels=labels).loss
//   model.generate(torch.tensor([prompt]), max_new_tokens=10, do_sample=False)

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadSafetensors } from '@tsgrad/tensor';
import { LlamaForCausalLM } from '@tsgrad/llama';

const dir = fileURLToPath(new URL('../packages/llama/test/fixtures/llama-hf-tiny/', import.meta.url));

const model = await LlamaForCausalLM.fromPretrained(dir);
const c = model.config;
console.log(`config: vocab ${c.vocabSize}, hidden ${c.hiddenSize}, ${c.numHiddenLayers} layers, ${c.numAttentionHeads} heads`);
// the parameter names are Hugging Face's, so the checkpoint loads without a mapping table
const names = model.namedParameters().map(([name]) => name);
console.log(`${names.length} tensors: ${names.slice(0, 3).join(', ')}, …, ${names[names.length - 1]}`);

// the loss on the fixture's batch, against the one PyTorch computed from the same file
const reference = JSON.parse(readFileSync(`${dir}/reference.json`, 'utf8'));
const batch = loadSafetensors(new Uint8Array(readFileSync(`${dir}/reference.safetensors`)));
const inputIds = batch.get('input_ids')!; // int32 [2, 12]
const { loss } = model.forward(inputIds, { labels: batch.get('labels')! });
const relative = Math.abs(loss!.item() - reference.loss) / reference.loss;
console.log(`loss: tsgrad ${loss!.item().toFixed(6)}, transformers ${reference.loss.toFixed(6)} (relative difference ${relative.toExponential(1)})`);
if (!(relative < 1e-4)) throw new Error('the loss differs from the transformers reference');

// greedy decoding (temperature 0): the prompt followed by the new ids, as Hugging Face returns them
const prompt: number[] = reference.generate.prompt;
const output = model.generate(prompt, { maxNewTokens: 10, temperature: 0 });
console.log(`prompt ${JSON.stringify(prompt)} → ${JSON.stringify(output)}`);
