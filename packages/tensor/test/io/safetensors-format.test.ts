import fs from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  parseSafetensorsBytes,
  serializeSafetensorsBytes,
  type RawDType,
  type RawTensor,
} from '../../src/io/safetensors-format';

// ************* helpers *************

/** Assemble a file by hand: header (object, or raw JSON text/bytes) and the data buffer. */
function rawFile(header: unknown, data: Uint8Array = new Uint8Array(0), headerLength?: bigint): Uint8Array {
  const json =
    header instanceof Uint8Array ? header
    : new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, headerLength ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

/** Little-endian bytes of u16 values, for hand-written F16/BF16 payloads. */
function u16Bytes(values: number[]): Uint8Array {
  const out = new Uint8Array(2 * values.length);
  values.forEach((v, i) => new DataView(out.buffer).setUint16(2 * i, v, true));
  return out;
}

function i64Bytes(values: bigint[]): Uint8Array {
  const out = new Uint8Array(8 * values.length);
  values.forEach((v, i) => new DataView(out.buffer).setBigInt64(8 * i, v, true));
  return out;
}

/** Parse a single-tensor file whose tensor is named "t". */
function parseOne(dtype: string, shape: number[], data: Uint8Array): RawTensor {
  const bytes = rawFile({ t: { dtype, shape, data_offsets: [0, data.length] } }, data);
  return parseSafetensorsBytes(bytes).tensors.get('t')!;
}

const bytesOf = (t: RawTensor): Uint8Array => new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);

const tensorArb: fc.Arbitrary<RawTensor> = fc
  .tuple(fc.constantFrom<RawDType>('float32', 'float64', 'int32'), fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }))
  .chain(([dtype, shape]) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data =
      dtype === 'float32' ? fc.float32Array({ minLength: n, maxLength: n })
      : dtype === 'float64' ? fc.float64Array({ minLength: n, maxLength: n })
      : fc.int32Array({ minLength: n, maxLength: n });
    return (data as fc.Arbitrary<RawTensor['data']>).map((d) => ({ dtype, shape, data: d }));
  });

const nameArb = fc.string({ unit: 'binary', minLength: 1, maxLength: 12 }).filter((s) => s !== '__metadata__');
const entriesArb = fc.uniqueArray(fc.tuple(nameArb, tensorArb), { maxLength: 5, selector: ([name]) => name });
const metadataArb = fc.dictionary(fc.string({ unit: 'binary', maxLength: 8 }), fc.string({ unit: 'binary', maxLength: 8 }), {
  maxKeys: 4,
  noNullPrototype: true,
});

// ************* round trip *************

