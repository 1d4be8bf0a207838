// The expected peak rss's terms: the semi-space size read from the flags (and V8's default), checked
// against what V8 itself reports once an allocating loop has grown its young generation, and the
// sum.

import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { expectedPeakRss, semiSpaceSize } from '../src/node/peak-rss.js';

const MiB = 2 ** 20;

// A Node process that allocates objects of which a few thousand survive each scavenge (a training
// loop's pattern: survivors make V8 grow the young generation), then prints V8's new_space size.
const GROW_YOUNG_GENERATION = `
const v8 = require('node:v8');
const keep = new Array(20000);
for (let i = 0; i < 3e6; i++) keep[i % keep.length] = { i, a: [i, i + 1] };
const space = (name) => v8.getHeapSpaceStatistics().find((s) => s.space_name === name).space_size;
console.log(JSON.stringify({ newSpace: space('new_space'), newLargeObjects: space('new_large_object_space') }));
`;

function youngGenerationOfChild(execArgv: string[], nodeOptions: string): { newSpace: number; newLargeObjects: number } {
  const env = { ...process.env, NODE_OPTIONS: nodeOptions };
  const r = spawnSync(process.execPath, [...execArgv, '-e', GROW_YOUNG_GENERATION], { encoding: 'utf8', env, timeout: 60_000 });
  if (r.status !== 0) throw new Error(`the child failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as { newSpace: number; newLargeObjects: number };
}

describe('expected peak rss', () => {
  it('reads --max-semi-space-size from the command line and NODE_OPTIONS (the command line wins), else V8\'s default', () => {
    expect(semiSpaceSize([], '', 'x64')).toEqual({ bytes: 16 * MiB, source: 'V8\'s default on 64-bit' });
    expect(semiSpaceSize([], '', 'ia32')).toEqual({ bytes: 8 * MiB, source: 'V8\'s default on 32-bit' });
    expect(semiSpaceSize(['--import', 'tsx', '--max-semi-space-size=4'], '', 'x64').bytes).toBe(4 * MiB);
    expect(semiSpaceSize([], '--max-old-space-size=100 --max-semi-space-size 2', 'x64')).toEqual({ bytes: 2 * MiB, source: '--max-semi-space-size=2' });
    expect(semiSpaceSize(['--max_semi_space_size=8'], '--max-semi-space-size=2', 'x64').bytes).toBe(8 * MiB);
    expect(() => semiSpaceSize(['--max-semi-space-size=lots'], '', 'x64')).toThrow(/--max-semi-space-size must be a positive number of MiB, got 'lots'/);
  });

  it('V8 grows its young generation to two semi-spaces of that size (v8.getHeapSpaceStatistics in a child)', () => {
    // this Node's default, a flag on the command line, and one in NODE_OPTIONS
    for (const [execArgv, nodeOptions] of [[[], ''], [['--max-semi-space-size=4'], ''], [[], '--max-semi-space-size=2']] as const) {
      const measured = youngGenerationOfChild([...execArgv], nodeOptions);
      expect(measured.newSpace, `${execArgv.join(' ')} ${nodeOptions}`).toBe(2 * semiSpaceSize(execArgv, nodeOptions).bytes);
      // float storage lives outside V8's heap: the young generation's large-object part stays empty
      expect(measured.newLargeObjects).toBe(0);
    }
    expect(youngGenerationOfChild([], '').newSpace).toBe(32 * MiB);
  });

  it('adds the rss now, the workers\' runtime, the training memory and two semi-spaces', () => {
    const training = { weights: 1, grads: 1, adamMoments: 2, activations: 5, kernelStaging: 3, total: 12 * MiB };
    const runtime = { rss: 90 * MiB, workers: 20 * MiB, workerCount: 1, semiSpace: { bytes: 16 * MiB, source: 'x' } };
    expect(expectedPeakRss(runtime, training)).toEqual({ rss: 90 * MiB, workers: 20 * MiB, training: 12 * MiB, youngGeneration: 32 * MiB, total: 154 * MiB });
  });
});
