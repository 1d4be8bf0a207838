import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { countParameters, llamaPreset } from '../src/config.js';
import { type TrainConfig, loadZooConfig, parseZooConfig } from '../src/node/zoo-config.js';

const here = (p: string): string => fileURLToPath(new URL(p, import.meta.url));
const CONFIGS = here('../configs');
const CEREBRAS = here('./fixtures/cerebras');
const cerebras = (p: string): TrainConfig => loadZooConfig(join(CEREBRAS, p));
const shipped = (name: string): TrainConfig => loadZooConfig(join(CONFIGS, `params_llama_${name}.yaml`));
const yamlFiles = (dir: string): string[] =>
  readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.yaml')).sort();

// A small valid config in the newer key names; tests edit its text to make it wrong.
const MINIMAL = `
train_input:
    batch_size: 4
model:
    vocab_size: 256
    hidden_size: 32
    position_embedding_type: "rotary"
    share_embedding_weights: False
    max_position_embeddings: 32
    num_hidden_layers: 2
    norm_type: "rmsnorm"
    num_heads: 4
    filter_size: 96
    nonlinearity: "swiglu"
optimizer:
    optimizer_type: "AdamW"
    learning_rate: 1.0e-3
runconfig:
    max_steps: 10
`;

function errorOf(text: string, source = 'bad.yaml'): string {
  try {
    parseZooConfig(text, source);
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('expected parseZooConfig to throw');
}

describe('shipped configs', () => {
  it('parses every file in configs/', () => {
    const files = yamlFiles(CONFIGS);
    expect(files).toEqual(['params_llama_13b.yaml', 'params_llama_33b.yaml', 'params_llama_65b.yaml',
      'params_llama_7b.yaml', 'params_llama_micro.yaml', 'params_llama_tiny.yaml']);
    for (const f of files) expect(loadZooConfig(join(CONFIGS, f)).source).toBe(join(CONFIGS, f));
  });

  it('describes exactly the paper presets for 7B, 13B, 33B and 65B', () => {
    for (const name of ['7b', '13b', '33b', '65b'] as const) {
      const { bosTokenId: _b, eosTokenId: _e, ...shape } = llamaPreset(name);
      expect(shipped(name).model, name).toEqual(shape);
    }
    expect(countParameters(shipped('7b').model)).toBe(6_738_415_616);
  });

  it('follows the paper recipe: 4M-token batches, warmup 2000, cosine to 10%, 1T or 1.4T tokens', () => {
    for (const [name, lr, endLr, steps] of [['7b', 3e-4, 3e-5, 250_000], ['13b', 3e-4, 3e-5, 250_000],
      ['33b', 1.5e-4, 1.5e-5, 350_000], ['65b', 1.5e-4, 1.5e-5, 350_000]] as const) {
      const c = shipped(name);
      expect(c.train.batchSize * c.train.seqLen).toBe(2048 * 2048);
      expect(c.optimizer).toEqual({
        lr, betas: [0.9, 0.95], eps: 1e-8, weightDecay: 0.1, maxGradientNorm: 1,
        schedule: { warmupSteps: 2000, initialLr: 0, maxLr: lr, endLr, decaySteps: steps - 2000 },
      });
      expect(c.runconfig.maxSteps).toBe(steps);
      expect(c.ignoredKeys).toEqual([]);
    }
  });

  it('makes tiny and micro byte-level models on the default corpus', () => {
    const tiny = shipped('tiny');
    expect(tiny.model).toEqual({ ...llamaPreset('small'), maxPositionEmbeddings: 128 });
    expect(tiny.train).toEqual({ batchSize: 4, microBatchSize: 4, seqLen: 128, shuffleSeed: 2 });
    expect(tiny.train.dataDir).toBeUndefined();
    const micro = shipped('micro');
    expect(micro.model.hiddenSize).toBe(32);
    expect(micro.train).toMatchObject({ batchSize: 4, microBatchSize: 2, seqLen: 32 });
    expect(micro.runconfig.maxSteps).toBe(20);
    expect(micro.eval).toEqual({ batchSize: 4, seqLen: 32 });
  });

  it("keeps the tiny config the README's measured default run: 869,504 parameters, 2,700 steps of 4 × 128, warmup 50, cosine 1.5e-3 → 1.5e-4, validation every 300 steps over 10 batches of 16 × 128", () => {
    const tiny = shipped('tiny');
    expect(countParameters(tiny.model)).toBe(869_504);
    expect(tiny.optimizer).toEqual({
      lr: 1.5e-3, betas: [0.9, 0.95], eps: 1e-8, weightDecay: 0.1, maxGradientNorm: 1,
      schedule: { warmupSteps: 50, initialLr: 0, maxLr: 1.5e-3, endLr: 1.5e-4, decaySteps: 2650 },
    });
    expect(tiny.runconfig).toMatchObject({ maxSteps: 2700, evalFrequency: 300, evalSteps: 10, seed: 1 });
    expect(tiny.eval).toEqual({ batchSize: 16, seqLen: 128 });
    expect(tiny.ignoredKeys).toEqual([]);
  });
});

describe('Cerebras Model Zoo configs', () => {
  it('parses every file in every release folder', () => {
    const files = yamlFiles(CEREBRAS);
    expect(files).toHaveLength(8);
    for (const f of files) {
      const c = cerebras(f);
      expect(c.optimizer.schedule.warmupSteps + c.optimizer.schedule.decaySteps).toBeLessThanOrEqual(c.runconfig.maxSteps);
      expect(c.ignoredKeys).toContain('runconfig.model_dir');
    }
  });

  it("keeps Cerebras' 33B filter_size 17888 over the preset's 17920", () => {
    for (const f of ['transformers-pytorch/params_llama_33b.yaml', 'release-1.9.1-seed/params_llama_33b.yaml']) {
      expect(cerebras(f).model.intermediateSize).toBe(17888);
    }
    expect(llamaPreset('33b').intermediateSize).toBe(17920);
  });

  it('reads grouped-query attention from the LLaMA-2 70B file', () => {
    const c = cerebras('transformers-pytorch/params_llama2_70b.yaml');
    expect(c.model).toMatchObject({ hiddenSize: 8192, numAttentionHeads: 64, numKeyValueHeads: 8, intermediateSize: 28672,
      maxPositionEmbeddings: 4096, rmsNormEps: 1e-5 });
    expect(c.train).toMatchObject({ batchSize: 55, microBatchSize: 5, seqLen: 4096 });
    expect(c.optimizer.eps).toBe(1e-5);
  });

  it('reads the release 1.9 keys: beta1/beta2, weight_decay_rate, steps/decay_steps, no clipping', () => {
    const c = cerebras('transformers-pytorch/params_llama_7b.yaml');
    expect(c.optimizer).toEqual({
      lr: 3e-4, betas: [0.9, 0.95], eps: 1e-6, weightDecay: 0.01, maxGradientNorm: null,
      schedule: { warmupSteps: 2000, initialLr: 0, maxLr: 3e-4, endLr: 3e-5, decaySteps: 999_998_000 },
    });
    expect(c.train).toEqual({ batchSize: 2048, microBatchSize: 8, seqLen: 2048, dataDir: './llama_data_test/val', shuffleSeed: 1 });
    expect(c.eval).toEqual({ batchSize: 2048, seqLen: 2048, dataDir: './llama_data_test/test' });
    expect(c.runconfig).toEqual({ maxSteps: 1_000_000_000, logSteps: 100, checkpointSteps: 10000, evalSteps: 233,
      evalFrequency: 10000, seed: 1, saveInitialCheckpoint: true });
    expect(c.ignoredKeys).toEqual(expect.arrayContaining(['train_input.data_processor', 'model.mixed_precision',
      'optimizer.disable_lr_steps_reset', 'runconfig.use_cs_grad_accum']));
  });

  it('reads the release 2.x keys: betas, weight_decay, total_iters, norm_type', () => {
    const c = cerebras('models-nlp/params_llama_7b.yaml');
    expect(c.optimizer).toEqual({
      lr: 6.6e-5, betas: [0.9, 0.95], eps: 1e-6, weightDecay: 0.1, maxGradientNorm: 1,
      schedule: { warmupSteps: 41373, initialLr: 0, maxLr: 6.6e-5, endLr: 6.6e-6, decaySteps: 4_890_748 },
    });
    expect(c.train.microBatchSize).toBe(3); // the largest divisor of 99 that is at most 8
    expect(c.ignoredKeys).toContain('optimizer.loss_scaling_factor');
  });
});

describe('both key generations', () => {
  const optimizerOf = (opt: string, normKey: string): TrainConfig =>
    parseZooConfig(MINIMAL.replace('    norm_type: "rmsnorm"', normKey)
      .replace(/optimizer:\n(.*\n)*?runconfig:/, `optimizer:\n${opt}\nrunconfig:`), 'gen.yaml');
  const OLD = `    optimizer_type: "AdamW"
    beta1: 0.9
    beta2: 0.95
    epsilon: 1.0e-8
    weight_decay_rate: 0.1
    max_gradient_norm: 1.0
    learning_rate:
        - scheduler: "Linear"
          initial_learning_rate: 0.0
          end_learning_rate: 3.0e-4
          steps: 100
        - scheduler: "CosineDecay"
          initial_learning_rate: 3.0e-4
          end_learning_rate: 3.0e-5
          decay_steps: 900`;
  const NEW = `    optimizer_type: "AdamW"
    betas: [0.9, 0.95]
    eps: 1.0e-8
    weight_decay: 0.1
    max_gradient_norm: 1.0
    learning_rate:
        - scheduler: "Linear"
          initial_learning_rate: 0.0
          end_learning_rate: 3.0e-4
          total_iters: 100
        - scheduler: "CosineDecay"
          initial_learning_rate: 3.0e-4
          end_learning_rate: 3.0e-5
          total_iters: 900`;
  const LATER = `    optimizer_type: "AdamW"
    betas: [0.9, 0.95]
    eps: 1.0e-8
    weight_decay: 0.1
    max_gradient_norm: 1.0
    learning_rate:
        SequentialLR:
            schedulers:
                - LinearLR: {initial_learning_rate: 0.0, end_learning_rate: 3.0e-4, total_iters: 100}
                - CosineDecayLR: {initial_learning_rate: 3.0e-4, end_learning_rate: 3.0e-5, total_iters: 900}`;

  it('give the same model and optimizer values', () => {
    const old = optimizerOf(OLD, '    use_rms_norm: True');
    const now = optimizerOf(NEW, '    norm_type: "rmsnorm"');
    const later = optimizerOf(LATER, '    norm_type: "RMSNorm"');
    const expected = {
      lr: 3e-4, betas: [0.9, 0.95], eps: 1e-8, weightDecay: 0.1, maxGradientNorm: 1,
      schedule: { warmupSteps: 100, initialLr: 0, maxLr: 3e-4, endLr: 3e-5, decaySteps: 900 },
    };
    expect(old.optimizer).toEqual(expected);
    expect(now.optimizer).toEqual(expected);
    expect(later.optimizer).toEqual(expected);
    expect(old.model).toEqual(now.model);
  });

  it('reject a file that mixes the two names for one setting', () => {
    expect(errorOf(MINIMAL.replace('    learning_rate', '    betas: [0.9, 0.95]\n    beta1: 0.9\n    learning_rate')))
      .toMatch(/optimizer.betas: give either betas or beta1\/beta2, not both/);
    expect(errorOf(MINIMAL.replace('    learning_rate', '    eps: 1.0e-8\n    epsilon: 1.0e-8\n    learning_rate')))
      .toMatch(/optimizer.epsilon: give only one of eps and epsilon/);
  });
});

describe('defaults', () => {
  it("fills Cerebras' defaults and documented ones for omitted keys", () => {
    const c = parseZooConfig(MINIMAL, 'min.yaml');
    expect(c.model).toMatchObject({ rmsNormEps: 1e-5, ropeTheta: 10000, numKeyValueHeads: 4, tieWordEmbeddings: false });
    expect(c.train).toEqual({ batchSize: 4, microBatchSize: 4, seqLen: 32 });
    expect(c.eval).toBeNull();
    expect(c.optimizer).toEqual({ lr: 1e-3, betas: [0.9, 0.999], eps: 1e-6, weightDecay: 0, maxGradientNorm: null,
      schedule: { warmupSteps: 0, initialLr: 1e-3, maxLr: 1e-3, endLr: 1e-3, decaySteps: 0 } });
    expect(c.runconfig).toEqual({ maxSteps: 10, logSteps: 1, checkpointSteps: 10, evalSteps: 0, evalFrequency: 10,
      seed: 0, saveInitialCheckpoint: false });
    expect(c.ignoredKeys).toEqual([]);
    expect(c.source).toBe('min.yaml');
  });

  it('reads model.gradient_checkpointing (default false) and rejects a non-boolean, naming the key', () => {
    expect(parseZooConfig(MINIMAL, 'min.yaml').gradientCheckpointing).toBe(false);
    const on = parseZooConfig(MINIMAL.replace('model:\n', 'model:\n    gradient_checkpointing: true\n'), 'on.yaml');
    expect(on.gradientCheckpointing).toBe(true);
    expect(on.ignoredKeys).toEqual([]);
    expect(errorOf(MINIMAL.replace('model:\n', 'model:\n    gradient_checkpointing: 3\n'))).toMatch(/model\.gradient_checkpointing.*bad\.yaml/);
  });

  it('accepts micro_batch_size "auto", data_dir lists and a lone CosineDecay', () => {
    const c = parseZooConfig(MINIMAL
      .replace('    batch_size: 4', '    batch_size: 12\n    micro_batch_size: "auto"\n    data_dir: ["./a", "./b"]')
      .replace('    learning_rate: 1.0e-3', `    learning_rate:
        - scheduler: "CosineDecay"
          initial_learning_rate: 1.0e-3
          end_learning_rate: 0.0
          total_iters: 10`), 'auto.yaml');
    expect(c.train).toEqual({ batchSize: 12, microBatchSize: 6, seqLen: 32, dataDir: './a' });
    expect(c.ignoredKeys).toEqual(['train_input.data_dir[1]']);
    expect(c.optimizer.schedule).toEqual({ warmupSteps: 0, initialLr: 1e-3, maxLr: 1e-3, endLr: 0, decaySteps: 10 });
  });
});

describe('bad configs', () => {
  it('name the unknown key and the file', () => {
    expect(errorOf(MINIMAL.replace('    filter_size: 96', '    filter_size: 96\n    filter_sise: 96')))
      .toBe('parseZooConfig: model.filter_sise: unknown key (in bad.yaml)');
    expect(errorOf(`${MINIMAL}trainer:\n    x: 1\n`)).toMatch(/^parseZooConfig: trainer: unknown key .*\(in bad.yaml\)$/);
    expect(errorOf(MINIMAL.replace('    learning_rate: 1.0e-3', `    learning_rate:
        - scheduler: "Linear"
          initial_learning_rate: 0.0
          end_learning_rate: 1.0e-3
          steps: 10
          cycle: False`))).toBe('parseZooConfig: optimizer.learning_rate[0].cycle: unknown key (in bad.yaml)');
  });

  it('name the missing key and the file', () => {
    expect(errorOf(MINIMAL.replace('    hidden_size: 32\n', ''))).toBe('parseZooConfig: model.hidden_size: missing required key (in bad.yaml)');
    expect(errorOf(MINIMAL.replace('    share_embedding_weights: False\n', '')))
      .toBe('parseZooConfig: model.share_embedding_weights: missing required key (in bad.yaml)');
    expect(errorOf(MINIMAL.replace(/runconfig:\n.*\n/, ''))).toBe('parseZooConfig: runconfig: missing required section (in bad.yaml)');
    expect(errorOf(MINIMAL.replace('    norm_type: "rmsnorm"\n', ''))).toMatch(/^parseZooConfig: model.norm_type: missing required key: set norm_type/);
  });

  it('name the key, the expected type and the file for a wrong type', () => {
    expect(errorOf(MINIMAL.replace('hidden_size: 32', 'hidden_size: "32"')))
      .toBe('parseZooConfig: model.hidden_size: expected a positive integer, got string "32" (in bad.yaml)');
    expect(errorOf(MINIMAL.replace('max_steps: 10', 'max_steps: 10.5'))).toMatch(/runconfig.max_steps: expected a positive integer, got 10.5/);
    expect(errorOf(MINIMAL.replace('share_embedding_weights: False', 'share_embedding_weights: "no"')))
      .toMatch(/model.share_embedding_weights: expected a boolean, got string "no"/);
    expect(errorOf(MINIMAL.replace('    learning_rate: 1.0e-3', '    learning_rate: "fast"')))
      .toMatch(/optimizer.learning_rate: expected a number or a list of schedulers, got string "fast"/);
    expect(errorOf(MINIMAL.replace('    learning_rate', '    betas: 0.9\n    learning_rate')))
      .toMatch(/optimizer.betas: expected a list of two numbers in \[0, 1\), got 0.9/);
  });

  it('reject what this LLaMA does not implement, naming key and file', () => {
    const cases: [string, string, RegExp][] = [
      ['norm_type: "rmsnorm"', 'norm_type: "layernorm"', /model.norm_type: unsupported value "layernorm": this LLaMA uses RMSNorm/],
      ['norm_type: "rmsnorm"', 'use_rms_norm: False', /model.use_rms_norm: must be true/],
      ['position_embedding_type: "rotary"', 'position_embedding_type: "learned"', /model.position_embedding_type: unsupported value "learned"/],
      ['nonlinearity: "swiglu"', 'nonlinearity: "gelu"', /model.nonlinearity: unsupported value "gelu"/],
      ['filter_size: 96', 'filter_size: 96\n    use_ffn_bias: True', /model.use_ffn_bias: must be false: this LLaMA has no biases/],
      ['filter_size: 96', 'filter_size: 96\n    dropout_rate: 0.1', /model.dropout_rate: must be 0: this LLaMA has no dropout/],
      ['filter_size: 96', 'filter_size: 96\n    rotary_dim: 4', /model.rotary_dim: must equal hidden_size \/ num_heads = 8/],
      ['filter_size: 96', 'filter_size: 96\n    extra_attention_params: {num_kv_groups: 2}', /num_kv_groups: needs attention_module/],
      ['optimizer_type: "AdamW"', 'optimizer_type: "SGD"', /optimizer.optimizer_type: unsupported value "SGD": only AdamW/],
      ['batch_size: 4', 'batch_size: 4\n    micro_batch_size: 3', /train_input.micro_batch_size: must divide batch_size \(4\), got 3/],
      ['batch_size: 4', 'batch_size: 4\n    max_sequence_length: 64', /must not exceed model.max_position_embeddings \(32\)/],
      ['num_heads: 4', 'num_heads: 4\n    attention_module: "multiquery_attention"\n    extra_attention_params: {num_kv_groups: 3}',
        /model: not a valid LLaMA: validateLlamaConfig: .*numKeyValueHeads \(3\) must divide numAttentionHeads \(4\)/s],
    ];
    for (const [from, to, message] of cases) {
      const error = errorOf(MINIMAL.replace(from, to));
      expect(error, to).toMatch(message);
      expect(error, to).toMatch(/^parseZooConfig: .*bad\.yaml/s);
    }
  });

  it('reject a warmup that does not end where the cosine starts', () => {
    expect(errorOf(MINIMAL.replace('    learning_rate: 1.0e-3', `    learning_rate:
        - scheduler: "Linear"
          initial_learning_rate: 0.0
          end_learning_rate: 1.0e-3
          total_iters: 10
        - scheduler: "CosineDecay"
          initial_learning_rate: 2.0e-3
          end_learning_rate: 0.0
          total_iters: 10`))).toMatch(/optimizer.learning_rate\[1\].initial_learning_rate: must equal the warmup's end_learning_rate 0.001/);
  });

  it('reject schedules other than a Linear warmup and a CosineDecay', () => {
    const schedule = (phases: string): string => errorOf(MINIMAL.replace('    learning_rate: 1.0e-3', `    learning_rate:\n${phases}`));
    const cosine = '        - {scheduler: "CosineDecay", initial_learning_rate: 1.0e-3, end_learning_rate: 0.0, total_iters: 5}\n';
    const linear = '        - {scheduler: "Linear", initial_learning_rate: 0.0, end_learning_rate: 1.0e-3, total_iters: 5}\n';
    expect(schedule(cosine + linear)).toMatch(/optimizer.learning_rate: unsupported schedule \[cosinedecay,linear\]/);
    expect(schedule(cosine.replace('CosineDecay', 'Exponential')))
      .toBe('parseZooConfig: optimizer.learning_rate[0].scheduler: unsupported value "Exponential": '
        + 'expected Linear (warmup) or CosineDecay (in bad.yaml)');
    expect(schedule(linear.replace('total_iters: 5', 'steps: 5, total_iters: 5'))).toMatch(/give only one of steps, total_iters/);
  });

  it('list every problem when there are several', () => {
    const error = errorOf(MINIMAL.replace('hidden_size: 32', 'hidden_size: -1').replace('max_steps: 10', 'max_stepz: 10'));
    expect(error).toMatch(/^parseZooConfig: 3 problems in bad.yaml:/);
    expect(error).toMatch(/- model.hidden_size: expected a positive integer, got -1/);
    expect(error).toMatch(/- runconfig.max_steps: missing required key/);
    expect(error).toMatch(/- runconfig.max_stepz: unknown key/);
  });

  it('name the file and line of a YAML syntax error', () => {
    const error = errorOf(MINIMAL.replace('    num_heads: 4', '    num_heads: [4'), 'broken.yaml');
    expect(error).toMatch(/^parseZooConfig: YAML syntax error in broken.yaml: .* at line \d+, column \d+/);
    expect(errorOf('model: 1\nmodel: 2\n', 'dup.yaml')).toMatch(/YAML syntax error in dup.yaml: Map keys must be unique at line 2/);
    expect(errorOf('', 'empty.yaml')).toMatch(/^parseZooConfig: empty.yaml: expected a mapping/);
  });

  it('name the path of a file that cannot be read', () => {
    expect(() => loadZooConfig('/no/such/params.yaml')).toThrow(/^loadZooConfig: cannot read \/no\/such\/params.yaml/);
    const text = readFileSync(join(CONFIGS, 'params_llama_micro.yaml'), 'utf8');
    expect(parseZooConfig(text, 'x').model).toEqual(shipped('micro').model);
  });
});
