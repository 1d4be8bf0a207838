// What a training checkpoint promises (README "Reliability"): only finite state is saved, every file
// is checksummed and verified on resume, a damaged checkpoint is refused by name with a fallback to
// the previous intact one, one run per model_dir, and errors that name their file.

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Generator, Tensor, loadSafetensors, noGrad, saveSafetensors } from '@tsgrad/tensor';
import { LlamaForCausalLM, byteLevelTokenizer } from '../src/index.js';
import { loadZooConfig, type TrainConfig } from '../src/node/zoo-config.js';
import { runTraining } from '../src/node/trainer.js';
import { NonFiniteStateError, listCheckpoints, readTrainingState, saveTrainingCheckpoint } from '../src/node/checkpoints.js';
import { LOCK_FILE, acquireRunLock } from '../src/node/run-lock.js';
import { describeFsError, errorMessage } from '../src/node/fs-errors.js';
import type { Corpus } from '../src/node/corpus.js';

const CONFIGS = new URL('../configs/', import.meta.url).pathname;
const scratch = mkdtempSync(join(tmpdir(), 'tsgrad-safety-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const text = 'It was the best of times, it was the worst of times, it was the age of wisdom. '.repeat(40);
const corpus: Corpus = { source: 'test text', train: new TextEncoder().encode(text), validation: new TextEncoder().encode(text.slice(0, 800)) };
const micro = (): TrainConfig => loadZooConfig(join(CONFIGS, 'params_llama_micro.yaml'));
const quiet = () => undefined;

// trains 20 steps checkpointing every 5: leaves checkpoint_15 and checkpoint_20
async function trainedDir(name: string): Promise<{ dir: string; config: TrainConfig }> {
  const dir = join(scratch, name);
  const config = micro();
  config.runconfig.checkpointSteps = 5;
  await runTraining({ config, modelDir: dir, mode: 'train', corpus, log: quiet, progressBar: false });
  expect(listCheckpoints(dir).map((c) => c.step)).toEqual([15, 20]);
  return { dir, config };
}

// every number in a checkpoint's weights and optimizer state, read without the code under test's checks
function allFinite(dir: string): boolean {
  const files = ['model.safetensors', 'optimizer.safetensors'].map((f) => loadSafetensors(new Uint8Array(readFileSync(join(dir, f)))));
  return files.every((m) => [...m.values()].every((t) => Array.from(t.toTypedArray()).every(Number.isFinite)));
}

function flipByte(path: string, fromEnd: number): void {
  const bytes = readFileSync(path);
  bytes[bytes.length - fromEnd] ^= 0x40;
  writeFileSync(path, bytes);
}

describe('checkpoints hold only finite state', () => {
  it('refuses to save a NaN weight or an infinite optimizer moment, writing nothing', async () => {
    const dir = join(scratch, 'nonfinite-save');
    const config = micro();
    const model = new LlamaForCausalLM(config.model, { generator: new Generator(1) });
    const clean = new LlamaForCausalLM(config.model, { generator: new Generator(1) });
    const state = { step: 7, dataGenerator: new Generator(2).getState(), tokensSeen: 0, configSource: 'x' };
    const w = model.namedParameters().find(([n]) => n === 'model.layers.0.mlp.down_proj.weight')![1];
    noGrad(() => w.mul_(NaN));
    await expect(saveTrainingCheckpoint(dir, model, {}, state, byteLevelTokenizer())).rejects.toThrow(
      /not saving a checkpoint at step 7: weight model\.layers\.0\.mlp\.down_proj\.weight has NaN at flat index 0/);
    expect(existsSync(join(dir, 'checkpoint_7'))).toBe(false);
    const moments = { state: { 0: { expAvgSq: [...new Array(100).fill(1), Infinity] } } };
    await expect(saveTrainingCheckpoint(dir, clean, moments, state, byteLevelTokenizer())).rejects.toThrow(NonFiniteStateError);
    await expect(saveTrainingCheckpoint(dir, clean, moments, state, byteLevelTokenizer())).rejects.toThrow(/optimizer state optimizer\.state\.0\.expAvgSq\[100\] is Infinity/);
    expect(existsSync(dir)).toBe(false);
  });

  it('stops a run whose weights overflow without saving them, naming the newest intact checkpoint; every checkpoint left is finite', async () => {
    const dir = join(scratch, 'diverge');
    const config = micro();
    config.runconfig.checkpointSteps = 1;
    await runTraining({ config, modelDir: dir, mode: 'train', corpus, log: quiet, progressBar: false, maxSteps: 2 });
    // a learning rate beyond float32: step 3's loss is still finite, the weights it leaves are not
    config.optimizer.schedule = { warmupSteps: 0, initialLr: 1e300, maxLr: 1e300, endLr: 1e300, decaySteps: 0 };
    const err = await runTraining({ config, modelDir: dir, mode: 'train', corpus, log: quiet, progressBar: false }).then(() => null, (e: Error) => e);
    expect(err?.message).toMatch(/^train: not saving a checkpoint at step 3: weight \S+ has (NaN|-?Infinity) at flat index \d+ \(the run diverged\); stopping; the newest intact checkpoint is \S*checkpoint_2$/);
    const left = listCheckpoints(dir);
    expect(left.map((c) => c.step)).toEqual([1, 2]);
    for (const c of left) expect(allFinite(c.dir), c.dir).toBe(true);
  });
});

// -1 when a and b hold the same bytes, else the first index where they differ (a length difference counts)
function firstDifference(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : Math.min(a.length, b.length);
}

describe('checkpoint files on disk', () => {
  it('a saved checkpoint holds exactly the bytes saveSafetensors makes, and its manifest the size and SHA-256 of every file as read back', async () => {
    const dir = join(scratch, 'bytes-on-disk');
    const config = micro();
    const model = new LlamaForCausalLM(config.model, { generator: new Generator(3) });
    const g = new Generator(4);
    // 300,000 float64 moments = 2.4 MB: the hash reads this file in several 1 MiB pieces
    const expAvg = Float32Array.from({ length: 300_000 }, () => g.normal());
    const expAvgSq = Float32Array.from({ length: 100 }, () => g.uniform());
    const short = Float32Array.from({ length: 10 }, () => g.uniform()); // 64 numbers or fewer stay in optimizer.json
    const optimizerState = (typed: boolean) => {
      const arr = (a: Float32Array) => (typed ? a : Array.from(a));
      return { optimizer: 'AdamW', state: { 0: { step: 3, expAvg: arr(expAvg), expAvgSq: arr(expAvgSq), short: arr(short) } }, paramGroups: [{ lr: 0.1, params: [0] }] };
    };
    const state = { step: 9, dataGenerator: new Generator(2).getState(), tokensSeen: 0, configSource: 'x' };
    const saved = await saveTrainingCheckpoint(dir, model, optimizerState(true), state, byteLevelTokenizer());
    const read = (name: string, from = saved) => new Uint8Array(readFileSync(join(from, name)));
    expect(firstDifference(read('model.safetensors'), saveSafetensors(new Map(model.namedParameters()), { format: 'pt' }))).toBe(-1);
    const moments = new Map([
      ['optimizer.state.0.expAvg', new Tensor(Float64Array.from(expAvg), [expAvg.length])],
      ['optimizer.state.0.expAvgSq', new Tensor(Float64Array.from(expAvgSq), [expAvgSq.length])],
    ]);
    expect(firstDifference(read('optimizer.safetensors'), saveSafetensors(moments))).toBe(-1);
    // the same values as plain arrays (stateDict) and as typed arrays (stateDictTyped) make the same files
    const plain = await saveTrainingCheckpoint(join(scratch, 'bytes-on-disk-plain'), model, optimizerState(false), state, byteLevelTokenizer());
    for (const name of ['optimizer.safetensors', 'optimizer.json']) expect(firstDifference(read(name), read(name, plain))).toBe(-1);
    expect(JSON.parse(readFileSync(join(saved, 'optimizer.json'), 'utf8')).state['0'].short).toEqual(Array.from(short));
    const manifest = JSON.parse(readFileSync(join(saved, 'manifest.json'), 'utf8')) as { files: Record<string, { bytes: number; sha256: string }> };
    const names = readdirSync(saved).filter((n) => n !== 'manifest.json').sort();
    expect(names).toContain('optimizer.safetensors');
    expect(Object.keys(manifest.files)).toEqual(names);
    for (const name of names) {
      const bytes = read(name);
      expect(manifest.files[name]).toEqual({ bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') });
    }
  });
});

describe('damaged checkpoints are refused by name, with a fallback to the previous intact one', () => {
  it('refuses a checkpoint whose weights changed after writing (one flipped byte) and resumes from the one before', async () => {
    const { dir, config } = await trainedDir('flipped');
    flipByte(join(dir, 'checkpoint_20', 'model.safetensors'), 10); // in the data, so the file still parses
    const lines: string[] = [];
    const result = await runTraining({ config, modelDir: dir, mode: 'train', corpus, log: (l) => lines.push(l), progressBar: false, maxSteps: 16 });
    const log = lines.join('\n');
    expect(log).toMatch(/refusing \S*checkpoint_20: \S*checkpoint_20\/model\.safetensors does not match its SHA-256 in manifest\.json/);
    expect(log).toMatch(/resuming from \S*checkpoint_15 at step 15/);
    expect(result.losses[0]!.step).toBe(16);
  });

  it('refuses an unverified checkpoint holding a NaN weight, naming the tensor, and falls back', async () => {
    const { dir, config } = await trainedDir('nan-weights');
    // as an older tsgrad wrote them: no manifest.json, and the weights of a diverged run
    const ckpt = join(dir, 'checkpoint_20');
    unlinkSync(join(ckpt, 'manifest.json'));
    const weights = loadSafetensors(new Uint8Array(readFileSync(join(ckpt, 'model.safetensors'))));
    const t = weights.get('model.norm.weight')!;
    weights.set('model.norm.weight', new Tensor(Float32Array.from(t.toTypedArray(), (v, i) => (i === 5 ? NaN : v)), t.shape));
    writeFileSync(join(ckpt, 'model.safetensors'), saveSafetensors(weights));
    const lines: string[] = [];
    const result = await runTraining({ config, modelDir: dir, mode: 'train', corpus, log: (l) => lines.push(l), progressBar: false, maxSteps: 16 });
    const log = lines.join('\n');
    expect(log).toMatch(/checkpoint_20 has no manifest\.json/);
    expect(log).toMatch(/refusing \S*checkpoint_20: .*non-finite weight: model\.norm\.weight \[32\] has NaN at flat index 5/);
    expect(result.losses[0]!.step).toBe(16);
  });

  it('refuses to start over from step 0 when every checkpoint is damaged', async () => {
    const { dir, config } = await trainedDir('all-damaged');
    flipByte(join(dir, 'checkpoint_20', 'optimizer.safetensors'), 3);
    writeFileSync(join(dir, 'checkpoint_15', 'trainer_state.json'), '{"step": 15,');
    const before = readFileSync(join(dir, 'metrics.jsonl'), 'utf8');
    await expect(runTraining({ config, modelDir: dir, mode: 'train', corpus, log: quiet, progressBar: false })).rejects.toThrow(
      /has checkpoints, but none is intact:\n {2}checkpoint_20: .*optimizer\.safetensors does not match[\s\S]*checkpoint_15: .*trainer_state\.json has 12 bytes, but manifest\.json recorded[\s\S]*Refusing to start over from step 0/);
    expect(readFileSync(join(dir, 'metrics.jsonl'), 'utf8')).toBe(before);
  });

  it('names the file of a trainer or optimizer state that is not JSON', async () => {
    const { dir } = await trainedDir('bad-json');
    const ckpt = join(dir, 'checkpoint_20');
    writeFileSync(join(ckpt, 'optimizer.json'), '{"state": ');
    expect(() => readTrainingState(ckpt)).toThrow(/optimizer state \S*checkpoint_20\/optimizer\.json is not valid JSON/);
    writeFileSync(join(ckpt, 'trainer_state.json'), '{"step": 20,');
    expect(() => readTrainingState(ckpt)).toThrow(/trainer state \S*checkpoint_20\/trainer_state\.json is not valid JSON/);
  });

  it('refuses a damaged --checkpoint_path without falling back, and says what --checkpoint_path expects', async () => {
    const { dir, config } = await trainedDir('explicit');
    flipByte(join(dir, 'checkpoint_15', 'model.safetensors'), 10);
    const run = (checkpointPath: string) => runTraining({ config, modelDir: dir, mode: 'train', corpus, log: quiet, progressBar: false, checkpointPath });
    await expect(run(join(dir, 'checkpoint_15'))).rejects.toThrow(/cannot resume from --checkpoint_path \S*checkpoint_15: .*does not match its SHA-256/);
    await expect(run(join(dir, 'nope'))).rejects.toThrow(/--checkpoint_path expects a checkpoint_<step> folder written by pnpm train .*nope does not exist/);
    await expect(run(join(dir, 'metrics.jsonl'))).rejects.toThrow(/--checkpoint_path expects a checkpoint_<step> folder.*metrics\.jsonl is a file/);
    const hf = new URL('./fixtures/llama-hf-tiny', import.meta.url).pathname;
    await expect(run(hf)).rejects.toThrow(/--checkpoint_path expects a checkpoint_<step> folder.*llama-hf-tiny: it is not one \(no trainer_state\.json\)/);
  });
});

describe('metrics.jsonl', () => {
  it('drops a torn last line with a warning, and names the line of a bad one before it', async () => {
    const { dir, config } = await trainedDir('metrics');
    const path = join(dir, 'metrics.jsonl');
    const good = readFileSync(path, 'utf8');
    writeFileSync(path, good + '{"step": 21, "lo');
    const lines: string[] = [];
    await runTraining({ config, modelDir: dir, mode: 'train', corpus, log: (l) => lines.push(l), progressBar: false, maxSteps: 21 });
    expect(lines.join('\n')).toMatch(new RegExp(`warning: dropping the torn last line ${good.split('\n').length} of \\S*metrics\\.jsonl`));
    const after = readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(after.at(-1).step).toBe(21);
    writeFileSync(path, '{"step": 1}\n{"step": 2,\n{"step": 3}\n');
    await expect(runTraining({ config, modelDir: dir, mode: 'train', corpus, log: quiet, progressBar: false, maxSteps: 22 })).rejects.toThrow(/metrics\.jsonl line 2 is not valid JSON/);
  });
});

describe('one run per model_dir', () => {
  it('refuses a second lock naming its holder, takes over a stale one with a message, and releases on error', async () => {
    const dir = join(scratch, 'lock');
    mkdirSync(dir);
    const first = acquireRunLock(dir, quiet);
    expect(() => acquireRunLock(dir, quiet)).toThrow(new RegExp(`in use by another run \\(pid ${process.pid} on ${hostname()}, started \\S+; lock file \\S*${LOCK_FILE}\\)`));
    await expect(runTraining({ config: micro(), modelDir: dir, mode: 'train', corpus, log: quiet })).rejects.toThrow(/in use by another run/);
    first.release();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
    // a lock left by a process that is gone
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: Number(dead.stdout), host: hostname(), started: '2020-01-01T00:00:00.000Z' }));
    const lines: string[] = [];
    const taken = acquireRunLock(dir, (l) => lines.push(l));
    expect(lines).toEqual([`taking over the lock ${join(dir, LOCK_FILE)}: its holder (pid ${dead.stdout} on ${hostname()}, started 2020-01-01T00:00:00.000Z) is no longer running`]);
    expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')).pid).toBe(process.pid);
    taken.release();
    // another host's lock is never judged stale
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: 1, host: 'elsewhere', started: '2020-01-01T00:00:00.000Z' }));
    expect(() => acquireRunLock(dir, quiet)).toThrow(/pid 1 on elsewhere[\s\S]*if that run is gone, delete/);
    unlinkSync(join(dir, LOCK_FILE));
    // released when the run fails
    await expect(runTraining({ config: micro(), modelDir: dir, mode: 'eval', corpus, log: quiet })).rejects.toThrow(/needs a checkpoint/);
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
  });
});

