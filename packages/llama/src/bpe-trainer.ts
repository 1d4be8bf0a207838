// Training a BPE tokenizer the way LLaMA's was trained (SentencePiece BPE: numbers split into
// digits, characters missing from the vocabulary fall back to bytes), written to be read like
// minbpe: count adjacent pairs, merge the most frequent one into a new token, repeat.
//
// The result is a Hugging Face tokenizer.json in LLaMA 2's layout:
//   ids 0, 1, 2        <unk>, <s> (BOS), </s> (EOS)
//   ids 3 .. 258       "<0x00>" .. "<0xFF>": byte fallback for characters outside the vocabulary
//   then               the characters of the training text (the most frequent ones, up to
//                      `characterCoverage` of all characters), "▁" (space) first
//   then               one token per merge, in the order learned
// normalizer: "▁" before the text, every " " -> "▁"; pre-tokenizer: a regex Split (see WORD_REGEX)
// so that merges stay inside words and digits stay single; decoder: LLaMA 2's; post-processor:
// BOS before the text. Hugging Face `tokenizers` loads the file and encodes the same ids.
//
// Two things make it fast enough for a whole book without hiding the algorithm:
//   - the text is cut into words first, and identical words are merged once, weighted by count;
//   - pair counts are updated where a merge changes them, not recounted from scratch, and the
//     most frequent pair is found with a max-heap whose stale entries are skipped.

import { byteTokenName } from './bpe.js';
import { Tokenizer, type TokenizerJSON } from './hf-tokenizer.js';
import { parseNormalizer, parsePreTokenizer } from './tokenizer-pipeline.js';

/** Options of {@link trainBpeTokenizer}. */
export interface TrainBpeOptions {
  /** Entries in the finished vocabulary: 3 special tokens + 256 bytes + characters + merges. */
  vocabSize: number;
  /** Fraction of the text's characters the base alphabet must cover (SentencePiece's default, 0.9995); rarer characters fall back to bytes. */
  characterCoverage?: number;
  /** Stop early when the most frequent pair occurs fewer times than this (default 2). */
  minPairCount?: number;
  /** Called after each merge, for a learner to watch (the new token, its parts and how often the pair occurred). */
  onMerge?: (merge: { rank: number; left: string; right: string; token: string; count: number }) => void;
}

/** The special tokens, at ids 0, 1, 2 as in LLaMA. */
const SPECIAL_TOKENS = ['<unk>', '<s>', '</s>'] as const;

/**
 * Words for training and encoding, on the normalized text (spaces are already "▁"): a single
 * digit; letters (with combining marks) after at most one "▁"; other symbols after at most one
 * "▁"; whitespace; runs of "▁", leaving the last "▁" of a run to the word that follows.
 */
const WORD_REGEX = '\\p{N}|▁?[\\p{L}\\p{M}]+|▁?[^▁\\s\\p{L}\\p{M}\\p{N}]+|\\s+|▁+(?=▁)|▁+';

const FIRST_CHAR_ID = SPECIAL_TOKENS.length + 256;

/** The tokenizer.json of a trained (or untrained) LLaMA-style BPE tokenizer. */
function llamaStyleJson(vocab: Record<string, number>, merges: [string, string][]): TokenizerJSON {
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIAL_TOKENS.map((content, id) => ({
      id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true,
    })),
    normalizer: { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '▁' }, { type: 'Replace', pattern: { String: ' ' }, content: '▁' }] },
    pre_tokenizer: { type: 'Split', pattern: { Regex: WORD_REGEX }, behavior: 'Isolated', invert: false },
    model: {
      type: 'BPE', dropout: null, unk_token: '<unk>', continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: true, byte_fallback: true, ignore_merges: false, vocab, merges,
    },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '<s>', type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
    },
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: '▁' }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        { type: 'Strip', content: ' ', start: 1, stop: 0 },
      ],
    },
  };
}

