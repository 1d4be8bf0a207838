// Tensor: a strided view (shape, strides, offset) over a typed array, plus autograd bookkeeping.
// The methods are one-line delegations to ops/*, where each op's forward and backward live.

import { type DType, type Storage, allocStorage, checkDType } from './dtype.js';
import { contiguousStrides, formatShape, numelOf } from './shape.js';
import { type GradFn, versionOf } from './autograd/graph.js';
import { copyStrided } from './kernels/elementwise.js';
import * as unary from './ops/unary.js';
import * as binary from './ops/binary.js';
import * as reduce from './ops/reduce.js';
import * as movement from './ops/movement.js';
import * as indexing from './ops/indexing.js';
import * as fused from './ops/fused.js';
import * as inplace from './ops/inplace.js';
import { matmul } from './ops/matmul.js';
import { backward } from './autograd/engine.js';
import { formatTensor } from './format.js';

/** A number or a tensor: the right operand of the binary ops. */
export type TensorLike = Tensor | number;

/**
 * An n-dimensional array of float32, float64 or int32 values with reverse-mode autograd.
 *
 * In-place writes to a tensor saved for backward make backward throw: every in-place method
 * (`copy_`, `add_`, `mul_`, `fill_`, `zero_`, and optimizer steps) bumps the `version` of the
 * storage it writes, shared by all views and `detach()`ed copies of it, under `noGrad` too; each op
 * records the versions of the tensors its backward reads, and backward refuses (naming the op, the
 * tensor's shape and both versions) when one has changed, as PyTorch does.
 *
 * @example
 * ```ts
 * import { tensor } from '@tsgrad/tensor';
 *
 * const a = tensor([[1, 2, 3], [4, 5, 6]]);
 * const t = a.transpose(0, 1); // a view: the same storage, walked with swapped strides
 * console.log(t.shape, t.strides, t.storage === a.storage); // → [ 3, 2 ] [ 1, 3 ] true
 * console.log(t.toArray()); // → [ [ 1, 4 ], [ 2, 5 ], [ 3, 6 ] ]
 * console.log(t.isContiguous(), t.contiguous().strides); // → false [ 2, 1 ]
 * ```
 */
export class Tensor {
  /** The typed array this tensor views (shared with other views of it). */
  readonly storage: Storage;
  /** Size of each dimension. */
  readonly shape: readonly number[];
  /** Elements to step in storage per index of each dimension (0 on expanded dims). */
  readonly strides: readonly number[];
  /** Index in storage of the first element. */
  readonly offset: number;
  /** Element type. */
  readonly dtype: DType;
  /** Number of elements (computed once: ops ask for it constantly). */
  readonly numel: number;
  /** Whether operations on this tensor are recorded for autograd. */
  requiresGrad = false;
  /** Accumulated gradient of a leaf after `backward()`. */
  grad: Tensor | null = null;
  /** The graph node that produced this tensor; null for leaves. */
  gradFn: GradFn | null = null;

  /** Wraps storage as a tensor; most code should use `tensor()`, `zeros()` or an op instead. */
  constructor(storage: Storage, shape: readonly number[], strides?: readonly number[], offset = 0, dtype?: DType) {
    this.storage = storage;
    this.shape = Object.freeze([...shape]);
    this.strides = Object.freeze(strides ? [...strides] : contiguousStrides(shape));
    this.offset = offset;
    this.numel = numelOf(this.shape);
    this.dtype = dtype ?? (storage instanceof Float32Array ? 'float32' : storage instanceof Float64Array ? 'float64' : 'int32');
  }

  /** A new contiguous tensor of zeros, not requiring grad (the internal form of `zeros()`, which ops use to fill buffers). */
  static zeros(shape: readonly number[], dtype: DType = 'float32'): Tensor {
    return new Tensor(allocStorage(dtype, numelOf(shape)), shape, undefined, 0, dtype);
  }