describe('file-system errors', () => {
  it('become sentences naming the path', () => {
    const fsError = (code: string, syscall: string, path: string) => Object.assign(new Error(`${code}: raw, ${syscall} '${path}'`), { code, syscall, path });
    expect(describeFsError(fsError('ENOSPC', 'write', '/runs/x/checkpoint_3.tmp-1/model.safetensors'))).toBe(
      'no space left on the device while writing /runs/x/checkpoint_3.tmp-1/model.safetensors; free some space and rerun (checkpoints already saved are intact)');
    expect(describeFsError(fsError('EACCES', 'open', '/runs/x/train.lock'))).toBe(
      'permission denied for /runs/x/train.lock (open); check the permissions of that folder or choose another location');
    expect(errorMessage(fsError('EEXIST', 'mkdir', '/runs/x'))).toBe(
      'error: /runs/x already exists and is in the way (for a folder tsgrad must create, a file of that name blocks it); move it away or choose another location');
    expect(errorMessage(new Error('plain'))).toBe('plain');
  });

  it('a model_dir that is a file is refused with a sentence naming it', async () => {
    const file = join(scratch, 'a-file');
    writeFileSync(file, 'x');
    const err = await runTraining({ config: micro(), modelDir: file, mode: 'train', corpus, log: quiet }).then(() => null, (e: Error) => e);
    expect(errorMessage(err)).toBe(`error: ${file} already exists and is in the way (for a folder tsgrad must create, a file of that name blocks it); move it away or choose another location`);
  });
});
