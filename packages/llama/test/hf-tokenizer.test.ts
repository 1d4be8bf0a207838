// Hugging Face tokenizer.json files through our Tokenizer, against Hugging Face's own ids:
// fixtures made by `tokenizers` (Rust) for the LLaMA 2 and LLaMA 3 files that @lenml's npm
// packages ship (test/fixtures/tokenizers/README.md, copied from ../shared/fixtures), and
// @huggingface/tokenizers (Hugging Face's JavaScript port) as the oracle on random text.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Tokenizer, byteLevelTokenizer } from '../src/hf-tokenizer.js';
import { fetchFileSource, fsFileSource, setFileSource } from '../src/index.js';

const require = createRequire(import.meta.url);
const fixtureDir = new URL('./fixtures/tokenizers/', import.meta.url);

interface FixtureRow { text: string; ids: number[]; ids_with_special: number[]; decoded: string }

function tokenizerJson(name: 'llama2' | 'llama3'): Record<string, unknown> {
  return JSON.parse(readFileSync(require.resolve(`@lenml/tokenizer-${name}/models/tokenizer.json`), 'utf8'));
}
function fixture(name: 'llama2' | 'llama3'): FixtureRow[] {
  return JSON.parse(readFileSync(new URL(`${name}-format.json`, fixtureDir), 'utf8'));
}

const layouts = (['llama2', 'llama3'] as const).map((name) => {
  const json = tokenizerJson(name);
  return { name, json, ours: Tokenizer.fromJSON(json), oracle: new HfTokenizer(json, {}), rows: fixture(name) };
});

// Random text made to hit the places tokenizers disagree: scripts, digits, whitespace runs of
// every kind, emoji sequences, controls and unassigned or private-use code points, contractions
// in odd cases, and strings that look like (or are) special tokens.
const oddCodePoint = fc.oneof(
  fc.integer({ min: 0, max: 0x7f }),
  fc.integer({ min: 0x80, max: 0x24f }),
  fc.constantFrom(0x85, 0xa0, 0xad, 0x17f, 0x212a, 0x200b, 0x200d, 0x2028, 0x2029, 0x3000, 0xfeff, 0xfffd, 0xe000, 0x10ffff, 0x1e9e, 0x0378),
  fc.integer({ min: 0x300, max: 0x36f }), // combining marks
  fc.integer({ min: 0x590, max: 0x6ff }), // Hebrew, Arabic
  fc.integer({ min: 0x3040, max: 0x30ff }), // kana
  fc.integer({ min: 0x4e00, max: 0x9fff }), // CJK
  fc.integer({ min: 0xac00, max: 0xd7a3 }), // Hangul
  fc.integer({ min: 0x1f300, max: 0x1faff }), // emoji
  fc.integer({ min: 0x10000, max: 0x10ffff }).filter((c) => c < 0xd800 || c > 0xdfff),
).map((c) => String.fromCodePoint(c));
const fragment = fc.oneof(
  fc.string({ unit: oddCodePoint, maxLength: 6 }),
  fc.constantFrom('the', ' whale', ' Ahab', 'Call me Ishmael.', 'naïve', ' café', 'Straße', 'ÉCOLE', 'данные', 'مرحبا', '日本語'),
  fc.stringMatching(/^[0-9]{1,9}$/),
  fc.string({ unit: fc.constantFrom(' ', '  ', '\t', '\n', '\r\n', '\r', '\u00a0', '\u3000', '\u0085', '\ufeff', '\u2028', '\v', '\f'), maxLength: 5 }),
  fc.constantFrom('👍🏽', '👨‍👩‍👧‍👦', '🇫🇷', '❤️', '🦙'),
  fc.constantFrom("'s", "'S", "'ll", "'LL", "'Re", "'ve", "'m", "'D", "'t", "'ſ", "'K"),
  fc.constantFrom('<s>', '</s>', '<unk>', '<|begin_of_text|>', '<|end_of_text|>', '<|eot_id|>', '<0x41>', '<s', '▁', '▁▁', 'Ġ', 'Ċ'),
);
const randomText = fc.array(fragment, { maxLength: 12 }).map((parts) => parts.join(''));
// LLaMA 2 has no pre-tokenizer, so a whole text is one word; from 256 characters on, the model
// cuts it where no merge can cross (bpe.ts), which these long texts exercise.
const longRandomText = fc.array(fragment, { minLength: 1, maxLength: 60 }).map((parts) => {
  let text = parts.join('');
  while (text.length < 300) text += ` ${parts.join('')}`;
  return text;
});

