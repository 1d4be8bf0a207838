// The safetensors byte format, browser-safe: Uint8Array in, Uint8Array out (no Node imports).
// Layout: u64 little-endian header length N, N bytes of UTF-8 JSON header, then the data buffer.
// The header maps each name to {dtype, shape, data_offsets: [begin, end]} (offsets relative to the
// data buffer) plus an optional "__metadata__" object of strings. Numbers are little-endian.
// Everything the header claims is checked against the real byte length before any allocation,
// because the bytes may come from anywhere (a download, a user's file picker).

/** Element types a loaded tensor can have; every other on-disk dtype is widened to one of these. */
export type RawDType = 'float32' | 'float64' | 'int32';
/** The typed array that holds a RawTensor's elements. */
export type RawData = Float32Array | Float64Array | Int32Array;
/** One tensor as stored: `data` is a flat row-major copy with length product(shape). */
export interface RawTensor { dtype: RawDType; shape: number[]; data: RawData }

const MAX_HEADER_BYTES = 100_000_000; // the reference implementation's limit
const METADATA_KEY = '__metadata__';
// Typed arrays use the platform's byte order and the format is little-endian. Every JS platform in
// use is little-endian, so that path is a byte copy; the DataView loops keep big-endian correct.
const NATIVE_LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function loadError(msg: string): never {
  throw new Error(`loadSafetensors: ${msg}`);
}

function saveError(msg: string): never {
  throw new Error(`saveSafetensors: ${msg}`);
}

const quote = (s: string): string => JSON.stringify(s);
const isSize = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
/** Shapes and offsets can come from a 100 MB header: never echo more than a line of them. */
const brief = (v: unknown): string => String(JSON.stringify(v)).slice(0, 80);

// ************* decoding: on-disk dtype -> RawTensor *************

/** src is a private, 0-offset copy of the tensor's bytes; n is its element count. */
type Decode = (src: Uint8Array, n: number, name: string) => RawData;

function decodeInto<T extends RawData>(out: T, src: Uint8Array, read: (dv: DataView, i: number) => number): T {
  const dv = new DataView(src.buffer, src.byteOffset, src.byteLength);
  for (let i = 0; i < out.length; i++) out[i] = read(dv, i);
  return out;
}

/** IEEE half -> number: exponent 0 is subnormal (frac * 2^-24), exponent 31 is inf/NaN. */
function halfToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac === 0 ? sign * Infinity : NaN;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** BF16 is the high half of a float32, so widening is a shift of the bit pattern. */
const decodeBF16: Decode = (src, n) => {
  const out = new Float32Array(n);
  const bits = new Uint32Array(out.buffer);
  const dv = new DataView(src.buffer, src.byteOffset, src.byteLength);
  for (let i = 0; i < n; i++) bits[i] = dv.getUint16(2 * i, true) << 16;
  return out;
};

/** I64 -> int32: a value fits when its high word is the sign extension of its low word. */
const decodeI64: Decode = (src, n, name) => {
  const out = new Int32Array(n);
  const dv = new DataView(src.buffer, src.byteOffset, src.byteLength);
  for (let i = 0; i < n; i++) {
    const lo = dv.getUint32(8 * i, true);
    const hi = dv.getInt32(8 * i + 4, true);
    if (hi !== (lo >= 2 ** 31 ? -1 : 0)) {
      const value = dv.getBigInt64(8 * i, true);
      loadError(`tensor ${quote(name)}: I64 value ${value} at flat index ${i} is outside the int32 range`);
    }
    out[i] = lo | 0;
  }
  return out;
};

const decodeF32: Decode = (src, n) =>
  NATIVE_LE ? new Float32Array(src.buffer, src.byteOffset, n) : decodeInto(new Float32Array(n), src, (dv, i) => dv.getFloat32(4 * i, true));
const decodeF64: Decode = (src, n) =>
  NATIVE_LE ? new Float64Array(src.buffer, src.byteOffset, n) : decodeInto(new Float64Array(n), src, (dv, i) => dv.getFloat64(8 * i, true));
