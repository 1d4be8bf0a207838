// trainBpeTokenizer: the merges it learns (against a naive recount, minbpe style), the LLaMA
// layout of its vocabulary, and its tokenizer.json in Hugging Face's JavaScript port
// (@huggingface/tokenizers), which must encode held-out text to the same ids.

import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { trainBpeTokenizer } from '../src/bpe-trainer.js';
import { Tokenizer } from '../src/hf-tokenizer.js';
import { mobyDickCorpus } from '../src/node/corpus.js';

const corpus = mobyDickCorpus();
const utf8 = new TextDecoder();
// a tenth of the training chapters keeps the test quick; validation chapters are held out
const trainText = utf8.decode(corpus.train.subarray(0, 120_000));
const heldOut = utf8.decode(corpus.validation.subarray(0, 20_000)).replace(/\uFFFD+$/, '');

describe('trainBpeTokenizer', () => {
  const merges: { left: string; right: string; count: number }[] = [];
  const trained = trainBpeTokenizer(trainText, { vocabSize: 700, onMerge: (m) => merges.push(m) });

  it('fills the vocabulary in LLaMA\'s layout: special tokens, 256 bytes, characters, merges', () => {
    expect(trained.vocabSize).toBe(700);
    expect([0, 1, 2].map((id) => trained.idToToken(id))).toEqual(['<unk>', '<s>', '</s>']);
    expect(trained.idToToken(3)).toBe('<0x00>');
    expect(trained.idToToken(3 + 0x41)).toBe('<0x41>');
    expect(trained.idToToken(258)).toBe('<0xFF>');
    expect(trained.idToToken(259)).toBe('▁');
    expect(trained.bosIds).toEqual([1]);
    expect(259 + (trained.vocabSize - 259 - merges.length)).toBe(trained.tokenToId(merges[0].left + merges[0].right));
  });

  it('splits numbers into digits: no token holds a digit and anything else', () => {
    // numbers repeated often enough that merging their digits would win, were it allowed
    const numbers = trainBpeTokenizer('In 1851, 1851 ships sailed; 2024 whales, 1851 whales.\n'.repeat(50), { vocabSize: 320 });
    for (const tok of [trained, numbers]) {
      for (let id = 259; id < tok.vocabSize; id++) {
        const token = tok.idToToken(id)!;
        if (/\p{N}/u.test(token)) expect(token, `token ${id}`).toMatch(/^\p{N}$/u);
      }
    }
    expect(numbers.tokenToId('▁whales')).toBeGreaterThan(258);
    const ids = numbers.encode('1851 whales', { addSpecialTokens: false });
    expect(ids.map((id) => numbers.idToToken(id))).toEqual(['▁', '1', '8', '5', '1', '▁whales']);
  });

  it('falls back to bytes for characters it never saw', () => {
    const ids = trained.encode('🦙', { addSpecialTokens: false });
    expect(ids.map((id) => trained.idToToken(id))).toEqual(['▁', '<0xF0>', '<0x9F>', '<0xA6>', '<0x99>']);
    expect(trained.decode(ids)).toBe('🦙');
  });

  it('learns the merges a naive recount of all pairs finds, in the same order', () => {
    // Sennrich et al.'s example, words separated by single spaces: each word is "▁" + letters.
    const text = 'low low low low low lower lower newest newest newest newest newest newest widest widest widest';
    const log: string[] = [];
    const tok = trainBpeTokenizer(text, { vocabSize: 259 + 11 + 10, onMerge: (m) => log.push(`${m.left}+${m.right}:${m.count}`) });
    // the reference: recount every pair of every word after each merge, take the most frequent,
    // ties to the pair of smaller ids (left first)
    let words = text.split(' ').map((w) => [...`▁${w}`].map((ch) => tok.tokenToId(ch)!));
    const expected: string[] = [];
    const spell = new Map<number, string>();
    for (let id = 0; id < tok.vocabSize; id++) spell.set(id, tok.idToToken(id)!);
    for (let step = 0; step < log.length; step++) {
      const pairCounts = new Map<string, number>();
      for (const w of words) for (let i = 0; i + 1 < w.length; i++) pairCounts.set(`${w[i]},${w[i + 1]}`, (pairCounts.get(`${w[i]},${w[i + 1]}`) ?? 0) + 1);
      const [best, count] = [...pairCounts].sort((a, b) => {
        const [a0, a1] = a[0].split(',').map(Number);
        const [b0, b1] = b[0].split(',').map(Number);
        return b[1] - a[1] || a0 - b0 || a1 - b1;
      })[0];
      const [left, right] = best.split(',').map(Number);
      const merged = tok.tokenToId(spell.get(left)! + spell.get(right)!)!;
      expected.push(`${spell.get(left)}+${spell.get(right)}:${count}`);
      words = words.map((w) => {
        const out: number[] = [];
        for (let i = 0; i < w.length; i++) {
          if (w[i] === left && w[i + 1] === right) { out.push(merged); i++; } else out.push(w[i]);
        }
        return out;
      });
    }
    expect(log.length).toBe(10);
    expect(log).toEqual(expected);
    expect(tok.encode('lowest', { addSpecialTokens: false }).map((id) => tok.idToToken(id))).toEqual(['▁low', 'est']);
  });

  it('saves a tokenizer.json that @huggingface/tokenizers encodes held-out text with to the same ids', () => {
    const json = JSON.parse(JSON.stringify(trained));
    const oracle = new HfTokenizer(json, {});
    const ids = trained.encode(heldOut);
    expect(ids.length).toBeGreaterThan(4000);
    expect(oracle.encode(heldOut).ids).toEqual(ids);
    expect(Tokenizer.fromJSON(json).encode(heldOut)).toEqual(ids);
    expect(trained.decode(ids, { skipSpecialTokens: true })).toBe(heldOut);
  });

  it('encodes random text as @huggingface/tokenizers does with its file', () => {
    const oracle = new HfTokenizer(JSON.parse(JSON.stringify(trained)), {});
    const text = fc.array(fc.oneof(
      fc.string({ unit: 'grapheme', maxLength: 8 }),
      fc.constantFrom(' the', ' whale', 'Ahab', '  ', '\n\n', '1851', ' 42.', '▁', '<s>', '</s>'),
    ), { maxLength: 10 }).map((parts) => parts.join(''));
    fc.assert(fc.property(text, (t) => {
      expect(trained.encode(t)).toEqual(oracle.encode(t).ids);
    }), { numRuns: 300 });
  });

  it('rejects a vocabulary too small for the bytes, and empty text', () => {
    expect(() => trainBpeTokenizer('abc', { vocabSize: 259 })).toThrow('trainBpeTokenizer: vocabSize must be an integer of at least 260 (3 special tokens + 256 bytes + "▁"), got 259');
    expect(() => trainBpeTokenizer('', { vocabSize: 300 })).toThrow('trainBpeTokenizer: the training text is empty');
    expect(() => trainBpeTokenizer('abc', { vocabSize: 300, characterCoverage: 0 })).toThrow('characterCoverage must be in (0, 1], got 0');
  });
});
