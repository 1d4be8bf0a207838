// The fused attention on its own: what it keeps for the backward, and how long forward + backward
// take, at the bench model's attention shape (dim 256, 8 heads → D 32; batch 8 × 128 tokens) and
// at a long context (batch 1 × 2048). Not part of `pnpm bench` (no peer to compare against):
//
//   node --expose-gc --import tsx bench/attention.ts
//
// "Kept for backward" is the growth of ArrayBuffer memory between before the forward and after
// it (garbage collected both times), less the output itself: what the graph holds until backward.

import { Generator, type Tensor, attention, grad, randn } from '../packages/tensor/src/index.js';
import { median, timeOnce } from './timing.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('bench/attention.ts: run with node --expose-gc --import tsx');

function inputs(B: number, H: number, T: number, D: number): Tensor[] {
  const gen = new Generator(1);
  return [0, 1, 2].map(() => randn([B, H, T, D], { generator: gen, requiresGrad: true }));
}

// ArrayBuffer bytes in use once the collector has run (twice, a turn of the event loop apart,
// so that buffers freed by the first pass are really released).
async function liveArrayBuffers(): Promise<number> {
  gc!();
  await new Promise((resolve) => setImmediate(resolve));
  gc!();
  return process.memoryUsage().arrayBuffers;
}

// Bytes the forward leaves reachable beyond its output, while the graph is alive.
async function keptForBackward(B: number, H: number, T: number, D: number): Promise<number> {
  const [q, k, v] = inputs(B, H, T, D);
  attention(q!, k!, v!, { causal: true }); // the first call grows the per-thread scratch: not counted
  const before = await liveArrayBuffers();
  const out = attention(q!, k!, v!, { causal: true });
  const kept = (await liveArrayBuffers()) - before - out.numel * 4;
  grad(out.sum(), [q!, k!, v!]); // the graph is used (and freed) as in training
  return kept;
}

// Milliseconds of one causal forward + backward (median of `samples`).
function forwardBackwardMs(B: number, H: number, T: number, D: number, samples: number): number {
  const [q, k, v] = inputs(B, H, T, D);
  const g = randn([B, H, T, D], { generator: new Generator(2) });
  const run = () => grad(attention(q!, k!, v!, { causal: true }), [q!, k!, v!], { gradOutputs: [g] });
  run();
  return median(Array.from({ length: samples }, () => timeOnce(run)));
}

const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(2)} MiB`;
for (const [B, T] of [[8, 128], [1, 2048]] as const) {
  console.log(`attention [${B}, 8, ${T}, 32] causal, float32: kept for backward ${mb(await keptForBackward(B, 8, T, 32))}, ` +
    `forward + backward ${forwardBackwardMs(B, 8, T, 32, T > 1000 ? 3 : 15).toFixed(1)} ms (median)`);
}