/** Splits normalized training text into words and counts each distinct word. */
function countWords(text: string): Map<string, number> {
  const skeleton = llamaStyleJson({}, []);
  const normalize = parseNormalizer(skeleton.normalizer);
  const split = parsePreTokenizer(skeleton.pre_tokenizer);
  const counts = new Map<string, number>();
  for (const word of split([normalize(text)])) counts.set(word, (counts.get(word) ?? 0) + 1);
  return counts;
}

/** The base alphabet: "▁", the digits, then the most frequent characters until `coverage` of all characters is reached. */
function chooseAlphabet(words: Map<string, number>, coverage: number, maxSize: number): string[] {
  const charCounts = new Map<string, number>();
  let total = 0;
  for (const [word, count] of words) {
    for (const ch of word) {
      charCounts.set(ch, (charCounts.get(ch) ?? 0) + count);
      total += count;
    }
  }
  // "▁" and the digits that occur come first whatever their frequency: numbers are spelled digit
  // by digit, and a digit should not need three byte tokens
  const alphabet = ['▁', ...'0123456789'].filter((ch, i) => i === 0 || charCounts.has(ch)).slice(0, maxSize);
  let covered = alphabet.reduce((sum, ch) => sum + (charCounts.get(ch) ?? 0), 0);
  const byFrequency = [...charCounts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  for (const [ch, count] of byFrequency) {
    if (alphabet.length >= maxSize || covered >= coverage * total) break;
    if (alphabet.includes(ch)) continue;
    alphabet.push(ch);
    covered += count;
  }
  return alphabet;
}

// A max-heap of [count, pair key]; the highest count wins, ties go to the smaller key (the pair
// of older tokens), so training is deterministic. Entries go stale when a count changes; the
// loop skips an entry whose count is no longer the pair's current count.
class PairHeap {
  private readonly items: [number, number][] = [];

  private before(a: [number, number], b: [number, number]): boolean {
    return a[0] > b[0] || (a[0] === b[0] && a[1] < b[1]);
  }

  push(item: [number, number]): void {
    const h = this.items;
    h.push(item);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(h[i], h[parent])) break;
      [h[i], h[parent]] = [h[parent], h[i]];
      i = parent;
    }
  }

  pop(): [number, number] | undefined {
    const h = this.items;
    if (h.length === 0) return undefined;
    const top = h[0];
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let best = i;
        if (l < h.length && this.before(h[l], h[best])) best = l;
        if (r < h.length && this.before(h[r], h[best])) best = r;
        if (best === i) break;
        [h[i], h[best]] = [h[best], h[i]];
        i = best;
      }
    }
    return top;
  }
}

/**
 * Trains a byte-fallback BPE tokenizer on `text` with digits split (the LLaMA paper's recipe) and
 * returns it; `toJSON()` is a tokenizer.json that Hugging Face `tokenizers` loads. The vocabulary
 * ends smaller than `vocabSize` only if the text runs out of pairs seen `minPairCount` times.
 */
