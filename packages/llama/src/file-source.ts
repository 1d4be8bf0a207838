// The one door through which the model code reaches files: read bytes, write bytes, list. The Node
// entry installs an fs-backed source, the browser entry a fetch-backed one, so the same
// fromPretrained(dirOrUrl) works in both.

/** How the model code reads and writes files, independent of Node or the browser. */
export interface FileSource {
  /** The bytes of a file, or an error naming the path. */
  read(path: string): Promise<Uint8Array>;
  /** True when the file exists. */
  exists(path: string): Promise<boolean>;
  /** Writes a file atomically (temp file + rename): a crash never leaves it half-written. */
  write(path: string, bytes: Uint8Array): Promise<void>;
  /** Optional: writes a file given as consecutive parts, atomically, without first joining them into one buffer. */
  writeParts?(path: string, parts: readonly Uint8Array[]): Promise<void>;
  /** Joins a directory (or URL) and a file name. */
  join(dir: string, name: string): string;
}

let current: FileSource | null = null;

/** Installs the file source the model code uses: each entry does (index.ts and browser.ts on import, the CLIs in main). */
export function setFileSource(source: FileSource): void {
  current = source;
}

/** The installed file source, or an error when none was installed. */
export function getFileSource(): FileSource {
  if (!current) throw new Error('getFileSource: no file source installed; import @tsgrad/llama (Node) or its browser entry, or call setFileSource (e.g. setFileSource(fsFileSource) in Node)');
  return current;
}

/** A browser file source: reads by fetch; writing is not possible from a page. */
export function fetchFileSource(fetchImpl: typeof fetch = globalThis.fetch): FileSource {
  return {
    async read(url) {
      const res = await fetchImpl(url);
      if (!res.ok) throw new Error(`fetchFileSource: GET ${url} failed with HTTP ${res.status}`);
      return new Uint8Array(await res.arrayBuffer());
    },
    async exists(url) {
      const res = await fetchImpl(url, { method: 'HEAD' });
      return res.ok;
    },
    async write(url) {
      throw new Error(`fetchFileSource: cannot write ${url} from a browser; save checkpoints in Node`);
    },
    join(dir, name) {
      return dir.endsWith('/') ? dir + name : `${dir}/${name}`;
    },
  };
}
