// Which of our source files one training step runs, measured rather than counted by hand: `pnpm
// train` (the default tiny config, --mode train, one thread) runs twice under V8 coverage
// (NODE_V8_COVERAGE), once with --max_steps 4 and once with --max_steps 5, into fresh folders.
// Everything but the number of steps does the same work (setup; at the end one metrics line, one
// checkpoint, a loss.svg with five step ticks: 4 and 5 steps are chosen so that even the plot's
// ticks agree), so a file in which some function ran more often in the second run is a file whose
// code one more training step runs: the batch, forward, loss, backward, clipping, the AdamW
// update, the schedule and the loop's bookkeeping. cli/train.ts, where a reader starts, runs only
// before the first step, so it is added by name.
//
// Two counts come out. The first, every file one step executes, is an upper bound on what a reader
// opens: a call to allocStorage in dtype.ts counts as much as the model. The second, the files a
// reader opens, is the same list minus PLUMBING below, a fixed list of helper modules that a reader
// following the step sees called by name and does not open (allocation and dtypes, shapes, tensor
// creation, the random generator, the ops' shared checks, the backend switch, the storage pool and
// release scopes). The list is fixed so that the count compares across versions: the same rule on
// the code issue 17 was filed against gives the hand count (see packages/llama/README.md).
//
// What this does not see: code that only the first step runs (a cache filled once, e.g. the
// causal-mask or rotary tables) is not in the difference; the list of files the whole shorter run
// executed is printed too, to check against. With --threads > 1 the thread pool's files join.
//
// Run: pnpm step-files [--backend js|wasm] [--keep]
//   --backend sets TSGRAD_BACKEND for the two runs (default: the default backend, wasm where
//   WebAssembly SIMD validates); --keep leaves the coverage and run folders in the temp dir.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** One script of a V8 coverage report (the fields used here). */
export interface ScriptCoverage {
  /** The script's URL (file:///... for our sources, as tsx loads them). */
  url: string;
  /** Every function V8 compiled in it; ranges[0] spans the function and counts its calls. */
  functions: Array<{ functionName: string; ranges: Array<{ startOffset: number; endOffset: number; count: number }> }>;
}

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const ENTRY = 'packages/llama/src/cli/train.ts';

/**
 * Helper modules left out of "files a reader opens": what each one does is plain from the name of
 * what the step calls in it, so a reader following the step does not open it. Fixed on purpose
 * (the count must mean the same thing on every version of the code).
 */
export const PLUMBING: ReadonlyArray<{ file: string; what: string }> = [
  { file: 'packages/tensor/src/dtype.ts', what: 'dtypes and buffer allocation (allocStorage, promoteTypes)' },
  { file: 'packages/tensor/src/shape.ts', what: 'shapes and strides (numelOf, broadcastShapes, formatShape)' },
  { file: 'packages/tensor/src/create.ts', what: 'tensor creation (tensor, full)' },
  { file: 'packages/tensor/src/random.ts', what: 'the random generator (randint: where each batch row starts in the corpus)' },
  { file: 'packages/tensor/src/ops/common.ts', what: "the ops' shared helpers (requireFloat, asTensor, flatBuffer)" },
  { file: 'packages/tensor/src/backend.ts', what: 'the backend switch (getBackend: js or wasm)' },
  { file: 'packages/tensor/src/storage-pool.ts', what: 'the storage pool (reused float buffers)' },
  { file: 'packages/tensor/src/release-scope.ts', what: "release scopes (a step's buffers back to the pool)" },
];

/** The files a reader opens: `files` without the PLUMBING modules, order kept. */
export function readerFiles(files: readonly string[]): string[] {
  const plumbing = new Set(PLUMBING.map((p) => p.file));
  return files.filter((f) => !plumbing.has(f));
}

// Calls of each function of each of our source files (code that runs once on import left out),
// keyed by the path relative to the repository.
function callCounts(scripts: ScriptCoverage[], root: string): Map<string, Map<string, number>> {
  const prefix = pathToFileURL(root).href;
  const files = new Map<string, Map<string, number>>();
  for (const script of scripts) {
    if (!script.url.startsWith(prefix) || script.url.includes('/node_modules/')) continue;
    const file = relative(root, fileURLToPath(script.url)).split('\\').join('/');
    if (!/^packages\/[^/]+\/src\/.*\.ts$/.test(file)) continue;
    const calls = files.get(file) ?? new Map<string, number>();
    for (const fn of script.functions) {
      const range = fn.ranges[0]!;
      // the module's top level and class static blocks run once on import; __name and the like
      // are esbuild's helpers that tsx's transform adds to every file
      if ((range.startOffset === 0 && fn.functionName === '') || fn.functionName === '<static_initializer>' || fn.functionName.startsWith('__')) continue;
      const key = `${fn.functionName}@${range.startOffset}`;
      calls.set(key, (calls.get(key) ?? 0) + range.count);
    }
    files.set(file, calls);
  }
  return files;
}

/** Our source files in which some function ran at least once (top-level code left out), sorted. */
export function filesRun(scripts: ScriptCoverage[], root: string): string[] {
  return [...callCounts(scripts, root)].filter(([, calls]) => [...calls.values()].some((n) => n > 0)).map(([f]) => f).sort();
}

