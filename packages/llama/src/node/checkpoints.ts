// Training checkpoints in model_dir: one folder per step, `checkpoint_<step>/`, holding a Hugging
// Face model folder (config.json, model.safetensors, tokenizer.json) plus the trainer's state
// (optimizer moments, schedule step, data generator) and manifest.json, the SHA-256 of every other
// file, written last.
//
// What is promised:
// - Only finite weights and optimizer state are ever saved (a diverged run is not checkpointed).
// - A folder is written under `checkpoint_<step>.tmp-<pid>`, fsynced, then renamed into place.
//   Re-saving an existing step moves the old folder aside (`.old-<pid>`) and removes it only once
//   the new one holds the final name; a kill between those renames is repaired at the next start
//   (recoverInterruptedSaves), so at every instant each step has a whole folder under some name.
// - Loading verifies the manifest; a damaged checkpoint is refused by name and the previous intact
//   one is used instead, with a message; a model_dir whose checkpoints are all damaged is an error,
//   never a silent restart from step 0.

import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { Tensor, flatBuffer, loadSafetensors, saveSafetensorsParts } from '@tsgrad/tensor';
import type { LlamaForCausalLM } from '../model.js';
import { readCheckpointTensors } from '../checkpoint.js';
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
const MANIFEST = 'manifest.json';
const MANIFEST_FORMAT = 'tsgrad-checkpoint-manifest/1';
/** How many checkpoints to keep in model_dir (older ones are removed after a new one lands). */
const KEEP = 2;

/** Test hook: with TSGRAD_CRASH_AT=<point> the process kills itself (SIGKILL) at that point of a save. */
function crashPoint(point: string): void {
  if (process.env.TSGRAD_CRASH_AT === point) process.kill(process.pid, 'SIGKILL');
}

/** The save points TSGRAD_CRASH_AT can name, in the order a re-save passes them. */
export const CRASH_POINTS = ['files-written', 'manifest-written', 'old-moved-aside', 'new-in-place', 'old-removed'] as const;

/** Every `checkpoint_<step>` folder in model_dir (whole or not), oldest first. */
export function listCheckpoints(modelDir: string): Array<{ step: number; dir: string }> {
  if (!existsSync(modelDir)) return [];
  return readdirSync(modelDir)
    .map((name) => /^checkpoint_(\d+)$/.exec(name))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ step: Number(m[1]), dir: join(modelDir, m[0]) }))
    .sort((a, b) => a.step - b.step);
}

/** The newest `checkpoint_<step>` folder in model_dir, or null (unverified: see openNewestIntact). */
export function latestCheckpoint(modelDir: string): string | null {
  const all = listCheckpoints(modelDir);
  return all.length > 0 ? all[all.length - 1]!.dir : null;
}

// ************* integrity *************

// Read in 1 MiB pieces: hashing a checkpoint must not hold a second copy of its largest file.
const HASH_CHUNK_BYTES = 1 << 20;

