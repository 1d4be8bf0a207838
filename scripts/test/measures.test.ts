// The two measures of issue 17 read V8's reports correctly: which files one more training step
// runs (scripts/step-files.ts, from coverage) and the file chain of the attention call
// (scripts/attention-path.ts, from a CPU profile). Synthetic reports, so the rules are seen exactly.

import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { PLUMBING, type ScriptCoverage, backendFlag, countByPart, filesRun, filesRunMoreOften, groupOf, readerFiles } from '../step-files.js';
import { type ProfileNode, fileChains } from '../attention-path.js';

const ROOT = '/repo/';
const url = (file: string) => pathToFileURL(ROOT + file).href;
const fn = (functionName: string, startOffset: number, count: number) => ({ functionName, ranges: [{ startOffset, endOffset: startOffset + 10, count }] });

describe('step-files', () => {
  const fewer: ScriptCoverage[] = [
    { url: url('packages/a/src/step.ts'), functions: [fn('', 0, 1), fn('trainStep', 20, 4)] },
    { url: url('packages/a/src/setup.ts'), functions: [fn('', 0, 1), fn('__name', 5, 9), fn('prepare', 40, 1)] },
    { url: url('packages/a/src/imported.ts'), functions: [fn('', 0, 1), fn('__name', 5, 3), fn('<static_initializer>', 30, 1), fn('unused', 50, 0)] },
    { url: url('packages/a/test/x.test.ts'), functions: [fn('', 0, 1), fn('t', 10, 4)] },
    { url: url('node_modules/dep/index.js'), functions: [fn('dep', 10, 4)] },
  ];
  const more: ScriptCoverage[] = [
    { url: url('packages/a/src/step.ts'), functions: [fn('', 0, 1), fn('trainStep', 20, 5)] },
    { url: url('packages/a/src/setup.ts'), functions: [fn('', 0, 1), fn('__name', 5, 9), fn('prepare', 40, 1)] },
    // a function first run in the longer run counts too, and the import-time helpers never do
    { url: url('packages/a/src/imported.ts'), functions: [fn('', 0, 1), fn('__name', 5, 4), fn('<static_initializer>', 30, 2), fn('unused', 50, 1)] },
    { url: url('packages/a/test/x.test.ts'), functions: [fn('', 0, 1), fn('t', 10, 5)] },
    { url: url('node_modules/dep/index.js'), functions: [fn('dep', 10, 5)] },
  ];

  it('filesRunMoreOften keeps our source files where some function ran more often, not import-time code, tests or dependencies', () => {
    expect(filesRunMoreOften(fewer, more, ROOT)).toEqual(['packages/a/src/imported.ts', 'packages/a/src/step.ts']);
  });

  it('filesRun counts a file only when one of its own functions ran, not its top level or esbuild helpers', () => {
    expect(filesRun(fewer, ROOT)).toEqual(['packages/a/src/setup.ts', 'packages/a/src/step.ts']);
  });

  it('groupOf names the package, and the folder within tensor', () => {
    expect(['packages/nn/src/layers.ts', 'packages/tensor/src/ops/matmul.ts', 'packages/tensor/src/shape.ts'].map(groupOf))
      .toEqual(['nn', 'tensor/ops', 'tensor (top level)']);
  });

  it('countByPart counts the files of each part, in order of first appearance', () => {
    expect(countByPart(['packages/nn/src/layers.ts', 'packages/tensor/src/ops/a.ts', 'packages/nn/src/module.ts', 'packages/tensor/src/ops/b.ts', 'packages/tensor/src/tensor.ts']))
      .toBe('nn 2, tensor/ops 2, tensor (top level) 1');
  });

  it('readerFiles leaves out exactly the plumbing modules, keeping the order of the rest', () => {
    const step = ['packages/llama/src/model.ts', 'packages/tensor/src/dtype.ts', 'packages/tensor/src/ops/matmul.ts', 'packages/tensor/src/ops/common.ts',
      'packages/tensor/src/tensor.ts', 'packages/tensor/src/storage-pool.ts', 'packages/nn/src/shape.ts'];
    // a file named like a plumbing module in another folder or package stays
    expect(readerFiles(step)).toEqual(['packages/llama/src/model.ts', 'packages/tensor/src/ops/matmul.ts', 'packages/tensor/src/tensor.ts', 'packages/nn/src/shape.ts']);
  });

  it('the plumbing list is the eight documented modules, each a file that exists', () => {
    const root = fileURLToPath(new URL('../../', import.meta.url));
    expect(PLUMBING.map((p) => p.file.replace('packages/tensor/src/', ''))).toEqual(
      ['dtype.ts', 'shape.ts', 'create.ts', 'random.ts', 'ops/common.ts', 'backend.ts', 'storage-pool.ts', 'release-scope.ts']);
    for (const { file } of PLUMBING) expect(existsSync(root + file), file).toBe(true);
  });

  it('backendFlag reads --backend js|wasm, is undefined without it, and names a bad value', () => {
    expect(backendFlag(['node', 'step-files.ts', '--backend', 'js'])).toBe('js');
    expect(backendFlag(['node', 'step-files.ts', '--keep', '--backend', 'wasm'])).toBe('wasm');
    expect(backendFlag(['node', 'step-files.ts', '--keep'])).toBeUndefined();
    expect(() => backendFlag(['node', 'step-files.ts', '--backend', 'gpu'])).toThrow(/--backend gpu: expected js or wasm/);
    expect(() => backendFlag(['node', 'step-files.ts', '--backend'])).toThrow(/--backend \(missing\): expected js or wasm/);
  });
});

describe('attention-path', () => {
  const node = (id: number, file: string, functionName: string, hitCount: number, children: number[] = []): ProfileNode =>
    ({ id, callFrame: { functionName, url: file.startsWith('wasm') ? file : url(file) }, hitCount, children });

  it('fileChains follows the op called from the caller file, merging frames in one file and counting samples per chain', () => {
    const nodes = [
      node(1, 'packages/m/src/model.ts', 'forward', 0, [2, 9]),
      node(2, 'packages/t/src/op.ts', 'attention', 1, [3, 7]),
      node(3, 'packages/t/src/kernel.ts', 'run', 0, [4]),
      node(4, 'packages/t/src/kernel.ts', 'slices', 5, [5]),
      node(5, 'packages/t/src/matmul.ts', 'matmulKernel', 2, [6]),
      node(6, 'wasm://wasm/abc', 'product', 7),
      node(7, 'packages/t/src/shape.ts', 'numelOf', 1),
      // another op called from the same file is not the attention call
      node(9, 'packages/t/src/op2.ts', 'matmul', 4, [10]),
      node(10, 'packages/t/src/kernel.ts', 'slices', 3),
    ];
    expect(fileChains(nodes, ROOT, 'packages/m/src/model.ts', 'packages/t/src/op.ts', 'attention')).toEqual([
      { files: ['packages/m/src/model.ts', 'packages/t/src/op.ts', 'packages/t/src/kernel.ts', 'packages/t/src/matmul.ts'], samples: 9 },
      { files: ['packages/m/src/model.ts', 'packages/t/src/op.ts', 'packages/t/src/kernel.ts'], samples: 5 },
      { files: ['packages/m/src/model.ts', 'packages/t/src/op.ts'], samples: 1 },
      { files: ['packages/m/src/model.ts', 'packages/t/src/op.ts', 'packages/t/src/shape.ts'], samples: 1 },
    ]);
  });
});
