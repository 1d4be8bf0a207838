// A Hugging Face tokenizer.json, read and applied from scratch: the BPE model (bpe.ts) and the
// stages around it (tokenizer-pipeline.ts). Encoding follows `tokenizers`:
//   1. split the text on added tokens (<s>, <|begin_of_text|>, ...), leftmost-longest;
//   2. each stretch between them: normalize, pre-tokenize into words, BPE each word;
//   3. with addSpecialTokens, wrap the ids in the post-processor's template (BOS/EOS).
// Files are reached only through the FileSource, so this runs in browsers as well as Node.

import { BpeModel, type BpeModelJSON, byteTokenName } from './bpe.js';
import { getFileSource } from './file-source.js';
import {
  type Decoder, type Normalizer, type PostProcessor, type PreTokenizer,
  parseDecoder, parseNormalizer, parsePostProcessor, parsePreTokenizer,
} from './tokenizer-pipeline.js';

/** One entry of `added_tokens` in tokenizer.json. */
export interface AddedTokenJSON {
  /** The token's id. */
  id: number;
  /** Its text, matched literally in the input. */
  content: string;
  /** Must be false (Hugging Face's "match only whole words"). */
  single_word: boolean;
  /** Must be false (swallow whitespace on the left). */
  lstrip: boolean;
  /** Must be false (swallow whitespace on the right). */
  rstrip: boolean;
  /** Must be false: matched in the raw text, before normalization. */
  normalized: boolean;
  /** Special tokens are dropped by decode(ids, { skipSpecialTokens: true }). */
  special: boolean;
}

/** A tokenizer.json as Hugging Face writes it (the parts we read and write). */
export interface TokenizerJSON {
  /** "1.0". */
  version: string;
  /** Must be null. */
  truncation: null;
  /** Must be null. */
  padding: null;
  /** Tokens matched before normalization: <s>, </s>, <|begin_of_text|>, ... */
  added_tokens: AddedTokenJSON[];
  /** Text -> text (see tokenizer-pipeline.ts). */
  normalizer: unknown;
  /** Text -> words. */
  pre_tokenizer: unknown;
  /** The BPE model. */
  model: BpeModelJSON;
  /** Adds BOS/EOS. */
  post_processor: unknown;
  /** Tokens -> text. */
  decoder: unknown;
}

/** Options of {@link Tokenizer.encode}. */
export interface EncodeOptions {
  /** Add the post-processor's special tokens (LLaMA: BOS). Default true, as in Hugging Face. */
  addSpecialTokens?: boolean;
}

/** Options of {@link Tokenizer.decode}. */
export interface DecodeOptions {
  /** Leave out special tokens (BOS, EOS, ...). Default false, as in Hugging Face. */
  skipSpecialTokens?: boolean;
}

/** Turns generated ids into text one token at a time. */
export interface StreamingDecoder {
  /** Adds one token; returns the text it completes ("" while a character is still incomplete). */
  push(id: number): string;
  /** Ends the stream, returning what is left (an unfinished character as U+FFFD). The decoder can then be reused. */
  flush(): string;
}

const TOP_KEYS = ['version', 'truncation', 'padding', 'added_tokens', 'normalizer', 'pre_tokenizer', 'model', 'post_processor', 'decoder'];

// The JSON tsgrad saved as tokenizer.json before it wrote Hugging Face's format.
function isLegacyByteLevel(json: Record<string, unknown>): boolean {
  return json.type === 'byte-level' && json.vocab_size === 256 && Object.keys(json).length === 2;
}

/** A Hugging Face tokenizer.json (BPE: LLaMA 1/2's SentencePiece layout, LLaMA 3's byte-level one). */
export class Tokenizer {
  /** Ids an embedding must cover: the largest id + 1 (model vocabulary and added tokens). */
  readonly vocabSize: number;
  private readonly model: BpeModel;
  private readonly normalizer: Normalizer;
  private readonly preTokenizer: PreTokenizer;
  private readonly decoder: Decoder;
  private readonly postProcessor: PostProcessor;
  private readonly added: AddedTokenJSON[];
  private readonly addedById = new Map<number, AddedTokenJSON>();
  private readonly addedByContent = new Map<string, AddedTokenJSON>();
  // every added token, longest first: a JavaScript alternation takes the first alternative that
  // matches, so at the leftmost match position this finds the longest token (Hugging Face's
  // leftmost-longest rule)
  private readonly addedPattern: RegExp | null;
  private readonly json: TokenizerJSON;