describe('Tokenizer on real LLaMA tokenizer.json files', () => {
  for (const { name, ours, rows } of layouts) {
    it(`${name}: encodes every fixture text to Hugging Face's ids, with and without special tokens`, () => {
      expect(rows.length).toBe(42);
      for (const row of rows) {
        expect(ours.encode(row.text, { addSpecialTokens: false }), row.text).toEqual(row.ids);
        expect(ours.encode(row.text), row.text).toEqual(row.ids_with_special);
      }
    });

    it(`${name}: decodes every fixture's ids to Hugging Face's text`, () => {
      for (const row of rows) expect(ours.decode(row.ids), row.text).toBe(row.decoded);
    });

    it(`${name}: streams the fixtures' ids into pieces that concatenate to decode(ids)`, () => {
      for (const row of rows) {
        const stream = ours.createStreamingDecoder();
        const pieces = row.ids.map((id) => stream.push(id));
        pieces.push(stream.flush());
        expect(pieces.join(''), row.text).toBe(row.decoded);
        for (const p of pieces) expect(p).not.toMatch(/\uFFFD/);
      }
    });
  }

  it('llama2: the vocabulary, BOS and byte fallback are the LLaMA 2 layout', () => {
    const { ours } = layouts[0];
    expect(ours.vocabSize).toBe(32000);
    expect(ours.bosIds).toEqual([1]);
    expect(ours.tokenToId('▁Hello')).toBe(22557);
    // ẞ (U+1E9E) is not in the vocabulary: its three UTF-8 bytes are <0xE1><0xBA><0x9E> = ids 3 + byte
    expect(ours.encode('ẞ', { addSpecialTokens: false })).toEqual([28705, 3 + 0xe1, 3 + 0xba, 3 + 0x9e]);
    expect(ours.decode([1, 22557, 2], { skipSpecialTokens: true })).toBe('Hello');
    expect(ours.decode([1, 22557, 2])).toBe('<s> Hello</s>');
  });

  it('llama3: the vocabulary counts the 256 added tokens; the ByteLevel post-processor adds no BOS', () => {
    const { ours } = layouts[1];
    expect(ours.vocabSize).toBe(128256);
    expect(ours.bosIds).toEqual([]);
    expect(ours.tokenToId('<|begin_of_text|>')).toBe(128000);
    expect(ours.decode([128000, 9906, 1917], { skipSpecialTokens: true })).toBe('Hello world');
  });

  it('llama3: decodes the ids of random Unicode text back to the text', () => {
    const { ours } = layouts[1];
    fc.assert(fc.property(randomText, (text) => {
      expect(ours.decode(ours.encode(text))).toBe(text);
    }), { numRuns: 200 });
  });

  it('a streamed multi-byte character comes out whole on its last byte token', () => {
    const { ours } = layouts[0];
    const ids = ours.encode('aẞb', { addSpecialTokens: false }); // ▁a, then three byte tokens, then b
    const stream = ours.createStreamingDecoder();
    const pieces = ids.map((id) => stream.push(id));
    expect(pieces).toEqual(['a', '', '', 'ẞ', 'b']);
    const cut = ours.createStreamingDecoder();
    cut.push(ids[0]);
    cut.push(ids[1]);
    expect(cut.flush()).toBe('\uFFFD'); // an unfinished character
  });

  for (const { name, ours, oracle } of layouts) {
    it(`${name}: encodes random Unicode text exactly as @huggingface/tokenizers does`, () => {
      fc.assert(fc.property(randomText, fc.boolean(), (text, addSpecialTokens) => {
        const expected = oracle.encode(text, { add_special_tokens: addSpecialTokens }).ids;
        expect(ours.encode(text, { addSpecialTokens })).toEqual(expected);
      }), { numRuns: 400 });
    });

    it(`${name}: encodes long random Unicode text exactly as @huggingface/tokenizers does`, () => {
      fc.assert(fc.property(longRandomText, (text) => {
        expect(ours.encode(text)).toEqual(oracle.encode(text).ids);
      }), { numRuns: 100 });
    });

    it(`${name}: decodes the ids of random Unicode text as @huggingface/tokenizers does`, () => {
      fc.assert(fc.property(randomText, (text) => {
        const ids = ours.encode(text, { addSpecialTokens: false });
        fc.pre(ids.length > 0); // the oracle refuses an empty list
        expect(ours.decode(ids)).toBe(oracle.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false }));
      }), { numRuns: 200 });
    });
  }
});

