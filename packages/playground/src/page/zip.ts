// A .zip writer for a handful of files, uncompressed ("stored", method 0): enough to hand a model
// folder to the user as one download. Layout (PKWARE APPNOTE 6.3): for each file a local header
// and its bytes, then the central directory (one entry per file), then the end record.

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (the zip and PNG one: reflected polynomial 0xEDB88320) of `bytes`. */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** One file to put in a zip: its path inside the archive (forward slashes) and its bytes. */
export interface ZipEntry {
  /** Path inside the archive, e.g. "model/config.json". */
  name: string;
  /** The file's contents. */
  bytes: Uint8Array;
}

// 1980-01-01 00:00 in MS-DOS time/date: the zip format cannot say "no date"
const DOS_TIME = 0;
const DOS_DATE = (0 << 9) | (1 << 5) | 1;
// bit 11: file names are UTF-8
const FLAGS = 0x0800;

/** A zip archive of `entries`, stored without compression; each part is checked against zip's 32-bit limits. */
export function storedZip(entries: ZipEntry[]): Uint8Array<ArrayBuffer> {
  const encoder = new TextEncoder();
  const names = entries.map((e) => encoder.encode(e.name));
  const localSize = entries.reduce((s, e, i) => s + 30 + names[i]!.length + e.bytes.length, 0);
  const centralSize = names.reduce((s, n) => s + 46 + n.length, 0);
  const total = localSize + centralSize + 22;
  // no ZIP64: sizes and offsets must fit in 32 bits, counts in 16
  if (total > 0xffffffff || entries.length > 0xffff) {
    throw new Error(`storedZip: ${entries.length} files of ${total} bytes exceed the zip format without ZIP64 (4 GiB, 65535 files)`);
  }
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  const offsets: number[] = [];
  const crcs = entries.map((e) => crc32(e.bytes));
  let p = 0;
  entries.forEach((e, i) => {
    offsets.push(p);
    view.setUint32(p, 0x04034b50, true); // local file header signature
    view.setUint16(p + 4, 20, true); // version needed: 2.0
    view.setUint16(p + 6, FLAGS, true);
    view.setUint16(p + 8, 0, true); // method: stored
    view.setUint16(p + 10, DOS_TIME, true);
    view.setUint16(p + 12, DOS_DATE, true);
    view.setUint32(p + 14, crcs[i]!, true);
    view.setUint32(p + 18, e.bytes.length, true); // compressed size
    view.setUint32(p + 22, e.bytes.length, true); // uncompressed size
    view.setUint16(p + 26, names[i]!.length, true);
    view.setUint16(p + 28, 0, true); // extra field length
    out.set(names[i]!, p + 30);
    out.set(e.bytes, p + 30 + names[i]!.length);
    p += 30 + names[i]!.length + e.bytes.length;
  });
  const centralStart = p;
  entries.forEach((e, i) => {
    view.setUint32(p, 0x02014b50, true); // central directory header signature
    view.setUint16(p + 4, 20, true); // version made by
    view.setUint16(p + 6, 20, true); // version needed
    view.setUint16(p + 8, FLAGS, true);
    view.setUint16(p + 10, 0, true); // method: stored
    view.setUint16(p + 12, DOS_TIME, true);
    view.setUint16(p + 14, DOS_DATE, true);
    view.setUint32(p + 16, crcs[i]!, true);
    view.setUint32(p + 20, e.bytes.length, true);
    view.setUint32(p + 24, e.bytes.length, true);
    view.setUint16(p + 28, names[i]!.length, true);
    // extra, comment, disk number, internal and external attributes: all zero (p + 30 … p + 41)
    view.setUint32(p + 42, offsets[i]!, true); // where the local header is
    out.set(names[i]!, p + 46);
    p += 46 + names[i]!.length;
  });
  view.setUint32(p, 0x06054b50, true); // end of central directory signature
  view.setUint16(p + 8, entries.length, true); // entries on this disk
  view.setUint16(p + 10, entries.length, true); // entries in all
  view.setUint32(p + 12, p - centralStart, true); // central directory size
  view.setUint32(p + 16, centralStart, true); // its offset
  return out;
}
