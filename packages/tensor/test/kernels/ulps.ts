// Distances in float32 steps (ulps) between kernel outputs, for the wasm kernels that compute in
// float64 as their js loops do and may round differently only on rare near-ties.

/**
 * The largest distance in float32 steps between a[i] and b[i] (their bit patterns as integers;
 * opposite signs count as infinitely far apart unless both are zero) and how many elements differ.
 */
export function ulpDistance(a: Float32Array, b: Float32Array): { most: number; differing: number } {
  const ai = new Int32Array(a.buffer, a.byteOffset, a.length), bi = new Int32Array(b.buffer, b.byteOffset, b.length);
  let most = 0, differing = 0;
  for (let i = 0; i < a.length; i++) {
    if (ai[i] === bi[i] || (a[i] === 0 && b[i] === 0)) continue;
    differing++;
    most = Math.max(most, (ai[i]! ^ bi[i]!) < 0 ? Infinity : Math.abs(ai[i]! - bi[i]!));
  }
  return { most, differing };
}