describe('Tokenizer refuses what it would only half apply', () => {
  const base = tokenizerJson('llama2');
  const variant = (change: (j: Record<string, any>) => void) => {
    const j = structuredClone(base) as Record<string, any>;
    change(j);
    return () => Tokenizer.fromJSON(j);
  };

  it('names the unsupported model, normalizer, pre-tokenizer, decoder or post-processor', () => {
    expect(variant((j) => { j.model.type = 'WordPiece'; })).toThrow('Tokenizer: unsupported model type "WordPiece"; tsgrad reads BPE models (LLaMA 1/2 and LLaMA 3) only');
    expect(variant((j) => { j.normalizer = { type: 'NFKC' }; })).toThrow('Tokenizer: unsupported normalizer type "NFKC"');
    expect(variant((j) => { j.normalizer.normalizers.push({ type: 'Lowercase' }); })).toThrow('Tokenizer: unsupported normalizer type "Lowercase"');
    expect(variant((j) => { j.pre_tokenizer = { type: 'Metaspace', replacement: '▁' }; })).toThrow('Tokenizer: unsupported pre_tokenizer type "Metaspace"');
    expect(variant((j) => { j.pre_tokenizer = { type: 'Split', pattern: { Regex: '\\w+' }, behavior: 'Isolated', invert: false }; })).toThrow(/unsupported pre_tokenizer regex escape \\w/);
    expect(variant((j) => { j.pre_tokenizer = { type: 'Split', pattern: { Regex: ' ' }, behavior: 'Removed', invert: false }; })).toThrow(/Split with behavior "Removed"/);
    expect(variant((j) => { j.decoder = { type: 'WordPiece' }; })).toThrow('Tokenizer: unsupported decoder type "WordPiece"');
    expect(variant((j) => { j.post_processor = { type: 'BertProcessing' }; })).toThrow('Tokenizer: unsupported post_processor type "BertProcessing"');
  });

  it('names unsupported options instead of ignoring them', () => {
    expect(variant((j) => { j.model.dropout = 0.1; })).toThrow('unsupported BPE dropout 0.1');
    expect(variant((j) => { j.model.continuing_subword_prefix = '##'; })).toThrow('unsupported continuing_subword_prefix "##"');
    expect(variant((j) => { j.added_tokens[1].lstrip = true; })).toThrow('unsupported added token "<s>" with lstrip: true');
    expect(variant((j) => { j.truncation = { max_length: 8 }; })).toThrow('unsupported truncation');
    expect(variant((j) => { j.normalizer.normalizers[0].extra = 1; })).toThrow('unsupported normalizer "Prepend" with option "extra"');
    expect(variant((j) => { j.model.merges[0] = '▁ t x'; })).toThrow('merge 0 "▁ t x" is not two tokens separated by one space');
    expect(variant((j) => { j.model.merges[5] = 'Q ZZZ'; })).toThrow('merge 5 ["Q","ZZZ"] needs "ZZZ", which is not in the vocabulary');
  });

  it('rejects ids outside the vocabulary in decode', () => {
    const { ours } = layouts[0];
    expect(() => ours.decode([1, 32000])).toThrow('Tokenizer.decode: id 32000 at index 1 is not in the vocabulary (ids are integers in [0, 31999])');
    expect(() => ours.decode([0.5])).toThrow(/id 0.5 at index 0/);
  });

  it('rejects a string where the parsed JSON belongs', () => {
    expect(() => Tokenizer.fromJSON('{}')).toThrow('Tokenizer.fromJSON: expected the object of a tokenizer.json, got a string (parse it with JSON.parse first)');
  });
});