const decodeI32: Decode = (src, n) =>
  NATIVE_LE ? new Int32Array(src.buffer, src.byteOffset, n) : decodeInto(new Int32Array(n), src, (dv, i) => dv.getInt32(4 * i, true));

// NOTE: a Map, not an object literal: a header dtype like "constructor" must not find a prototype member.
const DECODERS = new Map<string, { itemsize: number; dtype: RawDType; decode: Decode }>([
  ['F64', { itemsize: 8, dtype: 'float64', decode: decodeF64 }],
  ['F32', { itemsize: 4, dtype: 'float32', decode: decodeF32 }],
  ['F16', { itemsize: 2, dtype: 'float32', decode: (s, n) => decodeInto(new Float32Array(n), s, (dv, i) => halfToNumber(dv.getUint16(2 * i, true))) }],
  ['BF16', { itemsize: 2, dtype: 'float32', decode: decodeBF16 }],
  ['I64', { itemsize: 8, dtype: 'int32', decode: decodeI64 }],
  ['I32', { itemsize: 4, dtype: 'int32', decode: decodeI32 }],
  ['I16', { itemsize: 2, dtype: 'int32', decode: (s, n) => decodeInto(new Int32Array(n), s, (dv, i) => dv.getInt16(2 * i, true)) }],
  ['U16', { itemsize: 2, dtype: 'int32', decode: (s, n) => decodeInto(new Int32Array(n), s, (dv, i) => dv.getUint16(2 * i, true)) }],
  ['I8', { itemsize: 1, dtype: 'int32', decode: (s, n) => decodeInto(new Int32Array(n), s, (dv, i) => dv.getInt8(i)) }],
  ['U8', { itemsize: 1, dtype: 'int32', decode: (s, n) => Int32Array.from(s.subarray(0, n)) }],
  ['BOOL', { itemsize: 1, dtype: 'int32', decode: (s, n) => Int32Array.from(s.subarray(0, n), (b) => (b === 0 ? 0 : 1)) }],
]);

// ************* parsing: header validation *************

interface Entry { name: string; format: string; shape: number[]; begin: number; end: number }

function readHeader(raw: Uint8Array): Record<string, unknown> {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
  } catch {
    loadError('header is not valid UTF-8');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    loadError(`header is not valid JSON (${(e as Error).message})`);
  }
  if (!isObject(json)) loadError(`header JSON is not an object: ${brief(json)}`);
  return json;
}

function checkMetadata(value: unknown): Record<string, string> {
  if (!isObject(value)) loadError(`__metadata__ is not an object: ${brief(value)}`);
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string') loadError(`__metadata__ value for ${quote(k)} is not a string: ${brief(v)}`);
  }
  // fromEntries defines own properties, so a "__proto__" key stays a key.
  return Object.fromEntries(Object.entries(value)) as Record<string, string>;
}

function checkEntry(name: string, info: unknown, dataLength: number): Entry {
  const where = `tensor ${quote(name)}`;
  if (!isObject(info)) loadError(`${where}: entry is not an object: ${brief(info)}`);
  const { dtype, shape, data_offsets: offsets } = info;
  if (dtype === undefined) loadError(`${where}: missing dtype`);
  if (typeof dtype !== 'string') loadError(`${where}: dtype is not a string: ${brief(dtype)}`);
  const codec = DECODERS.get(dtype);
  if (codec === undefined) loadError(`${where}: unsupported dtype ${quote(dtype)}`);
  if (shape === undefined) loadError(`${where}: missing shape`);
  if (!Array.isArray(shape) || !shape.every(isSize)) {
    loadError(`${where}: shape must be an array of non-negative integers, got ${brief(shape)}`);
  }
  if (offsets === undefined) loadError(`${where}: missing data_offsets`);
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isSize)) {
    loadError(`${where}: data_offsets must be two non-negative integers, got ${brief(offsets)}`);
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end) loadError(`${where}: data_offsets begin ${begin} is after end ${end}`);
  if (end > dataLength) loadError(`${where}: data_offsets end ${end} is past the end of the ${dataLength}-byte data buffer`);
  // A product beyond 2^53 rounds to a float >= 2^53, still unequal to any real byte length.
  const numel = shape.reduce((a: number, b: number) => a * b, 1);
  if (numel * codec.itemsize !== end - begin) {
    loadError(`${where}: byte length ${end - begin} does not match shape ${brief(shape)} of ${dtype} (${numel * codec.itemsize} bytes)`);
  }
  return { name, format: dtype, shape: shape.slice(), begin, end };
}

