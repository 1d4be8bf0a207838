// Node only: a static file server for the playground. It sends the headers that make the page
// cross-origin isolated (COOP same-origin, COEP require-corp), so workers can share memory and
// the kernels use several threads.

import { createReadStream, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, sep } from 'node:path';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.json': 'application/json', '.txt': 'text/plain; charset=utf-8', '.map': 'application/json',
  '.png': 'image/png', '.svg': 'image/svg+xml', '.safetensors': 'application/octet-stream',
};

/** A running server: its base URL and how to stop it. */
export interface PlaygroundServer {
  /** e.g. http://localhost:5173/ */
  url: string;
  /** The Node server. */
  server: Server;
  /** Stops listening. */
  close(): Promise<void>;
}

/** Options of servePlayground. */
export interface ServeOptions {
  /** URL prefixes like "/models/tiny/" mapped to more folders to serve. */
  mounts?: Record<string, string>;
  /** Host name to listen on (default localhost). */
  host?: string;
  /** Send COOP/COEP so the page is cross-origin isolated (default true; false shows the one-thread fallback). */
  crossOriginIsolated?: boolean;
}

/** Serves `root` on `port` (0: any free port). */
export async function servePlayground(root: string, port: number, opts: ServeOptions = {}): Promise<PlaygroundServer> {
  const { mounts = {}, host = 'localhost', crossOriginIsolated = true } = opts;
  const folders = [...Object.entries(mounts), ['/', root] as [string, string]];
  const server = createServer((req, res) => {
    const headers: Record<string, string> = crossOriginIsolated ? {
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
      'Cross-Origin-Resource-Policy': 'same-origin',
      'Cache-Control': 'no-store',
    } : { 'Cache-Control': 'no-store' };
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const [prefix, dir] = folders.find(([p]) => path.startsWith(p))!;
    let file = normalize(join(dir, path.slice(prefix.length)));
    // nothing outside the served folder, whatever the URL says
    if (file !== normalize(dir) && !file.startsWith(normalize(dir + sep))) {
      res.writeHead(403, headers).end('forbidden');
      return;
    }
    try {
      if (statSync(file).isDirectory()) file = join(file, 'index.html');
      const size = statSync(file).size;
      res.writeHead(200, { ...headers, 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream', 'Content-Length': size });
      if (req.method === 'HEAD') res.end();
      else createReadStream(file).pipe(res);
    } catch {
      res.writeHead(404, { ...headers, 'Content-Type': 'text/plain' }).end(`not found: ${path}`);
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  const actual = (server.address() as AddressInfo).port;
  return {
    url: `http://${host}:${actual}/`,
    server,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
