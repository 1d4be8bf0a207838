// Runs in every test worker before its tests.
// - TSGRAD_BACKEND=js|wasm picks the kernels, so CI can run the kernel, nn and llama tests once per
//   backend (.ci/run). Unset: the default ('wasm' where WebAssembly SIMD validates).
// - TSGRAD_POOL_POISON=1 makes the float storage pool fill every buffer the autograd engine releases
//   with NaN and never hand it out again, so a use after release shows up as a failing test (run
//   the whole suite that way: TSGRAD_POOL_POISON=1 pnpm test).
import { applyBackendFromEnv } from './packages/tensor/src/node/backend-env.js';
import { setStoragePool } from './packages/tensor/src/storage-pool.js';

applyBackendFromEnv();
if (process.env.TSGRAD_POOL_POISON === '1') setStoragePool({ poison: true });