describe('serializeSafetensorsBytes / parseSafetensorsBytes', () => {
  it('a round trip returns the same names, dtypes, shapes, bit patterns and metadata', () => {
    fc.assert(
      fc.property(entriesArb, metadataArb, fc.integer({ min: 0, max: 7 }), (entries, metadata, shift) => {
        const bytes = serializeSafetensorsBytes(entries, metadata);
        // Misalign the input on purpose: parsing must not assume an aligned byteOffset.
        const shifted = new Uint8Array(bytes.length + shift);
        shifted.set(bytes, shift);
        const { tensors, metadata: meta } = parseSafetensorsBytes(shifted.subarray(shift));
        expect([...tensors.keys()].sort()).toEqual(entries.map(([n]) => n).sort());
        for (const [name, t] of entries) {
          const got = tensors.get(name)!;
          expect(got.dtype).toBe(t.dtype);
          expect(got.shape).toEqual(t.shape);
          expect(got.data.constructor).toBe(t.data.constructor);
          expect(bytesOf(got)).toEqual(bytesOf(t));
        }
        const sortEntries = (m: Record<string, string>) => Object.entries(m).sort(([a], [b]) => (a < b ? -1 : 1));
        expect(sortEntries(meta)).toEqual(sortEntries(metadata));
      }),
      { numRuns: 200 },
    );
  });

  it('the data buffer starts at a multiple of 8 bytes and tensors are stored in the given order', () => {
    fc.assert(
      fc.property(entriesArb, metadataArb, (entries, metadata) => {
        const bytes = serializeSafetensorsBytes(entries, metadata);
        expect(Number(new DataView(bytes.buffer).getBigUint64(0, true)) % 8).toBe(0);
        const stored = [...parseSafetensorsBytes(bytes).tensors.keys()];
        const nonEmpty = entries.filter(([, t]) => t.data.length > 0).map(([n]) => n);
        expect(stored.filter((n) => nonEmpty.includes(n))).toEqual(nonEmpty);
      }),
      { numRuns: 100 },
    );
  });

  it('__metadata__ is written only when metadata is given and non-empty', () => {
    const t: RawTensor = { dtype: 'float32', shape: [1], data: new Float32Array([1]) };
    const text = (b: Uint8Array) => new TextDecoder().decode(b);
    expect(text(serializeSafetensorsBytes([['a', t]]))).not.toContain('__metadata__');
    expect(text(serializeSafetensorsBytes([['a', t]], {}))).not.toContain('__metadata__');
    expect(text(serializeSafetensorsBytes([['a', t]], { format: 'pt' }))).toContain('"__metadata__":{"format":"pt"}');
  });

  it('names that are prototype members or integers survive a round trip', () => {
    const t: RawTensor = { dtype: 'int32', shape: [2], data: new Int32Array([1, -2]) };
    const names = ['__proto__', 'constructor', 'toString', '7', '0'];
    const bytes = serializeSafetensorsBytes(names.map((n) => [n, t]), { __proto__x: 'a', constructor: 'b' });
    const { tensors, metadata } = parseSafetensorsBytes(bytes);
    expect([...tensors.keys()]).toEqual(names);
    expect(metadata.constructor).toBe('b');
  });

  it('parsed tensors are copies that do not share memory with the input', () => {
    const t: RawTensor = { dtype: 'float32', shape: [2], data: new Float32Array([1, 2]) };
    const bytes = serializeSafetensorsBytes([['a', t]]);
    const got = parseSafetensorsBytes(bytes).tensors.get('a')!;
    expect(got.data.buffer).not.toBe(bytes.buffer);
    bytes.fill(0);
    expect(Array.from(got.data)).toEqual([1, 2]);
  });
});

// ************* dtype decoding *************

describe('parseSafetensorsBytes decodes every supported dtype', () => {
  it('F16 decodes normals, the largest finite value, subnormals, infinities, NaN and signed zeros', () => {
    const halves = [0x3c00, 0xc100, 0x7bff, 0x0001, 0x03ff, 0x7c00, 0xfc00, 0x7e00, 0x0000, 0x8000];
    const t = parseOne('F16', [halves.length], u16Bytes(halves));
    expect(t.dtype).toBe('float32');
    const [one, minusTwoHalf, max, tiny, bigSub, inf, negInf, nan, zero, negZero] = Array.from(t.data);
    expect([one, minusTwoHalf, max, tiny, bigSub, inf, negInf]).toEqual([1, -2.5, 65504, 2 ** -24, 1023 * 2 ** -24, Infinity, -Infinity]);
    expect(nan).toBeNaN();
    expect(Object.is(zero, 0)).toBe(true);
    expect(Object.is(negZero, -0)).toBe(true);
  });

  it('BF16 decodes as the high 16 bits of a float32', () => {
    // 1, -2.5, 65280 (largest bf16 below 65504), 2^-24, 2^-133 (smallest subnormal), inf, NaN, 0, -0
    const halves = [0x3f80, 0xc020, 0x477f, 0x3380, 0x0001, 0x7f80, 0x7fc0, 0x0000, 0x8000];
    const t = parseOne('BF16', [3, 3], u16Bytes(halves));
    expect(t.dtype).toBe('float32');
    expect(t.shape).toEqual([3, 3]);
    const [one, minusTwoHalf, big, small, tiny, inf, nan, zero, negZero] = Array.from(t.data);
    expect([one, minusTwoHalf, big, small, tiny, inf]).toEqual([1, -2.5, 65280, 2 ** -24, 2 ** -133, Infinity]);
    expect(nan).toBeNaN();
    expect(Object.is(zero, 0)).toBe(true);
    expect(Object.is(negZero, -0)).toBe(true);
  });

  it('I64 decodes to int32, negative numbers included', () => {
    const t = parseOne('I64', [6], i64Bytes([0n, 1n, -1n, -5n, 2147483647n, -2147483648n]));
    expect(t.dtype).toBe('int32');
    expect(t.data).toBeInstanceOf(Int32Array);
    expect(Array.from(t.data)).toEqual([0, 1, -1, -5, 2147483647, -2147483648]);
  });

  it('I64 values outside the int32 range are an error naming the tensor and the value', () => {
    expect(() => parseOne('I64', [2], i64Bytes([0n, 2147483648n]))).toThrow(/^loadSafetensors: tensor "t": I64 value 2147483648 .*int32 range/);
    expect(() => parseOne('I64', [1], i64Bytes([-2147483649n]))).toThrow(/tensor "t".*-2147483649.*int32 range/);
    expect(() => parseOne('I64', [1], i64Bytes([1n << 40n]))).toThrow(/int32 range/);
  });

  it('I8, U8, I16, U16 and BOOL widen to int32', () => {
    expect(Array.from(parseOne('I8', [3], new Uint8Array([0x80, 0xff, 5])).data)).toEqual([-128, -1, 5]);
    expect(Array.from(parseOne('U8', [3], new Uint8Array([0x80, 0xff, 5])).data)).toEqual([128, 255, 5]);
    expect(Array.from(parseOne('I16', [2], u16Bytes([0x8000, 0xffff])).data)).toEqual([-32768, -1]);
    expect(Array.from(parseOne('U16', [2], u16Bytes([0x8000, 0xffff])).data)).toEqual([32768, 65535]);
    const bools = parseOne('BOOL', [3], new Uint8Array([0, 1, 1]));
    expect(bools.dtype).toBe('int32');
    expect(Array.from(bools.data)).toEqual([0, 1, 1]);
  });

  it('F64 stays float64 and scalars have shape []', () => {
    const data = new Uint8Array(8);
    new DataView(data.buffer).setFloat64(0, Math.PI, true);
    const t = parseOne('F64', [], data);
    expect(t.dtype).toBe('float64');
    expect(t.shape).toEqual([]);
    expect(Array.from(t.data)).toEqual([Math.PI]);
  });
});

