// fromPretrained by URL, as the browser entry does it: a fetch-backed file source against a
// checkpoint folder served on loopback.

import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LlamaForCausalLM, fetchFileSource, fsFileSource, setFileSource } from '../src/index.js';

const FIXTURE = new URL('./fixtures/llama-hf-tiny/', import.meta.url).pathname;
const server = createServer((req, res) => {
  const name = (req.url ?? '/').replace(/^\/model\//, '');
  try {
    const body = readFileSync(join(FIXTURE, name));
    res.writeHead(200, { 'content-length': body.length });
    res.end(req.method === 'HEAD' ? undefined : body);
  } catch {
    res.writeHead(404);
    res.end();
  }
});
let base = '';

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/model`;
  setFileSource(fetchFileSource());
});
afterAll(() => {
  setFileSource(fsFileSource);
  server.close();
});

describe('the fetch-backed file source', () => {
  it('loads a Hugging Face folder by URL and computes the same logits as from disk', async () => {
    const remote = await LlamaForCausalLM.fromPretrained(base);
    setFileSource(fsFileSource);
    const local = await LlamaForCausalLM.fromPretrained(FIXTURE);
    setFileSource(fetchFileSource());
    const ids = [[3, 1, 4, 1, 5]];
    expect(Array.from(remote.forward(ids).logits.toTypedArray())).toEqual(Array.from(local.forward(ids).logits.toTypedArray()));
  });

  it('names the URL that failed, and refuses to write', async () => {
    await expect(LlamaForCausalLM.fromPretrained(`${base}/missing`)).rejects.toThrow(/missing\/config\.json failed with HTTP 404/);
    const model = await LlamaForCausalLM.fromPretrained(base);
    await expect(model.savePretrained(`${base}/out`)).rejects.toThrow(/cannot write/);
  });
});
