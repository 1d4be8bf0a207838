// Hugging Face checkpoint folders: single file, sharded, half-precision weights, and every way a
// folder can be broken, each reported by name.

import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Generator, Tensor, loadSafetensors, saveSafetensors } from '@tsgrad/tensor';
import { type FileSource, LlamaForCausalLM, fsFileSource, llamaConfigFromHF, setFileSource } from '../src/index.js';
import { expectedParameterShapes } from '../src/checkpoint.js';

const FIXTURE = new URL('./fixtures/llama-hf-tiny/', import.meta.url).pathname;
const scratch = mkdtempSync(join(tmpdir(), 'tsgrad-ckpt-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let counter = 0;

function folder(files: Record<string, Uint8Array | string>): string {
  const dir = join(scratch, `case${counter++}`);
  mkdirSync(dir, { recursive: true });
  for (const [name, data] of Object.entries(files)) writeFileSync(join(dir, name), data);
  return dir;
}

const config = readFileSync(join(FIXTURE, 'config.json'), 'utf8');
const weights = loadSafetensors(new Uint8Array(readFileSync(join(FIXTURE, 'model.safetensors'))));

// safetensors bytes with every tensor stored as F16 or BF16 (values rounded the same way the test
// expects them back)
function halfSafetensors(kind: 'F16' | 'BF16'): { bytes: Uint8Array; rounded: Map<string, Float32Array> } {
  const header: Record<string, unknown> = {};
  const chunks: Uint8Array[] = [];
  const rounded = new Map<string, Float32Array>();
  let offset = 0;
  for (const [name, t] of weights) {
    const src = t.toTypedArray() as Float32Array;
    const out = new Uint16Array(src.length);
    const back = new Float32Array(src.length);
    const f32 = new Float32Array(1);
    const u32 = new Uint32Array(f32.buffer);
    for (let i = 0; i < src.length; i++) {
      f32[0] = src[i]!;
      if (kind === 'BF16') {
        out[i] = u32[0]! >>> 16; // truncation: the value becomes exactly representable
        u32[0] = out[i]! << 16;
        back[i] = f32[0]!;
      } else {
        // weights here are small normal numbers: round mantissa to 10 bits, rebias the exponent
        const v = src[i]!;
        const sign = v < 0 ? 0x8000 : 0;
        const a = Math.abs(v);
        const e = Math.floor(Math.log2(a));
        if (a === 0 || e < -14) {
          // subnormal half: multiples of 2^-24
          const mm = Math.round(a / 2 ** -24);
          out[i] = sign | mm;
          back[i] = (sign ? -1 : 1) * mm * 2 ** -24;
        } else {
          const m = Math.round((a / 2 ** e - 1) * 1024);
          const [ee, mm] = m === 1024 ? [e + 1, 0] : [e, m];
          out[i] = sign | ((ee + 15) << 10) | mm;
          back[i] = (sign ? -1 : 1) * 2 ** ee * (1 + mm / 1024);
        }
      }
    }
    rounded.set(name, back);
    const bytes = new Uint8Array(out.buffer);
    header[name] = { dtype: kind, shape: t.shape, data_offsets: [offset, offset + bytes.length] };
    offset += bytes.length;
    chunks.push(bytes);
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const result = new Uint8Array(8 + json.length + offset);
  new DataView(result.buffer).setBigUint64(0, BigInt(json.length), true);
  result.set(json, 8);
  let at = 8 + json.length;
  for (const c of chunks) {
    result.set(c, at);
    at += c.length;
  }
  return { bytes: result, rounded };
}

describe('fromPretrained / savePretrained', () => {
  it('loads F16 and BF16 weights, converted to float32', async () => {
    for (const kind of ['F16', 'BF16'] as const) {
      const { bytes, rounded } = halfSafetensors(kind);
      const model = await LlamaForCausalLM.fromPretrained(folder({ 'config.json': config, 'model.safetensors': bytes }));
      for (const [name, p] of model.namedParameters()) {
        expect(p.dtype).toBe('float32');
        expect(Array.from(p.toTypedArray()), `${kind} ${name}`).toEqual(Array.from(rounded.get(name)!));
      }
    }
  });

  it('loads a sharded checkpoint through model.safetensors.index.json', async () => {
    const names = [...weights.keys()];
    const half = Math.floor(names.length / 2);
    const shard = (list: string[]) => saveSafetensors(new Map(list.map((n) => [n, weights.get(n)!])));
    const weightMap = Object.fromEntries(names.map((n, i) => [n, i < half ? 'model-00001-of-00002.safetensors' : 'model-00002-of-00002.safetensors']));
    const dir = folder({
      'config.json': config,
      'model-00001-of-00002.safetensors': shard(names.slice(0, half)),
      'model-00002-of-00002.safetensors': shard(names.slice(half)),
      'model.safetensors.index.json': JSON.stringify({ metadata: {}, weight_map: weightMap }),
    });
    const sharded = await LlamaForCausalLM.fromPretrained(dir);
    const single = await LlamaForCausalLM.fromPretrained(FIXTURE);
    const ids = [[1, 2, 3, 4]];
    expect(Array.from(sharded.forward(ids).logits.toTypedArray())).toEqual(Array.from(single.forward(ids).logits.toTypedArray()));
  });

  it('names a missing tensor', async () => {
    const partial = new Map(weights);
    partial.delete('model.layers.1.mlp.up_proj.weight');
    const dir = folder({ 'config.json': config, 'model.safetensors': saveSafetensors(partial) });
    await expect(LlamaForCausalLM.fromPretrained(dir)).rejects.toThrow(/model\.layers\.1\.mlp\.up_proj\.weight/);
  });

  it('names a misshapen tensor and says the config disagrees with the weights', async () => {
    const bigger = JSON.parse(config);
    bigger.intermediate_size = 100;
    const dir = folder({ 'config.json': JSON.stringify(bigger), 'model.safetensors': readFileSync(join(FIXTURE, 'model.safetensors')) });
    await expect(LlamaForCausalLM.fromPretrained(dir)).rejects.toThrow(/do not fit its config\.json[\s\S]*gate_proj/);
  });

  it('names a truncated weights file', async () => {
    const bytes = readFileSync(join(FIXTURE, 'model.safetensors'));
    const dir = folder({ 'config.json': config, 'model.safetensors': bytes.subarray(0, bytes.length - 100) });
    await expect(LlamaForCausalLM.fromPretrained(dir)).rejects.toThrow(/model\.safetensors/);
  });

  it('says when the folder has no weights or no config', async () => {
    await expect(LlamaForCausalLM.fromPretrained(folder({ 'config.json': config }))).rejects.toThrow(/neither model\.safetensors nor model\.safetensors\.index\.json/);
    const noConfig = folder({});
    copyFileSync(join(FIXTURE, 'model.safetensors'), join(noConfig, 'model.safetensors'));
    await expect(LlamaForCausalLM.fromPretrained(noConfig)).rejects.toThrow(/config\.json/);
  });

  it('writes config.json that Hugging Face reads back to the same config, and leaves no temp files', async () => {
    const model = new LlamaForCausalLM(llamaConfigFromHF(JSON.parse(config)), { generator: new Generator(3) });
    const dir = join(scratch, 'saved');
    await model.savePretrained(dir);
    const written = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    expect(written.model_type).toBe('llama');
    expect(llamaConfigFromHF(written)).toEqual(model.config);
    const { readdirSync } = await import('node:fs');
    expect(readdirSync(dir).sort()).toEqual(['config.json', 'model.safetensors']);
  });

  it('savePretrained writes the same model.safetensors bytes through a source with writeParts (in parts) and through one without (whole)', async () => {
    const model = new LlamaForCausalLM(llamaConfigFromHF(JSON.parse(config)), { generator: new Generator(5) });
    const expected = saveSafetensors(new Map(model.namedParameters()), { format: 'pt' });
    const memorySource = (withParts: boolean): { source: FileSource; files: Map<string, Uint8Array>; partCounts: number[] } => {
      const files = new Map<string, Uint8Array>();
      const partCounts: number[] = [];
      const source: FileSource = {
        read: async (path) => files.get(path)!,
        exists: async (path) => files.has(path),
        write: async (path, bytes) => void files.set(path, bytes.slice()),
        join: (dir, name) => `${dir}/${name}`,
      };
      if (withParts) {
        source.writeParts = async (path, parts) => {
          partCounts.push(parts.length);
          const joined = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
          parts.reduce((pos, p) => (joined.set(p, pos), pos + p.length), 0);
          files.set(path, joined);
        };
      }
      return { source, files, partCounts };
    };
    try {
      for (const withParts of [true, false]) {
        const { source, files, partCounts } = memorySource(withParts);
        setFileSource(source);
        await model.savePretrained('mem');
        expect(Buffer.from(files.get('mem/model.safetensors')!).equals(Buffer.from(expected))).toBe(true);
        expect(partCounts).toEqual(withParts ? [1 + model.namedParameters().length] : []);
      }
    } finally {
      setFileSource(fsFileSource);
    }
  });

  it('rejects a NaN or infinite weight, naming the file and the tensor', async () => {
    for (const [bad, shown] of [[NaN, 'NaN'], [Infinity, 'Infinity'], [-Infinity, '-Infinity']] as const) {
      const broken = new Map(weights);
      const t = weights.get('model.layers.1.mlp.up_proj.weight')!;
      const data = Float32Array.from(t.toTypedArray() as Float32Array);
      data[7] = bad;
      broken.set('model.layers.1.mlp.up_proj.weight', new Tensor(data, t.shape));
      const dir = folder({ 'config.json': config, 'model.safetensors': saveSafetensors(broken) });
      await expect(LlamaForCausalLM.fromPretrained(dir)).rejects.toThrow(
        new RegExp(`model\\.safetensors holds a non-finite weight: model\\.layers\\.1\\.mlp\\.up_proj\\.weight \\[${t.shape.join(', ')}\\] has ${shown.replace('-', '\\-')} at flat index 7`));
    }
  });

  it('knows the shape of every parameter from the config alone (untied, tied, grouped-query, explicit head_dim)', () => {
    const base = llamaConfigFromHF(JSON.parse(config));
    const variants = [
      base,
      { ...base, tieWordEmbeddings: true },
      { ...base, numKeyValueHeads: 2 },
      { ...base, headDim: 16 },
    ];
    for (const c of variants) {
      const model = new LlamaForCausalLM(c, { generator: new Generator(1) });
      const actual = new Map(model.namedParameters().map(([n, p]) => [n, [...p.shape]]));
      expect(expectedParameterShapes(c), JSON.stringify(c)).toEqual(actual);
    }
  });

  it('checks a config.json that lies about sizes against the safetensors headers before allocating the model', async () => {
    // 2^28 × 64 embedding rows: a model of this config cannot even be allocated (it would throw a
    // RangeError or take minutes), so only a check of the headers first can give this message
    const lying = JSON.parse(config);
    lying.vocab_size = 2 ** 28;
    const dir = folder({ 'config.json': JSON.stringify(lying), 'model.safetensors': readFileSync(join(FIXTURE, 'model.safetensors')) });
    const vocab = JSON.parse(config).vocab_size;
    const hidden = JSON.parse(config).hidden_size;
    const err = await LlamaForCausalLM.fromPretrained(dir).then(() => null, (e: Error) => e);
    expect(err?.message).toMatch(/the weights in .* do not fit its config\.json/);
    expect(err?.message).toContain(`${join(dir, 'model.safetensors')}: model.embed_tokens.weight has shape [${vocab}, ${hidden}], but config.json implies [268435456, ${hidden}]`);
    expect(err?.message).toContain(`lm_head.weight has shape [${vocab}, ${hidden}], but config.json implies [268435456, ${hidden}]`);
  });

  it('names a tensor the config does not have, from the headers', async () => {
    const extra = new Map(weights);
    extra.set('model.layers.9.mlp.up_proj.weight', weights.get('model.layers.1.mlp.up_proj.weight')!);
    const dir = folder({ 'config.json': config, 'model.safetensors': saveSafetensors(extra) });
    await expect(LlamaForCausalLM.fromPretrained(dir)).rejects.toThrow(/model\.safetensors: model\.layers\.9\.mlp\.up_proj\.weight is not a parameter of the model config\.json describes/);
  });
});
