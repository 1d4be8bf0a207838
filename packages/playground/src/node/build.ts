// Node only: builds the playground into a folder: the page and its three workers bundled by
// esbuild for the browser, the static files, and Moby Dick split into train and validation text
// exactly as `pnpm train` splits it (every tenth chapter held out).

import { copyFileSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
// `pnpm train`'s corpus, reached by path: the llama package exports its Node helpers to no one else
import { mobyDickCorpus } from '../../../llama/src/node/corpus.js';

const PAGE = fileURLToPath(new URL('../page/', import.meta.url));
const STATIC = fileURLToPath(new URL('../../static/', import.meta.url));

/** Writes the static site into outDir (created if missing); returns outDir. */
export async function buildPlayground(outDir: string): Promise<string> {
  mkdirSync(outDir, { recursive: true });
  await build({
    entryPoints: {
      'main': join(PAGE, 'main.ts'),
      'train-worker': join(PAGE, 'train-worker.ts'),
      'load-worker': join(PAGE, 'load-worker.ts'),
      'kernel-worker': join(PAGE, 'kernel-worker.ts'),
    },
    outdir: outDir,
    bundle: true,
    format: 'iife',
    platform: 'browser',
    conditions: ['browser'],
    target: 'es2022',
    sourcemap: 'linked',
    logLevel: 'silent',
  });
  for (const name of readdirSync(STATIC)) copyFileSync(join(STATIC, name), join(outDir, name));
  const corpus = mobyDickCorpus();
  writeFileSync(join(outDir, 'moby-dick-train.txt'), corpus.train);
  writeFileSync(join(outDir, 'moby-dick-validation.txt'), corpus.validation);
  return outDir;
}
