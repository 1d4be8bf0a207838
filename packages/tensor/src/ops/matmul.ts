// matmul: batched, broadcasting over leading dims. The kernel reads both operands through their
// strides, so transposed views (Linear's x·Wᵀ, the weight gradient's xᵀ·g) are never copied.
// On one thread (no worker pool installed, or a product too small to split) each product is one
// call of the kernel; only a product the pool may split goes through parallel/matmul.ts.

import { type FloatArray, allocOverwritten, promoteTypes } from '../dtype.js';
import { recordOp } from '../autograd/graph.js';
import { matmulKernel } from '../kernels/matmul.js';
import { parallelMatmul } from '../parallel/matmul.js';
import { canSplit, threadPool } from '../parallel/pool.js';
import { broadcastShapes, broadcastStrides, formatShape, numelOf, stridedOffsets } from '../shape.js';
import { Tensor } from '../tensor.js';
import { sumToShape } from './binary.js';
import { requireFloat } from './common.js';

/**
 * Matrix product with PyTorch's rules: 1-D operands are promoted to a row/column and the added
 * dim removed afterwards; leading (batch) dims broadcast. [..., M, K] @ [..., K, N] → [..., M, N].
 * d/dA = grad · Bᵀ, d/dB = Aᵀ · grad (each summed back over broadcast batch dims)
 */
export function matmul(a: Tensor, b: Tensor): Tensor {
  requireFloat('matmul', a);
  requireFloat('matmul', b);
  if (a.ndim === 0 || b.ndim === 0) throw new Error(`matmul: both operands need at least 1 dim, got ${formatShape(a.shape)} @ ${formatShape(b.shape)}`);
  const K = a.shape[a.ndim - 1]!;
  // checked before the 1-D promotion, so the message shows the shapes the caller passed
  if (b.shape[Math.max(b.ndim - 2, 0)] !== K) throw new Error(`matmul: inner dimensions differ: ${formatShape(a.shape)} @ ${formatShape(b.shape)}`);
  if (a.ndim === 1 && b.ndim === 1) return matmul(a.unsqueeze(0), b.unsqueeze(-1)).reshape([]); // a dot product: 0-d
  if (a.ndim === 1) return matmul(a.unsqueeze(0), b).squeeze(-2);
  if (b.ndim === 1) return matmul(a, b.unsqueeze(-1)).squeeze(-1);
  if (a.dtype !== b.dtype) {
    const dtype = promoteTypes(a.dtype, b.dtype);
    return matmul(a.to(dtype), b.to(dtype));
  }
  // [..., M, K] @ [K, N]: fold the batch into M, so the weight gradient is one product, not a
  // per-batch product summed afterwards
  if (b.ndim === 2 && a.ndim > 2) {
    // the row count spelled out: with K = 0, reshape cannot infer a −1 (as in PyTorch)
    const rows = a.reshape([a.shape.slice(0, -1).reduce((p, d) => p * d, 1), K]);
    return batchedMatmul(rows, b).reshape([...a.shape.slice(0, -1), b.shape[1]!]);
  }
  return batchedMatmul(a, b);
}

function batchedMatmul(a: Tensor, b: Tensor): Tensor {
  const M = a.shape[a.ndim - 2]!;
  const K = a.shape[a.ndim - 1]!;
  const N = b.shape[b.ndim - 1]!;
  const batch = broadcastShapes('matmul', a.shape.slice(0, -2), b.shape.slice(0, -2));
  const aStrides = broadcastStrides('matmul', a.shape.slice(0, -2), a.strides.slice(0, -2), batch);
  const bStrides = broadcastStrides('matmul', b.shape.slice(0, -2), b.strides.slice(0, -2), batch);
  const count = numelOf(batch);
  const out = allocOverwritten(a.dtype, count * M * N) as FloatArray; // every product writes its C (not accumulate)
  const aRow = a.strides[a.ndim - 2]!;
  const aCol = a.strides[a.ndim - 1]!;
  const bRow = b.strides[b.ndim - 2]!;
  const bCol = b.strides[b.ndim - 1]!;
  const aOffsets = stridedOffsets(batch, aStrides, a.offset);
  const bOffsets = stridedOffsets(batch, bStrides, b.offset);
  // the pool's split only when one is installed and the product is large enough (canSplit); on
  // one thread (threadPool null) the kernel, without entering the pool's code
  const product = threadPool && canSplit(M * N * K) ? parallelMatmul : matmulKernel;
  for (let i = 0; i < count; i++) {
    product(out, i * M * N, a.storage as FloatArray, aOffsets[i]!, aRow, aCol, b.storage as FloatArray, bOffsets[i]!, bRow, bCol, M, N, K);
  }
  const result = new Tensor(out, [...batch, M, N]);
  return recordOp(result, 'matmul', [a, b], (grad) => [
    a.requiresGrad ? sumToShape(grad.matmul(b.transpose(-1, -2)), a.shape) : null,
    b.requiresGrad ? sumToShape(a.transpose(-1, -2).matmul(grad), b.shape) : null,
  ], [b.requiresGrad ? a : null, a.requiresGrad ? b : null]);
}