// ************* fixtures *************

describe('parseSafetensorsBytes reads the Hugging Face tiny LLaMA fixtures', () => {
  it('reference.safetensors holds int32 input_ids of shape [2, 12]', () => {
    const bytes = fs.readFileSync(new URL('../fixtures/reference.safetensors', import.meta.url));
    const { tensors } = parseSafetensorsBytes(bytes);
    const ids = tensors.get('input_ids')!;
    expect(ids.dtype).toBe('int32');
    expect(ids.shape).toEqual([2, 12]);
    expect(ids.data.length).toBe(24);
    expect(ids.data.buffer).not.toBe(bytes.buffer);
    expect(tensors.get('logits')!.shape).toEqual([2, 12, 64]);
  });

  it('model.safetensors holds model.embed_tokens.weight of shape [64, 32] and its metadata', () => {
    const bytes = fs.readFileSync(new URL('../fixtures/model.safetensors', import.meta.url));
    const { tensors, metadata } = parseSafetensorsBytes(bytes);
    const embed = tensors.get('model.embed_tokens.weight')!;
    expect(embed.dtype).toBe('float32');
    expect(embed.shape).toEqual([64, 32]);
    expect(embed.data.every(Number.isFinite)).toBe(true);
    expect(metadata).toEqual({ format: 'pt' });
  });
});

// ************* validation *************

const f32 = (shape: number[], offsets: unknown) => ({ dtype: 'F32', shape, data_offsets: offsets });

