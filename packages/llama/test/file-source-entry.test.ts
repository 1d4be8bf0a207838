// model.ts does no I/O and installs nothing: fromPretrained reads through the file source that an
// entry installs (index.ts and browser.ts on import, the CLIs in main). This file imports no entry,
// so it sees model.ts as a program that imports it directly does.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadSafetensors } from '@tsgrad/tensor';
import { LlamaForCausalLM } from '../src/model.js';
import { setFileSource } from '../src/file-source.js';
import { fsFileSource } from '../src/node/fs-source.js';

const dir = fileURLToPath(new URL('./fixtures/llama-hf-tiny/', import.meta.url));

describe('model.ts without an entry', () => {
  it('fromPretrained names the missing file source, then loads the folder once one is installed', async () => {
    await expect(LlamaForCausalLM.fromPretrained(dir)).rejects.toThrow('getFileSource: no file source installed');
    setFileSource(fsFileSource);
    const model = await LlamaForCausalLM.fromPretrained(dir);
    expect(model.config.hiddenSize).toBe(32);
    const weights = loadSafetensors(readFileSync(`${dir}model.safetensors`));
    const want = weights.get('model.layers.1.self_attn.k_proj.weight')!.to('float32').toTypedArray();
    expect(model.model.layers.get(1).self_attn.k_proj.weight.toTypedArray()).toEqual(want);
  });
});
