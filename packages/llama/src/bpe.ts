// The BPE model of a Hugging Face tokenizer.json: a vocabulary (token string -> id) and a ranked
// list of merges. A word is split into characters (or, with byte_fallback, into "<0xXX>" byte tokens
// for characters the vocabulary lacks), then adjacent pairs are merged, lowest rank first, until no
// ranked pair is left. This follows Hugging Face's `Word::merge_all`: a min-priority queue ordered
// by (rank, position), so a word of n characters costs O(n log n), not a rescan per merge.
// Browser-safe: plain arrays and Maps.

/** The `model` section of a tokenizer.json with `type: "BPE"`, as far as we read it. */
export interface BpeModelJSON {
  /** Always "BPE". */
  type: 'BPE';
  /** Token string -> id. */
  vocab: Record<string, number>;
  /** Ranked merges, rank = index: "a b" strings (older files) or ["a", "b"] pairs (newer ones). */
  merges: (string | [string, string])[];
  /** The token for characters that are neither in the vocabulary nor covered by byte_fallback. */
  unk_token?: string | null;
  /** Consecutive unknown characters become one unk token. */
  fuse_unk?: boolean;
  /** Characters missing from the vocabulary become their UTF-8 bytes as "<0xXX>" tokens. */
  byte_fallback?: boolean;
  /** A word that is itself in the vocabulary is one token, whatever the merges would make. */
  ignore_merges?: boolean;
  /** Must be null: BPE-dropout is a training-time regularizer we do not apply. */
  dropout?: number | null;
  /** Must be null or "" (a WordPiece-style prefix we do not apply). */
  continuing_subword_prefix?: string | null;
  /** Must be null or "" (a suffix we do not apply). */
  end_of_word_suffix?: string | null;
}

const MODEL_KEYS = new Set(['type', 'vocab', 'merges', 'unk_token', 'fuse_unk', 'byte_fallback', 'ignore_merges', 'dropout', 'continuing_subword_prefix', 'end_of_word_suffix']);

/** "<0x0A>" for byte 10: the spelling of byte-fallback tokens in SentencePiece and Hugging Face. */
export function byteTokenName(byte: number): string {
  return `<0x${byte.toString(16).toUpperCase().padStart(2, '0')}>`;
}

// Scratch space for one word's symbols, reused across calls (JavaScript runs one call at a time).
// A symbol is a token id plus links to its live neighbours; a merged-away symbol gets id -1.
let symId = new Int32Array(1024);
let symPrev = new Int32Array(1024);
let symNext = new Int32Array(1024);
// The queue holds rank * 2^32 + position: popping the smallest gives the lowest rank, then the
// leftmost position, which is the order Hugging Face merges in.
let heap = new Float64Array(4096);
const POS_SCALE = 2 ** 32;

function ensureScratch(n: number): void {
  if (symId.length < n) {
    const size = Math.max(n, 2 * symId.length);
    symId = new Int32Array(size);
    symPrev = new Int32Array(size);
    symNext = new Int32Array(size);
  }
  // every merge pushes at most two new pairs, on top of the n - 1 initial ones
  if (heap.length < 3 * n + 1) heap = new Float64Array(Math.max(3 * n + 1, 2 * heap.length));
}

function heapPush(size: number, key: number): number {
  let i = size;
  heap[i] = key;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (heap[parent] <= key) break;
    heap[i] = heap[parent];
    i = parent;
  }
  heap[i] = key;
  return size + 1;
}

function heapPop(size: number): number {
  const top = heap[0];
  const last = heap[size - 1];
  const n = size - 1;
  let i = 0;
  for (;;) {
    let child = 2 * i + 1;
    if (child >= n) break;
    if (child + 1 < n && heap[child + 1] < heap[child]) child++;
    if (heap[child] >= last) break;
    heap[i] = heap[child];
    i = child;
  }
  heap[i] = last;
  return top;
}

/**
 * (left id, right id) -> merge rank, in an open-addressing hash table on typed arrays: the merge
 * loop looks up every adjacent pair, and a Map keyed by left * vocab + right is several times
 * slower once the keys outgrow small integers (LLaMA 3's 128k vocabulary).
 */
class PairTable {
  private readonly mask: number;
  private readonly lefts: Int32Array;
  private readonly rights: Int32Array;
  private readonly ranks: Int32Array;