  /** Number of dimensions. */
  get ndim(): number { return this.shape.length; }
  /** In-place writes to this tensor's storage so far (PyTorch's `_version`), shared by its views. */
  get version(): number { return versionOf(this); }
  /** True for a tensor no op produced (a parameter or an input). */
  get isLeaf(): boolean { return this.gradFn === null; }

  /** True when the elements lie in row-major order with no gaps from `offset`. */
  isContiguous(): boolean {
    let expected = 1;
    for (let i = this.shape.length - 1; i >= 0; i--) {
      if (this.shape[i] !== 1 && this.strides[i] !== expected) return false;
      expected *= this.shape[i]!;
    }
    return true;
  }

  /** A flat row-major copy of the elements. */
  toTypedArray(): Storage {
    const out = allocStorage(this.dtype, this.numel);
    copyStrided(out, 0, contiguousStrides(this.shape), this.storage, this.offset, this.strides, this.shape);
    return out;
  }

  /** The elements as nested arrays (a number for a scalar). */
  toArray(): any {
    const flat = this.toTypedArray();
    const build = (dim: number, start: number): any => {
      if (dim === this.shape.length) return flat[start];
      const size = this.shape[dim]!;
      const step = numelOf(this.shape.slice(dim + 1));
      const out = new Array(size);
      for (let i = 0; i < size; i++) out[i] = build(dim + 1, start + i * step);
      return out;
    };
    return build(0, 0);
  }

  /** The value of a one-element tensor. */
  item(): number {
    if (this.numel !== 1) throw new Error(`item: expected a tensor with one element, got shape ${formatShape(this.shape)}`);
    return this.storage[this.offset]!;
  }

  /**
   * Shape, dtype and an excerpt of the values, as PyTorch prints them.
   *
   * @example
   * ```ts
   * import { tensor } from '@tsgrad/tensor';
   *
   * console.log(tensor([[1, 2], [3, 4]]).toString());
   * // → tensor([[1.0000, 2.0000],
   * // →         [3.0000, 4.0000]], shape=[2, 2], dtype=float32)
   * console.log(tensor([0, 1, 2, 3, 4, 5, 6, 7], { dtype: 'int32' }).toString()); // long dims are elided
   * // → tensor([0, 1, 2, ..., 5, 6, 7], shape=[8], dtype=int32)
   * ```
   */
  toString(): string { return formatTensor(this); }

  /**
   * Backpropagates from this tensor, accumulating into `.grad` of the leaves that require grad.
   *
   * @example
   * ```ts
   * import { tensor } from '@tsgrad/tensor';
   *
   * const x = tensor([1, 2, 3], { requiresGrad: true });
   * x.square().sum().backward(); // d(Σ x²)/dx = 2x
   * console.log(x.grad!.toArray()); // → [ 2, 4, 6 ]
   * x.mul(10).sum().backward(); // a second backward adds to .grad (zero it between steps)
   * console.log(x.grad!.toArray()); // → [ 12, 14, 16 ]
   * ```
   */
  backward(gradOutput?: Tensor, opts?: { retainGraph?: boolean; createGraph?: boolean }): void {
    backward(this, gradOutput, opts);
  }

  /**
   * A view sharing storage, cut off from the graph.
   *
   * @example
   * ```ts
   * import { tensor } from '@tsgrad/tensor';
   *
   * const w = tensor([1, 2], { requiresGrad: true });
   * const y = w.mul(3);
   * const d = y.detach(); // the same values, but no gradient flows through d
   * console.log(y.gradFn!.name, d.gradFn, d.requiresGrad, d.storage === y.storage); // → mul null false true
   * ```
   */
  detach(): Tensor { return new Tensor(this.storage, this.shape, this.strides, this.offset, this.dtype); }

  /**
   * Marks a leaf as requiring grad (or not); returns this.
   *
   * @example
   * ```ts
   * import { tensor } from '@tsgrad/tensor';
   *
   * const w = tensor([0.5, -1]).to('float64').setRequiresGrad(); // a float64 leaf, e.g. for gradcheck
   * console.log(w.requiresGrad, w.isLeaf, w.dtype); // → true true float64
   * ```
   */
  setRequiresGrad(flag = true): this {
    if (!flag && this.gradFn) throw new Error('setRequiresGrad: cannot clear requiresGrad on a non-leaf tensor; use detach()');
    if (flag && this.dtype === 'int32') throw new Error('setRequiresGrad: only float tensors can require grad, got int32');
    this.requiresGrad = flag;
    return this;
  }

