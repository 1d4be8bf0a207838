// Running a program of the autograd panel: evaluate it, record its graph, take the gradients,
// describe every node for the picture, and check the backward against finite differences in float64.

import * as tsgrad from '@tsgrad/tensor';
import * as nn from '@tsgrad/nn';
import { type Tensor, gradcheck, grad, toDot } from '@tsgrad/tensor';

/** What running a program gives the page. */
export interface ProgramRun {
  /** The scalar output. */
  output: Tensor;
  /** The leaves by name, their gradients filled by backward. */
  inputs: Array<[string, Tensor]>;
  /** Graphviz DOT text of the recorded graph, with each node's value and gradient. */
  dot: string;
  /** gradcheck's verdict in float64: passed, or the mismatch it reported. */
  gradcheck: { passed: boolean; message: string };
}

type ProgramFn = (...inputs: Tensor[]) => Tensor;

/** Runs a program's text (see presets.ts for the contract); throws an Error saying what is wrong with it. */
export function runProgram(source: string): ProgramRun {
  const body = new Function('tsgrad', 'nn', source) as (t: typeof tsgrad, n: typeof nn) => unknown;
  const returned = body(tsgrad, nn) as { inputs?: unknown; f?: unknown } | undefined;
  if (!returned || typeof returned !== 'object' || typeof returned.f !== 'function' || !returned.inputs || typeof returned.inputs !== 'object') {
    throw new Error('the program must end with `return { inputs: { name: tensor, ... }, f }`, where f computes the output from the inputs');
  }
  const inputs = Object.entries(returned.inputs as Record<string, unknown>) as Array<[string, Tensor]>;
  for (const [name, t] of inputs) {
    if (!(t instanceof tsgrad.Tensor)) throw new Error(`input ${name} is not a tensor`);
    if (!t.requiresGrad) throw new Error(`input ${name} does not require grad: create it with { requiresGrad: true }`);
  }
  const f = returned.f as ProgramFn;
  const output = f(...inputs.map(([, t]) => t));
  if (!(output instanceof tsgrad.Tensor)) throw new Error('f must return a tensor');
  if (output.numel !== 1) throw new Error(`f must return a single number to take its gradient, got a tensor of shape [${output.shape.join(', ')}]`);

  // every tensor of the graph, to label with its value and gradient
  const nodes: Tensor[] = [];
  const seen = new Set<Tensor>();
  const stack = [output];
  while (stack.length > 0) {
    const t = stack.pop()!;
    if (seen.has(t)) continue;
    seen.add(t);
    nodes.push(t);
    if (t.gradFn) stack.push(...t.gradFn.inputs);
  }
  const differentiable = nodes.filter((t) => t.requiresGrad);
  // gradients of the intermediate nodes too (backward keeps only the leaves'); the graph is kept for backward
  const grads = new Map<Tensor, Tensor>();
  grad(output, differentiable, { retainGraph: true }).forEach((g, i) => grads.set(differentiable[i]!, g));
  for (const [, t] of inputs) t.grad = null;
  output.backward();

  const names = new Map<Tensor, string>();
  const leafNames = new Map(inputs.map(([name, t]) => [t, name]));
  for (const t of nodes) {
    const lines: string[] = [];
    const leafName = leafNames.get(t);
    if (leafName) lines.push(leafName);
    lines.push(`value ${summarize(t)}`);
    const g = grads.get(t);
    if (g) lines.push(`grad ${summarize(g)}`);
    names.set(t, lines.join('\\n'));
  }

  let check: ProgramRun['gradcheck'];
  try {
    const inputs64 = inputs.map(([, t]) => t.detach().to('float64').setRequiresGrad());
    gradcheck(f, inputs64);
    check = { passed: true, message: 'gradcheck passed (float64, central differences, eps 1e-6, atol 1e-5, rtol 1e-3)' };
  } catch (err) {
    check = { passed: false, message: `gradcheck failed: ${(err as Error).message}` };
  }
  return { output, inputs, dot: toDot(output, names), gradcheck: check };
}

/** A tensor's values for a graph label: all of them when there are few, else the first few. */
function summarize(t: Tensor): string {
  const values = Array.from(t.toTypedArray(), (v) => formatNumber(v, 4));
  const shown = values.length <= 6 ? values.join(', ') : `${values.slice(0, 4).join(', ')}, … (${values.length})`;
  return t.ndim === 0 ? shown : `[${shown}]`;
}

/** v with `digits` significant digits, without trailing zeros (JSON-parseable). */
export function formatNumber(v: number, digits: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return '0';
  return String(Number(v.toPrecision(digits)));
}

/** A tensor's values as nested arrays in text, with `digits` significant digits (parseable as JSON). */
export function formatNested(t: Tensor, digits = 7): string {
  const walk = (x: unknown): string => (Array.isArray(x) ? `[${x.map(walk).join(', ')}]` : formatNumber(x as number, digits));
  return walk(t.toArray());
}
