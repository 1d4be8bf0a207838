#!/usr/bin/env node
// `pnpm generate`: streams text from a trained model folder (ours, or a Hugging Face LLaMA folder
// whose tokenizer we support).

import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { runIfMain } from './run-main.js';
import { LlamaForCausalLM } from '../model.js';
import { setFileSource } from '../file-source.js';
import { fsFileSource } from '../node/fs-source.js';
import { pickModelFolder, readTokenizer } from '../node/checkpoints.js';
import { setupThreads } from '../node/threads.js';
import { integerFlag, joinNegativeValues, numberFlag } from '../node/flags.js';

const USAGE = `usage: pnpm generate [--model_dir <dir>] [--prompt "..."] [--max_new_tokens N] [--temperature T]
                     [--top_k K] [--top_p P] [--seed S]
model_dir may be a model folder (config.json, model.safetensors, tokenizer.json) or a training
model_dir (its latest checkpoint is used). Default: runs/tiny.`;

/** Parses argv and runs; returns the process exit code. */
export async function main(
  argv: string[],
  write: (s: string) => void = (s) => process.stdout.write(s),
  warn: (line: string) => void = (line) => console.error(line),
): Promise<number> {
  setFileSource(fsFileSource); // fromPretrained reads the model folder with fs
  let args;
  try {
    args = parseArgs({
      args: joinNegativeValues(argv, ['prompt', 'max_new_tokens', 'temperature', 'top_k', 'top_p', 'seed', 'threads']),
      options: {
        model_dir: { type: 'string' }, prompt: { type: 'string' }, max_new_tokens: { type: 'string' },
        temperature: { type: 'string' }, top_k: { type: 'string' }, top_p: { type: 'string' }, seed: { type: 'string' },
        threads: { type: 'string' }, help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }).values;
  } catch (err) {
    console.error(`generate: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (args.help) {
    console.log(USAGE);
    return 0;
  }
  const MAX = Number.MAX_SAFE_INTEGER;
  let maxNewTokens: number, temperature: number, topK: number, topP: number, seed: number;
  try {
    maxNewTokens = integerFlag('generate', 'max_new_tokens', args.max_new_tokens, 0, MAX, 200);
    temperature = numberFlag('generate', 'temperature', args.temperature, '≥ 0 (0 is greedy)', (v) => v >= 0, 0.8);
    topK = integerFlag('generate', 'top_k', args.top_k, 0, MAX, 0);
    topP = numberFlag('generate', 'top_p', args.top_p, 'in (0, 1]', (v) => v > 0 && v <= 1, 1);
    seed = integerFlag('generate', 'seed', args.seed, -MAX, MAX, 0);
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const given = resolve(args.model_dir ?? join('runs', 'tiny'));
  const dir = await pickModelFolder(given, (line) => console.error(line));
  if (!dir) throw new Error(`generate: ${given} holds no model (no config.json and no checkpoint_<step> folder); train one with pnpm train`);
  const tokenizer = readTokenizer(dir);
  await setupThreads('generate', args.threads, warn);
  const model = await LlamaForCausalLM.fromPretrained(dir);
  const prompt = args.prompt ?? 'Call me Ishmael.';
  const promptIds = tokenizer.encode(prompt);
  if (promptIds.length === 0) throw new Error('generate: --prompt is empty');
  if (promptIds.some((id) => id >= model.config.vocabSize)) throw new Error(`generate: the prompt encodes to ids beyond the model's vocabulary of ${model.config.vocabSize}`);
  // the prompt primes the stream decoder, so the first new token decodes in context (its space)
  const stream = tokenizer.createStreamingDecoder({ skipSpecialTokens: true });
  for (const id of promptIds) stream.push(id);
  write(prompt);
  // A model only knows positions up to its context. When the prompt and the new tokens fit, the whole
  // prompt is used; beyond that the text slides: whenever the context is full, its last half becomes
  // the new prompt (so any --max_new_tokens works), and the user is told once.
  const window = model.config.maxPositionEmbeddings;
  const half = Math.max(1, Math.floor(window / 2));
  let context = promptIds;
  if (promptIds.length + maxNewTokens > window) {
    if (window < 2) throw new Error(`generate: the model's context is ${window} token; it cannot continue a prompt of ${promptIds.length}`);
    warn(`generate: the prompt (${promptIds.length} tokens) and ${maxNewTokens} new tokens exceed the model's context of ${window}; `
      + `${promptIds.length >= window ? `only the prompt's last ${half} tokens are used, and ` : ''}whenever the context is full the model sees only the last ${half} tokens (a sliding window)`);
    if (context.length >= window) context = context.slice(-half);
  }
  let remaining = maxNewTokens;
  let round = 0;
  while (remaining > 0) {
    const n = Math.min(remaining, window - context.length);
    const ids = model.generate(context, {
      maxNewTokens: n, temperature, topK: topK || undefined, topP, seed: seed + round++,
      onToken: (id) => write(stream.push(id)),
    });
    remaining -= ids.length - context.length;
    if (ids.length - context.length < n) break;
    context = ids.slice(-half);
  }
  write(stream.flush() + '\n');
  return 0;
}

runIfMain(import.meta.url, (argv) => main(argv));
