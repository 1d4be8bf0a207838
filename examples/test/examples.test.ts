// Every example runs as a reader would run it (`pnpm tsx examples/<name>.ts`, here `node --import
// tsx`), so none of them can rot; each test then checks what the example claims in its output.

import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function run(name: string): string {
  const started = performance.now();
  const result = spawnSync(process.execPath, ['--import', 'tsx', `examples/${name}.ts`], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  expect(result.status, `${name} exited with ${result.status} after ${seconds} s:\n${result.stderr}`).toBe(0);
  return result.stdout;
}

const numberAfter = (out: string, label: RegExp): number => {
  const m = label.exec(out);
  expect(m, `no match for ${label} in:\n${out}`).not.toBeNull();
  return Number(m![1]);
};

describe('examples', () => {
  it('tour.ts is the README tour, verbatim, and its gradcheck passes', () => {
    const readme = readFileSync(`${ROOT}README.md`, 'utf8');
    const tour = readFileSync(`${ROOT}examples/tour.ts`, 'utf8');
    expect(readme).toContain('```ts\n' + tour.trimEnd() + '\n```');
    const out = run('tour');
    expect(out).toContain('gradcheck true');
    const expected = Math.tanh(0.5) + Math.tanh(-2) + Math.tanh(1.5) + Math.tanh(-4);
    expect(numberAfter(out, /^loss +tensor\((\S+),/m)).toBeCloseTo(expected, 4);
    // the output the README shows is the output the tour prints
    expect(readme).toContain('```text\n' + out.trimEnd() + '\n```');
  });

  it('scalar-autograd.ts: autograd agrees with the hand derivation', () => {
    expect(run('scalar-autograd')).toContain('autograd matches the hand derivation');
  });

  it('mlp-sine.ts: the loss falls to under a fifth of where it started', () => {
    const out = run('mlp-sine');
    expect(numberAfter(out, /final loss (\S+)/)).toBeLessThan(numberAfter(out, /initial loss (\S+),/) / 5);
  });

  it('custom-gradcheck.ts: the right backward passes, the wrong one fails with a report', () => {
    const out = run('custom-gradcheck');
    expect(out).toContain('gradcheck(softplus): true');
    expect(out).toContain('gradgradcheck(softplus): true');
    expect(out).toContain('gradcheck(softplusWrong): false');
    expect(out).toMatch(/Jacobian mismatch .* analytic \S+, numeric \S+/);
  });

  it('tiny-llama.ts: training lowers the loss and generate continues the prompt', () => {
    const out = run('tiny-llama');
    const losses = [...out.matchAll(/loss (\S+)/g)].map((m) => Number(m[1]));
    expect(losses[losses.length - 1]!).toBeLessThan(losses[0]! / 4);
    expect(out).toMatch(/^sample: "The dog/m);
  });

  it('hf-checkpoint.ts: loads the Hugging Face folder, matches its loss, generates greedily', () => {
    const out = run('hf-checkpoint');
    expect(out).toContain('21 tensors: model.embed_tokens.weight');
    expect(out).toMatch(/prompt \[31,11,17,6,63\] → \[31,11,17,6,63(,\d+){10}\]/);
  });

  it('graph-dot.ts: writes the DOT graph of a small expression', () => {
    rmSync(`${ROOT}examples/out/graph.dot`, { force: true });
    const out = run('graph-dot');
    expect(out).toContain('gradFn=add');
    const dot = readFileSync(`${ROOT}examples/out/graph.dot`, 'utf8');
    expect(dot).toMatch(/^digraph tsgrad \{/);
    for (const op of ['matmul', 'add', 'relu', 'sum', 'div']) expect(dot).toContain(`label="${op}\\n`);
    if (out.includes('wrote examples/out/graph.svg')) expect(existsSync(`${ROOT}examples/out/graph.svg`)).toBe(true);
  });
});