/** Our source files in which some function ran more often in `more` than in `fewer`, sorted. */
export function filesRunMoreOften(fewer: ScriptCoverage[], more: ScriptCoverage[], root: string): string[] {
  const before = callCounts(fewer, root);
  const grown: string[] = [];
  for (const [file, calls] of callCounts(more, root)) {
    const old = before.get(file);
    if ([...calls].some(([fn, n]) => n > (old?.get(fn) ?? 0))) grown.push(file);
  }
  return grown.sort();
}

/** The part of the codebase a source file belongs to: its package, and for tensor its folder (ops, autograd, kernels, ...). */
export function groupOf(file: string): string {
  const [, pkg, , folder] = file.split('/');
  if (pkg !== 'tensor') return pkg!;
  return file.split('/').length > 4 ? `tensor/${folder}` : 'tensor (top level)';
}

/** The part counts of a file list, as "llama 4, nn 5, ...", in order of first appearance. */
export function countByPart(files: readonly string[]): string {
  const groups = new Map<string, number>();
  for (const f of files) groups.set(groupOf(f), (groups.get(groupOf(f)) ?? 0) + 1);
  return [...groups].map(([g, n]) => `${g} ${n}`).join(', ');
}

/** The value of `--backend` in argv (js or wasm), undefined when absent; anything else throws. */
export function backendFlag(argv: readonly string[]): 'js' | 'wasm' | undefined {
  const i = argv.indexOf('--backend');
  if (i < 0) return undefined;
  const name = argv[i + 1];
  if (name !== 'js' && name !== 'wasm') throw new Error(`step-files: --backend ${name ?? '(missing)'}: expected js or wasm`);
  return name;
}

// Runs `pnpm train` for a number of steps under coverage; returns the scripts of its reports.
function coveredTrainRun(steps: number, work: string, backend: 'js' | 'wasm' | undefined): ScriptCoverage[] {
  const coverageDir = join(work, `coverage-${steps}`);
  const run = spawnSync(process.execPath, [
    '--import', 'tsx', join(ROOT, ENTRY), '--mode', 'train', '--max_steps', String(steps), '--threads', '1', '--model_dir', join(work, `run-${steps}`),
  ], { cwd: ROOT, env: { ...process.env, NODE_V8_COVERAGE: coverageDir, ...(backend ? { TSGRAD_BACKEND: backend } : {}) }, encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`step-files: pnpm train --max_steps ${steps} failed (exit ${run.status}):\n${run.stdout}\n${run.stderr}`);
  return readdirSync(coverageDir).filter((f) => f.endsWith('.json'))
    .flatMap((f) => (JSON.parse(readFileSync(join(coverageDir, f), 'utf8')) as { result: ScriptCoverage[] }).result);
}

/** What one measurement found: the files one step executes (the entry first), those a reader opens, and the shorter run's other files. */
export interface StepFiles {
  /** Every file one more step ran a function of, with the entry added: the upper bound. */
  executed: string[];
  /** `executed` without the PLUMBING modules. */
  reader: string[];
  /** Files the 4-step run executed that one more step did not run again (setup, saving, first-step caches). */
  setupOnly: string[];
}

/** Runs `pnpm train` for 4 and for 5 steps under coverage (in a temp folder, removed unless `keepIn` is given) and compares them. */
export function measureStep(backend: 'js' | 'wasm' | undefined, keepIn?: (work: string) => void): StepFiles {
  const work = mkdtempSync(join(tmpdir(), 'tsgrad-step-files-'));
  try {
    const fewer = coveredTrainRun(4, work, backend);
    const more = coveredTrainRun(5, work, backend);
    const step = filesRunMoreOften(fewer, more, ROOT);
    const executed = step.includes(ENTRY) ? step : [ENTRY, ...step];
    return { executed, reader: readerFiles(executed), setupOnly: filesRun(fewer, ROOT).filter((f) => !executed.includes(f)) };
  } finally {
    if (keepIn) keepIn(work);
    else rmSync(work, { recursive: true, force: true });
  }
}

function main(backend: 'js' | 'wasm' | undefined, keep: boolean): void {
  const { executed, reader, setupOnly } = measureStep(backend, keep ? (work) => console.log(`(coverage and runs kept in ${work})`) : undefined);
  const label = backend ?? process.env.TSGRAD_BACKEND ?? 'default';
  console.log(`Files one training step runs (pnpm train, one thread, backend ${label}), with ${ENTRY} where a reader starts: ${executed.length}`);
  for (const f of executed) console.log(`  ${f}${f === ENTRY ? '   (the entry, where a reader starts)' : ''}`);
  console.log(`by part: ${countByPart(executed)}`);
  const left = executed.filter((f) => !reader.includes(f));
  console.log(`\nFiles a reader opens (the above minus the plumbing modules in PLUMBING): ${reader.length}`);
  console.log(`by part: ${countByPart(reader)}`);
  console.log(`left out: ${left.map((f) => f.replace('packages/tensor/src/', '')).join(', ') || 'none'}`);
  console.log(`\nOther files the 4-step run executed (setup, checkpoint saving, first-step-only caches): ${setupOnly.length}`);
  for (const f of setupOnly) console.log(`  ${f}`);
  console.log(`\nSummary, backend ${label}: ${executed.length} files executed by one step (upper bound), ${reader.length} files a reader opens`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main(backendFlag(process.argv), process.argv.includes('--keep'));