  constructor(count: number) {
    let capacity = 16;
    while (capacity < 2 * count) capacity *= 2; // at most half full: short probe sequences
    this.mask = capacity - 1;
    this.lefts = new Int32Array(capacity).fill(-1);
    this.rights = new Int32Array(capacity);
    this.ranks = new Int32Array(capacity);
  }

  private slot(left: number, right: number): number {
    return (Math.imul(left, 0x9e3779b1) ^ Math.imul(right + 0x632be5ab, 0x85ebca77)) >>> 0 & this.mask;
  }

  set(left: number, right: number, rank: number): void {
    let i = this.slot(left, right);
    while (this.lefts[i] !== -1 && !(this.lefts[i] === left && this.rights[i] === right)) i = (i + 1) & this.mask;
    this.lefts[i] = left;
    this.rights[i] = right;
    this.ranks[i] = rank;
  }

  /** The rank of the pair, or -1 when it is not a merge. */
  get(left: number, right: number): number {
    let i = this.slot(left, right);
    for (;;) {
      const l = this.lefts[i];
      if (l === -1) return -1;
      if (l === left && this.rights[i] === right) return this.ranks[i];
      i = (i + 1) & this.mask;
    }
  }
}

/** A BPE model read from a tokenizer.json: vocabulary, ranked merges, byte fallback. */
export class BpeModel {
  /** Token string -> id. */
  readonly vocab: Map<string, number>;
  /** Id -> token string (holes where the vocabulary skips an id). */
  readonly idToToken: string[];
  /** The merges as [left, right] token strings, rank = index (kept to save the file again). */
  readonly merges: [string, string][];
  /** Whether missing characters become "<0xXX>" tokens. */
  readonly byteFallback: boolean;
  /** Whether a word found whole in the vocabulary skips the merges. */
  readonly ignoreMerges: boolean;
  /** The unk token, or null. */
  readonly unkToken: string | null;
  /** Whether consecutive unknown characters fuse into one unk. */
  readonly fuseUnk: boolean;

  /** (left id, right id) -> rank. */
  private readonly pairRank: PairTable;
  /** rank -> id of the merged token. */
  private readonly rankResult: Int32Array;
  /** byte -> id of "<0xXX>", or -1 when that token is missing. */
  private readonly byteIds = new Int32Array(256).fill(-1);
  private readonly unkId: number;
  /** (last code point of a merge's left token, first code point of its right token), rank 0. */
  private readonly crossable: PairTable;
  private cache = new Map<string, number[]>();
  /** Basic-plane code unit -> its vocabulary id, -1 when not in the vocabulary, -2 not looked up yet. */
  private readonly bmpIds = new Int32Array(0x10000).fill(-2);