function sha256(path: string): string {
  const hash = createHash('sha256');
  const chunk = new Uint8Array(HASH_CHUNK_BYTES);
  const fd = openSync(path, 'r');
  try {
    for (let n = readSync(fd, chunk, 0, chunk.length, null); n > 0; n = readSync(fd, chunk, 0, chunk.length, null)) hash.update(chunk.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

function fsyncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function writeManifest(dir: string): void {
  const files: Record<string, { bytes: number; sha256: string }> = {};
  for (const name of readdirSync(dir).sort()) {
    if (name === MANIFEST) continue;
    files[name] = { bytes: statSync(join(dir, name)).size, sha256: sha256(join(dir, name)) };
  }
  writeFileAtomic(join(dir, MANIFEST), JSON.stringify({ format: MANIFEST_FORMAT, algorithm: 'sha256', files }, null, 2) + '\n');
}

/** Parses a JSON file, naming the file when it is not JSON. */
function readJsonFile(path: string, what: string): unknown {
  const text = readFileSync(path, 'utf8');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`${what} ${path} is not valid JSON (${(err as Error).message}); the file is damaged`);
  }
}

/**
 * Checks a folder against its manifest.json: every file listed is present with its size and
 * SHA-256. Returns a warning for a folder without a manifest (written before checksums were
 * recorded; accepted, unverified); throws naming the first file that differs.
 */
export function verifyManifest(dir: string): string | null {
  const path = join(dir, MANIFEST);
  if (!existsSync(path)) {
    if (existsSync(join(dir, 'trainer_state.json'))) return `${dir} has no ${MANIFEST} (written before checksums were recorded); its files are not verified`;
    throw new Error(`${dir} is incomplete: it has neither ${MANIFEST} nor trainer_state.json`);
  }
  const manifest = readJsonFile(path, 'checkpoint manifest') as { format?: string; files?: Record<string, { bytes?: number; sha256?: string }> };
  if (manifest.format !== MANIFEST_FORMAT || typeof manifest.files !== 'object' || manifest.files === null) {
    throw new Error(`${path} is not a ${MANIFEST_FORMAT} manifest`);
  }
  for (const [name, want] of Object.entries(manifest.files)) {
    const file = join(dir, name);
    if (!existsSync(file)) throw new Error(`${file} is missing (listed in ${MANIFEST})`);
    const size = statSync(file).size;
    if (size !== want.bytes) throw new Error(`${file} has ${size} bytes, but ${MANIFEST} recorded ${want.bytes}`);
    if (sha256(file) !== want.sha256) throw new Error(`${file} does not match its SHA-256 in ${MANIFEST} (the file changed after it was written)`);
  }
  return null;
}

// The first non-finite number in a model's parameters or an optimizer state, described; null when all are finite.
function firstNonFiniteParameter(model: LlamaForCausalLM): string | null {
  for (const [name, p] of model.namedParameters()) {
    const [data, off] = flatBuffer(p); // no copy when it can be read in place
    for (let i = 0; i < p.numel; i++) if (!Number.isFinite(data[off + i]!)) return `weight ${name} has ${data[off + i]} at flat index ${i}`;
  }
  return null;
}

function firstNonFiniteState(value: unknown, path: string): string | null {
  if (typeof value === 'number') return Number.isFinite(value) ? null : `optimizer state ${path} is ${value}`;
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
    const data = value as unknown as ArrayLike<number>;
    for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i]!)) return `optimizer state ${path}[${i}] is ${data[i]}`;
    return null;
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = firstNonFiniteState(value[i], `${path}[${i}]`);
      if (found) return found;
    }
    return null;
  }
  if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      const found = firstNonFiniteState(v, `${path}.${k}`);
      if (found) return found;
    }
  }
  return null;
}

/** Thrown instead of saving weights or optimizer state that are not finite. */
export class NonFiniteStateError extends Error {}

// ************* optimizer state on disk *************

// Large numeric arrays in the optimizer state go to safetensors (float64, exact for float32
// moments); the rest stays JSON with a reference in their place. Typed arrays (stateDictTyped) are
// stored exactly as the plain arrays of the same values (stateDict) would be.
function splitState(value: unknown, path: string, tensors: Map<string, Tensor>): unknown {
  if (value instanceof Float32Array || value instanceof Float64Array) {
    if (value.length <= 64) return Array.from(value);
    tensors.set(path, new Tensor(Float64Array.from(value), [value.length]));
    return { $tensor: path };
  }
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

function joinState(value: unknown, tensors: Map<string, Tensor>, file: string): unknown {
  if (Array.isArray(value)) return value.map((v) => joinState(v, tensors, file));
  if (value && typeof value === 'object') {
    const ref = (value as { $tensor?: string }).$tensor;
    if (typeof ref === 'string') {
      const t = tensors.get(ref);
      if (!t) throw new Error(`checkpoint: ${file} lacks ${ref}`);
      return Array.from(t.toTypedArray());
    }
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, joinState(v, tensors, file)]));
  }
  return value;
}

// ************* saving *************

/**
 * Writes checkpoint_<step> (see the header for the guarantees) and prunes older ones; returns its
 * folder. Throws NonFiniteStateError, writing nothing, when a weight or optimizer value is not finite.
 */
