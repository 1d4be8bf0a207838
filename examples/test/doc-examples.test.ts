// Every `@example` in the doc comments of packages/*/src runs, so no example in the API reference
// can rot. The convention, which the examples follow and this test checks:
//
//   - an example is the ```ts block(s) after an `@example` tag; it imports from the package names
//     (`@tsgrad/tensor`, ...) as a reader's code would;
//   - each `// → text` comment is one line the example prints, in order (a `// → ` line on its own
//     continues a multi-line print); the printed lines must equal the claimed ones exactly, and every
//     example claims at least one line;
//   - the examples also typecheck (tsc, strict), since tsx runs code without checking its types.
//
// Each example is written to .tmp/doc-examples/ (inside the repository, so the package names
// resolve) and run in its own process with `node --import tsx`, as `pnpm tsx file.ts` would.

import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const OUT_DIR = `${ROOT}.tmp/doc-examples/`;

interface DocExample {
  /** Where it is documented: `packages/tensor/src/create.ts: tensor`. */
  where: string;
  /** The documented symbol (`Tensor.backward` for a member). */
  symbol: string;
  code: string;
  /** The lines the `// →` comments say the example prints. */
  claimed: string[];
}

/** The symbol a doc comment documents: the declaration on the first non-blank line after it. */
function documentedSymbol(source: string, commentEnd: number): string {
  const rest = source.slice(commentEnd).replace(/^\s*/, '');
  const line = rest.slice(0, rest.indexOf('\n'));
  const top = /^(?:export\s+)?(?:default\s+)?(?:abstract\s+)?(?:async\s+)?(?:function\*?|class|const|let|interface|type)\s+(\w+)/.exec(line);
  if (top) return top[1]!;
  const member = /^(?:(?:public|private|protected|static|readonly|override|async|get|set)\s+)*(\w+)/.exec(line);
  if (!member) throw new Error(`doc-examples: cannot tell what the comment before "${line}" documents`);
  const classes = [...source.slice(0, commentEnd).matchAll(/^export (?:abstract )?class (\w+)/gm)];
  const owner = classes[classes.length - 1]?.[1];
  return owner ? `${owner}.${member[1]}` : member[1]!;
}

/** The claimed output of an example: the text after each `// → `, one line each. */
function claimedLines(code: string): string[] {
  return code.split('\n').flatMap((line) => {
    const m = /\/\/ → (.*)$/.exec(line);
    return m ? [m[1]!] : [];
  });
}

