// Gradient clipping by total norm, as torch.nn.utils.clip_grad_norm_:
//
//   total = ‖(‖g₁‖, ‖g₂‖, …)‖ = ‖all gradient elements‖       (accumulated in float64)
//   coef  = maxNorm / (total + 1e-6), clamped to 1               clip_coef_clamped
//   g    *= coef                                                  (in place)
//
// PyTorch multiplies by the clamped coefficient always; multiplying by exactly 1 changes nothing,
// so we touch the gradients only when coef < 1.

import { Tensor, incrementVersion, noGrad } from '@tsgrad/tensor';

/** Options of `clipGradNorm`. */
export interface ClipGradNormOptions {
  /** Throw when the total norm is NaN or infinite (PyTorch's error_if_nonfinite); default false. */
  errorIfNonfinite?: boolean;
}

/**
 * Scales the gradients in place so their total `normType`-norm is at most `maxNorm`; returns the
 * total norm before clipping. Parameters without a gradient are ignored (0 when none has one).
 * NOTE: a non-finite total is returned as is and, unlike PyTorch (which multiplies by NaN or 0),
 * leaves the gradients untouched, so the optimizer's non-finite check can name the culprit.
 *
 * @example
 * ```ts
 * import { clipGradNorm } from '@tsgrad/optim';
 * import { tensor } from '@tsgrad/tensor';
 *
 * const a = tensor([0, 0], { requiresGrad: true });
 * const b = tensor([0], { requiresGrad: true });
 * a.mul(tensor([3, 4])).sum().add(b.mul(12).sum()).backward(); // grads [3, 4] and [12]: norm 13
 * const norm = clipGradNorm([a, b], 1); // the norm over all the gradients together
 * console.log(norm); // → 13
 * console.log(a.grad!.toString(), b.grad!.toString());
 * // → tensor([0.2308, 0.3077], shape=[2], dtype=float32) tensor([0.9231], shape=[1], dtype=float32)
 * ```
 */
export function clipGradNorm(params: Tensor | Iterable<Tensor>, maxNorm: number, normType = 2, opts: ClipGradNormOptions = {}): number {
  if (typeof maxNorm !== 'number' || !(maxNorm >= 0)) throw new Error(`clipGradNorm: maxNorm must be a number ≥ 0, got ${maxNorm}`);
  if (typeof normType !== 'number' || !(normType > 0)) {
    throw new Error(`clipGradNorm: normType must be a number > 0 or Infinity, got ${normType}`);
  }
  const list = params instanceof Tensor ? [params] : [...params];
  // NOTE: the same gradient tensor may sit on two parameters (a `.grad` assigned to both, or one
  // parameter listed twice): it counts in the norm once per parameter, as in PyTorch, but is scaled once.
  const grads = new Set<Tensor>();
  const all: Tensor[] = [];
  list.forEach((p, i) => {
    if (!(p instanceof Tensor)) throw new Error(`clipGradNorm: parameter ${i} is not a Tensor`);
    if (p.grad !== null) {
      all.push(p.grad);
      grads.add(p.grad);
    }
  });
  if (all.length === 0) return 0;
  const total = totalNorm(all, normType);
  if (!Number.isFinite(total)) {
    if (opts.errorIfNonfinite) {
      throw new Error(`clipGradNorm: the total norm of order ${normType} of the gradients is ${total}; the gradients cannot be clipped`);
    }
    return total;
  }
  const clipCoef = maxNorm / (total + 1e-6);
  if (clipCoef < 1) for (const g of grads) scale(g, clipCoef);
  return total;
}

// The normType-norm of all elements of all tensors, in float64.
function totalNorm(tensors: readonly Tensor[], normType: number): number {
  let acc = 0;
  let sawNaN = false;
  for (const t of tensors) {
    const [data, off] = t.isContiguous() ? [t.storage, t.offset] : [t.toTypedArray(), 0];
    const n = t.numel;
    if (normType === 2) {
      for (let i = 0; i < n; i++) acc += data[off + i]! * data[off + i]!;
    } else if (normType === Infinity) {
      for (let i = 0; i < n; i++) {
        const a = Math.abs(data[off + i]!);
        if (a > acc) acc = a;
        else if (a !== a) sawNaN = true;
      }
    } else if (normType === 1) {
      for (let i = 0; i < n; i++) acc += Math.abs(data[off + i]!);
    } else {
      for (let i = 0; i < n; i++) acc += Math.abs(data[off + i]!) ** normType;
    }
  }
  if (sawNaN) return NaN;
  if (normType === 2) return Math.sqrt(acc);
  if (normType === Infinity || normType === 1) return acc;
  return acc ** (1 / normType);
}

// g *= coef in place. A non-contiguous g is scaled in a dense copy written back through its view.
function scale(g: Tensor, coef: number): void {
  if (g.isContiguous()) {
    const d = g.storage;
    for (let i = g.offset, end = g.offset + g.numel; i < end; i++) d[i] *= coef;
    incrementVersion(g);
    return;
  }
  const dense = g.toTypedArray();
  for (let i = 0; i < dense.length; i++) dense[i] *= coef;
  noGrad(() => g.copy_(new Tensor(dense, g.shape)));
}
