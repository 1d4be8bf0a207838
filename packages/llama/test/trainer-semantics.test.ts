// What the trainer computes, checked against a reference loop written out here: parameter groups
// (which get weight decay), the learning rate of each step, gradient accumulation, and the data
// (train_input.shuffle_seed orders the windows; eval_input.data_dir supplies validation, and
// validation text is never trained on).

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, onTestFinished } from 'vitest';
import { Generator, type Tensor, noGrad, setStoragePool, storagePoolStats, withReleaseScope } from '@tsgrad/tensor';
import { AdamW, clipGradNorm } from '@tsgrad/optim';
import { LlamaForCausalLM } from '../src/index.js';
import { type TrainConfig, loadZooConfig } from '../src/node/zoo-config.js';
import { checkSameModel, evaluate, runTraining } from '../src/node/trainer.js';
import { latestCheckpoint } from '../src/node/checkpoints.js';
import { type Corpus, loadCorpus, mobyDickCorpus, textCorpus } from '../src/node/corpus.js';
import { randomBatch, validationBatches } from '../src/node/trainer.js';
import { relativeError } from './helpers.js';

const CONFIGS = new URL('../configs/', import.meta.url).pathname;
const scratch = mkdtempSync(join(tmpdir(), 'tsgrad-trainer-semantics-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const quiet = () => undefined;

// Varied text, so that different windows give different gradients.
const words = 'whale sea ship captain harpoon ocean deck sail storm mast rope oil boat crew night white'.split(' ');
const textGen = new Generator(7);
const text = Array.from({ length: 3000 }, () => words[textGen.randint(words.length)]).join(' ');
const corpus: Corpus = { source: 'test words', train: new TextEncoder().encode(text), validation: new TextEncoder().encode(text.slice(0, 1000)) };

describe('the trainer against a reference loop', () => {
  it('matches the reference for 3 steps: no weight decay on norm weights, lr(k) on step k, micro-batch losses divided by their count, windows from shuffle_seed', async () => {
    // params_llama_micro.yaml: batch 4 in micro-batches of 2, warmup 0 → 1e-2 over 5 steps, AdamW
    // 0.9/0.95, weight decay 0.1. The update must depend on the gradients' scale, or a missing division
    // by the accumulation count would not show: eps is raised to 1e-3, near the gradients' size (with
    // eps ≪ |g| AdamW is scale-free), and the clip to 1e3, above the gradient norm (clipping to a
    // norm the gradients exceed would undo the scale).
    const config: TrainConfig = loadZooConfig(join(CONFIGS, 'params_llama_micro.yaml'));
    config.optimizer.eps = 1e-3;
    config.optimizer.maxGradientNorm = 1e3;
    config.train.shuffleSeed = 1234;
    const steps = 3;
    const { batchSize, microBatchSize, seqLen } = config.train;
    expect(batchSize / microBatchSize).toBe(2);
    const dir = join(scratch, 'reference');
    const run = await runTraining({ config, modelDir: dir, mode: 'train', corpus, log: quiet, progressBar: false, maxSteps: steps });
    const trained = await LlamaForCausalLM.fromPretrained(latestCheckpoint(dir)!);

    // ---- the reference loop ----
    const model = new LlamaForCausalLM(config.model, { generator: new Generator(config.runconfig.seed) });
    const data = new Generator(1234); // train_input.shuffle_seed
    // Weight decay on the matrices (embeddings, projections, lm_head); none on the RMSNorm weights.
    const named = model.namedParameters();
    const isNorm = (name: string) => /(^|\.)(input_layernorm|post_attention_layernorm|norm)\.weight$/.test(name);
    expect(named.filter(([n]) => isNorm(n))).toHaveLength(2 * config.model.numHiddenLayers + 1);
    const o = config.optimizer;
    const opt = new AdamW([
      { params: named.filter(([n]) => !isNorm(n)).map(([, p]) => p) },
      { params: named.filter(([n]) => isNorm(n)).map(([, p]) => p), weightDecay: 0 },
    ], { lr: 0, betas: o.betas, eps: o.eps, weightDecay: o.weightDecay });
    // Step k (0-based) runs at the schedule's value at k: linear warmup 0 → 1e-2 over 5 steps.
    const lrAt = (k: number) => 0 + ((1e-2 - 0) * k) / 5;
    const accumulation = batchSize / microBatchSize;
    const referenceLosses: number[] = [];
    for (let k = 0; k < steps; k++) {
      for (const g of opt.paramGroups) g.lr = lrAt(k);
      let loss = 0;
      for (let m = 0; m < accumulation; m++) {
        const ids = randomBatch(corpus.train, microBatchSize, seqLen, data);
        const l = model.forward(ids, { labels: ids }).loss!;
        loss += l.item();
        l.backward(); // gradients of the sum of micro-batch losses ...
      }
      noGrad(() => { for (const p of model.parameters()) p.grad!.mul_(1 / accumulation); }); // ... made a mean
      referenceLosses.push(loss / accumulation);
      expect(clipGradNorm(model.parameters(), o.maxGradientNorm!)).toBeLessThan(o.maxGradientNorm! / 10);
      opt.step();
      opt.zeroGrad();
    }

    expect(run.losses.map((l) => l.step)).toEqual([1, 2, 3]);
      // Bit for bit: the same operations in the same order, and dividing by 2 (the accumulation count)
    // is exact in binary floating point whether it is done to the losses or to the summed gradients.
    for (let k = 0; k < steps; k++) expect(run.losses[k]!.loss, `loss of step ${k + 1}`).toBe(referenceLosses[k]);
    const reference = new Map(model.namedParameters());
    for (const [name, p] of trained.namedParameters()) {
      expect(relativeError(p, reference.get(name)!), name).toBe(0);
    }
  });
});

describe('training and validation text', () => {
  // Whether a validation window occurs anywhere in the training text: 200 bytes at every 500th byte.
  function leakedWindows(c: Corpus): number {
    const train = Buffer.from(c.train);
    let leaked = 0;
    for (let i = 0; i + 200 <= c.validation.length; i += 500) {
      if (train.indexOf(Buffer.from(c.validation.subarray(i, i + 200))) >= 0) leaked++;
    }
    return leaked;
  }

  it('are disjoint for the bundled Moby Dick: no 200-byte validation window (one every 500 bytes) occurs in the training text', () => {
    const c = mobyDickCorpus();
    expect(c.validation.length).toBeGreaterThan(50_000);
    expect(c.train.length).toBeGreaterThan(9 * c.validation.length * 0.5);
    expect(leakedWindows(c)).toBe(0);
  });

  it('are disjoint (same windows) for a data_dir folder of files and for a single file split into blocks', () => {
    const folder = join(scratch, 'docs');
    mkdirSync(folder, { recursive: true });
    const doc = (i: number) => Array.from({ length: 60 }, (_, j) => `document ${i} line ${j} ${words[(i * 7 + j) % words.length]}`).join('\n');
    for (let i = 0; i < 12; i++) writeFileSync(join(folder, `doc${String(i).padStart(2, '0')}.txt`), doc(i));
    const fromFolder = textCorpus(folder);
    expect(fromFolder.validation.length).toBeGreaterThan(1000);
    expect(leakedWindows(fromFolder)).toBe(0);
    const file = join(scratch, 'one.txt');
    writeFileSync(file, Array.from({ length: 12 }, (_, i) => doc(i)).join('\n\n'));
    const fromFile = textCorpus(file);
    expect(fromFile.validation.length).toBeGreaterThan(1000);
    expect(leakedWindows(fromFile)).toBe(0);
  });

  it('takes validation from eval_input.data_dir when given, training on all of train_input.data_dir', async () => {
    const trainFile = join(scratch, 'train.txt');
    const evalFile = join(scratch, 'eval.txt');
    writeFileSync(trainFile, text);
    const evalText = 'Call me Ishmael. Some years ago, never mind how long precisely, having little money. '.repeat(8);
    writeFileSync(evalFile, evalText);
    const c = loadCorpus(trainFile, evalFile);
    expect(new TextDecoder().decode(c.validation)).toBe(evalText);
    expect(new TextDecoder().decode(c.train)).toBe(text);
    expect(() => loadCorpus(trainFile, trainFile)).toThrow(/train_input\.data_dir and eval_input\.data_dir are the same/);

    // through the config: the validation loss is the one over eval.txt's windows
    const config = loadZooConfig(join(CONFIGS, 'params_llama_micro.yaml'));
    config.train.dataDir = trainFile;
    config.eval = { ...config.eval!, dataDir: evalFile };
    const dir = join(scratch, 'eval-data-dir');
    const result = await runTraining({ config, modelDir: dir, mode: 'train_and_eval', log: quiet, progressBar: false, maxSteps: 2 });
    const model = await LlamaForCausalLM.fromPretrained(latestCheckpoint(dir)!);
    const batches = validationBatches(new TextEncoder().encode(evalText), config.eval.batchSize, config.eval.seqLen, config.runconfig.evalSteps);
    expect(result.evalLoss).toBe(evaluate(model, batches, { rowsPerForward: config.train.microBatchSize }));
    const metrics = readFileSync(join(dir, 'metrics.jsonl'), 'utf8');
    expect(metrics).toContain(`"eval_loss":${result.evalLoss}`);
  });
});

describe('resuming', () => {
  it('refuses a YAML whose model section differs from the checkpoint, listing each key with both values', async () => {
    const dir = join(scratch, 'changed-model');
    const config = loadZooConfig(join(CONFIGS, 'params_llama_micro.yaml'));
    await runTraining({ config, modelDir: dir, mode: 'train', corpus, log: quiet, progressBar: false, maxSteps: 2 });
    const wider = loadZooConfig(join(CONFIGS, 'params_llama_micro.yaml'));
    wider.model = { ...wider.model, hiddenSize: 64, ropeTheta: 5e5 };
    const refusal = runTraining({ config: wider, modelDir: dir, mode: 'train', corpus, log: quiet, progressBar: false, maxSteps: 4 });
    await expect(refusal).rejects.toThrow(/different model[\s\S]*model\.hidden_size: 64 in the YAML, 32 in the checkpoint[\s\S]*model\.rope_theta: 500000 in the YAML, 10000 in the checkpoint/);
    await expect(runTraining({ config: wider, modelDir: dir, mode: 'eval', corpus, log: quiet })).rejects.toThrow(/model\.hidden_size: 64 in the YAML/);
    // the unchanged YAML still resumes
    const resumed = await runTraining({ config, modelDir: dir, mode: 'train', corpus, log: quiet, progressBar: false, maxSteps: 3 });
    expect(resumed.losses.map((l) => l.step)).toEqual([3]);
  });

  it('compares the shape-giving keys only: a head size of the checkpoint\'s own differs, init range and token ids do not', () => {
    const config = loadZooConfig(join(CONFIGS, 'params_llama_micro.yaml'));
    expect(() => checkSameModel(config, { ...config.model, headDim: 16 }, '/runs/x/checkpoint_2')).toThrow(/head size \(model\.rotary_dim\): 8 in the YAML, 16 in the checkpoint/);
    expect(() => checkSameModel(config, { ...config.model, numKeyValueHeads: 2 }, '/runs/x/checkpoint_2')).toThrow(/num_kv_groups \(kv heads\): 4 in the YAML, 2 in the checkpoint/);
    expect(() => checkSameModel(config, { ...config.model, initializerRange: 0.5, bosTokenId: 7, eosTokenId: 8 }, '/runs/x/checkpoint_2')).not.toThrow();
  });
});

describe('evaluate', () => {
  // a model of the micro config's shape, one training step in a release scope (as trainStep runs
  // it), then validation batches of 6 rows evaluated whole or 2 rows (the training micro-batch) at a time
  const setup = () => {
    const config = loadZooConfig(join(CONFIGS, 'params_llama_micro.yaml'));
    const model = new LlamaForCausalLM(config.model, { generator: new Generator(3) });
    const micro = config.train.microBatchSize;
    const ids = randomBatch(corpus.train, micro, config.train.seqLen, new Generator(4));
    withReleaseScope(() => { model.forward(ids, { labels: ids }).loss!.backward(); }, { duringBackward: true });
    const batches = validationBatches(corpus.validation, 3 * micro, config.train.seqLen, 2);
    return { model, micro, batches };
  };

  it('gives the whole-batch loss when a batch is evaluated a few rows at a time (rows-weighted mean of the chunks)', () => {
    const { model, micro, batches } = setup();
    const whole = evaluate(model, batches);
    const chunked = evaluate(model, batches, { rowsPerForward: micro });
    // by hand: the mean over batches of the mean over each batch's rows, one forward per row
    let byRows = 0;
    noGrad(() => {
      for (const b of batches) {
        let sum = 0;
        for (let r = 0; r < b.shape[0]!; r++) { const row = b.narrow(0, r, 1); sum += model.forward(row, { labels: row }).loss!.item(); }
        byRows += sum / b.shape[0]!;
      }
    });
    // the same bits as the whole batch (each row's loss is the same; the batch mean is formed from
    // the chunks' means, which here rounds identically on both backends); one row at a time the
    // float sums run in another order: 2.2e-8 relative reached
    expect(chunked).toBe(whole);
    expect(Math.abs(chunked - byRows / batches.length) / byRows * batches.length).toBeLessThan(2e-7);
    expect(chunked).not.toBe(evaluate(model, batches.slice(1), { rowsPerForward: micro })); // the first batch counts
  });

  it('evaluated in chunks of the training micro-batch, a validation pass reuses the step\'s pooled buffers and adds none', () => {
    // the pool as tsgrad ships it (a poisoning pool, as CI's third pass sets, keeps nothing to reuse)
    const previous = setStoragePool({ enabled: true, poison: false });
    onTestFinished(() => { setStoragePool(previous); });
    const { model, micro, batches } = setup();
    const before = storagePoolStats().pooledBytes;
    expect(before).toBeGreaterThan(0);
    evaluate(model, batches, { rowsPerForward: micro });
    expect(storagePoolStats().pooledBytes).toBe(before);
    // a whole batch of three times the rows needs buffers of other sizes: the pool grows by them
    evaluate(model, batches);
    expect(storagePoolStats().pooledBytes).toBeGreaterThan(before);
  });
});
