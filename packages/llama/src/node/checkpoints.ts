// Training checkpoints in model_dir: one folder per step, `checkpoint_<step>/`, holding a Hugging
// Face model folder (config.json, model.safetensors, tokenizer.json) plus the trainer's state
// (optimizer moments, schedule step, data generator). Each folder is written under a temporary
// name and renamed into place, so a run killed at any moment leaves the last checkpoint whole.

import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Tensor, loadSafetensors, saveSafetensors } from '@tsgrad/tensor';
import type { LlamaForCausalLM } from '../model.js';
import { Tokenizer } from '../hf-tokenizer.js';
import { writeTokenizerFiles } from './tokenizer-setup.js';
import { writeFileAtomic } from './fs-source.js';

/** Everything besides weights and optimizer that a resumed run needs. */
export interface TrainerState {
  /** Optimizer steps completed. */
  step: number;
  /** State of the generator that draws training batches. */
  dataGenerator: number[];
  /** Tokens trained on so far. */
  tokensSeen: number;
  /** The config file the run was started with. */
  configSource: string;
}

const PREFIX = 'checkpoint_';
/** How many checkpoints to keep in model_dir (older ones are removed after a new one lands). */
const KEEP = 2;

/** The complete checkpoint folders in model_dir, oldest first. */
export function listCheckpoints(modelDir: string): Array<{ step: number; dir: string }> {
  if (!existsSync(modelDir)) return [];
  return readdirSync(modelDir)
    .map((name) => /^checkpoint_(\d+)$/.exec(name))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ step: Number(m[1]), dir: join(modelDir, m[0]) }))
    .filter((c) => existsSync(join(c.dir, 'trainer_state.json')))
    .sort((a, b) => a.step - b.step);
}

/** The newest complete checkpoint folder in model_dir, or null. */
export function latestCheckpoint(modelDir: string): string | null {
  const all = listCheckpoints(modelDir);
  return all.length > 0 ? all[all.length - 1]!.dir : null;
}

// Large numeric arrays in the optimizer state go to safetensors (float64, exact for float32
// moments); the rest stays JSON with a reference in their place.
function splitState(value: unknown, path: string, tensors: Map<string, Tensor>): unknown {
  if (Array.isArray(value) && value.length > 64 && value.every((v) => typeof v === 'number')) {
    tensors.set(path, new Tensor(Float64Array.from(value as number[]), [value.length]));
    return { $tensor: path };
  }
  if (Array.isArray(value)) return value.map((v, i) => splitState(v, `${path}.${i}`, tensors));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, splitState(v, `${path}.${k}`, tensors)]));
  }
  return value;
}

function joinState(value: unknown, tensors: Map<string, Tensor>): unknown {
  if (Array.isArray(value)) return value.map((v) => joinState(v, tensors));
  if (value && typeof value === 'object') {
    const ref = (value as { $tensor?: string }).$tensor;
    if (typeof ref === 'string') {
      const t = tensors.get(ref);
      if (!t) throw new Error(`checkpoint: optimizer.safetensors lacks ${ref}`);
      return Array.from(t.toTypedArray());
    }
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, joinState(v, tensors)]));
  }
  return value;
}

/** Writes checkpoint_<step> atomically and prunes old ones; returns its folder. */
export async function saveTrainingCheckpoint(
  modelDir: string, model: LlamaForCausalLM, optimizerState: unknown, state: TrainerState, tokenizer: Tokenizer,
): Promise<string> {
  mkdirSync(modelDir, { recursive: true });
  const final = join(modelDir, `${PREFIX}${state.step}`);
  const tmp = `${final}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  await model.savePretrained(tmp);
  writeTokenizerFiles(tmp, tokenizer, model.config); // tokenizer.json, tokenizer_config.json, generation_config.json
  const tensors = new Map<string, Tensor>();
  const json = splitState(optimizerState, 'optimizer', tensors);
  writeFileAtomic(join(tmp, 'optimizer.safetensors'), saveSafetensors(tensors));
  writeFileAtomic(join(tmp, 'optimizer.json'), JSON.stringify(json));
  // trainer_state.json last: a folder without it is never taken for a checkpoint
  writeFileAtomic(join(tmp, 'trainer_state.json'), JSON.stringify(state, null, 2) + '\n');
  if (existsSync(final)) {
    const old = `${final}.old-${process.pid}`;
    renameSync(final, old);
    renameSync(tmp, final);
    rmSync(old, { recursive: true, force: true });
  } else {
    renameSync(tmp, final);
  }
  const all = listCheckpoints(modelDir);
  for (const c of all.slice(0, Math.max(0, all.length - KEEP))) rmSync(c.dir, { recursive: true, force: true });
  return final;
}

/** Reads a checkpoint's trainer state and optimizer state (the weights load with fromPretrained). */
export function readTrainingState(dir: string): { state: TrainerState; optimizerState: unknown } {
  const path = join(dir, 'trainer_state.json');
  if (!existsSync(path)) throw new Error(`checkpoint: ${dir} is not a training checkpoint (no trainer_state.json)`);
  const state = JSON.parse(readFileSync(path, 'utf8')) as TrainerState;
  const tensors = loadSafetensors(new Uint8Array(readFileSync(join(dir, 'optimizer.safetensors'))));
  const optimizerState = joinState(JSON.parse(readFileSync(join(dir, 'optimizer.json'), 'utf8')), tensors);
  return { state, optimizerState };
}

/** The tokenizer saved with a model folder; a clear error when it is not one we support. */
export function readTokenizer(dir: string): Tokenizer {
  const path = join(dir, 'tokenizer.json');
  if (!existsSync(path)) {
    throw new Error(`generate: ${dir} has no tokenizer.json (pnpm train saves one; Hugging Face LLaMA folders carry one)`);
  }
  try {
    return Tokenizer.fromJSON(JSON.parse(readFileSync(path, 'utf8')));
  } catch (err) {
    throw new Error(`generate: the tokenizer in ${path} is not supported: ${(err as Error).message}`);
  }
}