/** The spec wants the data buffer fully indexed: tensors back to back, no overlap, no holes. */
function checkCoverage(entries: Entry[], dataLength: number): void {
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  let prev: Entry | undefined;
  for (const e of entries) {
    if (e.begin < pos && prev) {
      loadError(`tensor ${quote(e.name)} (bytes ${e.begin}..${e.end}) overlaps tensor ${quote(prev.name)} (bytes ${prev.begin}..${prev.end})`);
    }
    if (e.begin > pos) loadError(`data buffer has a hole: bytes ${pos}..${e.begin} before tensor ${quote(e.name)} belong to no tensor`);
    pos = e.end;
    prev = e;
  }
  if (pos !== dataLength) loadError(`data buffer has ${dataLength - pos} trailing bytes that belong to no tensor`);
}

function parse(bytes: Uint8Array): { tensors: Map<string, RawTensor>; metadata: Record<string, string> } {
  if (!(bytes instanceof Uint8Array)) loadError('expected a Uint8Array');
  if (bytes.length < 8) loadError(`file is ${bytes.length} bytes, shorter than the 8-byte header length`);
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (headerLength > BigInt(MAX_HEADER_BYTES)) loadError(`header length ${headerLength} is absurd (limit ${MAX_HEADER_BYTES} bytes)`);
  const n = Number(headerLength);
  if (n > bytes.length - 8) loadError(`header length ${n} is larger than the ${bytes.length - 8} bytes after the length prefix`);
  const header = readHeader(bytes.subarray(8, 8 + n));
  const data = bytes.subarray(8 + n);

  let metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  for (const [name, info] of Object.entries(header)) {
    if (name === METADATA_KEY) metadata = checkMetadata(info);
    else entries.push(checkEntry(name, info, data.length));
  }
  checkCoverage(entries, data.length);

  // Ordered by data offset, which is the order the writer gave (JSON.parse moves integer-like keys first).
  const tensors = new Map<string, RawTensor>();
  for (const e of entries) {
    const codec = DECODERS.get(e.format)!;
    // An explicit copy, not bytes.slice(): Node's Buffer.slice returns a view.
    const src = new Uint8Array(e.end - e.begin);
    src.set(data.subarray(e.begin, e.end));
    const numel = (e.end - e.begin) / codec.itemsize;
    tensors.set(e.name, { dtype: codec.dtype, shape: e.shape, data: codec.decode(src, numel, e.name) });
  }
  return { tensors, metadata };
}

/** Parse a safetensors file into copies of its tensors (widened to float32/float64/int32) and its metadata. */
export function parseSafetensorsBytes(bytes: Uint8Array): { tensors: Map<string, RawTensor>; metadata: Record<string, string> } {
  try {
    return parse(bytes);
  } catch (e) {
    if (e instanceof Error && e.message.startsWith('loadSafetensors:')) throw e;
    // A safety net: validation should make this unreachable, but no raw RangeError may escape.
    throw new Error(`loadSafetensors: malformed file (${String(e)})`, { cause: e });
  }
}

// ************* serializing *************