describe('Tokenizer.toJSON', () => {
  it('saves a file that encodes the same ids after loading, in tsgrad and in @huggingface/tokenizers', () => {
    const { ours, rows } = layouts[0];
    const saved = JSON.parse(JSON.stringify(ours));
    const again = Tokenizer.fromJSON(saved);
    const oracle = new HfTokenizer(saved, {});
    for (const row of rows) {
      expect(again.encode(row.text)).toEqual(row.ids_with_special);
      expect(oracle.encode(row.text).ids).toEqual(row.ids_with_special);
    }
  });
});

describe('Tokenizer.fromPretrained', () => {
  it('reads tokenizer.json from a folder, from the file itself, and by URL through the fetch file source', async () => {
    const { json, rows } = layouts[0];
    const dir = mkdtempSync(join(tmpdir(), 'tsgrad-tokenizer-'));
    try {
      writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(json));
      const row = rows[6];
      expect((await Tokenizer.fromPretrained(dir)).encode(row.text)).toEqual(row.ids_with_special);
      expect((await Tokenizer.fromPretrained(join(dir, 'tokenizer.json'))).encode(row.text)).toEqual(row.ids_with_special);
      const requested: string[] = [];
      const fakeFetch = (async (url: string) => {
        requested.push(url);
        return new Response(readFileSync(join(dir, 'tokenizer.json')));
      }) as unknown as typeof fetch;
      setFileSource(fetchFileSource(fakeFetch));
      try {
        expect((await Tokenizer.fromPretrained('https://example.org/llama2')).encode(row.text)).toEqual(row.ids_with_special);
      } finally {
        setFileSource(fsFileSource);
      }
      expect(requested).toEqual(['https://example.org/llama2/tokenizer.json']);
      writeFileSync(join(dir, 'bad.json'), '{"version":');
      await expect(Tokenizer.fromPretrained(join(dir, 'bad.json'))).rejects.toThrow(/^Tokenizer.fromPretrained: .*bad.json is not valid JSON/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('byteLevelTokenizer', () => {
  const bytes = byteLevelTokenizer();

  it('encodes text as its UTF-8 bytes and decodes them back', () => {
    expect(bytes.vocabSize).toBe(256);
    expect(bytes.encode('Aé🦙')).toEqual([0x41, 0xc3, 0xa9, 0xf0, 0x9f, 0xa6, 0x99]);
    fc.assert(fc.property(fc.string({ unit: 'grapheme' }), (s) => {
      expect(bytes.encode(s)).toEqual([...new TextEncoder().encode(s)]);
      expect(bytes.decode(bytes.encode(s))).toBe(s);
    }));
  });

  it('is a tokenizer.json that @huggingface/tokenizers reads to the same byte ids', () => {
    const json = JSON.parse(JSON.stringify(bytes));
    expect(Object.keys(json.model.vocab)).toHaveLength(256);
    expect(json.model.merges).toEqual([]);
    const oracle = new HfTokenizer(json, {});
    fc.assert(fc.property(randomText, (text) => {
      expect(oracle.encode(text).ids).toEqual(bytes.encode(text));
    }), { numRuns: 100 });
  });

  it('loads the byte-level tokenizer.json that older tsgrad checkpoints carry', () => {
    const old = Tokenizer.fromJSON({ type: 'byte-level', vocab_size: 256 });
    expect(old.encode('hé')).toEqual([0x68, 0xc3, 0xa9]);
    expect(old.toJSON()).toEqual(bytes.toJSON());
  });
});
