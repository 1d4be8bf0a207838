// safetensors on bytes (no fs): tensors in and out of the format Hugging Face checkpoints use.

import { Tensor } from '../tensor.js';
import { parseSafetensorsBytes, serializeSafetensorsBytes, type RawTensor } from './safetensors-format.js';

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

/** Serializes tensors (in the given order) and optional string metadata to safetensors bytes. */
export function saveSafetensors(tensors: Map<string, Tensor> | Record<string, Tensor>, metadata?: Record<string, string>): Uint8Array {
  const entries = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  const raw: Array<[string, RawTensor]> = entries.map(([name, t]) => {
    if (!(t instanceof Tensor)) throw new Error(`saveSafetensors: '${name}' is not a Tensor`);
    return [name, { dtype: t.dtype, shape: [...t.shape], data: t.toTypedArray() }];
  });
  return serializeSafetensorsBytes(raw, metadata);
}