export async function saveTrainingCheckpoint(
  modelDir: string, model: LlamaForCausalLM, optimizerState: unknown, state: TrainerState, tokenizer: Tokenizer,
): Promise<string> {
  const bad = firstNonFiniteParameter(model) ?? firstNonFiniteState(optimizerState, 'optimizer');
  if (bad) throw new NonFiniteStateError(`train: not saving a checkpoint at step ${state.step}: ${bad} (the run diverged)`);
  mkdirSync(modelDir, { recursive: true });
  const final = join(modelDir, `${PREFIX}${state.step}`);
  const tmp = `${final}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  try {
    await model.savePretrained(tmp);
    writeTokenizerFiles(tmp, tokenizer, model.config); // tokenizer.json, tokenizer_config.json, generation_config.json
    const tensors = new Map<string, Tensor>();
    const json = splitState(optimizerState, 'optimizer', tensors);
    writeFileAtomic(join(tmp, 'optimizer.safetensors'), saveSafetensorsParts(tensors)); // streamed: no copy of the file
    writeFileAtomic(join(tmp, 'optimizer.json'), JSON.stringify(json));
    writeFileAtomic(join(tmp, 'trainer_state.json'), JSON.stringify(state, null, 2) + '\n');
    crashPoint('files-written');
    writeManifest(tmp);
    fsyncPath(tmp);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true }); // a full disk: give the space back
    throw err;
  }
  crashPoint('manifest-written');
  if (existsSync(final)) {
    // a directory cannot be renamed over a non-empty one: move the old aside, never delete it first
    const old = `${final}.old-${process.pid}`;
    rmSync(old, { recursive: true, force: true });
    renameSync(final, old);
    fsyncPath(modelDir);
    crashPoint('old-moved-aside');
    renameSync(tmp, final);
    fsyncPath(modelDir);
    crashPoint('new-in-place');
    rmSync(old, { recursive: true, force: true });
    crashPoint('old-removed');
  } else {
    renameSync(tmp, final);
    fsyncPath(modelDir);
  }
  // keep the new folder and the KEEP-1 newest below it; folders of later steps (another timeline,
  // from --checkpoint_path) are not ours to judge
  const older = listCheckpoints(modelDir).filter((c) => c.step < state.step);
  for (const c of older.slice(0, Math.max(0, older.length - (KEEP - 1)))) rmSync(c.dir, { recursive: true, force: true });
  return final;
}

// ************* recovery and loading *************

/**
 * Repairs what a kill in the middle of a save leaves (call with the run lock held): a step whose
 * folder was moved aside gets it back (or the finished new one), and every leftover `.tmp-`/`.old-`
 * folder is removed. Returns one line per action taken.
 */
export function recoverInterruptedSaves(modelDir: string): string[] {
  if (!existsSync(modelDir)) return [];
  const notes: string[] = [];
  const leftovers = readdirSync(modelDir)
    .map((name) => ({ name, m: /^(checkpoint_\d+)\.(tmp|old)-\d+$/.exec(name) }))
    .filter((x): x is { name: string; m: RegExpExecArray } => x.m !== null)
    .sort((a, b) => (a.m[2] === b.m[2] ? 0 : a.m[2] === 'tmp' ? -1 : 1)); // finished new folders first
  for (const { name, m } of leftovers) {
    const finalName = m[1]!;
    const final = join(modelDir, finalName);
    const path = join(modelDir, name);
    if (!existsSync(path)) continue;
    if (!existsSync(final)) {
      let intact = true;
      try {
        if (!existsSync(join(path, MANIFEST))) throw new Error('no manifest');
        verifyManifest(path);
      } catch {
        intact = false;
      }
      // prefer a finished new folder; an .old- one was whole when it was moved aside
      if (intact || m[2] === 'old') {
        renameSync(path, final);
        fsyncPath(modelDir);
        notes.push(`recovered ${finalName} from ${name}, left by a save that was interrupted`);
        continue;
      }
    }
    rmSync(path, { recursive: true, force: true });
    notes.push(`removed ${name}, left by a save that was interrupted`);
  }
  return notes;
}

/**
 * Opens the newest checkpoint in model_dir that passes its manifest and `open` (which loads and
 * checks it), falling back to older ones; `warn` is told which were refused and why. Returns null
 * when model_dir has no checkpoint folder; throws when it has some but none is intact.
 */
export async function openNewestIntact<T>(
  modelDir: string, open: (dir: string) => Promise<T>, warn: (line: string) => void, whatNow = 'move them away to use this folder afresh',
): Promise<{ dir: string; value: T } | null> {
  const all = listCheckpoints(modelDir).reverse();
  const refused: string[] = [];
  for (const { dir } of all) {
    try {
      const note = verifyManifest(dir);
      if (note) warn(`warning: ${note}`);
      const value = await open(dir);
      if (refused.length > 0) warn(`using ${basename(dir)}, the newest intact checkpoint`);
      return { dir, value };
    } catch (err) {
      const reason = (err as Error).message;
      refused.push(`${basename(dir)}: ${reason}`);
      warn(`refusing ${dir}: ${reason}; falling back to an older checkpoint`);
    }
  }
  if (all.length === 0) return null;
  throw new Error(`${modelDir} has checkpoints, but none is intact:\n  ${refused.join('\n  ')}\n${whatNow}`);
}

/** The newest checkpoint whose manifest verifies and whose weights are finite, or null; for messages. */
export async function newestIntactCheckpoint(modelDir: string): Promise<string | null> {
  try {
    return (await openNewestIntact(modelDir, checkWeightsFinite, () => undefined))?.dir ?? null;
  } catch {
    return null; // none intact
  }
}

// Reads a checkpoint's weights and throws at the first non-finite value, naming it.
async function checkWeightsFinite(dir: string): Promise<void> {
  for (const [name, t] of await readCheckpointTensors(dir)) {
    const data = t.toTypedArray();
    for (let i = 0; i < data.length; i++) {
      if (!Number.isFinite(data[i]!)) throw new Error(`${join(dir, 'model.safetensors')} holds a non-finite weight: ${name} has ${data[i]} at flat index ${i}`);
    }
  }
}

/**
 * The model folder `generate` should load from what --model_dir names: the folder itself when it
 * holds config.json (its manifest.json, if any, must verify), else the newest checkpoint in it whose
 * manifest verifies and whose weights are finite (older ones tried in turn; `warn` says which were
 * refused). Null when there is no checkpoint folder at all.
 */
export async function pickModelFolder(given: string, warn: (line: string) => void): Promise<string | null> {
  if (existsSync(join(given, 'config.json'))) {
    if (existsSync(join(given, MANIFEST))) {
      try {
        verifyManifest(given);
      } catch (err) {
        throw new Error(`generate: ${given} is damaged: ${(err as Error).message}`);
      }
    }
    return given;
  }
  const found = await openNewestIntact(given, checkWeightsFinite, warn);
  return found ? found.dir : null;
}

/** Checks that --checkpoint_path names a checkpoint_<step> folder written by pnpm train. */
export function checkCheckpointPath(path: string): void {
  const expect = `--checkpoint_path expects a checkpoint_<step> folder written by pnpm train (holding trainer_state.json)`;
  if (!existsSync(path)) throw new Error(`train: ${expect}, but ${path} does not exist`);
  if (!statSync(path).isDirectory()) throw new Error(`train: ${expect}, but ${path} is a file`);
  if (!existsSync(join(path, 'trainer_state.json'))) {
    const hint = /^checkpoint_\d+$/.test(basename(path)) ? 'it has no trainer_state.json' : 'it is not one (no trainer_state.json)';
    throw new Error(`train: ${expect}, but ${path}: ${hint}`);
  }
}

/** Reads a checkpoint's trainer state and optimizer state (the weights load with fromPretrained); refuses non-finite state. */
export function readTrainingState(dir: string): { state: TrainerState; optimizerState: unknown } {
  const path = join(dir, 'trainer_state.json');
  if (!existsSync(path)) throw new Error(`checkpoint: ${dir} is not a training checkpoint (no trainer_state.json)`);
  const state = readJsonFile(path, 'trainer state') as TrainerState;
  if (!state || typeof state !== 'object' || !Number.isSafeInteger(state.step) || !Array.isArray(state.dataGenerator)) {
    throw new Error(`trainer state ${path} lacks a step or a data generator state; the file is damaged`);
  }
  const optPath = join(dir, 'optimizer.safetensors');
  let tensors: Map<string, Tensor>;
  try {
    tensors = loadSafetensors(new Uint8Array(readFileSync(optPath)));
  } catch (err) {
    throw new Error(`optimizer state ${optPath}: ${(err as Error).message}`);
  }
  const jsonPath = join(dir, 'optimizer.json');
  const optimizerState = joinState(readJsonFile(jsonPath, 'optimizer state'), tensors, optPath);
  const bad = firstNonFiniteState(optimizerState, 'optimizer');
  if (bad) throw new Error(`${dir}: ${bad}; the checkpoint is damaged or its run diverged`);
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
