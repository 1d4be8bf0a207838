#!/usr/bin/env node
// `pnpm train`: training and validation driven by a Cerebras Model-Zoo-style YAML config, with the
// flags of the zoo's run.py. With no arguments it trains a tiny LLaMA on Moby Dick.

import { constants as osConstants } from 'node:os';
import { getBackend } from '@tsgrad/tensor';
import { parseArgs } from 'node:util';
import { runIfMain } from './run-main.js';
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';
import { loadZooConfig } from '../node/zoo-config.js';
import { describeConfig, runTraining } from '../node/trainer.js';
import { setFileSource } from '../file-source.js';
import { fsFileSource } from '../node/fs-source.js';
import { setupThreads } from '../node/threads.js';
import { measureRuntimeMemory } from '../node/peak-rss.js';
import { disableWorkerThreads } from '@tsgrad/tensor/node';
import { integerFlag, joinNegativeValues } from '../node/flags.js';

const USAGE = `usage: pnpm train [--params <config.yaml>] [--mode train|eval|train_and_eval] [--model_dir <dir>]
                  [--checkpoint_path <checkpoint dir>] [--max_steps N] [--dry_run] [--threads N]
With no arguments: trains packages/llama/configs/params_llama_tiny.yaml on Moby Dick into runs/tiny.`;

const here = dirname(fileURLToPath(import.meta.url));
const DEFAULT_PARAMS = join(here, '..', '..', 'configs', 'params_llama_tiny.yaml');

/** Parses argv and runs; returns the process exit code. */
export async function main(argv: string[]): Promise<number> {
  setFileSource(fsFileSource); // checkpoints are written with savePretrained and read with fromPretrained, through fs
  let args;
  try {
    args = parseArgs({
      args: joinNegativeValues(argv, ['max_steps', 'threads']),
      options: {
        params: { type: 'string' },
        mode: { type: 'string' },
        model_dir: { type: 'string' },
        checkpoint_path: { type: 'string' },
        max_steps: { type: 'string' },
        dry_run: { type: 'boolean' },
        threads: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }).values;
  } catch (err) {
    console.error(`train: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (args.help) {
    console.log(USAGE);
    return 0;
  }
  const mode = (args.mode ?? 'train_and_eval') as 'train' | 'eval' | 'train_and_eval';
  if (!['train', 'eval', 'train_and_eval'].includes(mode)) {
    console.error(`train: --mode must be train, eval or train_and_eval, got '${args.mode}'\n${USAGE}`);
    return 2;
  }
  let maxSteps: number | undefined;
  try {
    if (args.max_steps !== undefined) maxSteps = integerFlag('train', 'max_steps', args.max_steps, 1, Number.MAX_SAFE_INTEGER, 0);
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const paramsPath = resolve(args.params ?? DEFAULT_PARAMS);
  const config = loadZooConfig(paramsPath);
  if (args.dry_run) {
    // start the worker pool as the run would (setupThreads), to measure what it adds to the rss; then stop it
    const { threads, runtime } = await measureRuntimeMemory(() => setupThreads('train', args.threads));
    disableWorkerThreads();
    for (const line of describeConfig(config, { threads, backend: getBackend() }, runtime)) console.log(line);
    return 0;
  }
  const modelDir = resolve(args.model_dir ?? (args.params ? 'model_dir' : join('runs', 'tiny')));
  const { threads, runtime } = await measureRuntimeMemory(() => setupThreads('train', args.threads));
  for (const line of describeConfig(config, { threads, backend: getBackend() }, runtime)) console.log(line);
  console.log(`model_dir:         ${modelDir}\nthreads:           ${threads}`);
  // Ctrl-C (SIGINT) or SIGTERM: finish the current step, save, exit 130 / 143 as a shell expects of
  // a signalled program. A second signal quits at once (the last saved checkpoint stays whole).
  let stopSignal: NodeJS.Signals | null = null;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopSignal) process.exit(128 + osConstants.signals[signal]);
    stopSignal = signal;
    console.log(`\n${signal === 'SIGINT' ? 'Ctrl-C' : signal}: saving a checkpoint after this step (send it again to quit at once)`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const result = await runTraining({
      config, modelDir, mode, maxSteps,
      checkpointPath: args.checkpoint_path ? resolve(args.checkpoint_path) : undefined,
      shouldStop: () => stopSignal !== null,
    });
    if (result.evalLoss !== null) {
      console.log(`final validation loss ${result.evalLoss.toFixed(4)} nats/token (perplexity ${Math.exp(result.evalLoss).toFixed(2)})`);
    }
    return result.interrupted && stopSignal ? 128 + osConstants.signals[stopSignal] : 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

runIfMain(import.meta.url, (argv) => main(argv));
