// The tokenizer of a training run, as the YAML's train_input.tokenizer asks (Model Zoo's GPT
// configs name their vocabulary in train_input too, as vocab_file / encoder_file):
//   tokenizer: bytes                     the default: one token per UTF-8 byte, vocabulary 256
//   tokenizer: path/to/tokenizer.json    a Hugging Face tokenizer.json (or a folder holding one)
//   tokenizer: { train_bpe: 4096 }       train a byte-fallback BPE of 4096 entries on the training text
// and the Hugging Face files written next to the weights so that a checkpoint folder is complete
// for transformers: tokenizer.json, tokenizer_config.json, generation_config.json.

import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { trainBpeTokenizer } from '../bpe-trainer.js';
import type { LlamaConfig } from '../config.js';
import { Tokenizer, byteLevelTokenizer } from '../hf-tokenizer.js';
import type { Corpus } from './corpus.js';
import { writeFileAtomic } from './fs-source.js';

/** What train_input.tokenizer asks for. */
export type TokenizerSpec =
  | { kind: 'bytes' }
  | { kind: 'file'; path: string }
  | { kind: 'train-bpe'; vocabSize: number };

/** Reads train_input.tokenizer (absent: bytes); returns an error message for anything else. */
export function parseTokenizerSpec(value: unknown): TokenizerSpec | string {
  if (value === undefined || value === null || value === 'bytes') return { kind: 'bytes' };
  if (typeof value === 'string' && value.length > 0) return { kind: 'file', path: value };
  if (typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length === 1 && 'train_bpe' in value) {
    const n = (value as { train_bpe: unknown }).train_bpe;
    if (Number.isInteger(n) && (n as number) >= 260) return { kind: 'train-bpe', vocabSize: n as number };
    return `train_bpe must be an integer vocabulary size of at least 260 (3 special tokens + 256 bytes + "▁"), got ${JSON.stringify(n)}`;
  }
  return `expected "bytes", a path to a tokenizer.json, or { train_bpe: <vocabulary size> }, got ${JSON.stringify(value)}`;
}

/** The run's tokenizer and its token streams. */
export interface PreparedTokens {
  /** The tokenizer (saved with every checkpoint). */
  tokenizer: Tokenizer;
  /** Training token ids. */
  train: ArrayLike<number>;
  /** Validation token ids. */
  validation: ArrayLike<number>;
}

/**
 * Builds the tokenizer the spec asks for and encodes the corpus with it (no BOS: training draws
 * random windows from one stream). A BPE is trained once per model_dir: a later run (a resumed
 * one) reads the tokenizer.json saved there instead of training again.
 */
export async function prepareTokens(spec: TokenizerSpec, corpus: Corpus, modelDir: string, log: (line: string) => void): Promise<PreparedTokens> {
  if (spec.kind === 'bytes') return { tokenizer: byteLevelTokenizer(), train: corpus.train, validation: corpus.validation };
  const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  let tokenizer: Tokenizer;
  if (spec.kind === 'file') {
    const path = existsSync(spec.path) && statSync(spec.path).isDirectory() ? join(spec.path, 'tokenizer.json') : spec.path;
    if (!existsSync(path)) throw new Error(`train: train_input.tokenizer: ${path} does not exist`);
    tokenizer = Tokenizer.fromJSON(JSON.parse(readFileSync(path, 'utf8')));
  } else {
    const saved = join(modelDir, 'tokenizer.json');
    if (existsSync(saved)) {
      tokenizer = Tokenizer.fromJSON(JSON.parse(readFileSync(saved, 'utf8')));
      if (tokenizer.vocabSize !== spec.vocabSize) {
        throw new Error(`train: ${saved} has ${tokenizer.vocabSize} entries but train_input.tokenizer asks for a BPE of ${spec.vocabSize}; use a new model_dir`);
      }
      log(`tokenizer: the BPE of ${tokenizer.vocabSize} entries already trained in ${saved}`);
    } else {
      const started = performance.now();
      tokenizer = trainBpeTokenizer(text(corpus.train), { vocabSize: spec.vocabSize });
      writeTokenizerFiles(modelDir, tokenizer, null);
      log(`tokenizer: trained a BPE of ${tokenizer.vocabSize} entries on the training text in ${((performance.now() - started) / 1000).toFixed(1)} s; saved ${saved}`);
    }
  }
  const train = Int32Array.from(tokenizer.encode(text(corpus.train), { addSpecialTokens: false }));
  const validation = Int32Array.from(tokenizer.encode(text(corpus.validation), { addSpecialTokens: false }));
  log(`tokenizer: ${train.length.toLocaleString('en-US')} training tokens (${(corpus.train.length / train.length).toFixed(2)} bytes per token), ${validation.length.toLocaleString('en-US')} validation tokens`);
  return { tokenizer, train, validation };
}

/** BOS and EOS ids: LLaMA 1/2's <s> and </s>, LLaMA 3's <|begin_of_text|> and <|end_of_text|>, when the vocabulary has them. */
function specialTokenIds(tokenizer: Tokenizer): { bos?: number; eos?: number; bosToken?: string; eosToken?: string } {
  const find = (names: string[]) => names.find((n) => tokenizer.tokenToId(n) !== undefined);
  const bosToken = find(['<s>', '<|begin_of_text|>']);
  const eosToken = find(['</s>', '<|end_of_text|>']);
  return {
    bosToken, eosToken,
    bos: bosToken === undefined ? undefined : tokenizer.tokenToId(bosToken),
    eos: eosToken === undefined ? undefined : tokenizer.tokenToId(eosToken),
  };
}

/**
 * Writes tokenizer.json and tokenizer_config.json (and, given the model's config,
 * generation_config.json) into a folder, so that transformers' AutoTokenizer and
 * LlamaForCausalLM.from_pretrained load it as it is.
 */
export function writeTokenizerFiles(dir: string, tokenizer: Tokenizer, model: LlamaConfig | null): void {
  const { bos, eos, bosToken, eosToken } = specialTokenIds(tokenizer);
  const json = (v: unknown) => JSON.stringify(v, null, 2) + '\n';
  writeFileAtomic(join(dir, 'tokenizer.json'), json(tokenizer.toJSON()));
  const addsBos = tokenizer.bosIds.length > 0;
  writeFileAtomic(join(dir, 'tokenizer_config.json'), json({
    tokenizer_class: 'PreTrainedTokenizerFast',
    ...(bosToken !== undefined ? { bos_token: bosToken } : {}),
    ...(eosToken !== undefined ? { eos_token: eosToken } : {}),
    ...(tokenizer.tokenToId('<unk>') !== undefined ? { unk_token: '<unk>' } : {}),
    add_bos_token: addsBos,
    add_eos_token: false,
    clean_up_tokenization_spaces: false,
    ...(model ? { model_max_length: model.maxPositionEmbeddings } : {}),
  }));
  if (model) {
    writeFileAtomic(join(dir, 'generation_config.json'), json({
      ...(bos !== undefined ? { bos_token_id: bos } : {}),
      ...(eos !== undefined ? { eos_token_id: eos } : {}),
    }));
  }
}
