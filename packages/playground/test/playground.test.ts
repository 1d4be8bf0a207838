// The playground in a real browser: Debian's chromium driven by playwright-core (no browser
// download). The page is built and served as `pnpm playground` does, with COOP/COEP headers.
// Screenshots of each panel go to packages/playground/test-output/ for a reviewer.

import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32 } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Browser, type Page, chromium } from 'playwright-core';
import * as tsgrad from '@tsgrad/tensor';
import * as nn from '@tsgrad/nn';
import { ByteTokenizer, LlamaForCausalLM } from '@tsgrad/llama';
import { buildPlayground } from '../src/node/build.js';
import { type PlaygroundServer, servePlayground } from '../src/node/serve.js';
import { PRESETS } from '../src/page/presets.js';

const CHROMIUM = '/usr/bin/chromium';
const OUT = fileURLToPath(new URL('../test-output/', import.meta.url));
const FIXTURE = fileURLToPath(new URL('./fixtures/llama-hf-tiny/', import.meta.url));

let browser: Browser;
let server: PlaygroundServer;
let plainServer: PlaygroundServer;
let page: Page;
const consoleErrors: string[] = [];

// A failed setup (no browser, say) fails every test with its reason: none is skipped.
let setupError: Error | null = null;
const test = (name: string, fn: () => Promise<void>) => it(name, async () => {
  if (setupError) throw setupError;
  await fn();
});

beforeAll(async () => {
  try {
    await setUp();
  } catch (err) {
    setupError = err as Error;
  }
}, 90_000);

async function setUp(): Promise<void> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`the browser tests need Debian's chromium at ${CHROMIUM}: install it with \`apt-get install -y chromium\` (.ci/run does this when it is missing)`);
  }
  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(OUT, { recursive: true });
  const site = await buildPlayground(join(OUT, 'site'));
  server = await servePlayground(site, 0, { mounts: { '/models/tiny/': FIXTURE }, host: '127.0.0.1' });
  plainServer = await servePlayground(site, 0, { host: '127.0.0.1', crossOriginIsolated: false });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'], timeout: 30_000 });
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1200, height: 900 } });
  page = await context.newPage();
  page.setDefaultTimeout(30_000);
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('pageerror', (err) => consoleErrors.push(`page error: ${err.message}`));
  await page.goto(server.url);
}

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await plainServer?.close();
});

// The program's leaves after backward, computed here in Node with the library (not the page's runner).
function gradientsInNode(source: string): Map<string, number[]> {
  const body = new Function('tsgrad', 'nn', source) as (t: typeof tsgrad, n: typeof nn) => { inputs: Record<string, tsgrad.Tensor>; f: (...x: tsgrad.Tensor[]) => tsgrad.Tensor };
  const { inputs, f } = body(tsgrad, nn);
  f(...Object.values(inputs)).backward();
  return new Map(Object.entries(inputs).map(([name, t]) => [name, Array.from(t.grad!.toTypedArray())]));
}

// The names of the ops the program's output was computed by, sorted (each recorded op once).
function opsInNode(source: string): string[] {
  const body = new Function('tsgrad', 'nn', source) as (t: typeof tsgrad, n: typeof nn) => { inputs: Record<string, tsgrad.Tensor>; f: (...x: tsgrad.Tensor[]) => tsgrad.Tensor };
  const { inputs, f } = body(tsgrad, nn);
  const names: string[] = [];
  const seen = new Set<tsgrad.Tensor>();
  const stack = [f(...Object.values(inputs))];
  while (stack.length > 0) {
    const t = stack.pop()!;
    if (seen.has(t) || !t.gradFn) continue;
    seen.add(t);
    names.push(t.gradFn.name);
    stack.push(...t.gradFn.inputs);
  }
  expect(names.length).toBeGreaterThan(1);
  return names.sort();
}

// Each leaf's gradient as the page shows it: the numbers of its nested-array text.
async function gradientsOnPage(): Promise<Map<string, number[]>> {
  const rows = await page.locator('[data-testid="leaf-grads"] .leaf').evaluateAll((els) =>
    els.map((el) => [(el as HTMLElement).dataset.leaf!, el.querySelector('code')!.textContent!] as const));
  return new Map(rows.map(([name, text]) => [name, [JSON.parse(text) as unknown].flat(4) as number[]]));
}

async function runProgram(source: string): Promise<void> {
  await page.locator('[data-testid="program"]').fill(source);
  await page.locator('[data-testid="run-program"]').click();
}

