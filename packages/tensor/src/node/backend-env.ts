// Node only: the TSGRAD_BACKEND environment variable ('js' or 'wasm') picks the kernels for the
// CLIs, the bench and the tests. Applied when @tsgrad/tensor/node is imported (worker-pool.ts),
// which every Node entry point does; the browser-safe core never reads the environment.

import { type Backend, setBackend } from '../backend.js';

/** Sets the backend named by TSGRAD_BACKEND, if set (an unknown name throws, naming the variable). */
export function applyBackendFromEnv(env: NodeJS.ProcessEnv = process.env): void {
  const name = env.TSGRAD_BACKEND;
  if (name === undefined || name === '') return;
  if (name !== 'js' && name !== 'wasm') throw new Error(`TSGRAD_BACKEND=${JSON.stringify(name)}: expected 'js' or 'wasm'`);
  setBackend(name as Backend);
}