describe('parseSafetensorsBytes rejects malformed files', () => {
  const cases: [string, Uint8Array, RegExp][] = [
    ['a file shorter than 8 bytes', new Uint8Array(5), /5 bytes, shorter than the 8-byte header length/],
    ['a header length past the end', rawFile('{}', new Uint8Array(0), 100n), /header length 100 is larger than the 2 bytes/],
    ['an absurd header length', rawFile('{}', new Uint8Array(0), 1n << 40n), /header length 1099511627776 is absurd/],
    ['the maximum u64 header length', rawFile('{}', new Uint8Array(0), (1n << 64n) - 1n), /absurd/],
    ['a header that is not UTF-8', rawFile(new Uint8Array([0x7b, 0xff, 0x7d])), /not valid UTF-8/],
    ['a header that is not JSON', rawFile('{"a":'), /not valid JSON/],
    ['an empty header', rawFile(''), /not valid JSON/],
    ['a header that is an array', rawFile('[1, 2]'), /header JSON is not an object/],
    ['a header that is null', rawFile('null'), /header JSON is not an object/],
    ['an entry that is not an object', rawFile({ w: 3 }), /tensor "w": entry is not an object/],
    ['an entry without dtype', rawFile({ w: { shape: [], data_offsets: [0, 0] } }), /tensor "w": missing dtype/],
    ['a dtype that is not a string', rawFile({ w: { dtype: 4, shape: [], data_offsets: [0, 0] } }), /tensor "w": dtype is not a string/],
    ['an unsupported dtype', rawFile({ w: { dtype: 'F8_E4M3', shape: [], data_offsets: [0, 1] } }), /tensor "w": unsupported dtype "F8_E4M3"/],
    ['a dtype named like a prototype member', rawFile({ w: { dtype: 'constructor', shape: [], data_offsets: [0, 1] } }), /unsupported dtype "constructor"/],
    ['an entry without shape', rawFile({ w: { dtype: 'F32', data_offsets: [0, 0] } }), /tensor "w": missing shape/],
    ['a negative dimension', rawFile({ w: f32([-1], [0, 0]) }), /tensor "w": shape must be an array of non-negative integers, got \[-1\]/],
    ['a fractional dimension', rawFile({ w: f32([1.5], [0, 0]) }), /shape must be an array of non-negative integers/],
    ['an unsafe dimension', rawFile({ w: f32([1e20], [0, 0]) }), /shape must be an array of non-negative integers/],
    ['a shape that is not an array', rawFile({ w: { dtype: 'F32', shape: '3', data_offsets: [0, 12] } }), /shape must be an array/],
    ['an entry without data_offsets', rawFile({ w: { dtype: 'F32', shape: [] } }), /tensor "w": missing data_offsets/],
    ['one offset', rawFile({ w: f32([0], [0]) }), /tensor "w": data_offsets must be two non-negative integers/],
    ['three offsets', rawFile({ w: f32([0], [0, 0, 0]) }), /data_offsets must be two non-negative integers/],
    ['a negative offset', rawFile({ w: f32([0], [-4, 0]) }), /data_offsets must be two non-negative integers/],
    ['string offsets', rawFile({ w: f32([0], ['0', '0']) }), /data_offsets must be two non-negative integers/],
    ['begin after end', rawFile({ w: f32([1], [8, 4]) }, new Uint8Array(8)), /tensor "w": data_offsets begin 8 is after end 4/],
    ['a byte length that does not match the shape', rawFile({ w: f32([2], [0, 4]) }, new Uint8Array(4)), /tensor "w": byte length 4 does not match shape \[2\] of F32 \(8 bytes\)/],
    ['offsets past the end of the data', rawFile({ w: f32([2], [0, 8]) }, new Uint8Array(4)), /tensor "w": data_offsets end 8 is past the end of the 4-byte data buffer/],
    ['overlapping tensors', rawFile({ a: f32([2], [0, 8]), b: f32([2], [4, 12]) }, new Uint8Array(12)), /tensor "b" \(bytes 4..12\) overlaps tensor "a" \(bytes 0..8\)/],
    ['a hole between tensors', rawFile({ a: f32([1], [0, 4]), b: f32([1], [8, 12]) }, new Uint8Array(12)), /hole: bytes 4..8 before tensor "b"/],
    ['trailing bytes', rawFile({ a: f32([1], [0, 4]) }, new Uint8Array(8)), /4 trailing bytes/],
    ['metadata that is not an object', rawFile({ __metadata__: [] }), /__metadata__ is not an object/],
    ['a metadata value that is not a string', rawFile({ __metadata__: { n: 1 } }), /__metadata__ value for "n" is not a string/],
  ];
  it.each(cases)('%s is an error that says so', (_, bytes, message) => {
    expect(() => parseSafetensorsBytes(bytes)).toThrow(/^loadSafetensors: /);
    expect(() => parseSafetensorsBytes(bytes)).toThrow(message);
  });

  it('an empty header object is a valid file with no tensors', () => {
    expect(parseSafetensorsBytes(rawFile('{}')).tensors.size).toBe(0);
  });
});