export function trainBpeTokenizer(text: string, options: TrainBpeOptions): Tokenizer {
  const { vocabSize, characterCoverage = 0.9995, minPairCount = 2, onMerge } = options;
  if (typeof text !== 'string' || text.length === 0) throw new Error('trainBpeTokenizer: the training text is empty');
  if (!Number.isInteger(vocabSize) || vocabSize < FIRST_CHAR_ID + 1) {
    throw new Error(`trainBpeTokenizer: vocabSize must be an integer of at least ${FIRST_CHAR_ID + 1} (3 special tokens + 256 bytes + "▁"), got ${vocabSize}`);
  }
  if (!(characterCoverage > 0 && characterCoverage <= 1)) throw new Error(`trainBpeTokenizer: characterCoverage must be in (0, 1], got ${characterCoverage}`);

  // 1. The starting vocabulary: special tokens, the 256 bytes, the alphabet.
  const wordCounts = countWords(text);
  const tokens: string[] = [...SPECIAL_TOKENS];
  for (let b = 0; b < 256; b++) tokens.push(byteTokenName(b));
  tokens.push(...chooseAlphabet(wordCounts, characterCoverage, vocabSize - FIRST_CHAR_ID));
  const idOf = new Map(tokens.map((t, id) => [t, id]));

  // 2. Every distinct word as a list of token ids: its characters, or their bytes when a
  //    character is not in the alphabet. Byte tokens never merge (ids below FIRST_CHAR_ID).
  const words: number[][] = [];
  const counts: number[] = [];
  const utf8 = new TextEncoder();
  for (const [word, count] of wordCounts) {
    const ids: number[] = [];
    for (const ch of word) {
      const id = idOf.get(ch);
      if (id !== undefined) ids.push(id);
      else for (const b of utf8.encode(ch)) ids.push(SPECIAL_TOKENS.length + b);
    }
    words.push(ids);
    counts.push(count);
  }

  // 3. Pair counts over all words (each word weighted by how often it occurs), and for each
  //    pair the words it occurs in. A pair is keyed as left * KEY + right.
  const KEY = vocabSize;
  const pairCounts = new Map<number, number>();
  const pairWords = new Map<number, Set<number>>();
  const addPairs = (w: number, sign: 1 | -1, changed: Set<number>) => {
    const ids = words[w];
    for (let i = 0; i + 1 < ids.length; i++) {
      if (ids[i] < FIRST_CHAR_ID || ids[i + 1] < FIRST_CHAR_ID) continue;
      const key = ids[i] * KEY + ids[i + 1];
      pairCounts.set(key, (pairCounts.get(key) ?? 0) + sign * counts[w]);
      changed.add(key);
      if (sign > 0) {
        let where = pairWords.get(key);
        if (!where) pairWords.set(key, (where = new Set()));
        where.add(w);
      }
    }
  };
  const heap = new PairHeap();
  const initial = new Set<number>();
  for (let w = 0; w < words.length; w++) addPairs(w, 1, initial);
  for (const key of initial) heap.push([pairCounts.get(key)!, key]);

  // 4. Merge the most frequent pair, again and again, until the vocabulary is full.
  const merges: [string, string][] = [];
  while (tokens.length < vocabSize) {
    const top = heap.pop();
    if (top === undefined) break;
    const [count, key] = top;
    if (pairCounts.get(key) !== count) continue; // stale: the count changed after this entry was pushed
    if (count < minPairCount) break;
    const left = Math.floor(key / KEY);
    const right = key - left * KEY;
    const token = tokens[left] + tokens[right];
    // two different pairs can spell the same token ("ab"+"c", "a"+"bc"): it keeps its first id
    let id = idOf.get(token);
    if (id === undefined) {
      id = tokens.length;
      tokens.push(token);
      idOf.set(token, id);
    }
    merges.push([tokens[left], tokens[right]]);
    onMerge?.({ rank: merges.length - 1, left: tokens[left], right: tokens[right], token, count });

    // Rewrite every word that contains the pair: take its pairs out of the counts, replace each
    // left-to-right occurrence of (left, right) by the new token, put its pairs back.
    const changed = new Set<number>();
    for (const w of pairWords.get(key) ?? []) {
      addPairs(w, -1, changed);
      const ids = words[w];
      const merged: number[] = [];
      for (let i = 0; i < ids.length; i++) {
        if (i + 1 < ids.length && ids[i] === left && ids[i + 1] === right) {
          merged.push(id);
          i++;
        } else {
          merged.push(ids[i]);
        }
      }
      words[w] = merged;
      addPairs(w, 1, changed);
    }
    pairWords.delete(key);
    for (const k of changed) {
      const c = pairCounts.get(k)!;
      if (c > 0) heap.push([c, k]);
      else pairCounts.delete(k);
    }
  }

  const vocab: Record<string, number> = {};
  tokens.forEach((t, id) => { vocab[t] = id; });
  return Tokenizer.fromJSON(llamaStyleJson(vocab, merges));
}
