// `pnpm playground`: builds the playground and serves it on http://localhost:5173 (`--port N`);
// `pnpm playground --build [dir]` only writes the static site (default packages/playground/dist).

import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildPlayground } from './build.js';
import { servePlayground } from './serve.js';

const USAGE = 'usage: pnpm playground [--port N] | pnpm playground --build [dir]';

async function main(args: string[]): Promise<void> {
  let port = 5173;
  let buildOnly = false;
  let outDir = fileURLToPath(new URL('../../dist/', import.meta.url));
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--port') {
      const v = Number(args[++i]);
      if (!Number.isInteger(v) || v < 0 || v > 65535) throw new Error(`--port needs a port number (0-65535), got ${args[i] ?? 'nothing'}\n${USAGE}`);
      port = v;
    } else if (a === '--build') {
      buildOnly = true;
      if (args[i + 1] && !args[i + 1]!.startsWith('--')) outDir = resolve(args[++i]!);
    } else if (a === '--help' || a === '-h') {
      console.log(USAGE);
      return;
    } else {
      throw new Error(`unknown argument ${a}\n${USAGE}`);
    }
  }
  await buildPlayground(outDir);
  if (buildOnly) {
    console.log(`wrote the playground to ${outDir} (serve it with any static server; without COOP/COEP headers it runs on one thread)`);
    return;
  }
  const { url } = await servePlayground(outDir, port);
  console.log(`tsgrad playground: ${url}  (Ctrl-C stops)`);
}

main(process.argv.slice(2)).catch((err: Error) => {
  console.error(`playground: ${err.message}`);
  process.exit(1);
});
