import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ByteTokenizer, createStreamingDecoder } from '../src/tokenizer.js';

const tok = new ByteTokenizer();
const MIXED = 'héllo wörld — 你好, 🦙 LLaMA 👩‍👩‍👧 \uFEFF';

// Feeds ids one at a time and records what each push returned.
function stream(ids: number[]): string[] {
  const dec = createStreamingDecoder();
  return [...ids.map((id) => dec.push(id)), dec.flush()];
}

describe('ByteTokenizer', () => {
  it('encodes text as its UTF-8 bytes', () => {
    expect(tok.vocabSize).toBe(256);
    expect(tok.encode('Aé🦙')).toEqual([0x41, 0xc3, 0xa9, 0xf0, 0x9f, 0xa6, 0x99]);
    expect(tok.encode('')).toEqual([]);
  });

  it('round-trips every string without lone surrogates', () => {
    fc.assert(fc.property(fc.string({ unit: 'grapheme' }), (s) => {
      const ids = tok.encode(s);
      expect(ids.every((id) => Number.isInteger(id) && id >= 0 && id < 256)).toBe(true);
      expect(tok.decode(ids)).toBe(s);
    }));
    fc.assert(fc.property(fc.string({ unit: 'binary' }), (s) => {
      expect(tok.decode(tok.encode(s))).toBe(s);
    }));
  });

  it('keeps a leading byte-order mark', () => {
    expect(tok.decode(tok.encode('\uFEFFx'))).toBe('\uFEFFx');
  });

  it('decodes invalid byte sequences to replacement characters', () => {
    expect(tok.decode([0x41, 0xff, 0x42])).toBe('A\uFFFDB');
    expect(tok.decode([0xe4, 0xbd])).toBe('\uFFFD'); // a truncated 3-byte character
    expect(tok.encode('\uD800')).toEqual([0xef, 0xbf, 0xbd]); // a lone surrogate is written as U+FFFD
  });

  it('rejects ids outside [0, 255]', () => {
    expect(() => tok.decode([65, 256])).toThrow('ByteTokenizer.decode: expected token ids that are integers in [0, 255], got 256 at index 1');
    expect(() => tok.decode([1.5])).toThrow(/got 1.5 at index 0/);
  });

  it('saves its tokenizer.json in Hugging Face\'s format and loads it, and the older format too', () => {
    const json = JSON.parse(JSON.stringify(tok));
    expect(json.model.type).toBe('BPE');
    expect(json.model.vocab['<0x41>']).toBe(0x41);
    expect(json.model.merges).toEqual([]);
    expect(ByteTokenizer.fromJSON(json)).toBeInstanceOf(ByteTokenizer);
    expect(ByteTokenizer.fromJSON({ type: 'byte-level', vocab_size: 256 })).toBeInstanceOf(ByteTokenizer);
    json.model.merges = [['<0x41>', '<0x42>']];
    json.model.vocab['<0x41><0x42>'] = 256;
    expect(() => ByteTokenizer.fromJSON(json)).toThrow(/not the byte-level one/);
  });

  it('rejects any other tokenizer.json with a clear error', () => {
    const hfBpe = { version: '1.0', truncation: null, model: { type: 'BPE', vocab: {} } };
    expect(() => ByteTokenizer.fromJSON(hfBpe)).toThrow(/^ByteTokenizer.fromJSON: unsupported tokenizer: this Hugging Face tokenizer.json is not the byte-level one/);
    expect(() => ByteTokenizer.fromJSON({ type: 'bpe', vocab_size: 256 })).toThrow(/unsupported tokenizer type "bpe"; expected/);
    expect(() => ByteTokenizer.fromJSON({ type: 'byte-level', vocab_size: 512 })).toThrow(/vocab_size must be 256, got 512/);
    expect(() => ByteTokenizer.fromJSON({ type: 'byte-level', vocab_size: 256, merges: [] })).toThrow(/unknown keys merges/);
    expect(() => ByteTokenizer.fromJSON('{"type":"byte-level"}')).toThrow(/a string \(parse it with JSON.parse first\)/);
    expect(() => ByteTokenizer.fromJSON(null)).toThrow(/unsupported tokenizer: expected .*got null/);
  });
});

describe('createStreamingDecoder', () => {
  it('emits whole characters only, whatever byte the text is split at', () => {
    const ids = tok.encode(MIXED);
    const pieces = stream(ids);
    expect(pieces.join('')).toBe(MIXED);
    // A piece is never half a character: each one re-encodes to exactly the bytes that produced it.
    const emitted = pieces.flatMap((p) => tok.encode(p));
    expect(emitted).toEqual(ids);
    for (const p of pieces) expect(p).not.toMatch(/\uFFFD/);
    // Pushes return "" until a character's last byte arrives: the 4-byte llama comes out on its 4th byte.
    const llama = tok.encode('🦙');
    expect(stream(llama)).toEqual(['', '', '', '🦙', '']);
  });

  it('concatenates to decode(ids) for any text cut into any chunks', () => {
    fc.assert(fc.property(fc.string({ unit: 'grapheme' }), fc.array(fc.nat()), (s, cuts) => {
      const ids = tok.encode(s);
      const dec = createStreamingDecoder();
      let out = '';
      let start = 0;
      for (const cut of [...cuts.map((c) => (ids.length === 0 ? 0 : c % ids.length)).sort((a, b) => a - b), ids.length]) {
        // Text emitted at a chunk boundary is always complete: it survives encode→decode unchanged.
        let chunk = '';
        for (const id of ids.slice(start, Math.max(start, cut))) chunk += dec.push(id);
        expect(tok.decode(tok.encode(chunk))).toBe(chunk);
        out += chunk;
        start = Math.max(start, cut);
      }
      expect(out + dec.flush()).toBe(s);
    }));
  });

  it('turns an unfinished character into a replacement character on flush and can be reused', () => {
    const dec = createStreamingDecoder();
    expect(dec.push(0xe4)).toBe('');
    expect(dec.push(0xbd)).toBe('');
    expect(dec.flush()).toBe('\uFFFD');
    expect(dec.push(0x41)).toBe('A');
    expect(dec.flush()).toBe('');
  });

  it('rejects ids outside [0, 255]', () => {
    expect(() => createStreamingDecoder().push(-1)).toThrow(/createStreamingDecoder.push: expected token ids that are integers in \[0, 255\], got -1/);
  });
});