  constructor(json: BpeModelJSON) {
    const where = 'Tokenizer: model';
    for (const key of Object.keys(json)) {
      if (!MODEL_KEYS.has(key)) throw new Error(`${where}: unsupported BPE option "${key}"`);
    }
    if (json.dropout != null && json.dropout !== 0) throw new Error(`${where}: unsupported BPE dropout ${json.dropout} (only null is supported)`);
    if (json.continuing_subword_prefix) throw new Error(`${where}: unsupported continuing_subword_prefix ${JSON.stringify(json.continuing_subword_prefix)}`);
    if (json.end_of_word_suffix) throw new Error(`${where}: unsupported end_of_word_suffix ${JSON.stringify(json.end_of_word_suffix)}`);
    if (typeof json.vocab !== 'object' || json.vocab === null || Array.isArray(json.vocab)) throw new Error(`${where}: vocab must be an object of token -> id`);
    if (!Array.isArray(json.merges)) throw new Error(`${where}: merges must be an array`);
    this.vocab = new Map();
    this.idToToken = [];
    let maxId = -1;
    for (const [token, id] of Object.entries(json.vocab)) {
      if (!Number.isInteger(id) || id < 0) throw new Error(`${where}: vocab id of ${JSON.stringify(token)} must be a non-negative integer, got ${id}`);
      this.vocab.set(token, id);
      this.idToToken[id] = token;
      if (id > maxId) maxId = id;
    }
    this.byteFallback = json.byte_fallback ?? false;
    this.ignoreMerges = json.ignore_merges ?? false;
    this.unkToken = json.unk_token ?? null;
    this.fuseUnk = json.fuse_unk ?? false;
    this.unkId = -1;
    if (this.unkToken !== null) {
      const id = this.vocab.get(this.unkToken);
      if (id === undefined) throw new Error(`${where}: unk_token ${JSON.stringify(this.unkToken)} is not in the vocabulary`);
      this.unkId = id;
    }
    for (let b = 0; b < 256; b++) this.byteIds[b] = this.vocab.get(byteTokenName(b)) ?? -1;

    this.pairRank = new PairTable(json.merges.length);
    this.crossable = new PairTable(json.merges.length);
    this.merges = [];
    this.rankResult = new Int32Array(json.merges.length);
    json.merges.forEach((merge, rank) => {
      let pair: [string, string];
      if (typeof merge === 'string') {
        const parts = merge.split(' ');
        if (parts.length !== 2) throw new Error(`${where}: merge ${rank} ${JSON.stringify(merge)} is not two tokens separated by one space`);
        pair = [parts[0], parts[1]];
      } else if (Array.isArray(merge) && merge.length === 2 && typeof merge[0] === 'string' && typeof merge[1] === 'string') {
        pair = [merge[0], merge[1]];
      } else {
        throw new Error(`${where}: merge ${rank} must be "a b" or ["a", "b"], got ${JSON.stringify(merge)}`);
      }
      const left = this.vocab.get(pair[0]);
      const right = this.vocab.get(pair[1]);
      const result = this.vocab.get(pair[0] + pair[1]);
      if (left === undefined || right === undefined || result === undefined) {
        const missing = left === undefined ? pair[0] : right === undefined ? pair[1] : pair[0] + pair[1];
        throw new Error(`${where}: merge ${rank} ${JSON.stringify(pair)} needs ${JSON.stringify(missing)}, which is not in the vocabulary`);
      }
      this.merges.push(pair);
      // a pair listed twice keeps its last rank, as Hugging Face's HashMap collect does
      this.pairRank.set(left, right, rank);
      this.crossable.set(pair[0].codePointAt(pair[0].length - 1 - (isLowSurrogate(pair[0], pair[0].length - 1) ? 1 : 0))!, pair[1].codePointAt(0)!, 0);
      this.rankResult[rank] = result;
    });
  }

  /** The token ids of one pre-tokenized word. */
  tokenize(word: string): number[] {
    if (this.ignoreMerges) {
      const whole = this.vocab.get(word);
      if (whole !== undefined) return [whole];
    }
    if (word.length < 256) return this.tokenizeCached(word);
    // A long word (LLaMA 2 has no pre-tokenizer: the whole text is one word) is cut where no
    // merge can ever join the two sides, and the pieces, mostly words, go through the cache.
    const ids: number[] = [];
    for (const piece of this.independentPieces(word)) {
      const pieceIds = piece.length < 256 ? this.tokenizeCached(piece) : this.mergeSymbols(this.splitIntoSymbols(piece));
      for (const id of pieceIds) ids.push(id);
    }
    return ids;
  }

  private tokenizeCached(word: string): number[] {
    const hit = this.cache.get(word);
    if (hit !== undefined) return hit;
    const ids = this.mergeSymbols(this.splitIntoSymbols(word));
    if (this.cache.size >= 50_000) this.cache = new Map();
    this.cache.set(word, ids);
    return ids;
  }

  // The vocabulary id of the one character `ch` (code point `code`), or undefined.
  private charId(ch: string, code: number): number | undefined {
    if (code > 0xffff) return this.vocab.get(ch);
    let id = this.bmpIds[code];
    if (id === -2) id = this.bmpIds[code] = this.vocab.get(ch) ?? -1;
    return id >= 0 ? id : undefined;
  }

  // Cuts a word between two characters when no merge has a left token ending in the first and a
  // right token starting with the second: every token that could ever form on the left of the
  // cut ends in that character, so no merge crosses it, and merging each piece alone gives the
  // same result. (A character outside the vocabulary is spelled "<0xXX>" or by unk, so it may
  // start with "<" and end with ">"; next to it we simply never cut.)
  private independentPieces(word: string): string[] {
    const pieces: string[] = [];
    let start = 0;
    let prev = -1; // code point of the previous character when it is in the vocabulary, else -1
    for (let i = 0; i < word.length;) {
      const code = word.codePointAt(i)!;
      const width = code > 0xffff ? 2 : 1;
      const known = this.charId(width === 2 ? word.slice(i, i + 2) : word[i], code) !== undefined;
      if (prev >= 0 && known && this.crossable.get(prev, code) < 0) {
        pieces.push(word.slice(start, i));
        start = i;
      }
      prev = known ? code : -1;
      i += width;
    }
    pieces.push(word.slice(start));
    return pieces;
  }

