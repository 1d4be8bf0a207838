import { matmulKernel } from '../packages/tensor/src/kernels/matmul.js';
import * as tf from '@tensorflow/tfjs';
console.log(typeof tf.tensor);
const shapes: [number, number, number, string][] = [
  [1024, 256, 256, 'ABt'], [1024, 256, 688, 'ABt'], [1024, 688, 256, 'ABt'],
  [1024, 256, 256, 'AB'], [1024, 688, 256, 'AB'], [1024, 256, 688, 'AB'],
  [256, 1024, 256, 'AtB'], [688, 1024, 256, 'AtB'], [256, 1024, 688, 'AtB'],
];
const mode = process.argv[2] ?? 'hot';
const COPIES = mode === 'hot' ? 1 : 12;
const rnd = (n: number) => Float32Array.from({ length: n }, () => (Math.random() * 2 - 1) * (mode === 'tiny' ? 1e-30 : 1));
const data = shapes.map(([M, K, N]) => Array.from({ length: COPIES }, () => ({ a: rnd(M * K), b: rnd(K * N), c: new Float32Array(M * N) })));
let round = 0;
function runAll() {
  round++;
  shapes.forEach(([M, K, N, l], i) => {
    const d = data[i]![round % COPIES]!;
    const c = mode === 'fresh' ? new Float32Array(M * N) : d.c;
    const [ars, acs] = l === 'AtB' ? [1, M] : [K, 1];
    const [brs, bcs] = l === 'ABt' ? [1, K] : [N, 1];
    matmulKernel(c, 0, d.a, 0, ars, acs, d.b, 0, brs, bcs, M, N, K);
  });
}
const flops = shapes.reduce((s, [M, K, N]) => s + 2 * M * K * N, 0);
if (mode === 'small') {
  const a = rnd(128 * 256), b = rnd(256 * 128), c = new Float32Array(128 * 128);
  for (let i = 0; i < 2000; i++) {
    matmulKernel(c, 0, a, 0, 1, 128, b, 0, 256, 1, 128, 32, 32, true);
    matmulKernel(c, 0, a, 0, 256, 1, b, 0, 1, 256, 32, 128, 32, false);
  }
}
if (mode === 'f64') {
  const a = new Float64Array(64 * 64).fill(1), c = new Float64Array(64 * 64);
  for (let i = 0; i < 200; i++) matmulKernel(c, 0, a, 0, 64, 1, a, 0, 64, 1, 64, 64, 64);
}
for (let i = 0; i < 5; i++) runAll();
const r: number[] = [];
for (let s = 0; s < 15; s++) { const t = performance.now(); runAll(); runAll(); r.push(2 * flops / ((performance.now() - t) * 1e6)); }
r.sort((x, y) => x - y);
console.log(mode, 'median', r[7]!.toFixed(2), 'max', r[14]!.toFixed(2));
