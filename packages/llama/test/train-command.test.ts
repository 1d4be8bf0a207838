// `pnpm train` exactly as documented, as real processes: Ctrl-C and SIGTERM sent to its process
// group (as a terminal and a service manager do), two runs in one model_dir, and a kill at every
// point of re-saving a checkpoint (each checked by the next run, in process).

import { type ChildProcess, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { constants as osConstants, hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { LlamaForCausalLM } from '../src/index.js';
import { CRASH_POINTS, readTrainingState } from '../src/node/checkpoints.js';
import { runTraining } from '../src/node/trainer.js';
import { loadZooConfig } from '../src/node/zoo-config.js';
import { LOCK_FILE } from '../src/node/run-lock.js';

const ROOT = new URL('../../../', import.meta.url).pathname;
const MICRO = join(ROOT, 'packages/llama/configs/params_llama_micro.yaml');
const scratch = mkdtempSync(join(tmpdir(), 'tsgrad-train-cmd-'));
const running = new Set<ChildProcess>();
afterEach(() => {
  // a failed assertion must not leave a training run behind
  for (const child of running) if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGKILL');
  running.clear();
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

// The micro config with its own step counts (checkpoint_steps 1000: only a signal makes a checkpoint mid-run).
function microConfig(name: string, maxSteps: number, checkpointSteps: number, batchSize = 4): string {
  const path = join(scratch, name);
  writeFileSync(path, readFileSync(MICRO, 'utf8').replace('batch_size: 4\n    micro_batch_size: 2', `batch_size: ${batchSize}\n    micro_batch_size: ${batchSize / 2}`).replace('max_steps: 20', `max_steps: ${maxSteps}`)
    .replace('checkpoint_steps: 10', `checkpoint_steps: ${checkpointSteps}`).replace('eval_frequency: 10', 'eval_frequency: 1000')
    .replace('total_iters: 15   # max_steps - warmup', `total_iters: ${maxSteps - 5}`));
  return path;
}

// pnpm itself: the one running this suite when `pnpm test` started it (CI may run pnpm through npx,
// leaving none on PATH), else the one on PATH
const PNPM = /pnpm/.test(process.env.npm_execpath ?? '') ? [process.execPath, process.env.npm_execpath!] : ['pnpm'];

/** Runs `pnpm train ...` in its own process group; `done` resolves once every process holding its output has exited. */
function pnpmTrain(args: string[], env: Record<string, string> = {}) {
  const child = spawn(PNPM[0]!, [...PNPM.slice(1), 'train', ...args], { cwd: ROOT, detached: true, env: { ...process.env, ...env } });
  running.add(child);
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  // 'close' waits for the pipes: node (the grandchild) holds them after pnpm itself has exited
  const done = new Promise<{ status: number; out: string }>((resolve) => child.on('close', (code, signal) => {
    resolve({ status: code ?? 128 + osConstants.signals[signal!], out }); // as a shell reports it
  }));
  const waitFor = (pattern: RegExp, ms = 90_000) => new Promise<void>((resolve, reject) => {
    const started = Date.now();
    const timer = setInterval(() => {
      if (pattern.test(out)) {
        clearInterval(timer);
        resolve();
      } else if (child.exitCode !== null || Date.now() - started > ms) {
        clearInterval(timer);
        reject(new Error(`no ${pattern} in the output of pnpm train ${args.join(' ')}:\n${out}`));
      }
    }, 25);
  });
  return { child, done, waitFor, output: () => out };
}

function runPnpmTrain(args: string[], env: Record<string, string> = {}) {
  const r = pnpmTrain(args, env);
  const timer = setTimeout(() => process.kill(-r.child.pid!, 'SIGKILL'), 100_000);
  return r.done.finally(() => clearTimeout(timer));
}

describe('pnpm train, as a user runs it', () => {
  for (const [signal, status] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    it(`${signal} to its process group saves after the current step, exits ${status}, and the next run continues`, async () => {
      const dir = join(scratch, `signal-${signal}`);
      // batches of 16 (micro-batches of 8) make a step long enough that the signal lands inside one
      const config = microConfig(`signal-${signal}.yaml`, 400, 1000, 16);
      const run = pnpmTrain(['--params', config, '--model_dir', dir, '--mode', 'train']);
      await run.waitFor(/step 2\/400/);
      await new Promise((resolve) => setTimeout(resolve, 100)); // into step 3's computation
      process.kill(-run.child.pid!, signal);
      const { status: got, out } = await run.done;
      expect(got).toBe(status);
      const saved = /interrupted: saved (\S+checkpoint_(\d+)) at step (\d+)/.exec(out);
      expect(saved, out).not.toBeNull();
      const step = Number(saved![2]);
      expect(step).toBeGreaterThanOrEqual(2);
      expect(readTrainingState(saved![1]!).state.step).toBe(step);
      expect((await LlamaForCausalLM.fromPretrained(saved![1]!)).config.hiddenSize).toBe(32);
      expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
      const next = await runPnpmTrain(['--params', config, '--model_dir', dir, '--mode', 'train', '--max_steps', String(step + 1)]);
      expect(next.status, next.out).toBe(0);
      expect(next.out).toContain(`resuming from ${saved![1]} at step ${step}`);
      expect(next.out).toMatch(new RegExp(`step ${step + 1}/${step + 1} loss`));
    });
  }

  it('refuses a second run in the same model_dir naming the first, and takes over the lock of a killed run', async () => {
    const dir = join(scratch, 'two-runs');
    const config = microConfig('two-runs.yaml', 400, 1000);
    const first = pnpmTrain(['--params', config, '--model_dir', dir, '--mode', 'train']);
    await first.waitFor(/step 1\/400/);
    const holder = JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8'));
    const second = await runPnpmTrain(['--params', config, '--model_dir', dir, '--mode', 'train']);
    expect(second.status).toBe(1);
    expect(second.out).toContain(`${dir} is in use by another run (pid ${holder.pid} on ${hostname()}, started ${holder.started}; lock file ${join(dir, LOCK_FILE)})`);
    expect(first.child.exitCode).toBeNull(); // the first run is untouched
    process.kill(-first.child.pid!, 'SIGKILL');
    await first.done;
    expect(existsSync(join(dir, LOCK_FILE))).toBe(true); // SIGKILL leaves it behind
    const third = await runPnpmTrain(['--params', config, '--model_dir', dir, '--mode', 'train', '--max_steps', '1']);
    expect(third.status, third.out).toBe(0);
    expect(third.out).toContain(`taking over the lock ${join(dir, LOCK_FILE)}: its holder (pid ${holder.pid} on ${hostname()}, started ${holder.started}) is no longer running`);
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
  });

  it('re-saving a step survives a kill at every point of the swap: the next run resumes from that step', async () => {
    const configPath = microConfig('resave.yaml', 20, 1);
    const base = join(scratch, 'resave-base');
    const quiet = () => undefined;
    await runTraining({ config: loadZooConfig(configPath), modelDir: base, mode: 'train', maxSteps: 2, log: quiet, progressBar: false });
    expect(readdirSync(base).filter((n) => n.startsWith('checkpoint_')).sort()).toEqual(['checkpoint_1', 'checkpoint_2']);
    // what model_dir holds right after the kill, besides checkpoint_1: the swap's state at that point
    const leftAt: Record<(typeof CRASH_POINTS)[number], RegExp[]> = {
      'files-written': [/^checkpoint_2$/, /^checkpoint_2\.tmp-\d+$/],
      'manifest-written': [/^checkpoint_2$/, /^checkpoint_2\.tmp-\d+$/],
      'old-moved-aside': [/^checkpoint_2\.old-\d+$/, /^checkpoint_2\.tmp-\d+$/],
      'new-in-place': [/^checkpoint_2$/, /^checkpoint_2\.old-\d+$/],
      'old-removed': [/^checkpoint_2$/],
    };
    for (const point of CRASH_POINTS) {
      const dir = join(scratch, `resave-${point}`);
      cpSync(base, dir, { recursive: true });
      // resuming from checkpoint_1 and stopping at step 2 re-saves checkpoint_2, killed at `point`
      const killed = await runPnpmTrain(['--params', configPath, '--model_dir', dir, '--mode', 'train', '--checkpoint_path', join(dir, 'checkpoint_1'), '--max_steps', '2'], { TSGRAD_CRASH_AT: point });
      expect(killed.status, `${point}: ${killed.out}`).not.toBe(0);
      const left = readdirSync(dir).filter((n) => n.startsWith('checkpoint_2')).sort();
      expect(left.length, `${point}: ${left}`).toBe(leftAt[point].length);
      leftAt[point].forEach((pattern, i) => expect(left[i], point).toMatch(pattern));
      const lines: string[] = [];
      const next = await runTraining({ config: loadZooConfig(configPath), modelDir: dir, mode: 'train', maxSteps: 3, log: (l) => lines.push(l), progressBar: false });
      const out = lines.join('\n');
      expect(next.losses.map((l) => l.step), `${point}: ${out}`).toEqual([3]);
      expect(out, point).toContain(`resuming from ${join(dir, 'checkpoint_2')} at step 2`);
      expect(out, point).not.toMatch(/refusing/);
      if (point === 'old-moved-aside') expect(out).toMatch(/recovered checkpoint_2 from checkpoint_2\.tmp-\d+, left by a save that was interrupted/);
      expect(readdirSync(dir).filter((n) => /\.(tmp|old)-/.test(n)), point).toEqual([]);
    }
  });
});
