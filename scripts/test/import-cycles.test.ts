// No import cycles in packages/llama, nn or optim (issue 17): a reader can open any file and follow
// its imports down to files that do not lead back. See scripts/import-cycles.ts for the walk.

import { describe, expect, it } from 'vitest';
import { type ModuleImport, describeCycle, findCycles, packageCycles, relativeImports } from '../import-cycles.js';

const graph = (edges: Record<string, Array<[string, boolean?]>>) =>
  new Map<string, ModuleImport[]>(Object.entries(edges).map(([f, to]) => [f, to.map(([target, typeOnly]) => ({ target, typeOnly: typeOnly ?? false }))]));

describe('import cycles', () => {
  it('findCycles finds a cycle through three files, a self-import, and none in a diamond', () => {
    const cycles = findCycles(graph({ 'a.ts': [['b.ts']], 'b.ts': [['c.ts']], 'c.ts': [['a.ts']], 'd.ts': [['d.ts']], 'e.ts': [['a.ts']] }));
    expect(cycles.map(describeCycle)).toEqual(['3 files (a.ts, b.ts, c.ts), e.g. a.ts → b.ts → c.ts → a.ts', '1 file (d.ts), e.g. d.ts → d.ts']);
    expect(findCycles(graph({ 'a.ts': [['b.ts'], ['c.ts']], 'b.ts': [['d.ts']], 'c.ts': [['d.ts']], 'd.ts': [] }))).toEqual([]);
  });

  it('findCycles marks a cycle closed only by a type import as type-only, and prefers a run-time path', () => {
    expect(findCycles(graph({ 'a.ts': [['b.ts']], 'b.ts': [['a.ts', true]] }))[0]!.typeOnly).toBe(true);
    const mixed = findCycles(graph({ 'a.ts': [['b.ts'], ['c.ts']], 'b.ts': [['a.ts']], 'c.ts': [['a.ts', true]] }));
    expect(mixed.map(describeCycle)).toEqual(['3 files (a.ts, b.ts, c.ts), e.g. a.ts → b.ts → a.ts']);
  });

  it('relativeImports reads imports, re-exports and side-effect imports, and tells type-only ones', () => {
    const text = [
      "import { a } from './a.js';",
      "import type { B } from './b.js';",
      "import { type C, type D } from './cd.js';",
      "import { type E, f } from './ef.js';",
      "import './side-effect.js';",
      "export * from './all.js';",
      "export type { G } from './g.js';",
      "import { tensor } from '@tsgrad/tensor';",
    ].join('\n');
    expect(relativeImports('x.ts', text)).toEqual([
      { specifier: './a.js', typeOnly: false }, { specifier: './b.js', typeOnly: true }, { specifier: './cd.js', typeOnly: true },
      { specifier: './ef.js', typeOnly: false }, { specifier: './side-effect.js', typeOnly: false },
      { specifier: './all.js', typeOnly: false }, { specifier: './g.js', typeOnly: true },
    ]);
  });

  it('packages/nn/src has no import cycles', () => {
    expect(packageCycles('nn').map(describeCycle)).toEqual([]);
  });

  it('packages/optim/src has no import cycles', () => {
    expect(packageCycles('optim').map(describeCycle)).toEqual([]);
  });

  it('packages/llama/src has no import cycles', () => {
    expect(packageCycles('llama').map(describeCycle)).toEqual([]);
  });
});