describe('the playground in chromium', () => {
  test('loads with no console errors, cross-origin isolated, stating its threads', async () => {
    await expect.poll(() => page.locator('[data-testid="graph"]').count(), { timeout: 30_000 }).toBe(1);
    expect(await page.evaluate(() => globalThis.crossOriginIsolated)).toBe(true);
    expect(await page.locator('[data-testid="threads"]').textContent()).toMatch(/Cross-origin isolated: training and generation use up to [2-4] threads/);
    expect(consoleErrors).toEqual([]);
  });

  test('served without COOP/COEP headers, states that it runs on one thread, and trains on it', async () => {
    const plain = await page.context().newPage();
    try {
      await plain.goto(plainServer.url);
      expect(await plain.evaluate(() => globalThis.crossOriginIsolated)).toBe(false);
      expect(await plain.locator('[data-testid="threads"]').textContent()).toMatch(/^Not cross-origin isolated .*: training and generation run on one thread\.$/);
      // and training still runs, on the worker's one thread
      await plain.locator('[data-testid="train-start"]').click();
      await expect.poll(() => plain.locator('[data-testid="train-step"]').textContent().then(Number), { timeout: 60_000 }).toBeGreaterThanOrEqual(2);
      expect(await plain.locator('[data-testid="threads"]').textContent()).toBe('Training threads: one thread: the page is not cross-origin isolated (no COOP/COEP headers), so threads cannot share memory.');
    } finally {
      await plain.close();
    }
  });

  for (const preset of PRESETS) {
    test(`preset "${preset.title}": graph, leaf gradients equal to Node's, gradcheck passes`, async () => {
      await page.locator(`[data-testid="preset-${preset.id}"]`).click();
      const graph = page.locator('svg[data-testid="graph"]');
      await graph.waitFor();
      // one box per recorded op, its first line the op's name: the ops this program records in Node
      const boxes = await graph.locator('g.node').evaluateAll((nodes) =>
        nodes.filter((n) => n.querySelector('polygon')).map((n) => n.querySelector('text')!.textContent!));
      expect(boxes.sort()).toEqual(opsInNode(preset.source));
      const expected = gradientsInNode(preset.source);
      const shown = await gradientsOnPage();
      expect([...shown.keys()]).toEqual([...expected.keys()]);
      for (const [name, values] of expected) {
        const got = shown.get(name)!;
        expect(got.length).toBe(values.length);
        // the page prints 7 significant digits
        values.forEach((v, i) => expect(Math.abs(got[i]! - v)).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(v))));
      }
      expect(await page.locator('[data-testid="gradcheck"]').textContent()).toMatch(/^gradcheck passed \(float64/);
      await page.locator('[data-testid="autograd-panel"]').screenshot({ path: join(OUT, `autograd-${preset.id}.png`) });
    });
  }

  test('shows the error of a program with a shape error, and of one that does not parse', async () => {
    const source = `const { tensor } = tsgrad;
const a = tensor([1, 2, 3], { requiresGrad: true });
const b = tensor([1, 2]);
return { inputs: { a }, f: (a) => a.add(b).sum() };`;
    let message = '';
    try {
      tsgrad.tensor([1, 2, 3]).add(tsgrad.tensor([1, 2]));
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).not.toBe('');
    await runProgram(source);
    const box = page.locator('[data-testid="program-error"]');
    await expect.poll(() => box.textContent()).toContain(message);
    expect(await page.locator('[data-testid="graph"]').count()).toBe(0);
    await page.locator('[data-testid="autograd-panel"]').screenshot({ path: join(OUT, 'autograd-shape-error.png') });
    await runProgram('const x = ;');
    await expect.poll(() => box.textContent()).toMatch(/^SyntaxError: /);
  });

  test('trains 30 steps in the worker: the loss falls, the step counter and plot move, samples stream, pause holds and resume goes on', async () => {
    // record every loss the page shows, as it shows it
    await page.evaluate(() => {
      const seen: Array<[number, number]> = [];
      (window as unknown as { seen: typeof seen }).seen = seen;
      const step = document.querySelector('[data-testid="train-step"]')!;
      const loss = document.querySelector('[data-testid="train-loss"]')!;
      new MutationObserver(() => seen.push([Number(step.textContent), Number(loss.textContent)]))
        .observe(loss, { childList: true, characterData: true, subtree: true });
    });
    const points = () => page.locator('[data-testid="train-line"]').evaluate((el) => (el.getAttribute('points') ?? '').split(' ').filter(Boolean).length);
    await page.locator('[data-testid="train-start"]').click();
    const step = () => page.locator('[data-testid="train-step"]').textContent().then(Number);
    await expect.poll(step, { timeout: 60_000 }).toBeGreaterThanOrEqual(5);
    const earlyPoints = await points();
    await expect.poll(step, { timeout: 90_000 }).toBeGreaterThanOrEqual(30);
    await page.locator('[data-testid="train-pause"]').click();
    await expect.poll(() => page.locator('[data-testid="train-state"]').textContent(), { timeout: 30_000 }).toMatch(/^paused at step \d+$/);
    const pausedAt = await step();
    expect(pausedAt).toBeGreaterThanOrEqual(30);

    const seen = await page.evaluate(() => (window as unknown as { seen: Array<[number, number]> }).seen);
    const steps = seen.map(([s]) => s);
    expect(steps[0]).toBeLessThanOrEqual(2);
    expect(steps.every((s, i) => i === 0 || s === steps[i - 1]! + 1)).toBe(true);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const first = mean(seen.slice(0, 3).map(([, l]) => l));
    const last = mean(seen.slice(-3).map(([, l]) => l));
    console.log(`training in the page: loss ${first.toFixed(3)} (steps 1-3) → ${last.toFixed(3)} (steps ${pausedAt - 2}-${pausedAt}); ${await page.locator('[data-testid="tokens-per-sec"]').textContent()} tokens/s; ${await page.locator('[data-testid="threads"]').textContent()}`);
    expect(first).toBeGreaterThan(5); // ln 256 = 5.55 at initialisation
    expect(last).toBeLessThan(first - 1.5);
    expect(await points()).toBeGreaterThan(earlyPoints);
    expect(await page.locator('[data-testid="validation-line"]').evaluate((el) => el.getAttribute('points')!.split(' ').length)).toBeGreaterThanOrEqual(2);
    expect(Number(await page.locator('[data-testid="train-loss"]').textContent())).toBe(seen.at(-1)![1]);

    // a sample streamed after the prompt
    const sample = await page.locator('[data-testid="sample-text"]').textContent();
    expect(sample!.startsWith('Call me Ishmael. ')).toBe(true);
    expect(sample!.length).toBeGreaterThan('Call me Ishmael. '.length + 10);

    // paused: the counter holds; resumed: it moves on; paused again for the download
    await page.waitForTimeout(1500);
    expect(await step()).toBe(pausedAt);
    await page.locator('[data-testid="train-pause"]').click();
    await expect.poll(step, { timeout: 30_000 }).toBeGreaterThan(pausedAt);
    await page.locator('[data-testid="train-pause"]').click();
    await expect.poll(() => page.locator('[data-testid="train-state"]').textContent(), { timeout: 30_000 }).toMatch(/^paused at step \d+$/);
    await page.locator('[data-testid="train-panel"]').screenshot({ path: join(OUT, 'train.png') });
  });

  test('downloads the model as a zip that fromPretrained loads in Node with the page\'s logits', async () => {
    const [download] = await Promise.all([page.waitForEvent('download'), page.locator('[data-testid="download-model"]').click()]);
    const zipPath = join(OUT, download.suggestedFilename());
    await download.saveAs(zipPath);
    const files = readZip(readFileSync(zipPath));
    expect([...files.keys()].sort()).toEqual(['tsgrad-tiny-llama/config.json', 'tsgrad-tiny-llama/model.safetensors', 'tsgrad-tiny-llama/tokenizer.json']);
    const dir = join(OUT, 'downloaded-model');
    mkdirSync(dir, { recursive: true });
    for (const [name, bytes] of files) writeFileSync(join(dir, name.split('/')[1]!), bytes);

    const model = await LlamaForCausalLM.fromPretrained(dir);
    const ids = [Array.from(new TextEncoder().encode('Call me Ishmael. Some years ago'))];
    const inNode = Array.from(model.forward(ids).logits.toTypedArray());
    const inPage = await page.evaluate((x) => (window as unknown as { playground: { trainLogits(ids: number[][]): Promise<number[]> } }).playground.trainLogits(x), ids);
    expect(inPage.length).toBe(inNode.length);
    // identical, not close: the same kernels in the same order (threads split rows, never a sum), and
    // V8's Math.exp/sin/cos are its own ports of fdlibm in Node and in Chromium alike
    expect(inPage).toEqual(inNode);
    // the folder is byte for byte what savePretrained writes for these weights in Node
    const resaved = join(OUT, 'resaved-model');
    await model.savePretrained(resaved);
    for (const name of ['config.json', 'model.safetensors']) expect(readFileSync(join(resaved, name)).equals(readFileSync(join(dir, name)))).toBe(true);
  });

  test('loads a Hugging Face folder by URL and generates what Node generates', async () => {
    await page.locator('[data-testid="load-url"]').fill(`${server.url}models/tiny/`);
    await page.locator('[data-testid="load-url-button"]').click();
    await expect.poll(() => page.locator('[data-testid="load-status"]').textContent()).toMatch(/^loaded .*models\/tiny: hidden 32, 2 layers/);
    // the fixture's vocabulary is 64 ids: a prompt of digits stays inside it
    const prompt = '0123';
    await page.locator('[data-testid="generate-prompt"]').fill(prompt);
    await page.locator('[data-testid="generate-temperature"]').fill('0');
    await page.locator('[data-testid="generate-tokens"]').fill('24');
    await page.locator('[data-testid="generate"]').click();
    await expect.poll(() => page.locator('[data-testid="load-status"]').textContent()).toMatch(/generated 24 tokens/);

    const tokenizer = new ByteTokenizer();
    const model = await LlamaForCausalLM.fromPretrained(FIXTURE);
    const ids = model.generate(tokenizer.encode(prompt), { maxNewTokens: 24, temperature: 0 });
    expect(await page.locator('[data-testid="generate-output"]').textContent()).toBe(tokenizer.decode(ids.slice(prompt.length)));
    await page.locator('[data-testid="load-panel"]').screenshot({ path: join(OUT, 'load-url.png') });
  });

  test('loads the downloaded model from picked files and generates what Node generates', async () => {
    const dir = join(OUT, 'downloaded-model');
    await page.locator('[data-testid="load-files"]').setInputFiles([join(dir, 'config.json'), join(dir, 'model.safetensors')]);
    await expect.poll(() => page.locator('[data-testid="load-status"]').textContent()).toMatch(/^loaded config\.json, model\.safetensors: hidden 64/);
    const prompt = 'Call me Ishmael. ';
    await page.locator('[data-testid="generate-prompt"]').fill(prompt);
    await page.locator('[data-testid="generate-tokens"]').fill('30');
    await page.locator('[data-testid="generate"]').click();
    await expect.poll(() => page.locator('[data-testid="load-status"]').textContent()).toMatch(/generated 30 tokens/);
    const tokenizer = new ByteTokenizer();
    const model = await LlamaForCausalLM.fromPretrained(dir);
    const ids = model.generate(tokenizer.encode(prompt), { maxNewTokens: 30, temperature: 0 });
    expect(await page.locator('[data-testid="generate-output"]').textContent()).toBe(tokenizer.decode(ids.slice(tokenizer.encode(prompt).length)));
    await page.screenshot({ path: join(OUT, 'page.png'), fullPage: true });
    expect(consoleErrors).toEqual([]);
  });
});