  private constructor(json: TokenizerJSON) {
    this.json = json;
    for (const key of Object.keys(json)) {
      if (!TOP_KEYS.includes(key)) throw new Error(`Tokenizer: unsupported tokenizer.json key "${key}"`);
    }
    if (json.truncation != null) throw new Error('Tokenizer: unsupported truncation (must be null; truncate ids yourself)');
    if (json.padding != null) throw new Error('Tokenizer: unsupported padding (must be null; pad ids yourself)');
    const model = json.model as unknown as Record<string, unknown>;
    if (typeof model !== 'object' || model === null) throw new Error('Tokenizer: tokenizer.json has no model');
    if (model.type !== 'BPE') throw new Error(`Tokenizer: unsupported model type ${JSON.stringify(model.type)}; tsgrad reads BPE models (LLaMA 1/2 and LLaMA 3) only`);
    this.model = new BpeModel(json.model);
    this.normalizer = parseNormalizer(json.normalizer);
    this.preTokenizer = parsePreTokenizer(json.pre_tokenizer);
    this.decoder = parseDecoder(json.decoder);
    this.postProcessor = parsePostProcessor(json.post_processor);
    this.added = json.added_tokens ?? [];
    let maxId = this.model.idToToken.length - 1;
    for (const t of this.added) {
      const flags = (['single_word', 'lstrip', 'rstrip', 'normalized'] as const).filter((f) => t[f]);
      if (flags.length > 0) throw new Error(`Tokenizer: unsupported added token ${JSON.stringify(t.content)} with ${flags.map((f) => `${f}: true`).join(', ')}`);
      if (!Number.isInteger(t.id) || t.id < 0 || typeof t.content !== 'string' || t.content.length === 0) {
        throw new Error(`Tokenizer: added token ${JSON.stringify(t)} needs a non-negative integer id and non-empty content`);
      }
      this.addedById.set(t.id, t);
      this.addedByContent.set(t.content, t);
      if (t.id > maxId) maxId = t.id;
    }
    for (const id of [...this.postProcessor.before, ...this.postProcessor.after]) {
      if (this.idToToken(id) === undefined) throw new Error(`Tokenizer: the post_processor adds id ${id}, which is neither in the vocabulary nor an added token`);
    }
    this.vocabSize = maxId + 1;
    const escaped = [...this.addedByContent.keys()].sort((a, b) => b.length - a.length).map((c) => c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    this.addedPattern = escaped.length > 0 ? new RegExp(escaped.join('|'), 'gu') : null;
  }

  /** Reads a parsed tokenizer.json (Hugging Face's format; tsgrad's older byte-level file too). */
  static fromJSON(json: unknown): Tokenizer {
    if (typeof json !== 'object' || json === null || Array.isArray(json)) {
      const got = typeof json === 'string' ? 'a string (parse it with JSON.parse first)' : JSON.stringify(json);
      throw new Error(`Tokenizer.fromJSON: expected the object of a tokenizer.json, got ${got}`);
    }
    if (isLegacyByteLevel(json as Record<string, unknown>)) return byteLevelTokenizer();
    return new Tokenizer(json as TokenizerJSON);
  }

  /** Loads `tokenizer.json` from a folder or URL (or the file itself, when the path ends in .json) through the FileSource. */
  static async fromPretrained(dirOrFileOrUrl: string): Promise<Tokenizer> {
    const fs = getFileSource();
    const path = /\.json$/i.test(dirOrFileOrUrl) ? dirOrFileOrUrl : fs.join(dirOrFileOrUrl, 'tokenizer.json');
    const text = new TextDecoder().decode(await fs.read(path));
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw new Error(`Tokenizer.fromPretrained: ${path} is not valid JSON: ${(err as Error).message}`);
    }
    try {
      return Tokenizer.fromJSON(json);
    } catch (err) {
      throw new Error(`Tokenizer.fromPretrained: ${path}: ${(err as Error).message}`);
    }
  }

  /** The tokenizer.json object (Hugging Face's format), ready for JSON.stringify. */
  toJSON(): TokenizerJSON {
    return {
      version: '1.0',
      truncation: null,
      padding: null,
      added_tokens: this.added.map((t) => ({ ...t })),
      normalizer: this.json.normalizer ?? null,
      pre_tokenizer: this.json.pre_tokenizer ?? null,
      model: this.model.toJSON(),
      post_processor: this.json.post_processor ?? null,
      decoder: this.json.decoder ?? null,
    };
  }

  /** The id of a token (an added token or a vocabulary entry), or undefined. */
  tokenToId(token: string): number | undefined {
    return this.addedByContent.get(token)?.id ?? this.model.vocab.get(token);
  }

