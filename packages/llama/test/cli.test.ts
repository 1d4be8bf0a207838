// The CLIs as a user runs them: flags and their errors, Ctrl-C and SIGTERM, a kill at any moment,
// generate (and its refusal of damaged checkpoints).

import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Tensor, loadSafetensors, saveSafetensors } from '@tsgrad/tensor';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LlamaForCausalLM } from '../src/index.js';
import { latestCheckpoint, readTrainingState } from '../src/node/checkpoints.js';

const ROOT = new URL('../../../', import.meta.url).pathname;
const TRAIN = join(ROOT, 'packages/llama/src/cli/train.ts');
const GENERATE = join(ROOT, 'packages/llama/src/cli/generate.ts');
const MICRO = join(ROOT, 'packages/llama/configs/params_llama_micro.yaml');
const scratch = mkdtempSync(join(tmpdir(), 'tsgrad-cli-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function run(script: string, args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', script, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

// A micro config that checkpoints every step and runs long enough to be interrupted.
function longMicroConfig(): string {
  const path = join(scratch, 'long.yaml');
  const text = readFileSync(MICRO, 'utf8').replace('max_steps: 20', 'max_steps: 400').replace('checkpoint_steps: 10', 'checkpoint_steps: 1')
    .replace('eval_frequency: 10', 'eval_frequency: 1000').replace('total_iters: 15   # max_steps - warmup', 'total_iters: 395');
  writeFileSync(path, text);
  return path;
}

function startTraining(config: string, modelDir: string) {
  const child = spawn(process.execPath, ['--import', 'tsx', TRAIN, '--params', config, '--model_dir', modelDir, '--mode', 'train'], { cwd: ROOT });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const waitFor = (pattern: RegExp) => new Promise<void>((resolve, reject) => {
    const timer = setInterval(() => {
      if (pattern.test(out)) {
        clearInterval(timer);
        resolve();
      }
    }, 20);
    child.on('exit', () => {
      clearInterval(timer);
      if (pattern.test(out)) resolve();
      else reject(new Error(`exited before ${pattern}: ${out}`));
    });
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, waitFor, exited, output: () => out };
}

describe('the train and generate commands', () => {
  it('reject bad flags with a usage message', () => {
    const unknown = run(TRAIN, ['--bogus']);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/bogus[\s\S]*usage: pnpm train/);
    expect(run(TRAIN, ['--mode', 'fly', '--dry_run']).err).toMatch(/--mode must be train, eval or train_and_eval/);
    expect(run(TRAIN, ['--max_steps=-3', '--dry_run']).err).toMatch(/--max_steps must be a positive integer/);
    const missing = run(TRAIN, ['--params', 'nope.yaml', '--dry_run']);
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/nope\.yaml/);
    expect(run(GENERATE, ['--model_dir', join(scratch, 'nothing')]).err).toMatch(/holds no model/);
  });

  it('dry-runs a config and prints its size, memory, tokens and FLOPs per step', () => {
    const r = run(TRAIN, ['--params', join(ROOT, 'packages/llama/configs/params_llama_65b.yaml'), '--dry_run']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/parameters:\s+65,285,660,672/);
    expect(r.out).toMatch(/training memory:/);
    expect(r.out).toMatch(/tokens per step:\s+4,194,304/);
  });

  it('dry-run measures the runtime and prints an expected peak rss whose terms add up, with the semi-space size the process runs with', () => {
    // the printed figures: total = rss now + workers' runtime + training memory + young generation (each rounded to 0.001 GiB)
    const peak = (out: string) => {
      const m = /expected peak rss: ([\d.]+) GiB = rss now ([\d.]+) GiB .* \+ (\d+) worker threads?'s? runtime ([\d.]+) GiB .* \+ training memory ([\d.]+) GiB \+ V8's young generation at its maximum ([\d.]+) GiB \(2 × (\d+) MiB semi-spaces, ([^)]+)\)/.exec(out);
      expect(m, out).not.toBeNull();
      const [total, rss, workers, training, young] = [m![1], m![2], m![4], m![5], m![6]].map(Number) as [number, number, number, number, number];
      expect(Math.abs(total - (rss + workers + training + young))).toBeLessThanOrEqual(0.002);
      expect(rss).toBeGreaterThan(0.02); // Node and tsx alone take more than 20 MiB
      return { workerCount: Number(m![3]), workers, young, semiMiB: Number(m![7]), source: m![8] };
    };
    const one = peak(run(TRAIN, ['--dry_run', '--threads', '1']).out);
    expect(one).toEqual({ workerCount: 0, workers: 0, young: Number((32 / 1024).toFixed(3)), semiMiB: 16, source: 'V8\'s default on 64-bit' });
    const env = { ...process.env, NODE_OPTIONS: '--max-semi-space-size=4' };
    const r = spawnSync(process.execPath, ['--import', 'tsx', TRAIN, '--dry_run', '--threads', '2'], { cwd: ROOT, encoding: 'utf8', timeout: 120_000, env });
    expect(r.status, r.stderr).toBe(0);
    const flagged = peak(r.stdout);
    expect(flagged.young).toBe(Number((8 / 1024).toFixed(3)));
    expect(flagged.source).toBe('--max-semi-space-size=4');
    if (availableParallelism() > 1) {
      // a worker thread is a V8 isolate with its own heap and modules: several MiB at least
      expect(flagged.workerCount).toBe(1);
      expect(flagged.workers).toBeGreaterThan(0.005);
    }
  });

  for (const [signal, status] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    it(`saves a checkpoint on ${signal} and exits with ${status}, as a signalled program does`, async () => {
      const dir = join(scratch, `signal-${signal}`);
      const run1 = startTraining(longMicroConfig(), dir);
      await run1.waitFor(/step 3\//);
      run1.child.kill(signal);
      expect(await run1.exited).toBe(status);
      expect(run1.output()).toMatch(/interrupted: saved .*checkpoint_\d+/);
      const step = readTrainingState(latestCheckpoint(dir)!).state.step;
      expect(step).toBeGreaterThanOrEqual(3);
    });
  }

  it('leaves the last checkpoint whole when killed at any moment', async () => {
    const dir = join(scratch, 'killed');
    const config = longMicroConfig();
    for (const delay of [0, 37, 113, 251]) {
      const r = startTraining(config, dir);
      await r.waitFor(/step \d*[2-9]\//); // checkpoint_1 exists once step 2 is logged
      await new Promise((res) => setTimeout(res, delay));
      r.child.kill('SIGKILL');
      await r.exited;
      const last = latestCheckpoint(dir);
      expect(last, `after a kill ${delay} ms into training`).not.toBeNull();
      const { state } = readTrainingState(last!);
      const model = await LlamaForCausalLM.fromPretrained(last!);
      expect(state.step).toBeGreaterThan(0);
      expect(model.config.hiddenSize).toBe(32);
    }
  });

  it('generates text from a trained model folder, and says when a tokenizer is not supported', () => {
    const dir = join(scratch, 'gen');
    expect(run(TRAIN, ['--params', MICRO, '--model_dir', dir, '--mode', 'train', '--max_steps', '2']).code).toBe(0);
    const r = run(GENERATE, ['--model_dir', dir, '--prompt', 'Call me', '--max_new_tokens', '12', '--seed', '3']);
    expect(r.code).toBe(0);
    expect(r.out.startsWith('Call me')).toBe(true);
    const hf = join(scratch, 'hf');
    mkdirSync(hf);
    for (const f of ['config.json', 'model.safetensors']) writeFileSync(join(hf, f), readFileSync(new URL(`./fixtures/llama-hf-tiny/${f}`, import.meta.url)));
    expect(run(GENERATE, ['--model_dir', hf]).err).toMatch(/no tokenizer\.json \(pnpm train saves one/);
    writeFileSync(join(hf, 'tokenizer.json'), JSON.stringify({ version: '1.0', model: { type: 'BPE' } }));
    expect(run(GENERATE, ['--model_dir', hf]).err).toMatch(/not supported/);
    expect(run(GENERATE, ['--model_dir', dir, '--temperature', '-1']).err).toMatch(/--temperature/);
  });

  it('generate refuses a damaged checkpoint by name and falls back to the previous one; a folder with an infinite weight is an error', () => {
    const dir = join(scratch, 'gen-damaged');
    expect(run(TRAIN, ['--params', MICRO, '--model_dir', dir, '--mode', 'train', '--max_steps', '12']).code).toBe(0);
    expect(readdirSync(dir).filter((n) => n.startsWith('checkpoint_')).sort()).toEqual(['checkpoint_10', 'checkpoint_12']);
    const weights = join(dir, 'checkpoint_12', 'model.safetensors');
    const bytes = readFileSync(weights);
    bytes[bytes.length - 10] ^= 0x40;
    writeFileSync(weights, bytes);
    const r = run(GENERATE, ['--model_dir', dir, '--prompt', 'Call me', '--max_new_tokens', '8']);
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/refusing \S*checkpoint_12: \S*model\.safetensors does not match its SHA-256 in manifest\.json/);
    expect(r.err).toMatch(/using checkpoint_10, the newest intact checkpoint/);
    expect(r.out.startsWith('Call me')).toBe(true);
    // the damaged folder named directly: no fallback
    const direct = run(GENERATE, ['--model_dir', join(dir, 'checkpoint_12')]);
    expect(direct.code).toBe(1);
    expect(direct.err).toMatch(/checkpoint_12 is damaged: .*model\.safetensors does not match its SHA-256/);
    // a model folder without a manifest whose weights hold an infinity: an error naming the tensor, no text
    const inf = join(scratch, 'gen-inf');
    mkdirSync(inf);
    for (const f of ['config.json', 'tokenizer.json']) writeFileSync(join(inf, f), readFileSync(join(dir, 'checkpoint_10', f)));
    const tensors = loadSafetensors(new Uint8Array(readFileSync(join(dir, 'checkpoint_10', 'model.safetensors'))));
    const t = tensors.get('model.layers.0.self_attn.v_proj.weight')!;
    tensors.set('model.layers.0.self_attn.v_proj.weight', new Tensor(Float32Array.from(t.toTypedArray(), (v, i) => (i === 2 ? Infinity : v)), t.shape));
    writeFileSync(join(inf, 'model.safetensors'), saveSafetensors(tensors));
    const bad = run(GENERATE, ['--model_dir', inf]);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/non-finite weight: model\.layers\.0\.self_attn\.v_proj\.weight \[32, 32\] has Infinity at flat index 2/);
    expect(bad.out).toBe('');
  });

  it('a model_dir that is a file gets a sentence naming it, not a raw EEXIST', () => {
    const file = join(scratch, 'not-a-dir');
    writeFileSync(file, 'x');
    const r = run(TRAIN, ['--params', MICRO, '--model_dir', file, '--max_steps', '1']);
    expect(r.code).toBe(1);
    expect(r.err.trim()).toBe(`error: ${file} already exists and is in the way (for a folder tsgrad must create, a file of that name blocks it); move it away or choose another location`);
  });
});
