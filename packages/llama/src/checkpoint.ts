// Hugging Face checkpoint folders through the FileSource: config.json plus model.safetensors, or a
// sharded model.safetensors.index.json. Loading fails loudly and specifically: the file, the
// tensor, the shapes that differ.

import { type Tensor, loadSafetensors, saveSafetensors } from '@tsgrad/tensor';
import { getFileSource } from './file-source.js';
import { llamaConfigFromHF, llamaConfigToHF } from './config.js';
import { LlamaForCausalLM } from './model.js';

const decoder = new TextDecoder();

async function readJson(path: string): Promise<unknown> {
  const fs = getFileSource();
  const text = decoder.decode(await fs.read(path));
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`fromPretrained: ${path} is not valid JSON: ${(err as Error).message}`);
  }
}

async function readSafetensors(path: string): Promise<Map<string, Tensor>> {
  const bytes = await getFileSource().read(path);
  try {
    return loadSafetensors(bytes);
  } catch (err) {
    throw new Error(`fromPretrained: ${path}: ${(err as Error).message}`);
  }
}

/** Every tensor of a checkpoint folder, from one safetensors file or the shards an index lists. */
async function readCheckpointTensors(dir: string): Promise<Map<string, Tensor>> {
  const fs = getFileSource();
  const indexPath = fs.join(dir, 'model.safetensors.index.json');
  const singlePath = fs.join(dir, 'model.safetensors');
  if (await fs.exists(singlePath)) return readSafetensors(singlePath);
  if (!(await fs.exists(indexPath))) throw new Error(`fromPretrained: ${dir} has neither model.safetensors nor model.safetensors.index.json`);
  const index = (await readJson(indexPath)) as { weight_map?: Record<string, string> };
  if (!index || typeof index.weight_map !== 'object' || index.weight_map === null) {
    throw new Error(`fromPretrained: ${indexPath} has no weight_map`);
  }
  const all = new Map<string, Tensor>();
  for (const shard of new Set(Object.values(index.weight_map))) {
    for (const [name, t] of await readSafetensors(fs.join(dir, shard))) all.set(name, t);
  }
  for (const [name, shard] of Object.entries(index.weight_map)) {
    if (!all.has(name)) throw new Error(`fromPretrained: ${indexPath} lists ${name} in ${shard}, but that shard does not contain it`);
  }
  return all;
}

/** Loads config.json and the weights of a Hugging Face LLaMA folder (F32, F16 or BF16) into float32. */
export async function loadPretrained(dir: string): Promise<LlamaForCausalLM> {
  const fs = getFileSource();
  const config = llamaConfigFromHF(await readJson(fs.join(dir, 'config.json')));
  const tensors = await readCheckpointTensors(dir);
  const model = new LlamaForCausalLM(config);
  const state = new Map<string, Tensor>();
  for (const [name, t] of tensors) {
    // rotary inv_freq buffers appear in some older checkpoints; they are recomputed here
    if (name.endsWith('rotary_emb.inv_freq')) continue;
    // a tied checkpoint may still carry lm_head.weight (a copy of the embedding): not a separate parameter here
    if (config.tieWordEmbeddings && name === 'lm_head.weight') continue;
    state.set(name, t.dtype === 'float32' ? t : t.to('float32'));
  }
  try {
    model.loadStateDict(state, { strict: true });
  } catch (err) {
    throw new Error(`fromPretrained: the weights in ${dir} do not fit its config.json: ${(err as Error).message}`);
  }
  return model;
}

/** Writes config.json and model.safetensors (float32), each atomically. */
export async function savePretrained(model: LlamaForCausalLM, dir: string): Promise<void> {
  const fs = getFileSource();
  const tensors = new Map<string, Tensor>();
  for (const [name, p] of model.namedParameters()) tensors.set(name, p);
  await fs.write(fs.join(dir, 'model.safetensors'), saveSafetensors(tensors, { format: 'pt' }));
  await fs.write(fs.join(dir, 'config.json'), new TextEncoder().encode(JSON.stringify(llamaConfigToHF(model.config), null, 2) + '\n'));
}
