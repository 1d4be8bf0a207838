// The packages as a user outside this repository gets them: `pnpm build`, `pnpm pack` each
// package, `npm install` the tarballs into a fresh folder (no pnpm, no tsx, no TypeScript there),
// then plain `node`, the installed bins, `tsc` against the installed declarations, and a browser
// bundle of the installed packages in Debian's chromium. The programs run are in
// examples/installed/.

import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PROGRAMS = join(ROOT, 'examples', 'installed');
const PACKAGES = ['tensor', 'nn', 'optim', 'llama'];
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const CHROMIUM = '/usr/bin/chromium';

let work = '';
let app = '';

/** Runs a command to completion; fails the test with its output when it exits non-zero. */
function run(cmd: string, args: string[], cwd: string, timeout = 180_000): string {
  const result = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout, env: { ...process.env, NODE_OPTIONS: '' } });
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`;
  expect(result.status, `${cmd} ${args.join(' ')} (in ${cwd}) exited with ${result.status}${result.error ? ` (${result.error.message})` : ''}:\n${output}`).toBe(0);
  return output;
}

// pnpm as the test was started with it (`pnpm test` sets npm_execpath), else the one on PATH.
function pnpm(args: string[], cwd: string): string {
  const execPath = process.env.npm_execpath;
  if (execPath && /pnpm/.test(execPath)) return run(process.execPath, [execPath, ...args], cwd);
  return run('pnpm', args, cwd);
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'tsgrad-install-'));
  app = join(work, 'app');
  pnpm(['build'], ROOT);
  for (const name of PACKAGES) pnpm(['pack', '--pack-destination', work], join(ROOT, 'packages', name));
  const tarballs = readdirSync(work).filter((f) => f.endsWith('.tgz')).map((f) => join(work, f));
  expect(tarballs).toHaveLength(PACKAGES.length);
  run('mkdir', ['-p', app], work);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', ...tarballs], app, 300_000);
  for (const file of readdirSync(PROGRAMS)) copyFileSync(join(PROGRAMS, file), join(app, file));
}, 600_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the packed packages, installed with npm into a fresh project', () => {
  it('ship compiled JavaScript with declarations, and point exports at it (nothing needs tsx)', () => {
    for (const name of PACKAGES) {
      const dir = join(app, 'node_modules', '@tsgrad', name);
      const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
      expect(JSON.stringify(manifest.exports)).not.toMatch(/(?<!\.d)\.ts"/); // only .js and .d.ts
      expect(JSON.stringify(manifest.dependencies ?? {})).not.toContain('workspace:');
      expect(existsSync(join(dir, 'dist', 'index.js'))).toBe(true);
      expect(existsSync(join(dir, 'dist', 'index.d.ts'))).toBe(true);
      // declaration maps lead "go to definition" to the readable source, which ships too
      const map = JSON.parse(readFileSync(join(dir, 'dist', 'index.d.ts.map'), 'utf8'));
      expect(existsSync(join(dir, 'dist', map.sources[0]))).toBe(true);
    }
    expect(existsSync(join(app, 'node_modules', 'tsx'))).toBe(false);
    expect(existsSync(join(app, 'node_modules', 'typescript'))).toBe(false);
  });

  it('run with plain node: gradcheck, a layer, a tiny LLaMA that learns, a saved folder that reloads, the worker pool', () => {
    const out = run(process.execPath, ['app.mjs'], app);
    expect(out).toContain('gradcheck true');
    expect(out).toContain('linear 1x2');
    const [, first, last] = /loss (\S+) -> (\S+)/.exec(out) ?? [];
    expect(Number(last)).toBeLessThan(Number(first) * 0.8);
    expect(out).toContain('reloaded max |logit difference| 0\n');
    expect(out).toContain('worker pool product equals one thread: true');
  });

  it('install the tsgrad-train and tsgrad-generate bins, which run under plain node', () => {
    const dry = run(join(app, 'node_modules', '.bin', 'tsgrad-train'), ['--dry_run'], app);
    expect(dry).toMatch(/parameters: +[\d,]+/);
    expect(dry).toMatch(/steps: +\d+/);
    const help = spawnSync(join(app, 'node_modules', '.bin', 'tsgrad-generate'), ['--no-such-flag'], { cwd: app, encoding: 'utf8' });
    expect(help.status).not.toBe(0);
    expect(help.stderr).toMatch(/usage: /);
  });

  it('type-check a strict TypeScript program against the installed declarations, and catch a type error', () => {
    const tsconfig = {
      compilerOptions: {
        strict: true, noEmit: true, module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022',
        lib: ['ES2022', 'DOM'], skipLibCheck: false, types: [],
      },
      files: ['check.ts'],
    };
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify(tsconfig));
    run(process.execPath, [TSC, '-p', 'tsconfig.json'], app);
    // the same check fails on a program that misuses the API, so it does read the declarations
    writeFileSync(join(app, 'wrong.ts'), "import { tensor } from '@tsgrad/tensor';\nexport const n: string = tensor([1]).numel;\n");
    writeFileSync(join(app, 'tsconfig.wrong.json'), JSON.stringify({ ...tsconfig, files: ['wrong.ts'] }));
    const wrong = spawnSync(process.execPath, [TSC, '-p', 'tsconfig.wrong.json'], { cwd: app, encoding: 'utf8' });
    expect(wrong.status).not.toBe(0);
    expect(wrong.stdout).toContain("Type 'number' is not assignable to type 'string'");
  });

  describe('in a browser', () => {
    let server: Server | undefined;
    afterAll(() => {
      server?.close();
    });

    it('bundle the installed packages for the browser and compute a gradient in chromium', async () => {
      await build({
        entryPoints: [join(app, 'page.mjs')], bundle: true, platform: 'browser', format: 'esm',
        outfile: join(app, 'page.bundle.js'), absWorkingDir: app, logLevel: 'silent',
      });
      const types: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript' };
      server = createServer((req, res) => {
        const file = join(app, (req.url ?? '/').split('?')[0]!);
        if (!file.startsWith(app) || !existsSync(file)) return void res.writeHead(404).end();
        res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file));
      });
      await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
      const port = (server.address() as { port: number }).port;
      expect(existsSync(CHROMIUM), `no browser at ${CHROMIUM}: .ci/run installs Debian's chromium with apt-get`).toBe(true);
      const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'], timeout: 60_000 });
      try {
        const page = await browser.newPage();
        const errors: string[] = [];
        page.on('pageerror', (err) => errors.push(err.message));
        page.on('console', (msg) => { if (msg.type() === 'error') errors.push(msg.text()); });
        await page.goto(`http://127.0.0.1:${port}/page.html`);
        await page.waitForFunction(() => document.querySelector('#grad')?.textContent !== '…', null, { timeout: 30_000 });
        expect(errors).toEqual([]);
        expect(JSON.parse((await page.textContent('#grad'))!)).toEqual([2, 4, 6]);
        expect(await page.textContent('#llama')).toBe('function');
      } finally {
        await browser.close();
      }
    });
  });
});