  /** The token of an id, or undefined. */
  idToToken(id: number): string | undefined {
    return this.addedById.get(id)?.content ?? this.model.idToToken[id];
  }

  /** The post-processor's leading ids (LLaMA: [BOS]); [] when it adds none. */
  get bosIds(): number[] {
    return [...this.postProcessor.before];
  }

  /** The token ids of `text`; with addSpecialTokens (the default) wrapped in BOS/EOS as the post-processor says. */
  encode(text: string, { addSpecialTokens = true }: EncodeOptions = {}): number[] {
    if (typeof text !== 'string') throw new Error(`Tokenizer.encode: expected a string, got ${typeof text}`);
    const ids: number[] = addSpecialTokens ? [...this.postProcessor.before] : [];
    let stretchStart = 0;
    const encodeStretch = (end: number) => {
      if (end <= stretchStart) return;
      const normalized = this.normalizer(text.slice(stretchStart, end));
      if (normalized.length === 0) return;
      for (const word of this.preTokenizer([normalized])) {
        for (const id of this.model.tokenize(word)) ids.push(id);
      }
    };
    if (this.addedPattern !== null) {
      for (const match of text.matchAll(this.addedPattern)) {
        encodeStretch(match.index!);
        ids.push(this.addedByContent.get(match[0])!.id);
        stretchStart = match.index! + match[0].length;
      }
    }
    encodeStretch(text.length);
    if (addSpecialTokens) ids.push(...this.postProcessor.after);
    return ids;
  }

  /** The text of `ids` (every token through the decoder, as Hugging Face does); skipSpecialTokens drops special added tokens. */
  decode(ids: readonly number[], { skipSpecialTokens = false }: DecodeOptions = {}): string {
    const tokens: string[] = [];
    ids.forEach((id, i) => {
      const token = Number.isInteger(id) ? this.idToToken(id) : undefined;
      if (token === undefined) throw new Error(`Tokenizer.decode: id ${String(id)} at index ${i} is not in the vocabulary (ids are integers in [0, ${this.vocabSize - 1}])`);
      if (skipSpecialTokens && this.addedById.get(id)?.special) return;
      tokens.push(token);
    });
    return this.decoder(tokens).join('');
  }

  /**
   * A decoder for streaming generation. It decodes a small window of recent ids and emits only
   * text that is final: nothing while the window ends in an incomplete character (U+FFFD), and
   * with one token of left context so that decoders that strip a leading space (LLaMA 2's) add
   * the space between tokens. The pieces concatenate to `decode(allIds)` for text that decodes
   * cleanly (Hugging Face's DecodeStream does the same).
   */
  createStreamingDecoder({ skipSpecialTokens = false }: DecodeOptions = {}): StreamingDecoder {
    let window: number[] = []; // ids not yet fully emitted, after `contextCount` ids of context
    let contextCount = 0;
    let contextText = ''; // decode of the context ids alone
    return {
      push: (id: number) => {
        window.push(id);
        const text = this.decode(window, { skipSpecialTokens });
        if (text.length <= contextText.length || text.endsWith('\uFFFD') || !text.startsWith(contextText)) return '';
        const fresh = text.slice(contextText.length);
        // the ids just emitted become the context of the next ones
        window = window.slice(contextCount);
        contextCount = window.length;
        contextText = this.decode(window, { skipSpecialTokens });
        return fresh;
      },
      flush: () => {
        const text = this.decode(window, { skipSpecialTokens });
        const rest = text.startsWith(contextText) ? text.slice(contextText.length) : text;
        window = [];
        contextCount = 0;
        contextText = '';
        return rest;
      },
    };
  }
}

/**
 * The byte-level tokenizer as a Hugging Face tokenizer.json: 256 tokens "<0x00>".."<0xFF>" with
 * ids equal to the byte values, no merges, byte fallback. Every text encodes to its UTF-8 bytes,
 * in tsgrad and in Hugging Face `tokenizers` alike.
 */
export function byteLevelTokenizer(): Tokenizer {
  const vocab: Record<string, number> = {};
  for (let b = 0; b < 256; b++) vocab[byteTokenName(b)] = b;
  return Tokenizer.fromJSON({
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [],
    normalizer: null,
    pre_tokenizer: null,
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: false, byte_fallback: true, ignore_merges: false, vocab, merges: [],
    },
    post_processor: null,
    decoder: { type: 'Sequence', decoders: [{ type: 'ByteFallback' }, { type: 'Fuse' }] },
  });
}
