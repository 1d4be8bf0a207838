// The training command's tokenizer: train_input.tokenizer in the YAML (bytes, a tokenizer.json,
// or a BPE trained on the training text), the Hugging Face files in model_dir and in every
// checkpoint, and pnpm generate decoding with the folder's tokenizer.

import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { afterAll, describe, expect, it } from 'vitest';
import { main as generateMain } from '../src/cli/generate.js';
import { LlamaForCausalLM, Tokenizer } from '../src/index.js';
import { latestCheckpoint } from '../src/node/checkpoints.js';
import type { Corpus } from '../src/node/corpus.js';
import { runTraining } from '../src/node/trainer.js';
import { type TrainConfig, loadZooConfig, parseZooConfig } from '../src/node/zoo-config.js';

const CONFIGS = new URL('../configs/', import.meta.url).pathname;
const scratch = mkdtempSync(join(tmpdir(), 'tsgrad-tokenizer-setup-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const text = 'It was the best of times, it was the worst of times, it was the age of wisdom, in 1859. '.repeat(40);
const corpus: Corpus = { source: 'test text', train: new TextEncoder().encode(text), validation: new TextEncoder().encode(text.slice(0, 900)) };
const quiet = () => undefined;

function microWith(tokenizerYaml: string | null, vocabSize = 256): TrainConfig {
  const yaml = readFileSync(join(CONFIGS, 'params_llama_micro.yaml'), 'utf8')
    .replace('    shuffle_seed: 1', `    shuffle_seed: 1${tokenizerYaml === null ? '' : `\n    tokenizer: ${tokenizerYaml}`}`)
    .replace('    vocab_size: 256', `    vocab_size: ${vocabSize}`)
    .replace('    max_steps: 20', '    max_steps: 4')
    .replace('    checkpoint_steps: 10', '    checkpoint_steps: 2');
  return parseZooConfig(yaml, 'micro-with-tokenizer.yaml');
}

describe('train_input.tokenizer', () => {
  it('reads bytes (the default), a path, or { train_bpe: N }, and names anything else', () => {
    expect(microWith(null).train.tokenizer).toBeUndefined();
    expect(microWith('bytes').train.tokenizer).toBeUndefined();
    expect(microWith('"./tok/tokenizer.json"').train.tokenizer).toEqual({ kind: 'file', path: './tok/tokenizer.json' });
    expect(microWith('{ train_bpe: 300 }', 300).train.tokenizer).toEqual({ kind: 'train-bpe', vocabSize: 300 });
    expect(() => microWith('42')).toThrow('train_input.tokenizer: expected "bytes", a path to a tokenizer.json, or { train_bpe: <vocabulary size> }, got 42');
    expect(() => microWith('{ bpe: 300 }')).toThrow(/train_input.tokenizer: expected "bytes", .* got \{"bpe":300\}/);
    expect(() => microWith('{ train_bpe: 100 }')).toThrow('train_input.tokenizer: train_bpe must be an integer vocabulary size of at least 260');
  });

  it('trains a BPE once, saves it in model_dir and every checkpoint as a Hugging Face folder, and reuses it on resume', async () => {
    const dir = join(scratch, 'bpe');
    const lines: string[] = [];
    await runTraining({ config: microWith('{ train_bpe: 300 }', 300), modelDir: dir, mode: 'train', corpus, log: (l) => lines.push(l), progressBar: false, maxSteps: 2 });
    expect(lines.some((l) => l.startsWith('tokenizer: trained a BPE of 300 entries'))).toBe(true);
    const saved = readFileSync(join(dir, 'tokenizer.json'), 'utf8');
    const ckpt = latestCheckpoint(dir)!;
    expect(readFileSync(join(ckpt, 'tokenizer.json'), 'utf8')).toBe(saved);
    expect(JSON.parse(readFileSync(join(ckpt, 'generation_config.json'), 'utf8'))).toEqual({ bos_token_id: 1, eos_token_id: 2 });
    const tokConfig = JSON.parse(readFileSync(join(ckpt, 'tokenizer_config.json'), 'utf8'));
    expect(tokConfig).toMatchObject({ tokenizer_class: 'PreTrainedTokenizerFast', bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>', add_bos_token: true });
    // the folder's tokenizer in Hugging Face's JavaScript port: the same ids as ours
    const ours = Tokenizer.fromJSON(JSON.parse(saved));
    const oracle = new HfTokenizer(JSON.parse(saved), tokConfig);
    expect(ours.vocabSize).toBe(300);
    expect(oracle.encode('It was the age of foolishness, 1860.').ids).toEqual(ours.encode('It was the age of foolishness, 1860.'));
    expect((await LlamaForCausalLM.fromPretrained(ckpt)).config.vocabSize).toBe(300);

    const again: string[] = [];
    await runTraining({ config: microWith('{ train_bpe: 300 }', 300), modelDir: dir, mode: 'train', corpus, log: (l) => again.push(l), progressBar: false });
    expect(again.some((l) => l.startsWith('tokenizer: the BPE of 300 entries already trained in'))).toBe(true);
    expect(readFileSync(join(latestCheckpoint(dir)!, 'tokenizer.json'), 'utf8')).toBe(saved);
  });

  it('trains with a given tokenizer.json, and refuses a missing file or a model vocabulary too small for it', async () => {
    const trained = join(scratch, 'bpe', 'tokenizer.json');
    const dir = join(scratch, 'file');
    await runTraining({ config: microWith(JSON.stringify(trained), 300), modelDir: dir, mode: 'train', corpus, log: quiet, progressBar: false, maxSteps: 2 });
    expect(readFileSync(join(latestCheckpoint(dir)!, 'tokenizer.json'), 'utf8')).toBe(readFileSync(trained, 'utf8'));
    expect(existsSync(join(dir, 'tokenizer.json'))).toBe(false); // only a trained tokenizer is saved in model_dir itself
    await expect(runTraining({ config: microWith(JSON.stringify(join(scratch, 'nope.json'))), modelDir: join(scratch, 'x'), mode: 'train', corpus, log: quiet, progressBar: false }))
      .rejects.toThrow(`train: train_input.tokenizer: ${join(scratch, 'nope.json')} does not exist`);
    await expect(runTraining({ config: microWith(JSON.stringify(trained), 256), modelDir: join(scratch, 'y'), mode: 'train', corpus, log: quiet, progressBar: false }))
      .rejects.toThrow("train: model.vocab_size 256 is smaller than the tokenizer's 300 tokens");
  });

  it('pnpm generate decodes with the folder\'s tokenizer', async () => {
    const ckpt = latestCheckpoint(join(scratch, 'bpe'))!;
    let out = '';
    const code = await generateMain(['--model_dir', ckpt, '--prompt', 'It was the', '--max_new_tokens', '6', '--temperature', '0', '--threads', '1'], (s) => { out += s; });
    expect(code).toBe(0);
    const tokenizer = Tokenizer.fromJSON(JSON.parse(readFileSync(join(ckpt, 'tokenizer.json'), 'utf8')));
    const model = await LlamaForCausalLM.fromPretrained(ckpt);
    const ids = model.generate(tokenizer.encode('It was the'), { maxNewTokens: 6, temperature: 0 });
    expect(ids.slice(4).some((id) => id >= 256)).toBe(true); // BPE tokens a byte-level decoder could not read
    expect(out).toBe(`${tokenizer.decode(ids, { skipSpecialTokens: true })}\n`);
  });
});
