// What a user of the CLIs sees: flag values checked against their range (negative numbers accepted
// as values), --threads capped at the cores, generate using the whole prompt when it fits and
// saying once when it must slide, progress lines with elapsed time and ETA, loss.svg's step axis.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Generator } from '@tsgrad/tensor';
import { LlamaForCausalLM, byteLevelTokenizer, createStreamingDecoder } from '../src/index.js';
import { ByteTokenizer } from '../src/tokenizer.js';
import { main as generateMain } from '../src/cli/generate.js';
import { loadZooConfig } from '../src/node/zoo-config.js';
import { formatDuration, runTraining } from '../src/node/trainer.js';
import { writeLossSvg } from '../src/node/loss-plot.js';
import { integerFlag, joinNegativeValues, numberFlag } from '../src/node/flags.js';
import type { Corpus } from '../src/node/corpus.js';

const ROOT = new URL('../../../', import.meta.url).pathname;
const TRAIN = join(ROOT, 'packages/llama/src/cli/train.ts');
const GENERATE = join(ROOT, 'packages/llama/src/cli/generate.ts');
const CONFIGS = new URL('../configs/', import.meta.url).pathname;
const scratch = mkdtempSync(join(tmpdir(), 'tsgrad-cli-flags-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function run(script: string, args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', script, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

// A random (untrained) byte-level model with a context of 32, saved with its tokenizer.
async function randomModelDir(name: string): Promise<{ dir: string; model: LlamaForCausalLM }> {
  const config = { ...loadZooConfig(join(CONFIGS, 'params_llama_micro.yaml')).model };
  const model = new LlamaForCausalLM(config, { generator: new Generator(5) });
  const dir = join(scratch, name);
  await model.savePretrained(dir);
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(new ByteTokenizer().toJSON()));
  return { dir, model };
}

describe('flag values', () => {
  it('take decimal integers only, within their range, and say the range when refused', () => {
    expect(integerFlag('t', 'n', '10', 1, Number.MAX_SAFE_INTEGER, 0)).toBe(10);
    expect(integerFlag('t', 'n', undefined, 1, Number.MAX_SAFE_INTEGER, 7)).toBe(7);
    for (const bad of ['1e3', '0x10', '1.5', '10abc', '', ' ', '0', '-1', '9007199254740993']) {
      expect(() => integerFlag('train', 'max_steps', bad, 1, Number.MAX_SAFE_INTEGER, 0), bad)
        .toThrow(/^train: --max_steps must be a positive integer \(1 to 2\^53 − 1\) in decimal digits; got '/);
    }
    expect(integerFlag('g', 'seed', '-1', -Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, 0)).toBe(-1);
    expect(() => integerFlag('generate', 'seed', '1e20', -Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, 0)).toThrow(/--seed must be a safe integer/);
    expect(() => integerFlag('generate', 'seed', '9007199254740992', -Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, 0)).toThrow(/--seed must be a safe integer/);
    expect(numberFlag('g', 'top_p', '0.5', 'in (0, 1]', (v) => v > 0 && v <= 1, 1)).toBe(0.5);
    expect(() => numberFlag('generate', 'top_p', '1.5', 'in (0, 1]', (v) => v > 0 && v <= 1, 1)).toThrow("generate: --top_p must be a number in (0, 1]; got '1.5'");
    expect(() => numberFlag('generate', 'temperature', '', '≥ 0', (v) => v >= 0, 1)).toThrow(/--temperature must be a number ≥ 0/);
  });

  it('accept a negative number after a flag as its value', () => {
    expect(joinNegativeValues(['--seed', '-1', '--prompt', 'x'], ['seed'])).toEqual(['--seed=-1', '--prompt', 'x']);
    expect(joinNegativeValues(['--prompt', '-1'], ['seed'])).toEqual(['--prompt', '-1']);
    const steps = run(TRAIN, ['--max_steps', '-1', '--dry_run']);
    expect(steps.code).toBe(2);
    expect(steps.err).toMatch(/--max_steps must be a positive integer \(1 to 2\^53 − 1\) in decimal digits; got '-1'/);
    expect(run(TRAIN, ['--max_steps', '1e3', '--dry_run']).err).toMatch(/--max_steps must be a positive integer[\s\S]*got '1e3'/);
    const temp = run(GENERATE, ['--temperature', '-1']);
    expect(temp.code).toBe(2);
    expect(temp.err).toMatch(/generate: --temperature must be a number ≥ 0 \(0 is greedy\); got '-1'/);
  });

  it('generate takes a negative --seed and caps --threads at the cores with a warning', async () => {
    const { dir } = await randomModelDir('seeded');
    let out = '';
    const warnings: string[] = [];
    const threads = String(availableParallelism() + 3);
    expect(await generateMain(['--model_dir', dir, '--prompt', 'abc', '--max_new_tokens', '3', '--seed', '-1', '--threads', threads], (s) => (out += s), (w) => warnings.push(w))).toBe(0);
    expect(out.startsWith('abc')).toBe(true);
    expect(warnings).toEqual([`generate: --threads ${threads} is more than the ${availableParallelism()} cores here; using ${availableParallelism()}`]);
  });
});

describe('generate and the context', () => {
  it('uses the whole prompt when prompt and new tokens fit, even a prompt longer than half the context', async () => {
    const { dir, model } = await randomModelDir('whole-prompt');
    expect(model.config.maxPositionEmbeddings).toBe(32);
    const prompt = 'It was the best of times, it'; // 28 bytes: more than half of 32
    const ids = new ByteTokenizer().encode(prompt);
    expect(ids.length).toBe(28);
    const expected = model.generate(ids, { maxNewTokens: 4, temperature: 0 });
    // the CLI streams the new tokens through the folder's tokenizer (Hugging Face's byte-level one),
    // primed with the prompt
    const stream = byteLevelTokenizer().createStreamingDecoder({ skipSpecialTokens: true });
    for (const id of ids) stream.push(id);
    const expectedText = prompt + expected.slice(28).map((id) => stream.push(id)).join('') + stream.flush() + '\n';
    // the last 16 bytes alone continue differently, so a dropped start would show
    const fromHalf = model.generate(ids.slice(-16), { maxNewTokens: 4, temperature: 0 });
    expect(fromHalf.slice(16)).not.toEqual(expected.slice(28));
    let out = '';
    const warnings: string[] = [];
    expect(await generateMain(['--model_dir', dir, '--prompt', prompt, '--max_new_tokens', '4', '--temperature', '0', '--threads', '1'], (s) => (out += s), (w) => warnings.push(w))).toBe(0);
    expect(out).toBe(expectedText);
    expect(warnings).toEqual([]);
  });

  it('slides beyond the context and says so once', async () => {
    const { dir, model } = await randomModelDir('slides');
    const prompt = 'It was the best of times, it';
    let out = '';
    const warnings: string[] = [];
    expect(await generateMain(['--model_dir', dir, '--prompt', prompt, '--max_new_tokens', '60', '--temperature', '0', '--threads', '1'], (s) => (out += s), (w) => warnings.push(w))).toBe(0);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/the prompt \(28 tokens\) and 60 new tokens exceed the model's context of 32; whenever the context is full the model sees only the last 16 tokens/);
    // the first round still sees the whole prompt: its 4 tokens are those of the full context (a
    // streaming decoder's text for the first tokens is a prefix of its text for all of them)
    const ids = new ByteTokenizer().encode(prompt);
    const decoder = createStreamingDecoder();
    const first = model.generate(ids, { maxNewTokens: 4, temperature: 0 }).slice(28).map((id) => decoder.push(id)).join('');
    const fromHalfDecoder = createStreamingDecoder();
    const fromHalf = model.generate(ids.slice(-16), { maxNewTokens: 4, temperature: 0 }).slice(16).map((id) => fromHalfDecoder.push(id)).join('');
    expect(first.length).toBeGreaterThan(0);
    expect(first).not.toBe(fromHalf);
    expect(out.startsWith(prompt + first)).toBe(true);
  });
});

describe('what a training run shows', () => {
  it('progress lines give the elapsed time and an ETA', async () => {
    const text = 'It was the best of times, it was the worst of times. '.repeat(40);
    const corpus: Corpus = { source: 'test', train: new TextEncoder().encode(text), validation: new TextEncoder().encode(text.slice(0, 600)) };
    const lines: string[] = [];
    await runTraining({ config: loadZooConfig(join(CONFIGS, 'params_llama_micro.yaml')), modelDir: join(scratch, 'progress'), mode: 'train', corpus, log: (l) => lines.push(l), progressBar: false, maxSteps: 3 });
    const steps = lines.filter((l) => /^step \d+\/3 /.test(l));
    expect(steps).toHaveLength(3);
    for (const l of steps) expect(l).toMatch(/ elapsed \d+s ETA \d+s$/);
    expect(steps[2]).toMatch(/ETA 0s$/);
    expect([formatDuration(42), formatDuration(187), formatDuration(7500)]).toEqual(['42s', '3m07s', '2h05m']);
  });

  it('loss.svg labels its step axis with step numbers', () => {
    const path = join(scratch, 'loss.svg');
    writeLossSvg(path, [1, 2, 3, 4, 5, 6, 7, 8].map((step) => ({ step, loss: 5 - step * 0.3 })));
    const svg = readFileSync(path, 'utf8');
    const labels = [...svg.matchAll(/<text x="[\d.]+" y="(\d+)" text-anchor="middle">(\d+)<\/text>/g)].filter((m) => m[1] === '335').map((m) => Number(m[2]));
    expect(labels).toEqual([0, 2, 4, 6, 8]);
    expect(svg).toMatch(/>step<\/text>/);
  });
});
