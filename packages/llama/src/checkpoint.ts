// Hugging Face checkpoint folders through the FileSource: config.json plus model.safetensors, or a
// sharded model.safetensors.index.json. Loading fails loudly and specifically: the file, the
// tensor, the shapes that differ (checked from the headers before the model is allocated), a
// non-finite weight.

import { type Tensor, formatShape, loadSafetensors, saveSafetensors, saveSafetensorsParts } from '@tsgrad/tensor';
import type { Module } from '@tsgrad/nn';
import { getFileSource } from './file-source.js';
import { type LlamaConfig, llamaConfigFromHF, llamaConfigToHF, resolvedHeadDim } from './config.js';

/**
 * A model whose parameters carry Hugging Face names, built from a config: LlamaForCausalLM, passed
 * in (not imported) so that model.ts can delegate to this file without the two importing each other.
 */
export interface PretrainedModel extends Module {
  /** The configuration written to config.json. */
  readonly config: LlamaConfig;
}

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

/** The weight files of a checkpoint folder, as bytes: one model.safetensors or the shards an index lists. */
async function readWeightFiles(dir: string): Promise<Array<{ path: string; bytes: Uint8Array }>> {
  const fs = getFileSource();
  const indexPath = fs.join(dir, 'model.safetensors.index.json');
  const singlePath = fs.join(dir, 'model.safetensors');
  if (await fs.exists(singlePath)) return [{ path: singlePath, bytes: await fs.read(singlePath) }];
  if (!(await fs.exists(indexPath))) throw new Error(`fromPretrained: ${dir} has neither model.safetensors nor model.safetensors.index.json`);
  const index = (await readJson(indexPath)) as { weight_map?: Record<string, string> };
  if (!index || typeof index.weight_map !== 'object' || index.weight_map === null) {
    throw new Error(`fromPretrained: ${indexPath} has no weight_map`);
  }
  const files = [];
  for (const shard of new Set(Object.values(index.weight_map))) {
    const path = fs.join(dir, shard);
    files.push({ path, bytes: await fs.read(path) });
  }
  return files;
}

function parseWeightFiles(dir: string, files: Array<{ path: string; bytes: Uint8Array }>): Map<string, { tensor: Tensor; path: string }> {
  const all = new Map<string, { tensor: Tensor; path: string }>();
  for (const { path, bytes } of files) {
    let tensors: Map<string, Tensor>;
    try {
      tensors = loadSafetensors(bytes);
    } catch (err) {
      throw new Error(`fromPretrained: ${path}: ${(err as Error).message}`);
    }
    for (const [name, tensor] of tensors) all.set(name, { tensor, path });
  }
  return all;
}

async function checkIndexComplete(dir: string, all: Map<string, unknown>): Promise<void> {
  const fs = getFileSource();
  const indexPath = fs.join(dir, 'model.safetensors.index.json');
  if (await fs.exists(fs.join(dir, 'model.safetensors'))) return;
  const index = (await readJson(indexPath)) as { weight_map: Record<string, string> };
  for (const [name, shard] of Object.entries(index.weight_map)) {
    if (!all.has(name)) throw new Error(`fromPretrained: ${indexPath} lists ${name} in ${shard}, but that shard does not contain it`);
  }
}

/** Every tensor of a checkpoint folder, from one safetensors file or the shards an index lists. */
export async function readCheckpointTensors(dir: string): Promise<Map<string, Tensor>> {
  const all = parseWeightFiles(dir, await readWeightFiles(dir));
  await checkIndexComplete(dir, all);
  return new Map([...all].map(([name, { tensor }]) => [name, tensor]));
}

/** The shape of every parameter a model built from config has, by Hugging Face name (no allocation). */
export function expectedParameterShapes(config: LlamaConfig): Map<string, number[]> {
  const H = config.hiddenSize;
  const D = resolvedHeadDim(config);
  const shapes = new Map<string, number[]>();
  shapes.set('model.embed_tokens.weight', [config.vocabSize, H]);
  for (let i = 0; i < config.numHiddenLayers; i++) {
    const p = `model.layers.${i}.`;
    shapes.set(`${p}self_attn.q_proj.weight`, [config.numAttentionHeads * D, H]);
    shapes.set(`${p}self_attn.k_proj.weight`, [config.numKeyValueHeads * D, H]);
    shapes.set(`${p}self_attn.v_proj.weight`, [config.numKeyValueHeads * D, H]);
    shapes.set(`${p}self_attn.o_proj.weight`, [H, config.numAttentionHeads * D]);
    shapes.set(`${p}mlp.gate_proj.weight`, [config.intermediateSize, H]);
    shapes.set(`${p}mlp.up_proj.weight`, [config.intermediateSize, H]);
    shapes.set(`${p}mlp.down_proj.weight`, [H, config.intermediateSize]);
    shapes.set(`${p}input_layernorm.weight`, [H]);
    shapes.set(`${p}post_attention_layernorm.weight`, [H]);
  }
  shapes.set('model.norm.weight', [H]);
  if (!config.tieWordEmbeddings) shapes.set('lm_head.weight', [config.vocabSize, H]);
  return shapes;
}

