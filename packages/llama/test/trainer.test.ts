// The training command's machinery: a run whose loss falls, bit-identical resume, checkpoints that
// survive a kill at any moment, the non-finite-loss stop, and every shipped config dry-running.

import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LlamaForCausalLM } from '../src/index.js';
import { estimateTrainingMemory } from '../src/config.js';
import { parseZooConfig, loadZooConfig, type TrainConfig } from '../src/node/zoo-config.js';
import { describeConfig, runTraining, zooLearningRate } from '../src/node/trainer.js';
import { latestCheckpoint, listCheckpoints, readTrainingState } from '../src/node/checkpoints.js';
import type { Corpus } from '../src/node/corpus.js';

const CONFIGS = new URL('../configs/', import.meta.url).pathname;
const CEREBRAS = new URL('./fixtures/cerebras/', import.meta.url).pathname;
const scratch = mkdtempSync(join(tmpdir(), 'tsgrad-train-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const text = 'It was the best of times, it was the worst of times, it was the age of wisdom. '.repeat(40);
const corpus: Corpus = {
  source: 'test text',
  train: new TextEncoder().encode(text),
  validation: new TextEncoder().encode(text.slice(0, 800)),
};
const micro = (): TrainConfig => loadZooConfig(join(CONFIGS, 'params_llama_micro.yaml'));
const quiet = () => undefined;

function walkYaml(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walkYaml(join(dir, e.name)) : e.name.endsWith('.yaml') ? [join(dir, e.name)] : []);
}

describe('pnpm train', () => {
  it('dry-runs every shipped config and each of Cerebras\' configs', () => {
    const files = [...walkYaml(CONFIGS), ...walkYaml(CEREBRAS)];
    expect(files.length).toBeGreaterThanOrEqual(12);
    for (const file of files) {
      const lines = describeConfig(loadZooConfig(file));
      expect(lines.join('\n'), file).toMatch(/parameters:\s+[\d,]+/);
      expect(lines.join('\n'), file).toMatch(/FLOPs per step:\s+\d/);
    }
    expect(describeConfig(loadZooConfig(join(CONFIGS, 'params_llama_7b.yaml'))).join('\n')).toContain('6,738,415,616');
  });

  it('dry-run prints the memory estimate with gradient checkpointing as configured and the other way, with the kernels\' staging for the run\'s backend and threads', () => {
    const off = loadZooConfig(join(CONFIGS, 'params_llama_7b.yaml'));
    const on = { ...off, gradientCheckpointing: true };
    const kernels = { threads: 2, backend: 'wasm' } as const;
    const figure = (c: TrainConfig, ck: boolean) => estimateTrainingMemory(c.model, { batchSize: c.train.microBatchSize, seqLen: c.train.seqLen, gradientCheckpointing: ck, ...kernels });
    const gib = (b: number) => (b / 2 ** 30).toFixed(1);
    const offText = describeConfig(off, kernels).join('\n');
    const onText = describeConfig(on, kernels).join('\n');
    expect(offText).toContain(`training memory:   ${gib(figure(off, false).total)} GiB`);
    expect(offText).toContain(`kernel staging ${gib(figure(off, false).kernelStaging)} GiB on wasm with 2 threads)`);
    expect(figure(off, false).kernelStaging).toBeGreaterThan(0);
    expect(offText).toContain(`gradient checkpointing off (model.gradient_checkpointing); on it would be ${gib(figure(off, true).total)} GiB`);
    expect(onText).toContain(`training memory:   ${gib(figure(on, true).total)} GiB`);
    expect(onText).toContain(`gradient checkpointing on (model.gradient_checkpointing); off it would be ${gib(figure(on, false).total)} GiB`);
    expect(figure(on, true).total).toBeLessThan(figure(on, false).total);
    // on js with one thread the kernels stage nothing
    expect(describeConfig(off, { threads: 1, backend: 'js' }).join('\n')).toContain('kernel staging 0.000 GiB on js with 1 thread)');
  });

  it('dry-run prints the expected peak rss: rss now + the workers\' runtime + the training memory + two semi-spaces, with checkpointing as configured and the other way', () => {
    const config = loadZooConfig(join(CONFIGS, 'params_llama_tiny.yaml'));
    const MiB = 2 ** 20;
    const kernels = { threads: 2, backend: 'wasm' } as const;
    const runtime = { rss: 90 * MiB, workers: 21 * MiB, workerCount: 1, semiSpace: { bytes: 16 * MiB, source: 'V8\'s default on 64-bit' } };
    const training = (ck: boolean) => estimateTrainingMemory(config.model, { batchSize: 4, seqLen: 128, gradientCheckpointing: ck, ...kernels }).total;
    const gib = (b: number) => `${(b / 2 ** 30).toFixed(3)} GiB`;
    const text = describeConfig(config, kernels, runtime).join('\n');
    expect(text).toContain(`expected peak rss: ${gib(90 * MiB + 21 * MiB + training(false) + 32 * MiB)} = rss now ${gib(90 * MiB)} (Node, tsx, this command's modules, the config) ` +
      `+ 1 worker thread's runtime ${gib(21 * MiB)} (rss added by starting the pool) + training memory ${gib(training(false))} ` +
      `+ V8's young generation at its maximum ${gib(32 * MiB)} (2 × 16 MiB semi-spaces, V8's default on 64-bit)`);
    expect(text).toContain(`gradient checkpointing on it would be ${gib(90 * MiB + 21 * MiB + training(true) + 32 * MiB)};`);
    const on = describeConfig({ ...config, gradientCheckpointing: true }, kernels, { ...runtime, semiSpace: { bytes: 4 * MiB, source: '--max-semi-space-size=4' } }).join('\n');
    expect(on).toContain(`expected peak rss: ${gib(111 * MiB + training(true) + 8 * MiB)} = `);
    expect(on).toContain(`(2 × 4 MiB semi-spaces, --max-semi-space-size=4)`);
    expect(on).toContain(`gradient checkpointing off it would be ${gib(111 * MiB + training(false) + 8 * MiB)};`);
    // without a measured runtime (a config summary alone) there is no peak line
    expect(describeConfig(config, kernels).join('\n')).not.toContain('expected peak rss');
  });

  it('follows the zoo schedule: linear warmup, cosine to the end rate, flat after', () => {
    const s = { warmupSteps: 10, initialLr: 0, maxLr: 1, endLr: 0.1, decaySteps: 20 };
    expect(zooLearningRate(0, s)).toBe(0);
    expect(zooLearningRate(5, s)).toBeCloseTo(0.5, 12);
    expect(zooLearningRate(10, s)).toBeCloseTo(1, 12);
    expect(zooLearningRate(20, s)).toBeCloseTo(0.55, 12);
    expect(zooLearningRate(30, s)).toBeCloseTo(0.1, 12);
    expect(zooLearningRate(100, s)).toBe(0.1);
  });

  it('trains a tiny model whose loss falls, writing metrics.jsonl, loss.svg and a Hugging Face checkpoint', async () => {
    const dir = join(scratch, 'falls');
    const result = await runTraining({ config: micro(), modelDir: dir, mode: 'train_and_eval', corpus, log: quiet, progressBar: false });
    expect(result.step).toBe(20);
    const first = result.losses.slice(0, 3).reduce((a, b) => a + b.loss, 0) / 3;
    const last = result.losses.slice(-3).reduce((a, b) => a + b.loss, 0) / 3;
    expect(last).toBeLessThan(first * 0.8);
    const metrics = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(metrics.filter((m) => m.loss !== undefined)).toHaveLength(20);
    expect(metrics.filter((m) => m.eval_loss !== undefined).length).toBeGreaterThanOrEqual(2);
    expect(readFileSync(join(dir, 'loss.svg'), 'utf8')).toMatch(/^<svg[\s\S]*<path/);
    const ckpt = latestCheckpoint(dir)!;
    expect(readdirSync(ckpt).sort()).toEqual(['config.json', 'generation_config.json', 'manifest.json', 'model.safetensors', 'optimizer.json', 'optimizer.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'trainer_state.json']);
    const model = await LlamaForCausalLM.fromPretrained(ckpt);
    expect(model.config.hiddenSize).toBe(32);
  });

  it('resumes from the latest checkpoint with losses bit-identical to an uninterrupted run', async () => {
    const straight = await runTraining({ config: micro(), modelDir: join(scratch, 'straight'), mode: 'train', corpus, log: quiet, progressBar: false });
    const dir = join(scratch, 'resumed');
    const part1 = await runTraining({ config: micro(), modelDir: dir, mode: 'train', corpus, log: quiet, progressBar: false, maxSteps: 10 });
    expect(part1.step).toBe(10);
    const part2 = await runTraining({ config: micro(), modelDir: dir, mode: 'train', corpus, log: quiet, progressBar: false });
    expect(part2.losses[0]!.step).toBe(11);
    expect([...part1.losses, ...part2.losses]).toEqual(straight.losses);
  });

  it('stops at a non-finite loss with an error naming the step, leaving the last checkpoint whole', async () => {
    const config = micro();
    config.optimizer.maxGradientNorm = null;
    config.optimizer.schedule = { warmupSteps: 0, initialLr: 1e6, maxLr: 1e6, endLr: 1e6, decaySteps: 0 };
    config.runconfig.checkpointSteps = 1;
    const dir = join(scratch, 'nan');
    await expect(runTraining({ config, modelDir: dir, mode: 'train', corpus, log: quiet, progressBar: false })).rejects.toThrow(/loss is (NaN|Infinity|-Infinity) at step \d+/);
    const last = latestCheckpoint(dir);
    expect(last).not.toBeNull();
    expect(readTrainingState(last!).state.step).toBeGreaterThan(0);
    await LlamaForCausalLM.fromPretrained(last!);
  });

  it('saves a checkpoint and stops cleanly when asked to (Ctrl-C), then continues on rerun', async () => {
    const dir = join(scratch, 'interrupt');
    let calls = 0;
    const result = await runTraining({ config: micro(), modelDir: dir, mode: 'train', corpus, log: quiet, progressBar: false, shouldStop: () => ++calls === 3 });
    expect(result.interrupted).toBe(true);
    expect(result.step).toBe(3);
    expect(readTrainingState(latestCheckpoint(dir)!).state.step).toBe(3);
    const rest = await runTraining({ config: micro(), modelDir: dir, mode: 'train', corpus, log: quiet, progressBar: false });
    expect(rest.losses[0]!.step).toBe(4);
    expect(rest.step).toBe(20);
  });

  it('removes a leftover temp folder and resumes past a damaged checkpoint folder, naming it', async () => {
    const dir = join(scratch, 'partial');
    const config = micro();
    config.runconfig.checkpointSteps = 5;
    await runTraining({ config, modelDir: dir, mode: 'train', corpus, log: quiet, progressBar: false });
    expect(listCheckpoints(dir).map((c) => c.step)).toEqual([15, 20]);
    // a temp folder left by a killed save, and a folder damaged after the fact (no manifest, garbage weights)
    mkdirSync(join(dir, 'checkpoint_25.tmp-999'));
    mkdirSync(join(dir, 'checkpoint_30'));
    writeFileSync(join(dir, 'checkpoint_30', 'model.safetensors'), 'garbage');
    const lines: string[] = [];
    const result = await runTraining({ config, modelDir: dir, mode: 'train', corpus, log: (l) => lines.push(l), progressBar: false, maxSteps: 21 });
    const text = lines.join('\n');
    expect(text).toContain('removed checkpoint_25.tmp-999');
    expect(text).toMatch(/refusing \S*checkpoint_30: \S*checkpoint_30 is incomplete/);
    expect(text).toMatch(/resuming from \S*checkpoint_20 at step 20/);
    expect(result.losses[0]!.step).toBe(21);
    expect(existsSync(join(dir, 'checkpoint_25.tmp-999'))).toBe(false);
  });

  it('refuses --mode eval without a checkpoint and evaluates one that exists', async () => {
    const empty = join(scratch, 'empty');
    await expect(runTraining({ config: micro(), modelDir: empty, mode: 'eval', corpus, log: quiet })).rejects.toThrow(/needs a checkpoint/);
    const dir = join(scratch, 'eval-only'); // a checkpoint of its own, so the test also runs alone
    await runTraining({ config: micro(), modelDir: dir, mode: 'train', corpus, log: quiet, progressBar: false, maxSteps: 2 });
    const result = await runTraining({ config: micro(), modelDir: dir, mode: 'eval', corpus, log: quiet });
    expect(result.evalLoss).toBeGreaterThan(0);
  });

  it('refuses to start a run whose memory estimate exceeds the free memory, and says why', async () => {
    const config = loadZooConfig(join(CONFIGS, 'params_llama_65b.yaml'));
    await expect(runTraining({ config, modelDir: join(scratch, 'huge'), mode: 'train', corpus, log: quiet })).rejects.toThrow(/needs about [\d.]+ GiB[\s\S]*only [\d.]+ GiB is free/);
    expect(existsSync(join(scratch, 'huge', 'metrics.jsonl'))).toBe(false);
  });

  it('reports bad configs by key and file', () => {
    const good = readFileSync(join(CONFIGS, 'params_llama_micro.yaml'), 'utf8');
    expect(() => parseZooConfig(good.replace('hidden_size: 32', 'hidden_size: "wide"'), 'bad.yaml')).toThrow(/model\.hidden_size[\s\S]*bad\.yaml/);
    expect(() => parseZooConfig(good.replace('num_heads: 4', 'num_heads: 4\n    mystery_key: 1'), 'bad.yaml')).toThrow(/mystery_key[\s\S]*bad\.yaml/);
  });
});