  /**
   * A copy converted to another dtype (differentiable between float dtypes). d/dx = 1, cast back to this dtype
   *
   * @example
   * ```ts
   * import { tensor } from '@tsgrad/tensor';
   *
   * const x = tensor([1.5, -2.7]);
   * console.log(x.to('float64').dtype); // → float64
   * console.log(x.to('int32').toArray()); // → [ 1, -2 ]
   * ```
   */
  to(dtype: DType): Tensor { return unary.cast(this, checkDType('to', dtype)); }
  /** A tensor with the same values in its own contiguous storage (never a view). d/dx = 1 */
  clone(): Tensor { return movement.clone(this); }

  // ************* elementwise *************
  /** this + other (broadcasting). d/dthis = 1, d/dother = 1 (summed back over broadcast dims) */
  add(other: TensorLike): Tensor { return binary.add(this, other); }
  /** this − other (broadcasting). d/dthis = 1, d/dother = −1 */
  sub(other: TensorLike): Tensor { return binary.sub(this, other); }
  /**
   * this · other (broadcasting). d/dthis = other, d/dother = this
   *
   * @example
   * ```ts
   * import { tensor } from '@tsgrad/tensor';
   *
   * const x = tensor([1, 2, 3]);
   * console.log(x.mul(2).toArray()); // → [ 2, 4, 6 ]
   * // [2, 1] · [3] broadcasts to [2, 3]
   * console.log(tensor([[1], [10]]).mul(x).toArray()); // → [ [ 1, 2, 3 ], [ 10, 20, 30 ] ]
   * ```
   */
  mul(other: TensorLike): Tensor { return binary.mul(this, other); }
  /** this / other (broadcasting). d/dthis = 1/other, d/dother = −this/other² */
  div(other: TensorLike): Tensor { return binary.div(this, other); }
  /** this ** exponent (broadcasting). d/dthis = exponent·this^(exponent−1), d/dexponent = this^exponent·ln(this) */
  pow(exponent: TensorLike): Tensor { return binary.pow(this, exponent); }
  /** Elementwise maximum (broadcasting). d/dthis = 1 where this > other, ½ where equal, else 0 */
  maximum(other: TensorLike): Tensor { return binary.maximum(this, other); }
  /** Elementwise minimum (broadcasting). d/dthis = 1 where this < other, ½ where equal, else 0 */
  minimum(other: TensorLike): Tensor { return binary.minimum(this, other); }
  /** 1 where this > other, else 0 (int32). */
  gt(other: TensorLike): Tensor { return binary.compare('gt', this, other); }
  /** 1 where this < other, else 0 (int32). */
  lt(other: TensorLike): Tensor { return binary.compare('lt', this, other); }
  /** 1 where this ≥ other, else 0 (int32). */
  ge(other: TensorLike): Tensor { return binary.compare('ge', this, other); }
  /** 1 where this ≤ other, else 0 (int32). */
  le(other: TensorLike): Tensor { return binary.compare('le', this, other); }
  /** 1 where this = other, else 0 (int32). */
  eq(other: TensorLike): Tensor { return binary.compare('eq', this, other); }
  /** 1 where this ≠ other, else 0 (int32). */
  ne(other: TensorLike): Tensor { return binary.compare('ne', this, other); }
  /** −this. d/dx = −1 */
  neg(): Tensor { return unary.neg(this); }
  /** e^this. d/dx = e^x */
  exp(): Tensor { return unary.exp(this); }
  /** Natural logarithm. d/dx = 1/x */
  log(): Tensor { return unary.log(this); }
  /** Square root. d/dx = 1/(2√x) */
  sqrt(): Tensor { return unary.sqrt(this); }
  /** 1 / √this. d/dx = −½·x^(−3/2) */
  rsqrt(): Tensor { return unary.rsqrt(this); }
  /** Sine. d/dx = cos(x) */
  sin(): Tensor { return unary.sin(this); }
  /** Cosine. d/dx = −sin(x) */
  cos(): Tensor { return unary.cos(this); }
  /**
   * Hyperbolic tangent. d/dx = 1 − tanh²(x)
   *
   * @example
   * ```ts
   * import { tensor } from '@tsgrad/tensor';
   *
   * const x = tensor([0, 1], { requiresGrad: true });
   * const y = x.tanh();
   * y.sum().backward();
   * console.log(y.toString()); // → tensor([0.0000, 0.7616], shape=[2], dtype=float32, gradFn=tanh)
   * // the gradient is 1 − tanh²(x)
   * console.log(x.grad!.toString()); // → tensor([1.0000, 0.4200], shape=[2], dtype=float32)
   * ```
   */
  tanh(): Tensor { return unary.tanh(this); }
  /** Logistic sigmoid σ(x) = 1 / (1 + e^−x). d/dx = σ(x)(1 − σ(x)) */
  sigmoid(): Tensor { return unary.sigmoid(this); }
  /** max(x, 0). d/dx = 1 where x > 0, else 0 */
  relu(): Tensor { return unary.relu(this); }
  /** x · σ(x). d/dx = σ(x)(1 + x(1 − σ(x))) */
  silu(): Tensor { return unary.silu(this); }
  /** |x|. d/dx = sign(x) (0 at 0) */
  abs(): Tensor { return unary.abs(this); }
  /** x². d/dx = 2x */
  square(): Tensor { return unary.square(this); }
  /** Clamps into [min, max] (either bound may be omitted). d/dx = 1 inside the bounds (inclusive), 0 outside */
  clamp(min?: number | null, max?: number | null): Tensor { return unary.clamp(this, min, max); }

