// This thread's WebAssembly memory (src/wasm/memory.ts) is made by the first wasm kernel call. An
// empty call (a softmax over zero rows or columns) can be that first call: the memory it makes
// must still be large enough for every module to instantiate on. Its own file, so that no earlier
// test has made the memory already.

import { afterAll, describe, expect, it } from 'vitest';
import { getBackend, setBackend } from '../../src/backend.js';
import { logSoftmaxBackward, softmaxBackward, softmaxForward } from '../../src/kernels/fused.js';

describe("this thread's wasm memory", () => {
  const before = getBackend();
  afterAll(() => setBackend(before));

  it('an empty call as the first wasm call of the thread works, and so does every call after it', () => {
    setBackend('wasm');
    const empty = new Float32Array(0);
    expect(() => softmaxBackward(empty, empty, 0, empty, 0, 4)).not.toThrow();
    expect(() => logSoftmaxBackward(empty, empty, 0, empty, 3, 0)).not.toThrow();
    const out = new Float32Array(2);
    softmaxForward(out, new Float32Array([0, Math.log(3)]), 0, 1, 2);
    expect(out[0]).toBeCloseTo(0.25, 6);
    expect(out[1]).toBeCloseTo(0.75, 6);
  });
});