// A reader for stored (uncompressed) zips, written from the format (APPNOTE 6.3) independently of
// the page's writer; every file's CRC-32 is checked with Node's zlib.
function readZip(zip: Buffer): Map<string, Buffer> {
  const end = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  expect(end).toBeGreaterThan(0);
  const count = zip.readUInt16LE(end + 10);
  let p = zip.readUInt32LE(end + 16);
  const files = new Map<string, Buffer>();
  for (let i = 0; i < count; i++) {
    expect(zip.readUInt32LE(p)).toBe(0x02014b50);
    const method = zip.readUInt16LE(p + 10);
    const crc = zip.readUInt32LE(p + 16);
    const size = zip.readUInt32LE(p + 24);
    const nameLength = zip.readUInt16LE(p + 28);
    const extra = zip.readUInt16LE(p + 30), comment = zip.readUInt16LE(p + 32);
    const local = zip.readUInt32LE(p + 42);
    const name = zip.toString('utf8', p + 46, p + 46 + nameLength);
    expect(method).toBe(0);
    expect(zip.readUInt32LE(local)).toBe(0x04034b50);
    const start = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
    const bytes = zip.subarray(start, start + size);
    expect(crc32(bytes)).toBe(crc);
    files.set(name, bytes);
    p += 46 + nameLength + extra + comment;
  }
  return files;
}
