// Training with worker threads on (issue 16, item 12): a model large enough that its matmuls and
// attention calls cross the split threshold, trained a few steps with one worker thread, must give
// the losses and weights of the same run on this thread alone. A split that lost or duplicated
// rows would change them at once.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PARALLEL_MIN_WORK, stagingBytes } from '../../tensor/src/parallel/pool.js';
import { disableWorkerThreads, enableWorkerThreads } from '@tsgrad/tensor/node';
import { LlamaForCausalLM, kernelStagingBytes } from '../src/index.js';
import { loadZooConfig, type TrainConfig } from '../src/node/zoo-config.js';
import { runTraining } from '../src/node/trainer.js';
import { latestCheckpoint } from '../src/node/checkpoints.js';
import type { Corpus } from '../src/node/corpus.js';

const CONFIGS = new URL('../configs/', import.meta.url).pathname;
const scratch = mkdtempSync(join(tmpdir(), 'tsgrad-train-threads-'));
afterAll(() => {
  disableWorkerThreads();
  rmSync(scratch, { recursive: true, force: true });
});

const text = 'It was the best of times, it was the worst of times, it was the age of wisdom. '.repeat(40);
const corpus: Corpus = {
  source: 'test text',
  train: new TextEncoder().encode(text),
  validation: new TextEncoder().encode(text.slice(0, 800)),
};

// The micro config widened until the big products split: micro-batches of 2 × 128 tokens.
function config(): TrainConfig {
  const c = loadZooConfig(join(CONFIGS, 'params_llama_micro.yaml'));
  c.model = { ...c.model, hiddenSize: 64, intermediateSize: 192, maxPositionEmbeddings: 128 };
  c.train = { ...c.train, batchSize: 4, microBatchSize: 2, seqLen: 128 };
  c.runconfig = { ...c.runconfig, maxSteps: 3, checkpointSteps: 3, logSteps: 1 };
  return c;
}

async function train(name: string) {
  const dir = join(scratch, name);
  const result = await runTraining({ config: config(), modelDir: dir, mode: 'train', corpus, log: () => undefined, progressBar: false });
  const model = await LlamaForCausalLM.fromPretrained(latestCheckpoint(dir)!);
  const weights = new Map(model.namedParameters().map(([key, p]) => [key, Array.from(p.toTypedArray())]));
  return { losses: result.losses, weights };
}

describe('training with worker threads', () => {
  it('crosses the split threshold and gives the losses and weights of a one-thread run, bit for bit', async () => {
    const { model, train: t } = config();
    const tokens = t.microBatchSize * t.seqLen;
    // the output projection (tokens × hidden × vocab), the MLP (tokens × hidden × intermediate)
    // and the attention of one micro-batch (B·H slices of T × T scores, D + D multiply-adds each) split
    expect(tokens * model.hiddenSize * model.vocabSize).toBeGreaterThanOrEqual(PARALLEL_MIN_WORK);
    expect(tokens * model.hiddenSize * model.intermediateSize).toBeGreaterThanOrEqual(PARALLEL_MIN_WORK);
    const headDim = model.hiddenSize / model.numAttentionHeads;
    expect(t.microBatchSize * model.numAttentionHeads * (t.seqLen * (t.seqLen + 1)) / 2 * 2 * headDim).toBeGreaterThanOrEqual(PARALLEL_MIN_WORK);

    disableWorkerThreads();
    const one = await train('one-thread');
    await enableWorkerThreads(1);
    const two = await train('two-threads');
    // --dry_run's staging term: the shared arena this run grew, computed from the shapes alone
    // (the js backend's figure: the arena without the threads' WebAssembly memory)
    expect(stagingBytes()).toBe(kernelStagingBytes(model, { batchSize: t.microBatchSize, seqLen: t.seqLen, threads: 2, backend: 'js' }));
    disableWorkerThreads();

    expect(two.losses.map((l) => l.step)).toEqual([1, 2, 3]);
    expect(two.losses).toEqual(one.losses);
    expect([...two.weights.keys()]).toEqual([...one.weights.keys()]);
    for (const [key, w] of one.weights) expect(two.weights.get(key), key).toEqual(w);
  }, 120_000);
});
