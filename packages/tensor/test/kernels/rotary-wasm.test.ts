// The wasm SIMD rotary embedding against its oracle, the js loops of kernels/fused.ts: the same
// calls under setBackend('wasm') and setBackend('js'), over head sizes (D a multiple of 8 runs in
// wasm; D = 2, 6, 10 stay in js), row layouts (contiguous [N, T, D], or the [B, H, T, D] view of a
// [B, T, H, D] buffer that LLaMA passes) and table offsets. Both compute each product in float32
// and then the sum, so they agree bit for bit.

import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { type Backend, getBackend, setBackend } from '../../src/backend.js';
import { rotaryBackward, rotaryForward } from '../../src/kernels/fused.js';
import { fill } from './operands.js';

function seeded(n: number, seed: number): Float32Array {
  const x = new Float32Array(n);
  fill(x, seed);
  return x;
}

// Row offsets (and the step between positions) of [B, H, T, D] rows: contiguous, or read from a
// [B, T, H, D] buffer starting at `offset`.
function rows(B: number, H: number, T: number, D: number, transposed: boolean, offset: number): [Int32Array, number] {
  const out = new Int32Array(B * H);
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) out[b * H + h] = offset + (transposed ? b * T * H * D + h * D : (b * H + h) * T * D);
  return [out, transposed ? H * D : D];
}

describe('wasm rotary kernel', () => {
  const before = getBackend();
  afterAll(() => setBackend(before));

  it('rotaryForward and rotaryBackward in wasm equal the js loops bit for bit (layouts, table offsets, D not a multiple of 8)', () => {
    const arb = fc.record({
      B: fc.integer({ min: 1, max: 3 }), H: fc.integer({ min: 1, max: 4 }), T: fc.integer({ min: 1, max: 9 }),
      D: fc.constantFrom(8, 16, 32, 64, 2, 6, 10), xTransposed: fc.boolean(), outTransposed: fc.boolean(),
      xOff: fc.integer({ min: 0, max: 3 }), pos: fc.integer({ min: 0, max: 4 }), seed: fc.integer({ min: 1, max: 2 ** 30 }),
    });
    fc.assert(fc.property(arb, ({ B, H, T, D, xTransposed, outTransposed, xOff, pos, seed }) => {
      const N = B * H, maxT = T + pos + 1;
      const x = seeded(xOff + N * T * D, seed), g = seeded(xOff + N * T * D, seed + 1);
      const cos = seeded(3 + maxT * D, seed + 2), sin = seeded(3 + maxT * D, seed + 3);
      const [xRows, xT] = rows(B, H, T, D, xTransposed, xOff);
      const [outRows, outT] = rows(B, H, T, D, outTransposed, 0);
      const run = (backend: Backend) => {
        setBackend(backend);
        const out = new Float32Array(N * T * D), dX = new Float32Array(N * T * D);
        rotaryForward(out, outRows, outT, x, xRows, xT, cos, 3 + pos * D, sin, 3 + pos * D, N, T, D);
        rotaryBackward(dX, outRows, outT, g, xRows, xT, cos, 3 + pos * D, sin, 3 + pos * D, N, T, D);
        return { out, dX };
      };
      const js = run('js'), wasm = run('wasm');
      expect(wasm.out).toEqual(js.out);
      expect(wasm.dX).toEqual(js.dX);
    }), { numRuns: 150 });
  });
});
