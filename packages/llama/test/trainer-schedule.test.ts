// The learning rate each training step uses, as metrics.jsonl records it: Model Zoo's schedule
// (optim's WarmupThenDecay) through warmup, cosine decay and its end, worked out by hand.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import '../src/index.js'; // the Node entry installs the fs file source that checkpoints are written through
import { loadZooConfig } from '../src/node/zoo-config.js';
import { runTraining } from '../src/node/trainer.js';
import type { Corpus } from '../src/node/corpus.js';

const CONFIGS = new URL('../configs/', import.meta.url).pathname;
const scratch = mkdtempSync(join(tmpdir(), 'tsgrad-trainer-schedule-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const text = 'Call me Ishmael. Some years ago, never mind how long precisely, I went to sea. '.repeat(40);
const corpus: Corpus = { source: 'test text', train: new TextEncoder().encode(text), validation: new TextEncoder().encode(text.slice(0, 800)) };

describe('the trainer\'s learning rate', () => {
  it('is the schedule\'s value at step k for the (k+1)-th step, logged with it: warmup 0 → 1e-2 in 5 steps, cosine to 1e-3 over 15', async () => {
    const config = loadZooConfig(join(CONFIGS, 'params_llama_micro.yaml'));
    expect(config.optimizer.schedule).toEqual({ warmupSteps: 5, initialLr: 0, maxLr: 1e-2, endLr: 1e-3, decaySteps: 15 });
    expect(config.runconfig.logSteps).toBe(1);
    const dir = join(scratch, 'lr');
    await runTraining({ config, modelDir: dir, mode: 'train', corpus, log: () => undefined, progressBar: false });
    const lr = new Map<number, number>(readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n')
      .map((l) => JSON.parse(l)).filter((m) => m.lr !== undefined).map((m) => [m.step, m.lr]));
    expect([...lr.keys()]).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    // logged step s ran at the schedule's value at k = s − 1; the cosine runs over t = k − 5 in [0, 15)
    const byHand: Array<[number, number]> = [
      [1, 0], [2, 2e-3], [3, 4e-3], [5, 8e-3], // warmup: 1e-2·k/5
      [6, 1e-2], // t = 0, the cosine's top
      [11, 1e-3 + 4.5e-3 * 1.5], // t = 5: cos(π/3) = ½
      [16, 1e-3 + 4.5e-3 * 0.5], // t = 10: cos(2π/3) = −½
      [18, 1e-3 + 4.5e-3 * (1 - 0.8090169943749475)], // t = 12: cos(4π/5) = −(1 + √5)/4
    ];
    for (const [step, value] of byHand) expect(lr.get(step), `lr logged at step ${step}`).toBeCloseTo(value, 15);
  });
});
