// The Node file source: fs reads, and atomic writes (temp file, fsync, rename) so an interrupted
// run never leaves a half-written checkpoint where a whole one was.

import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { FileSource } from '../file-source.js';

/**
 * Writes bytes to path atomically: to a temp file in the same folder, fsynced, then renamed over
 * path. A file given as parts is written part after part, never joined into one buffer.
 */
export function writeFileAtomic(path: string, bytes: Uint8Array | string | readonly Uint8Array[]): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
  const parts = typeof bytes === 'string' ? [new TextEncoder().encode(bytes)] : bytes instanceof Uint8Array ? [bytes] : bytes;
  try {
    const fd = openSync(tmp, 'w');
    try {
      for (const data of parts) {
        let written = 0;
        while (written < data.length) written += writeSync(fd, data, written, data.length - written);
      }
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** The fs-backed file source the Node entry installs. */
export const fsFileSource: FileSource = {
  async read(path) {
    try {
      const buf = readFileSync(path);
      return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
    } catch (err) {
      throw new Error(`read: cannot read ${path}: ${(err as Error).message}`);
    }
  },
  async exists(path) {
    return existsSync(path);
  },
  async write(path, bytes) {
    writeFileAtomic(path, bytes);
  },
  async writeParts(path, parts) {
    writeFileAtomic(path, parts);
  },
  join(dir, name) {
    return join(dir, name);
  },
};