describe('serializeSafetensorsBytes rejects bad input', () => {
  const ok: RawTensor = { dtype: 'float32', shape: [2], data: new Float32Array(2) };
  const cases: [string, [string, RawTensor][], RegExp, Record<string, string>?][] = [
    ['an empty name', [['', ok]], /tensor name must be a non-empty string/],
    ['a duplicate name', [['a', ok], ['a', ok]], /tensor "a": duplicate name/],
    ['the name __metadata__', [['__metadata__', ok]], /tensor "__metadata__": the name is reserved for metadata/],
    ['data shorter than the shape', [['a', { ...ok, shape: [3] }]], /tensor "a": data length 2 does not match shape \[3\] \(3 elements\)/],
    ['a negative dimension', [['a', { ...ok, shape: [-2] }]], /tensor "a": shape must be an array of non-negative integers/],
    ['data of another dtype', [['a', { ...ok, data: new Float64Array(2) }]], /tensor "a": dtype float32 needs a Float32Array, got Float64Array/],
    ['an unknown dtype', [['a', { ...ok, dtype: 'float16' as RawDType }]], /tensor "a": unsupported dtype "float16"/],
    ['a metadata value that is not a string', [['a', ok]], /metadata value for "n" is not a string/, { n: 1 as unknown as string }],
  ];
  it.each(cases)('%s is an error that says so', (_, entries, message, metadata) => {
    expect(() => serializeSafetensorsBytes(entries, metadata)).toThrow(/^saveSafetensors: /);
    expect(() => serializeSafetensorsBytes(entries, metadata)).toThrow(message);
  });
});

// ************* fuzz *************

/** Either a result or a validation error: no raw RangeError/TypeError, nothing that needed the safety net. */
function parsesOrFailsCleanly(bytes: Uint8Array): void {
  try {
    parseSafetensorsBytes(bytes);
  } catch (e) {
    expect(e).toBeInstanceOf(Error);
    expect((e as Error).message).toMatch(/^loadSafetensors: /);
    expect((e as Error).cause).toBeUndefined();
  }
}

const validFileArb = fc.tuple(entriesArb, metadataArb).map(([entries, metadata]) => serializeSafetensorsBytes(entries, metadata));
const weirdNumberArb = fc.oneof(fc.integer({ min: -3, max: 40 }), fc.double(), fc.constantFrom(2 ** 53, 1e300, -0, 0.5), fc.string({ maxLength: 2 }), fc.constant(null));

describe('parseSafetensorsBytes on corrupted input', () => {
  it('random byte mutations either parse or throw a loadSafetensors error', () => {
    const mutationsArb = fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 });
    fc.assert(
      fc.property(validFileArb, mutationsArb, (valid, mutations) => {
        const bytes = valid.slice(); // fast-check may replay the generated value while shrinking
        for (const [at, value] of mutations) bytes[at % bytes.length] = value;
        parsesOrFailsCleanly(bytes);
      }),
      { numRuns: 300 },
    );
  });

  it('truncation at any length either parses or throws a loadSafetensors error', () => {
    fc.assert(
      fc.property(validFileArb, fc.nat(), (bytes, cut) => parsesOrFailsCleanly(bytes.subarray(0, cut % (bytes.length + 1)))),
      { numRuns: 300 },
    );
  });

  it('an overwritten header length either parses or throws a loadSafetensors error', () => {
    const lengthArb = fc.oneof(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.bigInt({ min: 0n, max: 300n }));
    fc.assert(
      fc.property(validFileArb, lengthArb, (valid, length) => {
        const bytes = valid.slice();
        new DataView(bytes.buffer).setBigUint64(0, length, true);
        parsesOrFailsCleanly(bytes);
      }),
      { numRuns: 300 },
    );
  });

  it('headers with arbitrary dtypes, shapes and offsets either parse or throw a loadSafetensors error', () => {
    const entryArb = fc.record({
      dtype: fc.oneof(fc.constantFrom('F32', 'F64', 'F16', 'BF16', 'I64', 'I32', 'I16', 'U16', 'I8', 'U8', 'BOOL', 'U32', '__proto__', 'toString'), weirdNumberArb),
      shape: fc.oneof(fc.array(weirdNumberArb, { maxLength: 3 }), weirdNumberArb),
      data_offsets: fc.oneof(fc.array(weirdNumberArb, { maxLength: 3 }), weirdNumberArb),
    }, { requiredKeys: [] });
    const headerArb = fc.dictionary(fc.constantFrom('a', 'b', 'c', '__metadata__', '__proto__'), fc.oneof(entryArb, weirdNumberArb), { maxKeys: 4 });
    fc.assert(
      fc.property(headerArb, fc.uint8Array({ maxLength: 64 }), (header, data) => parsesOrFailsCleanly(rawFile(header, data))),
      { numRuns: 300 },
    );
  });
});
