// Runs before every test file. TSGRAD_POOL_POISON=1 makes the float storage pool fill every buffer
// the autograd engine releases with NaN and never hand it out again, so a use after release shows
// up as a failing test (run the whole suite that way: TSGRAD_POOL_POISON=1 pnpm test).
import { setStoragePool } from './packages/tensor/src/storage-pool.js';

if (process.env.TSGRAD_POOL_POISON === '1') setStoragePool({ poison: true });
