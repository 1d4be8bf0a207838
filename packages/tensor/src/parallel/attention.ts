// Splitting one attention call by slices across the worker pool (parallel/pool.ts), as
// parallel/matmul.ts splits a matmul by rows: the caller stages the operands in shared memory and
// posts the job; every thread, this one included, then claims groups of slices and runs the
// one-thread kernel (attentionSlices in kernels/attention.ts) on them. Which thread runs a slice
// changes nothing in its result.

import type { FloatArray } from '../dtype.js';
import { type AttentionCall, attentionSlices } from '../kernels/attention.js';
import {
  type SharedJob, UNITS_PER_THREAD, beginStaging, canSplit, isShared, matmulThreads, newSignal, nextUnit, postJob, stageWhole, stagingArray, waitForWorkers, workOn,
} from './pool.js';

/** An attention call shared by several threads (its arrays then in shared memory). */
export interface AttentionJob extends AttentionCall, SharedJob {
  kind: 'attention';
  /** Unit u covers slices [unitStart[u], unitStart[u + 1]). */
  unitStart: Int32Array;
}

/** On a worker: runs claimed units of a split attention job (see workOn in pool.ts). */
export function runAttentionJob(job: AttentionJob): void {
  workOn(job, (u) => attentionSlices(job, job.unitStart[u]!, job.unitStart[u + 1]!));
}

// Cuts `count` slices into about `target` units, never separating two slices that accumulate
// into the same gradient slice (a broadcast k or v: grouped-query heads), which two threads
// would otherwise update at once. A cut is allowed before slice s when no earlier slice shares
// an offset with slice s or a later one.
function cutUnits(count: number, target: number, shared: Array<Int32Array | null>): Int32Array {
  const last = shared.map((offs) => {
    const m = new Map<number, number>();
    if (offs) for (let s = 0; s < count; s++) m.set(offs[s]!, s);
    return m;
  });
  const size = Math.ceil(count / target);
  const starts = [0];
  let reach = -1; // the last slice any slice so far shares an offset with
  for (let s = 0; s < count; s++) {
    if (s > starts[starts.length - 1]! && s - starts[starts.length - 1]! >= size && reach < s) starts.push(s);
    shared.forEach((offs, i) => { if (offs) reach = Math.max(reach, last[i]!.get(offs[s]!)!); });
  }
  starts.push(count);
  return Int32Array.from(starts);
}

/**
 * Runs an attention call over `count` slices (forward if call.g is null, else backward): split
 * across worker threads when the work is large enough and no other job is in flight (operands
 * staged in shared memory, results copied back), else on this thread. Results are identical.
 */
export function parallelAttention(call: AttentionCall, count: number): void {
  const { plan } = call;
  const work = count * plan.scores * (plan.D + plan.Dv) * (call.g ? 2 : 1);
  const unitStart = canSplit(work) && count > 1
    ? cutUnits(count, matmulThreads() * UNITS_PER_THREAD, call.g ? [call.dqOffs, call.dkOffs, call.dvOffs] : [])
    : null;
  if (!unitStart || unitStart.length < 3) {
    attentionSlices(call, 0, count);
    return;
  }
  // stage every input array once (q, k, v and g may share storage), and the outputs
  beginStaging();
  const staged = new Map<FloatArray, FloatArray>();
  const input = <A extends FloatArray>(x: A): A => {
    if (!staged.has(x)) staged.set(x, stageWhole(x));
    return staged.get(x)! as A;
  };
  const copies: Array<[FloatArray, FloatArray]> = [];
  const output = <A extends FloatArray>(x: A | null, zero: boolean): A | null => {
    if (!x || isShared(x)) return x;
    const s = stagingArray(x, x.length) as A;
    if (zero) s.fill(0);
    copies.push([x, s]);
    return s;
  };
  const job: AttentionJob = {
    ...call, kind: 'attention', signal: newSignal(), units: unitStart.length - 1, unitStart,
    q: { ...call.q, data: input(call.q.data) }, k: { ...call.k, data: input(call.k.data) }, v: { ...call.v, data: input(call.v.data) },
    mask: call.mask ? input(call.mask) : null,
  };
  if (call.g) {
    job.g = { ...call.g, data: input(call.g.data) };
    job.lse = input(call.lse!);
    // the gradient buffers arrive zeroed and the kernel accumulates into them
    job.dq = output(call.dq, true);
    job.dk = output(call.dk, true);
    job.dv = output(call.dv, true);
  } else {
    job.out = output(call.out, false);
    job.lse = output(call.lse, false);
  }
  postJob(job, () => { for (const [x, s] of copies) x.set(s); });
  for (let u = nextUnit(); u >= 0; u = nextUnit()) attentionSlices(job, unitStart[u]!, unitStart[u + 1]!);
  waitForWorkers();
}