/** Every `@example` code block in the doc comments of one source file. */
function extractExamples(relPath: string, source: string): DocExample[] {
  const examples: DocExample[] = [];
  for (const comment of source.matchAll(/\/\*\*([\s\S]*?)\*\//g)) {
    if (!comment[1]!.includes('@example')) continue;
    const text = comment[1]!.split('\n').map((l) => l.replace(/^\s*\* ?/, '')).join('\n');
    const symbol = documentedSymbol(source, comment.index! + comment[0].length);
    // each @example runs to the next block tag outside a code fence, or to the end of the comment
    for (const section of text.split(/^@example\b.*$/m).slice(1)) {
      const body = section.split(/^@\w+/m)[0]!;
      const blocks = [...body.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
      if (blocks.length === 0) throw new Error(`doc-examples: the @example of ${symbol} in ${relPath} has no \`\`\`ts block`);
      const code = blocks.join('\n');
      examples.push({ where: `${relPath}: ${symbol}`, symbol, code, claimed: claimedLines(code) });
    }
  }
  return examples;
}

function sourceFiles(): string[] {
  const files: string[] = [];
  for (const pkg of readdirSync(`${ROOT}packages`)) {
    const src = `${ROOT}packages/${pkg}/src`;
    for (const rel of readdirSync(src, { recursive: true }) as string[]) {
      if (rel.endsWith('.ts')) files.push(`packages/${pkg}/src/${rel}`);
    }
  }
  return files.sort();
}

const examples = sourceFiles().flatMap((rel) => extractExamples(rel, readFileSync(`${ROOT}${rel}`, 'utf8')));
const fileText = (e: DocExample) => `// the @example of ${e.where}\n${e.code}`;
const fileOf = (i: number) => `${OUT_DIR}example-${String(i).padStart(2, '0')}-${examples[i]!.symbol.replace(/\W/g, '_')}.ts`;

// The exports a learner meets first (issue 17, "Docs that teach"): each must keep an example.
const FIRST_MET = [
  'tensor', 'Tensor', 'Tensor.mul', 'Tensor.tanh', 'Tensor.sum', 'Tensor.backward', 'Tensor.detach', 'Tensor.to',
  'Tensor.setRequiresGrad', 'Tensor.toString', 'grad', 'noGrad', 'gradcheck', 'defineOp', 'Module', 'Linear', 'AdamW',
  'clipGradNorm', 'CosineWithWarmup', 'LlamaForCausalLM', 'LlamaForCausalLM.fromPretrained', 'LlamaForCausalLM.generate',
];

describe('doc-comment examples', () => {
  it('the extractor reads a tag, its ts blocks and their claims, and names the documented member', () => {
    const source = [
      'export class Box {',
      '  /**',
      '   * Doubles.',
      '   * @example',
      '   * ```ts',
      '   * console.log(2 * 2); // → 4',
      '   * // → (continued)',
      '   * ```',
      '   * @param x ignored',
      '   */',
      '  double(x: number): number { return 2 * x; }',
      '}',
    ].join('\n');
    expect(extractExamples('box.ts', source)).toEqual([{
      where: 'box.ts: Box.double', symbol: 'Box.double',
      code: 'console.log(2 * 2); // → 4\n// → (continued)\n', claimed: ['4', '(continued)'],
    }]);
  });

  it('every export a learner meets first has an example, and every example claims some output', () => {
    const documented = new Set(examples.map((e) => e.symbol));
    expect(FIRST_MET.filter((name) => !documented.has(name))).toEqual([]);
    expect(examples.filter((e) => e.claimed.length === 0).map((e) => e.where)).toEqual([]);
  });

  it('no example has a comment with an arrow that is not a claim (it would be silently unchecked)', () => {
    const unclear = examples.flatMap((e) => e.code.split('\n')
      .filter((line) => /\/\/.*→/.test(line) && !/\/\/ → /.test(line))
      .map((line) => `${e.where}: ${line.trim()}`));
    expect(unclear).toEqual([]);
  });

  it('every example typechecks (strict)', () => {
    rmSync(OUT_DIR, { recursive: true, force: true });
    mkdirSync(OUT_DIR, { recursive: true });
    examples.forEach((e, i) => writeFileSync(fileOf(i), fileText(e)));
    writeFileSync(`${OUT_DIR}tsconfig.json`, JSON.stringify({ extends: '../../tsconfig.base.json', include: ['*.ts'] }));
    const tsc = spawnSync(process.execPath, [`${ROOT}node_modules/typescript/bin/tsc`, '-p', `${OUT_DIR}tsconfig.json`], { cwd: ROOT, encoding: 'utf8' });
    expect(tsc.stdout + tsc.stderr, 'tsc errors in the extracted examples').toBe('');
    expect(tsc.status).toBe(0);
  });

  for (const [i, example] of examples.entries()) {
    it(`${example.where} runs and prints what its // → comments claim`, () => {
      mkdirSync(OUT_DIR, { recursive: true });
      writeFileSync(fileOf(i), fileText(example));
      const run = spawnSync(process.execPath, ['--import', 'tsx', fileOf(i)], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
      expect(run.status, `exited with ${run.status}:\n${run.stderr}`).toBe(0);
      expect(run.stdout.replace(/\n$/, '').split('\n')).toEqual(example.claimed);
    });
  }
});
