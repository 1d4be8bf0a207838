// The stages of a Hugging Face tokenizer.json around the BPE model, each read from its JSON and
// applied as Hugging Face `tokenizers` applies it:
//   normalizer     text -> text            Prepend, Replace, Sequence (the LLaMA 1/2 layout)
//   pre_tokenizer  text -> words           Split (regex), ByteLevel, Sequence (the LLaMA 3 layout)
//   decoder        tokens -> text          Replace, ByteFallback, Fuse, Strip, ByteLevel, Sequence
//   post_processor ids -> ids with BOS/EOS TemplateProcessing, ByteLevel, Sequence
// Every other type, and every option we do not apply, is refused by name: a half-applied
// tokenizer would silently produce different ids. Browser-safe.

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function refuse(stage: string, what: string): never {
  throw new Error(`Tokenizer: unsupported ${stage} ${what}; tsgrad reads the LLaMA 1/2 and LLaMA 3 layouts only`);
}

// Checks that a stage's JSON has only keys we understand (so none is silently ignored).
function checkKeys(stage: string, json: Json, allowed: string[]): void {
  for (const key of Object.keys(json)) {
    if (!allowed.includes(key)) refuse(stage, `${JSON.stringify(json.type)} with option "${key}"`);
  }
}

function stringPattern(stage: string, json: Json): string {
  const pattern = json.pattern;
  if (isObject(pattern) && typeof pattern.String === 'string') return pattern.String;
  return refuse(stage, `${JSON.stringify(json.type)} with pattern ${JSON.stringify(pattern)} (only {"String": ...} patterns are supported)`);
}

// ---------------------------------------------------------------- normalizers

/** Text -> text, before pre-tokenization. */
export type Normalizer = (text: string) => string;

/** Reads a `normalizer` section (null: the identity). */
export function parseNormalizer(json: unknown): Normalizer {
  if (json === null || json === undefined) return (text) => text;
  if (!isObject(json)) return refuse('normalizer', JSON.stringify(json));
  switch (json.type) {
    case 'Sequence': {
      checkKeys('normalizer', json, ['type', 'normalizers']);
      if (!Array.isArray(json.normalizers)) return refuse('normalizer', 'Sequence without a normalizers list');
      const parts = json.normalizers.map(parseNormalizer);
      return (text) => parts.reduce((t, f) => f(t), text);
    }
    case 'Prepend': {
      checkKeys('normalizer', json, ['type', 'prepend']);
      const prefix = String(json.prepend);
      // Hugging Face prepends only to non-empty text
      return (text) => (text.length > 0 ? prefix + text : text);
    }
    case 'Replace': {
      checkKeys('normalizer', json, ['type', 'pattern', 'content']);
      const from = stringPattern('normalizer', json);
      const to = String(json.content);
      return (text) => text.replaceAll(from, to);
    }
    default:
      return refuse('normalizer', `type ${JSON.stringify(json.type)}`);
  }
}

// ---------------------------------------------------------------- pre-tokenizers

/** One piece of text -> the words the model tokenizes separately. */
export type PreTokenizer = (pieces: string[]) => string[];

// GPT-2's map from bytes to printable characters: printable Latin-1 bytes stand for themselves,
// the others (controls, space, 0x7F-0xA0, soft hyphen) for 256, 257, ... in byte order.
function buildByteToChar(): string[] {
  const table: string[] = new Array(256);
  let next = 256;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    table[b] = String.fromCharCode(printable ? b : next++);
  }
  return table;
}

/** Byte -> its ByteLevel character. */
const BYTE_TO_CHAR = buildByteToChar();
/** ByteLevel character -> byte. */
const CHAR_TO_BYTE = new Map(BYTE_TO_CHAR.map((ch, b) => [ch, b]));

const utf8 = new TextEncoder();

/** The ByteLevel spelling of a string: each UTF-8 byte as its printable stand-in. */
function toByteLevel(text: string): string {
  let out = '';
  for (const b of utf8.encode(text)) out += BYTE_TO_CHAR[b];
  return out;
}

/**
 * Rewrites a tokenizer.json regex (Oniguruma syntax, as Hugging Face compiles it) into a JavaScript
 * one with the same matches: `\s`/`\S` mean Unicode White_Space there (JavaScript's `\s` adds
 * U+FEFF and misses U+0085), and `(?i:...)` folds ASCII letters only. Escapes whose meaning
 * differs and that LLaMA tokenizers do not use (`\w`, `\d`, `\b`, ...) are refused.
 */