  // ************* reductions *************
  /**
   * Sum over dims (all when omitted). d/dx = 1: the gradient is broadcast back over the summed dims
   *
   * @example
   * ```ts
   * import { tensor } from '@tsgrad/tensor';
   *
   * const x = tensor([[1, 2, 3], [4, 5, 6]]);
   * console.log(x.sum().item(), x.sum().shape); // → 21 []
   * console.log(x.sum(0).toArray()); // → [ 5, 7, 9 ]
   * console.log(x.sum(1, true).toArray()); // → [ [ 6 ], [ 15 ] ]
   * ```
   */
  sum(dim?: number | number[], keepdim = false): Tensor { return reduce.sum(this, dim, keepdim); }
  /** Mean over dims (all when omitted). d/dx = 1/count, broadcast back over the reduced dims */
  mean(dim?: number | number[], keepdim = false): Tensor { return reduce.mean(this, dim, keepdim); }
  /** Maximum values over a dim (over all elements when omitted). d/dx = 1 at the index that won, 0 elsewhere */
  max(dim?: number, keepdim = false): Tensor { return reduce.max(this, dim, keepdim); }
  /** Minimum values over a dim (over all elements when omitted). d/dx = 1 at the index that won, 0 elsewhere */
  min(dim?: number, keepdim = false): Tensor { return reduce.min(this, dim, keepdim); }
  /** Indices (int32) of the maximum over a dim (of the flattened tensor when omitted). Not differentiable. */
  argmax(dim?: number, keepdim = false): Tensor { return reduce.argmax(this, dim, keepdim); }
  /** Variance over dims with Bessel's correction (as PyTorch's default). d/dx = 2(x − mean)/(count − correction) */
  var(dim?: number | number[], keepdim = false, correction = 1): Tensor { return reduce.variance(this, dim, keepdim, correction); }

