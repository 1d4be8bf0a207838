// A FileSource over File objects (files picked with <input type="file">): fromPretrained reads a
// model folder the user chose on disk. Paths are matched by their last segment, so the picked
// files may come from a folder picker (with relative paths) or be picked one by one.

import type { FileSource } from '@tsgrad/llama';

const baseName = (path: string) => path.slice(path.lastIndexOf('/') + 1);

/** A read-only FileSource whose files are `files`, found by name (fromPretrained's dir argument is ignored). */
export function fileListSource(files: readonly File[]): FileSource {
  const byName = new Map(files.map((f) => [f.name, f]));
  return {
    async read(path) {
      const file = byName.get(baseName(path));
      if (!file) throw new Error(`picked files: ${baseName(path)} is not among them (picked: ${[...byName.keys()].join(', ') || 'none'})`);
      return new Uint8Array(await file.arrayBuffer());
    },
    async exists(path) {
      return byName.has(baseName(path));
    },
    async write(path) {
      throw new Error(`picked files: cannot write ${path}; they are read-only`);
    },
    join(dir, name) {
      return dir === '' ? name : `${dir}/${name}`;
    },
  };
}
