// TensorFlow.js set up for a fair single-threaded comparison: the full @tensorflow/tfjs (its bundle
// registers the gradients that training needs), its plain-JS 'cpu' backend, and the 'wasm' backend
// loaded from the .wasm files inside the installed npm package (nothing is downloaded), forced to
// its single-threaded SIMD build.

import { createRequire } from 'node:module';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { getThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';

/** The tfjs backends compared. */
export type TfBackend = 'cpu' | 'wasm';

let ready: Promise<void> | null = null;

/** Prepares both tfjs backends once (idempotent); the wasm backend runs on one thread. */
export function initTfjs(): Promise<void> {
  ready ??= (async () => {
    // prod mode is what tfjs recommends for speed; it also silences the "install tfjs-node" banner
    tf.enableProdMode();
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
    const require = createRequire(import.meta.url);
    const wasmFile = require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm');
    setWasmPaths(path.dirname(wasmFile) + path.sep);
    if (!(await tf.setBackend('wasm'))) throw new Error('bench: the tfjs wasm backend failed to initialise');
    if (getThreadsCount() !== 1) throw new Error(`bench: the tfjs wasm backend runs ${getThreadsCount()} threads, expected 1`);
    if (!(await tf.setBackend('cpu'))) throw new Error('bench: the tfjs cpu backend failed to initialise');
  })();
  return ready;
}

/** Makes `backend` the current tfjs backend (tensors created afterwards live there). */
export async function useBackend(backend: TfBackend): Promise<void> {
  await initTfjs();
  if (tf.getBackend() !== backend) await tf.setBackend(backend);
}

/** Whether the wasm backend found SIMD support (it falls back to the plain build otherwise). */
export function wasmHasSimd(): boolean {
  return tf.env().getBool('WASM_HAS_SIMD_SUPPORT');
}

/** The installed tfjs version. */
export const tfjsVersion: string = tf.version.tfjs;
