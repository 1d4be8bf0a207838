// safetensors on bytes (no fs): tensors in and out of the format Hugging Face checkpoints use.

import { Tensor } from '../tensor.js';
import { flatBuffer } from '../ops/common.js';
import { parseSafetensorsBytes, serializeSafetensorsBytes, serializeSafetensorsParts, type RawTensor } from './safetensors-format.js';

/** Parses safetensors bytes into tensors (F16/BF16 become float32, I64 becomes int32). */
export function loadSafetensors(bytes: Uint8Array): Map<string, Tensor> {
  return loadSafetensorsWithMetadata(bytes).tensors;
}

/** Parses safetensors bytes, keeping the `__metadata__` strings too. */
export function loadSafetensorsWithMetadata(bytes: Uint8Array): { tensors: Map<string, Tensor>; metadata: Record<string, string> } {
  const parsed = parseSafetensorsBytes(bytes);
  const tensors = new Map<string, Tensor>();
  for (const [name, raw] of parsed.tensors) tensors.set(name, new Tensor(raw.data, raw.shape, undefined, 0, raw.dtype));
  return { tensors, metadata: parsed.metadata };
}

// The tensors as the format code takes them; `view` lets a contiguous tensor lend its own elements.
function rawEntries(tensors: Map<string, Tensor> | Record<string, Tensor>, op: string, view: boolean): Array<[string, RawTensor]> {
  const entries = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  return entries.map(([name, t]) => {
    if (!(t instanceof Tensor)) throw new Error(`${op}: '${name}' is not a Tensor`);
    const [storage, offset] = view ? flatBuffer(t) : [t.toTypedArray(), 0];
    const data = storage.subarray(offset, offset + t.numel);
    return [name, { dtype: t.dtype, shape: [...t.shape], data }];
  });
}

/** Serializes tensors (in the given order) and optional string metadata to safetensors bytes. */
export function saveSafetensors(tensors: Map<string, Tensor> | Record<string, Tensor>, metadata?: Record<string, string>): Uint8Array {
  return serializeSafetensorsBytes(rawEntries(tensors, 'saveSafetensors', false), metadata);
}

/**
 * The bytes saveSafetensors would return, as consecutive parts (header, then each tensor's bytes,
 * viewing contiguous tensors' storage without a copy), for writers that stream a file. The parts
 * alias the tensors: write them out before any of the tensors changes.
 */
export function saveSafetensorsParts(tensors: Map<string, Tensor> | Record<string, Tensor>, metadata?: Record<string, string>): Uint8Array[] {
  return serializeSafetensorsParts(rawEntries(tensors, 'saveSafetensorsParts', true), metadata);
}
