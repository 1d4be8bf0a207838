// Issue 17's target, measured on a real run: following one training step of `pnpm train` (one
// thread, the js kernels a learner reads) a reader opens at most 22 files, and on one thread the
// step never enters the thread code (parallel/). scripts/step-files.ts says how files are counted;
// this runs it (two short training runs under V8 coverage, about 15 s).

import { describe, expect, it } from 'vitest';
import { measureStep } from '../step-files.js';

describe('one training step, as a reader follows it', () => {
  it('opens at most 22 files on the js backend, and none of the thread code on one thread', () => {
    const { executed, reader } = measureStep('js');
    // the step is really measured: the model, the backward and the update are among its files
    for (const f of ['packages/llama/src/model.ts', 'packages/tensor/src/autograd/engine.ts', 'packages/optim/src/adamw.ts']) expect(executed).toContain(f);
    expect(executed.filter((f) => f.includes('/src/parallel/'))).toEqual([]);
    expect(reader.length, reader.join('\n')).toBeLessThanOrEqual(22);
  });
});
