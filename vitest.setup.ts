// Runs in every test worker before its tests: TSGRAD_BACKEND=js|wasm picks the kernels, so CI can
// run the kernel, nn and llama tests once per backend (.ci/run). Unset: the default ('wasm' where
// WebAssembly SIMD validates).
import { applyBackendFromEnv } from './packages/tensor/src/node/backend-env.js';

applyBackendFromEnv();