function onigurumaToJsRegex(pattern: string): RegExp {
  let out = '';
  let inClass = 0; // depth of [...] (JavaScript's v flag is not used, so this stays 0 or 1)
  const groups: boolean[] = []; // for each open group: does it fold case?
  let fold = false;
  for (let i = 0; i < pattern.length;) {
    const ch = pattern[i];
    if (ch === '\\') {
      const next = pattern[i + 1];
      if (next === undefined) throw new Error(`Tokenizer: regex ${JSON.stringify(pattern)} ends with a lone backslash`);
      if (next === 's' || next === 'S') {
        out += next === 's' ? '\\p{White_Space}' : '\\P{White_Space}';
        i += 2;
      } else if (next === 'p' || next === 'P') {
        const close = pattern.indexOf('}', i);
        if (pattern[i + 2] !== '{' || close < 0) refuse('pre_tokenizer', `regex escape \\${next} without {...} in ${JSON.stringify(pattern)}`);
        out += pattern.slice(i, close + 1);
        i = close + 1;
      } else if ('wWdDbBhHAzZGk'.includes(next) || /[0-9]/.test(next)) {
        return refuse('pre_tokenizer', `regex escape \\${next} in ${JSON.stringify(pattern)} (its meaning differs between Oniguruma and JavaScript)`);
      } else {
        out += pattern.slice(i, i + 2);
        i += 2;
      }
      continue;
    }
    if (inClass > 0) {
      if (ch === '[') refuse('pre_tokenizer', `nested character class in ${JSON.stringify(pattern)}`);
      if (ch === ']') inClass--;
      out += ch;
      i++;
      continue;
    }
    if (ch === '[') {
      if (fold) refuse('pre_tokenizer', `character class inside (?i:...) in ${JSON.stringify(pattern)}`);
      inClass++;
      out += ch;
      i++;
    } else if (ch === '(') {
      if (pattern.startsWith('(?i:', i)) {
        groups.push(fold);
        fold = true;
        out += '(?:';
        i += 4;
      } else if (pattern[i + 1] === '?' && !/^\(\?(?::|=|!|<=|<!)/.test(pattern.slice(i))) {
        return refuse('pre_tokenizer', `regex group ${JSON.stringify(pattern.slice(i, i + 4))} in ${JSON.stringify(pattern)}`);
      } else {
        groups.push(fold);
        out += ch;
        i++;
      }
    } else if (ch === ')') {
      fold = groups.pop() ?? false;
      out += ch;
      i++;
    } else if ((ch === '+' || ch === '*' || ch === '?' || ch === '}') && pattern[i + 1] === '+') {
      return refuse('pre_tokenizer', `possessive quantifier in ${JSON.stringify(pattern)}`);
    } else {
      const code = ch.codePointAt(0)!;
      const letter = (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a);
      out += fold && letter ? `[${ch.toLowerCase()}${ch.toUpperCase()}]` : ch;
      i++;
    }
  }
  try {
    return new RegExp(out, 'gu');
  } catch (err) {
    throw new Error(`Tokenizer: cannot compile the pre_tokenizer regex ${JSON.stringify(pattern)}: ${(err as Error).message}`);
  }
}

// Split with behavior "Isolated": every match is a word, and so is every stretch between matches.
function splitIsolated(regex: RegExp, text: string, out: string[]): void {
  let last = 0;
  for (const m of text.matchAll(regex)) {
    const start = m.index!;
    if (m[0].length === 0) continue; // an empty match splits nothing
    if (start > last) out.push(text.slice(last, start));
    out.push(m[0]);
    last = start + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
}

/** Reads a `pre_tokenizer` section (null: the whole text is one word). */
export function parsePreTokenizer(json: unknown): PreTokenizer {
  if (json === null || json === undefined) return (pieces) => pieces;
  if (!isObject(json)) return refuse('pre_tokenizer', JSON.stringify(json));
  switch (json.type) {
    case 'Sequence': {
      checkKeys('pre_tokenizer', json, ['type', 'pretokenizers']);
      if (!Array.isArray(json.pretokenizers)) return refuse('pre_tokenizer', 'Sequence without a pretokenizers list');
      const parts = json.pretokenizers.map(parsePreTokenizer);
      return (pieces) => parts.reduce((p, f) => f(p), pieces);
    }
    case 'Split': {
      checkKeys('pre_tokenizer', json, ['type', 'pattern', 'behavior', 'invert']);
      if (json.behavior !== 'Isolated') refuse('pre_tokenizer', `Split with behavior ${JSON.stringify(json.behavior)} (only "Isolated" is supported)`);
      if (json.invert) refuse('pre_tokenizer', 'Split with invert: true');
      const pattern = json.pattern;
      let regex: RegExp;
      if (isObject(pattern) && typeof pattern.Regex === 'string') regex = onigurumaToJsRegex(pattern.Regex);
      else if (isObject(pattern) && typeof pattern.String === 'string') regex = new RegExp(pattern.String.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'gu');
      else return refuse('pre_tokenizer', `Split with pattern ${JSON.stringify(pattern)}`);
      return (pieces) => {
        const out: string[] = [];
        for (const p of pieces) splitIsolated(regex, p, out);
        return out;
      };
    }
    case 'ByteLevel': {
      checkKeys('pre_tokenizer', json, ['type', 'add_prefix_space', 'trim_offsets', 'use_regex']);
      if (json.add_prefix_space) refuse('pre_tokenizer', 'ByteLevel with add_prefix_space: true');
      if (json.use_regex !== false) refuse('pre_tokenizer', 'ByteLevel with use_regex: true (GPT-2\'s split; LLaMA 3 splits with its own Split regex)');
      // trim_offsets changes offsets only, never ids
      return (pieces) => pieces.map(toByteLevel);
    }
    default:
      return refuse('pre_tokenizer', `type ${JSON.stringify(json.type)}`);
  }
}

// ---------------------------------------------------------------- decoders

/** Tokens -> tokens; the last stage's tokens are concatenated into the text. */
export type Decoder = (tokens: string[]) => string[];

const utf8Lossy = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
const utf8Strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The byte of a "<0xXX>" token, or -1. */
function byteOfToken(token: string): number {
  if (token.length !== 6 || !token.startsWith('<0x') || token[5] !== '>') return -1;
  const hex = token.slice(3, 5);
  return /^[0-9A-Fa-f]{2}$/.test(hex) ? parseInt(hex, 16) : -1;
}

// ByteFallback: runs of "<0xXX>" tokens become the text they encode; a run that is not valid
// UTF-8 becomes one U+FFFD per byte (Hugging Face's rule, not TextDecoder's).
function byteFallback(tokens: string[]): string[] {
  const out: string[] = [];
  let run: number[] = [];
  const flush = () => {
    if (run.length === 0) return;
    try {
      out.push(utf8Strict.decode(new Uint8Array(run)));
    } catch {
      for (let i = 0; i < run.length; i++) out.push('\uFFFD');
    }
    run = [];
  };
  for (const token of tokens) {
    const b = byteOfToken(token);
    if (b >= 0) run.push(b);
    else { flush(); out.push(token); }
  }
  flush();
  return out;
}

// ByteLevel: each token's characters back to bytes (a token with a character outside the map,
// an added token say, contributes its own UTF-8), then one lossy UTF-8 decode of all of them.
function byteLevelDecode(tokens: string[]): string[] {
  const bytes: number[] = [];
  for (const token of tokens) {
    const mapped: number[] = [];
    let ok = true;
    for (const ch of token) {
      const b = CHAR_TO_BYTE.get(ch);
      if (b === undefined) { ok = false; break; }
      mapped.push(b);
    }
    if (ok) bytes.push(...mapped);
    else for (const b of utf8.encode(token)) bytes.push(b);
  }
  return [utf8Lossy.decode(new Uint8Array(bytes))];
}

/** Reads a `decoder` section (null: tokens joined by spaces, as Hugging Face does). */
export function parseDecoder(json: unknown): Decoder {
  if (json === null || json === undefined) return (tokens) => [tokens.join(' ')];
  if (!isObject(json)) return refuse('decoder', JSON.stringify(json));
  switch (json.type) {
    case 'Sequence': {
      checkKeys('decoder', json, ['type', 'decoders']);
      if (!Array.isArray(json.decoders)) return refuse('decoder', 'Sequence without a decoders list');
      const parts = json.decoders.map(parseDecoder);
      return (tokens) => parts.reduce((t, f) => f(t), tokens);
    }
    case 'Replace': {
      checkKeys('decoder', json, ['type', 'pattern', 'content']);
      const from = stringPattern('decoder', json);
      const to = String(json.content);
      return (tokens) => tokens.map((t) => t.replaceAll(from, to));
    }
    case 'ByteFallback':
      checkKeys('decoder', json, ['type']);
      return byteFallback;
    case 'Fuse':
      checkKeys('decoder', json, ['type']);
      return (tokens) => [tokens.join('')];
    case 'Strip': {
      checkKeys('decoder', json, ['type', 'content', 'start', 'stop']);
      const content = String(json.content);
      const start = Number(json.start);
      const stop = Number(json.stop);
      if ([...content].length !== 1 || !Number.isInteger(start) || !Number.isInteger(stop)) {
        refuse('decoder', `Strip with content ${JSON.stringify(json.content)}, start ${json.start}, stop ${json.stop}`);
      }
      return (tokens) => tokens.map((t) => stripToken(t, content, start, stop));
    }
    case 'ByteLevel':
      checkKeys('decoder', json, ['type', 'add_prefix_space', 'trim_offsets', 'use_regex']);
      return byteLevelDecode;
    default:
      return refuse('decoder', `type ${JSON.stringify(json.type)}`);
  }
}

// Removes up to `start` leading and `stop` trailing copies of `content` from one token.
function stripToken(token: string, content: string, start: number, stop: number): string {
  const chars = [...token];
  let from = 0;
  while (from < start && from < chars.length && chars[from] === content) from++;
  let to = chars.length;
  while (chars.length - to < stop && to > from && chars[to - 1] === content) to--;
  return chars.slice(from, to).join('');
}

// ---------------------------------------------------------------- post-processors

/** The ids to put before and after an encoded text when special tokens are asked for. */
export interface PostProcessor {
  /** Ids before the text (e.g. BOS). */
  before: number[];
  /** Ids after the text (e.g. EOS). */
  after: number[];
}

/** Reads a `post_processor` section (null: nothing added). Only the single-text template matters. */
export function parsePostProcessor(json: unknown): PostProcessor {
  if (json === null || json === undefined) return { before: [], after: [] };
  if (!isObject(json)) return refuse('post_processor', JSON.stringify(json));
  switch (json.type) {
    case 'Sequence': {
      checkKeys('post_processor', json, ['type', 'processors']);
      if (!Array.isArray(json.processors)) return refuse('post_processor', 'Sequence without a processors list');
      const parts = json.processors.map(parsePostProcessor);
      // Hugging Face applies them in order, each wrapping the result of the previous one
      return parts.reduce((acc, p) => ({ before: [...p.before, ...acc.before], after: [...acc.after, ...p.after] }), { before: [], after: [] } as PostProcessor);
    }
    case 'ByteLevel':
      // offsets only: no ids are added
      checkKeys('post_processor', json, ['type', 'add_prefix_space', 'trim_offsets', 'use_regex']);
      return { before: [], after: [] };
    case 'TemplateProcessing': {
      checkKeys('post_processor', json, ['type', 'single', 'pair', 'special_tokens']);
      if (!Array.isArray(json.single) || !isObject(json.special_tokens)) return refuse('post_processor', 'TemplateProcessing without single and special_tokens');
      const special = json.special_tokens;
      const result: PostProcessor = { before: [], after: [] };
      let seen = false;
      for (const piece of json.single) {
        if (isObject(piece) && isObject(piece.Sequence)) {
          if (piece.Sequence.id !== 'A' || seen) refuse('post_processor', `TemplateProcessing single template ${JSON.stringify(json.single)}`);
          seen = true;
        } else if (isObject(piece) && isObject(piece.SpecialToken)) {
          const name = String(piece.SpecialToken.id);
          const entry = special[name];
          if (!isObject(entry) || !Array.isArray(entry.ids)) throw new Error(`Tokenizer: post_processor TemplateProcessing names ${JSON.stringify(name)}, which is not in its special_tokens`);
          (seen ? result.after : result.before).push(...(entry.ids as number[]));
        } else {
          refuse('post_processor', `TemplateProcessing piece ${JSON.stringify(piece)}`);
        }
      }
      if (!seen) refuse('post_processor', `TemplateProcessing single template without the text ($A): ${JSON.stringify(json.single)}`);
      return result;
    }
    default:
      return refuse('post_processor', `type ${JSON.stringify(json.type)}`);
  }
}