  // ************* matmul and fused *************
  /** Matrix product, batched and broadcasting over leading dims. d/dthis = grad·otherᵀ, d/dother = thisᵀ·grad */
  matmul(other: Tensor): Tensor { return matmul(this, other); }
  /** Softmax over a dim. With y = softmax(x): dx = y ⊙ (g − Σ g⊙y) */
  softmax(dim: number): Tensor { return fused.softmax(this, dim); }
  /** Log-softmax over a dim. dx = g − softmax(x)·Σ g */
  logSoftmax(dim: number): Tensor { return fused.logSoftmax(this, dim); }

  // ************* movement (views where the layout allows) *************
  /** The same elements in a new shape; one size may be -1. A view when the layout allows. Backward: reshape back */
  reshape(...shape: number[] | [number[]]): Tensor { return movement.reshape(this, flatArgs(shape)); }
  /** Alias of reshape. Backward: reshape back */
  view(...shape: number[] | [number[]]): Tensor { return movement.reshape(this, flatArgs(shape)); }
  /** Swaps two dims (a view). Backward: swap them back */
  transpose(dim0: number, dim1: number): Tensor { return movement.transpose(this, dim0, dim1); }
  /** Reorders dims (a view). Backward: the inverse permutation */
  permute(...dims: number[] | [number[]]): Tensor { return movement.permute(this, flatArgs(dims)); }
  /** Repeats size-1 dims without copying (stride 0); -1 keeps a size. Backward: sum over the expanded dims */
  expand(...shape: number[] | [number[]]): Tensor { return movement.expand(this, flatArgs(shape)); }
  /** Inserts a size-1 dim (a view). Backward: reshape back */
  unsqueeze(dim: number): Tensor { return movement.unsqueeze(this, dim); }
  /** Removes size-1 dims (one, or all when omitted) (a view). Backward: reshape back */
  squeeze(dim?: number): Tensor { return movement.squeeze(this, dim); }
  /** Flattens dims startDim..endDim into one. Backward: reshape back */
  flatten(startDim = 0, endDim = -1): Tensor { return movement.flatten(this, startDim, endDim); }
  /** The slice [start, start + length) of a dim (a view). Backward: the gradient padded with zeros */
  narrow(dim: number, start: number, length: number): Tensor { return movement.narrow(this, dim, start, length); }
  /** Python-style slice of one dim: [start, end) (a view). Backward: the gradient padded with zeros */
  slice(dim: number, start?: number, end?: number): Tensor { return movement.slice(this, dim, start, end); }
  /** This tensor if contiguous, else a contiguous copy. d/dx = 1 */
  contiguous(): Tensor { return movement.contiguous(this); }

  // ************* indexing *************
  /** Replaces elements where mask is nonzero by value (mask broadcasts). d/dx = 1 where the mask is 0, else 0 */
  maskedFill(mask: Tensor, value: number): Tensor { return indexing.maskedFill(this, mask, value); }
  /** out[i][j] = this[i][index[i][j]] along dim (index int32). Backward: scatter-add the gradient to the gathered positions */
  gather(dim: number, index: Tensor): Tensor { return indexing.gather(this, dim, index); }
  /** Slices of this tensor picked by int32 indices along dim (along dim 0 of [V, C]: an embedding lookup). Backward: add each gradient slice into the slice it was picked from */
  indexSelect(dim: number, index: Tensor): Tensor { return indexing.indexSelect(this, dim, index); }

  // ************* in place (for optimizers, under noGrad); each bumps `version` *************
  /** Copies src (broadcast) into this tensor's elements. */
  copy_(src: TensorLike): this { inplace.copy_(this, src); return this; }
  /** this += alpha · other. */
  add_(other: TensorLike, alpha = 1): this { inplace.add_(this, other, alpha); return this; }
  /** this *= other. */
  mul_(other: TensorLike): this { inplace.mul_(this, other); return this; }
  /** Sets every element to zero. */
  zero_(): this { inplace.fill_(this, 0); return this; }
  /** Sets every element to value. */
  fill_(value: number): this { inplace.fill_(this, value); return this; }
}

function flatArgs(args: number[] | [number[]]): number[] {
  return Array.isArray(args[0]) ? [...(args[0] as number[])] : (args as number[]);
}
