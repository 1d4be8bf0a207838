// Import cycles among a package's own modules: a walk over the relative imports and re-exports of
// packages/<name>/src/**/*.ts. A cycle means neither file can be read (or loaded) without the
// other; type-only imports are reported too, marked as such, since they are erased at run time.
//
// Run: pnpm tsx scripts/import-cycles.ts [package ...]    (default: every package; exits 1 on a cycle)

import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/** One relative import of a module: the file it resolves to and whether it is erased at run time. */
export interface ModuleImport {
  /** The imported file, relative to the package's src/. */
  target: string;
  /** True for `import type`, `export type`, and imports whose every name is a type. */
  typeOnly: boolean;
}

/** A group of files that import each other, directly or through one another (a strongly connected component). */
export interface ImportCycle {
  /** The files of the group, relative to the package's src/, sorted. */
  files: string[];
  /** One closed path through the group: each file imports the next, and the last imports the first. */
  path: string[];
  /** True when the group holds together only through type imports (no cycle at run time). */
  typeOnly: boolean;
}

const ROOT = fileURLToPath(new URL('../', import.meta.url));

function tsFiles(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[]).filter((f) => f.endsWith('.ts')).map((f) => f.split('\\').join('/')).sort();
}

/** The relative imports, re-exports and side-effect imports of one source file. */
export function relativeImports(fileName: string, text: string): Array<{ specifier: string; typeOnly: boolean }> {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.ES2022, false);
  const found: Array<{ specifier: string; typeOnly: boolean }> = [];
  for (const statement of source.statements) {
    if (ts.isImportDeclaration(statement) && ts.isStringLiteral(statement.moduleSpecifier)) {
      const clause = statement.importClause;
      const named = clause?.namedBindings && ts.isNamedImports(clause.namedBindings) ? clause.namedBindings.elements : undefined;
      // `import { type A, type B } from` is erased like `import type`; `import './x.js'` is not
      const typeOnly = clause !== undefined && (clause.isTypeOnly
        || (clause.name === undefined && named !== undefined && named.length > 0 && named.every((e) => e.isTypeOnly)));
      found.push({ specifier: statement.moduleSpecifier.text, typeOnly });
    } else if (ts.isExportDeclaration(statement) && statement.moduleSpecifier && ts.isStringLiteral(statement.moduleSpecifier)) {
      const named = statement.exportClause && ts.isNamedExports(statement.exportClause) ? statement.exportClause.elements : undefined;
      const typeOnly = statement.isTypeOnly || (named !== undefined && named.length > 0 && named.every((e) => e.isTypeOnly));
      found.push({ specifier: statement.moduleSpecifier.text, typeOnly });
    }
  }
  return found.filter((i) => i.specifier.startsWith('.'));
}

/** The module graph of one src/ folder: each file (relative to srcDir) → its relative imports. */
export function moduleGraph(srcDir: string): Map<string, ModuleImport[]> {
  const graph = new Map<string, ModuleImport[]>();
  for (const file of tsFiles(srcDir)) {
    const imports = relativeImports(file, readFileSync(join(srcDir, file), 'utf8')).map(({ specifier, typeOnly }) => {
      const target = relative(srcDir, resolve(srcDir, dirname(file), specifier.replace(/\.js$/, '.ts'))).split('\\').join('/');
      return { target, typeOnly };
    });
    graph.set(file, imports);
  }
  return graph;
}

/**
 * The groups of files that import each other (strongly connected components, Tarjan's algorithm),
 * counting every import, with one closed path through each. A group whose files are still cyclic
 * without the type imports has `typeOnly` false, and its path goes through run-time imports.
 */
export function findCycles(graph: Map<string, ModuleImport[]>): ImportCycle[] {
  const edgesOf = (runtimeOnly: boolean) => (f: string) =>
    (graph.get(f) ?? []).filter((i) => !runtimeOnly || !i.typeOnly).map((i) => i.target).filter((t) => graph.has(t));
  const cyclic = (group: string[], edges: (n: string) => string[]) => group.length > 1 || edges(group[0]!).includes(group[0]!);
  const runtimeGroups = stronglyConnected([...graph.keys()], edgesOf(true)).filter((g) => cyclic(g, edgesOf(true)));
  return stronglyConnected([...graph.keys()], edgesOf(false)).filter((g) => cyclic(g, edgesOf(false))).map((files) => {
    const runtime = runtimeGroups.find((r) => r.every((f) => files.includes(f)));
    const path = runtime ? closedPath(runtime, edgesOf(true)) : closedPath(files, edgesOf(false));
    return { files, path, typeOnly: runtime === undefined };
  }).sort((a, b) => a.files[0]!.localeCompare(b.files[0]!));
}

function stronglyConnected(nodes: string[], edges: (n: string) => string[]): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const groups: string[][] = [];
  let next = 0;
  const visit = (n: string): void => {
    index.set(n, next);
    low.set(n, next++);
    stack.push(n);
    onStack.add(n);
    for (const m of edges(n)) {
      if (!index.has(m)) {
        visit(m);
        low.set(n, Math.min(low.get(n)!, low.get(m)!));
      } else if (onStack.has(m)) {
        low.set(n, Math.min(low.get(n)!, index.get(m)!));
      }
    }
    if (low.get(n) === index.get(n)) {
      const group: string[] = [];
      let m: string;
      do {
        m = stack.pop()!;
        onStack.delete(m);
        group.push(m);
      } while (m !== n);
      groups.push(group.sort());
    }
  };
  for (const n of nodes) if (!index.has(n)) visit(n);
  return groups;
}

// A shortest way from the group's first file back to itself, staying inside the group (breadth-first).
function closedPath(group: string[], edges: (n: string) => string[]): string[] {
  const start = group[0]!;
  const members = new Set(group);
  const from = new Map<string, string>();
  const queue = [start];
  while (queue.length > 0) {
    const n = queue.shift()!;
    for (const m of edges(n)) {
      if (!members.has(m)) continue;
      if (m === start) {
        const path = [n];
        while (path[0] !== start) path.unshift(from.get(path[0]!)!);
        return path;
      }
      if (!from.has(m)) {
        from.set(m, n);
        queue.push(m);
      }
    }
  }
  throw new Error(`import-cycles: no cycle through ${start} in its strongly connected group`);
}

/** The import cycles of packages/<name>/src. */
export function packageCycles(name: string): ImportCycle[] {
  return findCycles(moduleGraph(join(ROOT, 'packages', name, 'src')));
}

/** One line per group: its files, and a cycle through them (`a.ts → b.ts → a.ts`, "type-only" when erased at run time). */
export function describeCycle(cycle: ImportCycle): string {
  const path = [...cycle.path, cycle.path[0]].join(' → ');
  const count = cycle.files.length === 1 ? '1 file' : `${cycle.files.length} files`;
  return `${count} (${cycle.files.join(', ')}), e.g. ${path}${cycle.typeOnly ? ', type-only' : ''}`;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const names = process.argv.length > 2 ? process.argv.slice(2) : readdirSync(join(ROOT, 'packages')).sort();
  let total = 0;
  for (const name of names) {
    const cycles = packageCycles(name);
    total += cycles.length;
    console.log(`${name}: ${cycles.length === 0 ? 'no import cycles' : `${cycles.length} import cycle${cycles.length > 1 ? 's' : ''}`}`);
    for (const c of cycles) console.log(`  ${describeCycle(c)}`);
  }
  process.exitCode = total > 0 ? 1 : 0;
}