  // Fills symId[0..n) with one id per character, bytes for missing characters (byte_fallback),
  // or unk. Returns n.
  private splitIntoSymbols(word: string): number {
    ensureScratch(word.length + 1);
    let n = 0;
    let pendingUnk = false; // an unk token waiting to be written, so that fuse_unk can extend it
    let bytes: Uint8Array | null = null;
    for (let i = 0; i < word.length;) {
      const code = word.codePointAt(i)!;
      const ch = code > 0xffff ? word.slice(i, i + 2) : word[i];
      i += ch.length;
      const id = this.charId(ch, code);
      if (id !== undefined) {
        if (pendingUnk) { symId[n++] = this.unkId; pendingUnk = false; }
        symId[n++] = id;
        continue;
      }
      if (this.byteFallback) {
        bytes = utf8Of(ch);
        let all = true;
        for (const b of bytes) if (this.byteIds[b] < 0) all = false;
        if (all) {
          // Hugging Face writes the byte tokens without flushing a pending unk first
          for (const b of bytes) symId[n++] = this.byteIds[b];
          continue;
        }
      }
      if (this.unkId >= 0) {
        if (pendingUnk && !this.fuseUnk) symId[n++] = this.unkId;
        pendingUnk = true;
      }
      // with no unk token the character is dropped, as Hugging Face does
    }
    if (pendingUnk) symId[n++] = this.unkId;
    return n;
  }

  // Merges symId[0..n) in place by rank and returns the surviving ids.
  private mergeSymbols(n: number): number[] {
    const pairs = this.pairRank;
    let size = 0;
    for (let i = 0; i < n; i++) {
      symPrev[i] = i - 1;
      symNext[i] = i + 1 < n ? i + 1 : -1;
      if (i + 1 < n) {
        const rank = pairs.get(symId[i], symId[i + 1]);
        if (rank >= 0) size = heapPush(size, rank * POS_SCALE + i);
      }
    }
    while (size > 0) {
      const top = heapPop(size);
      size--;
      const rank = Math.floor(top / POS_SCALE);
      const pos = top - rank * POS_SCALE;
      const next = symNext[pos];
      if (symId[pos] < 0 || next < 0) continue; // merged away, or now the last symbol
      // a stale entry: the pair at pos changed since it was queued (Hugging Face compares the
      // merged token, so a different pair that makes the same token still merges here)
      const current = pairs.get(symId[pos], symId[next]);
      if (current < 0 || this.rankResult[current] !== this.rankResult[rank]) continue;
      symId[pos] = this.rankResult[rank];
      symId[next] = -1;
      const after = symNext[next];
      symNext[pos] = after;
      if (after >= 0) symPrev[after] = pos;
      const before = symPrev[pos];
      if (before >= 0) {
        const r = pairs.get(symId[before], symId[pos]);
        if (r >= 0) size = heapPush(size, r * POS_SCALE + before);
      }
      if (after >= 0) {
        const r = pairs.get(symId[pos], symId[after]);
        if (r >= 0) size = heapPush(size, r * POS_SCALE + pos);
      }
    }
    const out: number[] = [];
    for (let i = 0; i < n; i++) if (symId[i] >= 0) out.push(symId[i]);
    return out;
  }

  /** The `model` section of tokenizer.json. */
  toJSON(): BpeModelJSON {
    const vocab: Record<string, number> = {};
    for (const [token, id] of this.vocab) vocab[token] = id;
    return {
      type: 'BPE',
      dropout: null,
      unk_token: this.unkToken,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: this.fuseUnk,
      byte_fallback: this.byteFallback,
      ignore_merges: this.ignoreMerges,
      vocab,
      merges: this.merges.map(([a, b]) => [a, b] as [string, string]),
    };
  }
}

function isLowSurrogate(s: string, i: number): boolean {
  const c = s.charCodeAt(i);
  return c >= 0xdc00 && c <= 0xdfff;
}

const utf8 = new TextEncoder();
function utf8Of(ch: string): Uint8Array {
  return utf8.encode(ch);
}
