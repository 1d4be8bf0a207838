import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type Tensor, arange, loadSafetensors, loadSafetensorsWithMetadata, randn, saveSafetensors, saveSafetensorsParts, tensor, Generator,
} from '../../src/index.js';
import { LAYOUTS, shapeArb, tensorOfShapeArb } from '../arbitraries.js';

const fixture = (name: string) => new Uint8Array(fs.readFileSync(fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url))));

const same = (a: Tensor, b: Tensor) => {
  expect(b.dtype).toBe(a.dtype);
  expect(b.shape).toEqual(a.shape);
  expect(Array.from(b.toTypedArray())).toEqual(Array.from(a.toTypedArray()));
};

describe('loadSafetensors / saveSafetensors (tensors)', () => {
  it('a round trip keeps names, order, dtypes, shapes and values, and writes views in logical order', () => {
    const g = new Generator(0);
    const base = arange(24, undefined, 1, { dtype: 'float32' }).reshape(2, 3, 4);
    const tensors = new Map<string, Tensor>([
      ['model.embed_tokens.weight', randn([5, 3], { generator: g })],
      ['transposed', base.transpose(0, 2)],
      ['narrowed', base.narrow(2, 1, 2)],
      ['expanded', tensor([1, 2, 3], { dtype: 'float64' }).unsqueeze(0).expand(2, 3)],
      ['ids', tensor([[1, -2], [3, 2147483647]], { dtype: 'int32' })],
      ['scalar', tensor(0.5, { dtype: 'float64' })],
      ['empty', tensor([], { shape: [0, 4] })],
    ]);
    const loaded = loadSafetensors(saveSafetensors(tensors));
    expect([...loaded.keys()]).toEqual([...tensors.keys()]);
    for (const [name, t] of tensors) same(t, loaded.get(name)!);
    expect(loaded.get('transposed')!.isContiguous()).toBe(true);
    expect(loaded.get('transposed')!.toArray()[3][0]).toEqual([3, 15]);
  });

  it('a round trip of any float32/float64/int32 tensor in any layout is exact', () => {
    const dtypeArb = fc.constantFrom<'float32' | 'float64' | 'int32'>('float32', 'float64', 'int32');
    const arb = fc.tuple(shapeArb(), fc.constantFrom(...LAYOUTS), dtypeArb).chain(([shape, layout, dtype]) =>
      tensorOfShapeArb(shape, { layouts: [layout], requiresGrad: false }).map((t) => (dtype === 'float64' ? t : t.mul(100).to(dtype))));
    fc.assert(fc.property(arb, (t) => same(t, loadSafetensors(saveSafetensors({ t })).get('t')!)), { numRuns: 40 });
  });

  it('metadata strings survive the round trip; a plain record of tensors is accepted', () => {
    const bytes = saveSafetensors({ a: tensor([1, 2]), b: tensor([[3]], { dtype: 'int32' }) }, { format: 'pt', step: '12' });
    const { tensors, metadata } = loadSafetensorsWithMetadata(bytes);
    expect(metadata).toEqual({ format: 'pt', step: '12' });
    expect([...tensors.keys()]).toEqual(['a', 'b']);
    expect(tensors.get('b')!.toArray()).toEqual([[3]]);
    expect(loadSafetensorsWithMetadata(saveSafetensors({ a: tensor([1]) })).metadata).toEqual({});
  });

  it('loaded tensors own their storage and do not require grad', () => {
    const src = tensor([1, 2, 3], { requiresGrad: true });
    const loaded = loadSafetensors(saveSafetensors({ src })).get('src')!;
    expect(loaded.requiresGrad).toBe(false);
    expect(loaded.storage).not.toBe(src.storage);
  });

  it('saveSafetensorsParts joined are byte for byte saveSafetensors; contiguous tensors lend their storage, views are copied', () => {
    const g = new Generator(1);
    const base = arange(24, undefined, 1, { dtype: 'float32' }).reshape(2, 3, 4);
    const tensors = new Map<string, Tensor>([
      ['weight', randn([5, 3], { generator: g })],
      ['row', base.narrow(0, 1, 1)], // contiguous, at offset 12 of its storage
      ['transposed', base.transpose(0, 2)],
      ['moments', tensor([0.1, 1e-300, -3], { dtype: 'float64' })],
      ['ids', tensor([[1, -2], [3, 2147483647]], { dtype: 'int32' })],
      ['empty', tensor([], { shape: [0, 4] })],
    ]);
    for (const metadata of [undefined, { format: 'pt' }]) {
      const parts = saveSafetensorsParts(tensors, metadata);
      const joined = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
      parts.reduce((pos, p) => (joined.set(p, pos), pos + p.length), 0);
      expect(joined).toEqual(saveSafetensors(tensors, metadata));
      expect(parts.length).toBe(1 + tensors.size);
    }
    const parts = saveSafetensorsParts(tensors);
    expect(parts[1]!.buffer).toBe(tensors.get('weight')!.storage.buffer);
    expect(parts[2]!.buffer).toBe(base.storage.buffer);
    expect(parts[2]!.byteOffset).toBe(12 * 4);
    expect(parts[3]!.buffer).not.toBe(base.storage.buffer);
  });

  it('saving something that is not a tensor is refused naming it', () => {
    expect(() => saveSafetensors({ w: [1, 2] as unknown as Tensor })).toThrow("saveSafetensors: 'w' is not a Tensor");
  });

  it('the reference fixture loads, with int32 input_ids of shape [2, 12]', () => {
    const tensors = loadSafetensors(fixture('reference.safetensors'));
    const ids = tensors.get('input_ids')!;
    expect(ids).toBeDefined();
    expect(ids.dtype).toBe('int32');
    expect(ids.shape).toEqual([2, 12]);
    expect(ids.toArray()[0].slice(0, 4)).toEqual([31, 11, 17, 6]);
    // a saved-and-reloaded copy of the whole file is tensor-for-tensor equal
    const again = loadSafetensors(saveSafetensors(tensors));
    for (const [name, t] of tensors) same(t, again.get(name)!);
  });
});