// The tensor names and shapes a safetensors file declares, from its header alone; null when the
// header is unreadable (loadSafetensors then reports exactly what is wrong).
function headerShapes(bytes: Uint8Array): Map<string, number[]> | null {
  if (bytes.length < 8) return null;
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  if (!Number.isSafeInteger(n) || 8 + n > bytes.length) return null;
  let header: unknown;
  try {
    header = JSON.parse(decoder.decode(bytes.subarray(8, 8 + n)));
  } catch {
    return null;
  }
  if (!header || typeof header !== 'object') return null;
  const shapes = new Map<string, number[]>();
  for (const [name, entry] of Object.entries(header as Record<string, { shape?: unknown }>)) {
    if (name === '__metadata__') continue;
    if (!entry || !Array.isArray(entry.shape)) return null;
    shapes.set(name, entry.shape as number[]);
  }
  return shapes;
}

const ignoredName = (config: LlamaConfig, name: string) =>
  name.endsWith('rotary_emb.inv_freq') || (config.tieWordEmbeddings && name === 'lm_head.weight');

// Compares every tensor the headers declare with the shapes config.json implies, before a model of
// that size is allocated: a config that lies about sizes must fail in milliseconds, not after
// gigabytes.
function checkShapesAgainstConfig(dir: string, config: LlamaConfig, files: Array<{ path: string; bytes: Uint8Array }>): void {
  const expected = expectedParameterShapes(config);
  const found = new Map<string, { shape: number[]; path: string }>();
  for (const { path, bytes } of files) {
    const shapes = headerShapes(bytes);
    if (!shapes) return;
    for (const [name, shape] of shapes) if (!ignoredName(config, name)) found.set(name, { shape, path });
  }
  const problems: string[] = [];
  for (const [name, shape] of expected) {
    const f = found.get(name);
    if (!f) problems.push(`${name} is missing (config.json implies shape ${formatShape(shape)})`);
    else if (f.shape.length !== shape.length || f.shape.some((d, i) => d !== shape[i])) {
      problems.push(`${f.path}: ${name} has shape ${formatShape(f.shape)}, but config.json implies ${formatShape(shape)}`);
    }
  }
  for (const [name, f] of found) if (!expected.has(name)) problems.push(`${f.path}: ${name} is not a parameter of the model config.json describes`);
  if (problems.length > 0) {
    const more = problems.length > 8 ? `\n  … and ${problems.length - 8} more` : '';
    throw new Error(`fromPretrained: the weights in ${dir} do not fit its config.json:\n  ${problems.slice(0, 8).join('\n  ')}${more}`);
  }
}

// A NaN or infinite weight makes every output NaN (generate would print NUL bytes): refuse it by name.
function checkFinite(name: string, path: string, t: Tensor): void {
  if (t.dtype === 'int32') return;
  const data = t.toTypedArray();
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (!Number.isFinite(v)) {
      throw new Error(`fromPretrained: ${path} holds a non-finite weight: ${name} ${formatShape(t.shape)} has ${v} at flat index ${i}; the checkpoint is damaged or its run diverged`);
    }
  }
}

/** Loads config.json and the weights of a Hugging Face LLaMA folder (F32, F16 or BF16) into float32, as a new Model(config). */
export async function loadPretrained<M extends PretrainedModel>(dir: string, Model: new (config: LlamaConfig) => M): Promise<M> {
  const fs = getFileSource();
  const config = llamaConfigFromHF(await readJson(fs.join(dir, 'config.json')));
  const files = await readWeightFiles(dir);
  checkShapesAgainstConfig(dir, config, files);
  const tensors = parseWeightFiles(dir, files);
  await checkIndexComplete(dir, tensors);
  const state = new Map<string, Tensor>();
  for (const [name, { tensor: t, path }] of tensors) {
    // rotary inv_freq buffers appear in some older checkpoints; they are recomputed here
    // a tied checkpoint may still carry lm_head.weight (a copy of the embedding): not a separate parameter here
    if (ignoredName(config, name)) continue;
    checkFinite(name, path, t);
    state.set(name, t.dtype === 'float32' ? t : t.to('float32'));
  }
  const model = new Model(config);
  try {
    model.loadStateDict(state, { strict: true });
  } catch (err) {
    throw new Error(`fromPretrained: the weights in ${dir} do not fit its config.json: ${(err as Error).message}`);
  }
  return model;
}

/** Writes config.json and model.safetensors (float32), each atomically. */
export async function savePretrained(model: PretrainedModel, dir: string): Promise<void> {
  const fs = getFileSource();
  const tensors = new Map<string, Tensor>();
  for (const [name, p] of model.namedParameters()) tensors.set(name, p);
  const weightsPath = fs.join(dir, 'model.safetensors');
  // streamed from the parameters' own storage where the source can: no copy of the file in memory
  if (fs.writeParts) await fs.writeParts(weightsPath, saveSafetensorsParts(tensors, { format: 'pt' }));
  else await fs.write(weightsPath, saveSafetensors(tensors, { format: 'pt' }));
  await fs.write(fs.join(dir, 'config.json'), new TextEncoder().encode(JSON.stringify(llamaConfigToHF(model.config), null, 2) + '\n'));
}
