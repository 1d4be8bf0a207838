// A byte-level tokenizer: token ids are the UTF-8 bytes of the text, so the vocabulary is 256 and
// nothing needs training. Browser-safe: TextEncoder and TextDecoder are in every runtime we target.
//
// It saves as a Hugging Face tokenizer.json (byteLevelTokenizer's: 256 tokens "<0x00>".."<0xFF>",
// no merges), and still reads the {"type": "byte-level"} file that older tsgrad checkpoints carry.
//
// NOTE: TextDecoder strips a leading U+FEFF (byte-order mark) unless told not to; we keep it, so that
// every string round-trips. Lone surrogates have no UTF-8 form: TextEncoder writes U+FFFD for them.

import { type TokenizerJSON, Tokenizer, byteLevelTokenizer } from './hf-tokenizer.js';

/** The tokenizer.json that older tsgrad checkpoints carry (still read; no longer written). */
export interface ByteTokenizerJSON {
  /** Always "byte-level". */
  type: 'byte-level';
  /** Always 256. */
  vocab_size: 256;
}

function utf8Decoder(): TextDecoder {
  // fatal: false turns invalid bytes into U+FFFD instead of throwing: generated text can be anything.
  return new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
}

function checkId(fn: string, id: unknown, index: number): number {
  if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id > 255) {
    throw new Error(`${fn}: expected token ids that are integers in [0, 255], got ${String(id)} at index ${index}`);
  }
  return id;
}

/** Maps text to its UTF-8 bytes and back; token id = byte value. */
export class ByteTokenizer {
  /** One token per byte value. */
  readonly vocabSize = 256;
  private readonly encoder = new TextEncoder();

  /** The UTF-8 bytes of `text`, as token ids. */
  encode(text: string): number[] {
    return Array.from(this.encoder.encode(text));
  }

  /** The text whose UTF-8 bytes are `ids`; invalid byte sequences become U+FFFD (replacement character). */
  decode(ids: number[]): string {
    const bytes = new Uint8Array(ids.length);
    ids.forEach((id, i) => { bytes[i] = checkId('ByteTokenizer.decode', id, i); });
    return utf8Decoder().decode(bytes);
  }

  /** The object to save as `tokenizer.json`: Hugging Face's format (see byteLevelTokenizer). */
  toJSON(): TokenizerJSON {
    return byteLevelTokenizer().toJSON();
  }

  /** Reads what `toJSON` writes, or the older {"type": "byte-level"} file; anything else (a BPE with merges, say) is an error. */
  static fromJSON(json: unknown): ByteTokenizer {
    if (typeof json === 'object' && json !== null && 'model' in json) {
      const bytes = JSON.stringify(byteLevelTokenizer().toJSON());
      let same = false;
      try {
        same = JSON.stringify(Tokenizer.fromJSON(json).toJSON()) === bytes;
      } catch {
        same = false;
      }
      if (!same) throw new Error('ByteTokenizer.fromJSON: unsupported tokenizer: this Hugging Face tokenizer.json is not the byte-level one (256 tokens "<0x00>".."<0xFF>", no merges); load it with Tokenizer.fromJSON');
      return new ByteTokenizer();
    }
    const expected = '{"type": "byte-level", "vocab_size": 256}';
    if (typeof json !== 'object' || json === null || Array.isArray(json)) {
      const got = typeof json === 'string' ? 'a string (parse it with JSON.parse first)' : JSON.stringify(json);
      throw new Error(`ByteTokenizer.fromJSON: unsupported tokenizer: expected ${expected}, got ${got}`);
    }
    const j = json as Record<string, unknown>;
    if (j.type !== 'byte-level') {
      const keys = Object.keys(j).join(', ') || '(none)';
      const what = 'type' in j ? `type ${JSON.stringify(j.type)}` : `an object with keys ${keys}`;
      throw new Error(`ByteTokenizer.fromJSON: unsupported tokenizer ${what}; expected ${expected}`);
    }
    if (j.vocab_size !== 256) {
      const got = JSON.stringify(j.vocab_size);
      throw new Error(`ByteTokenizer.fromJSON: unsupported tokenizer: byte-level vocab_size must be 256, got ${got}`);
    }
    const extra = Object.keys(j).filter((k) => k !== 'type' && k !== 'vocab_size');
    if (extra.length > 0) throw new Error(`ByteTokenizer.fromJSON: unsupported tokenizer: unknown keys ${extra.join(', ')}`);
    return new ByteTokenizer();
  }
}

/** Turns generated ids into text one token at a time. */
export interface StreamingDecoder {
  /** Adds one byte; returns the characters it completes (often "" in the middle of a multi-byte character). */
  push(id: number): string;
  /** Ends the stream: an unfinished character becomes U+FFFD. The decoder can then be reused. */
  flush(): string;
}

/**
 * A decoder for streaming generation: it holds back the bytes of an unfinished UTF-8 character,
 * so what it emits concatenates to exactly `decode(allIds)`.
 */
export function createStreamingDecoder(): StreamingDecoder {
  const decoder = utf8Decoder();
  const one = new Uint8Array(1);
  let count = 0;
  return {
    push(id: number): string {
      one[0] = checkId('createStreamingDecoder.push', id, count++);
      return decoder.decode(one, { stream: true });
    },
    flush(): string {
      count = 0;
      return decoder.decode();
    },
  };
}