const ENCODERS = new Map<string, { format: string; itemsize: number; array: Function }>([
  ['float32', { format: 'F32', itemsize: 4, array: Float32Array }],
  ['float64', { format: 'F64', itemsize: 8, array: Float64Array }],
  ['int32', { format: 'I32', itemsize: 4, array: Int32Array }],
]);

// The tensor's bytes, little-endian: a view of its own array on little-endian platforms (no copy).
function dataBytes(t: RawTensor): Uint8Array {
  if (NATIVE_LE) return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  const out = new Uint8Array(t.data.byteLength);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < t.data.length; i++) {
    if (t.dtype === 'float32') dv.setFloat32(4 * i, t.data[i]!, true);
    else if (t.dtype === 'float64') dv.setFloat64(8 * i, t.data[i]!, true);
    else dv.setInt32(4 * i, t.data[i]!, true);
  }
  return out;
}

function checkSaveEntry(name: unknown, t: RawTensor, seen: Set<string>): void {
  if (typeof name !== 'string' || name === '') saveError(`tensor name must be a non-empty string, got ${brief(name)}`);
  const where = `tensor ${quote(name)}`;
  if (name === METADATA_KEY) saveError(`${where}: the name is reserved for metadata`);
  if (seen.has(name)) saveError(`${where}: duplicate name`);
  seen.add(name);
  const codec = ENCODERS.get(t?.dtype);
  if (codec === undefined) saveError(`${where}: unsupported dtype ${brief(t?.dtype)}`);
  if (!(t.data instanceof codec.array)) saveError(`${where}: dtype ${t.dtype} needs a ${codec.array.name}, got ${t.data?.constructor?.name}`);
  if (!Array.isArray(t.shape) || !t.shape.every(isSize)) saveError(`${where}: shape must be an array of non-negative integers, got ${brief(t.shape)}`);
  const numel = t.shape.reduce((a, b) => a * b, 1);
  if (numel !== t.data.length) saveError(`${where}: data length ${t.data.length} does not match shape ${brief(t.shape)} (${numel} elements)`);
}

/**
 * A safetensors file as consecutive parts: the length prefix and padded header, then each tensor's
 * bytes (views of the tensors' own arrays on little-endian platforms), so a writer can stream a file
 * without holding a copy of it. The parts alias the tensors: write them before the tensors change.
 */
export function serializeSafetensorsParts(entries: Iterable<[string, RawTensor]>, metadata?: Record<string, string>): Uint8Array[] {
  const seen = new Set<string>();
  const tensors: RawTensor[] = [];
  const parts: string[] = [];
  if (metadata !== undefined && Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') saveError(`metadata value for ${quote(k)} is not a string: ${brief(v)}`);
    }
    parts.push(`${quote(METADATA_KEY)}:${JSON.stringify(metadata)}`);
  }
  let offset = 0;
  for (const [name, tensor] of entries) {
    checkSaveEntry(name, tensor, seen);
    const { format } = ENCODERS.get(tensor.dtype)!;
    const end = offset + tensor.data.byteLength;
    // Built as a string, not an object: object keys would reorder integer-like names and "__proto__".
    parts.push(`${quote(name)}:{"dtype":"${format}","shape":${JSON.stringify(tensor.shape)},"data_offsets":[${offset},${end}]}`);
    tensors.push(tensor);
    offset = end;
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  // Pad with spaces so the data buffer starts 8-byte aligned, as the reference writer does.
  const headerLength = json.length + ((8 - (json.length % 8)) % 8);
  const header = new Uint8Array(8 + headerLength);
  new DataView(header.buffer).setBigUint64(0, BigInt(headerLength), true);
  header.set(json, 8);
  header.fill(0x20, 8 + json.length);
  return [header, ...tensors.map(dataBytes)];
}

/** Serialize tensors (in the given order, back to back) and optional string metadata to safetensors bytes. */
export function serializeSafetensorsBytes(entries: Iterable<[string, RawTensor]>, metadata?: Record<string, string>): Uint8Array {
  const parts = serializeSafetensorsParts(entries, metadata);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}
