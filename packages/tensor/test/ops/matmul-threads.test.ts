// Which path the matmul op takes: on one thread (no worker pool installed) every product is one call
// of the kernel and the op never enters parallel/matmul.ts; with a pool installed, a large product is
// handed to parallelMatmul, which splits it. parallelMatmul is wrapped to count its calls.

import { afterAll, describe, expect, it, vi } from 'vitest';
import { matmulKernel } from '../../src/kernels/matmul.js';
import { type MatmulJob, parallelMatmul, runJob } from '../../src/parallel/matmul.js';
import { PARALLEL_MIN_WORK, setThreadPool } from '../../src/parallel/pool.js';
import { matmul } from '../../src/ops/matmul.js';
import { Tensor } from '../../src/tensor.js';

vi.mock('../../src/parallel/matmul.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../src/parallel/matmul.js')>();
  return { ...original, parallelMatmul: vi.fn(original.parallelMatmul) };
});

function random(n: number, seed: number): Float32Array {
  const x = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    x[i] = s / 2 ** 31 - 1;
  }
  return x;
}

// A [2, 150, 120] batch times B [120, 130]: folded into one product of 300·130·120 multiply-adds,
// above the size a pool splits.
const [M, N, K] = [300, 130, 120];
const a = new Tensor(random(2 * 150 * K, 1), [2, 150, K]);
const b = new Tensor(random(K * N, 2), [K, N]);
// The reference: the kernel on this thread, called directly (it never splits).
const expected = new Float32Array(M * N);
matmulKernel(expected, 0, a.storage as Float32Array, 0, K, 1, b.storage as Float32Array, 0, N, 1, M, N, K);

describe('matmul op and the worker pool', () => {
  afterAll(() => setThreadPool(null));

  it('with no pool installed, a product large enough to split runs on the kernel without entering parallelMatmul', () => {
    expect(M * N * K).toBeGreaterThanOrEqual(PARALLEL_MIN_WORK);
    setThreadPool(null);
    vi.mocked(parallelMatmul).mockClear();
    const out = matmul(a, b);
    expect(parallelMatmul).not.toHaveBeenCalled();
    expect(out.shape).toEqual([2, 150, N]);
    expect(out.toTypedArray()).toEqual(expected);
  });

  it('with a pool installed, the same product is split by parallelMatmul into row chunks and equals the one-thread result', () => {
    // one in-thread "worker" that runs each posted job at once, counting the row chunks it computes
    let chunks = 0;
    setThreadPool({
      size: 1,
      post: (_index, job) => runJob(job as MatmulJob, (c, cOffset, ...rest) => {
        chunks++;
        matmulKernel(c, cOffset, ...rest);
      }),
    });
    vi.mocked(parallelMatmul).mockClear();
    const out = matmul(a, b);
    expect(parallelMatmul).toHaveBeenCalledTimes(1);
    expect(chunks).toBeGreaterThan(0);
    expect(out.toTypedArray()).toEqual(expected);
  });
});
