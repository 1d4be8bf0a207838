// `pnpm generate`: streams text from a trained model folder (ours, or a Hugging Face LLaMA folder
// whose tokenizer we support).

import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { runIfMain } from './run-main.js';
import { LlamaForCausalLM } from '../index.js';
import { latestCheckpoint, readTokenizer } from '../node/checkpoints.js';
import { setupThreads } from '../node/threads.js';

const USAGE = `usage: pnpm generate [--model_dir <dir>] [--prompt "..."] [--max_new_tokens N] [--temperature T]
                     [--top_k K] [--top_p P] [--seed S]
model_dir may be a model folder (config.json, model.safetensors, tokenizer.json) or a training
model_dir (its latest checkpoint is used). Default: runs/tiny.`;

function numberFlag(name: string, value: string | undefined, fallback: number, check: (v: number) => boolean): number {
  if (value === undefined) return fallback;
  const v = Number(value);
  if (!check(v)) throw new Error(`generate: --${name} got '${value}', which is not valid`);
  return v;
}

/** Parses argv and runs; returns the process exit code. */
export async function main(argv: string[], write: (s: string) => void = (s) => process.stdout.write(s)): Promise<number> {
  let args;
  try {
    args = parseArgs({
      args: argv,
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
  const given = resolve(args.model_dir ?? join('runs', 'tiny'));
  const dir = existsSync(join(given, 'config.json')) ? given : latestCheckpoint(given);
  if (!dir) throw new Error(`generate: ${given} holds no model (no config.json and no checkpoint_<step> folder); train one with pnpm train`);
  const tokenizer = readTokenizer(dir);
  const maxNewTokens = numberFlag('max_new_tokens', args.max_new_tokens, 200, (v) => Number.isInteger(v) && v >= 0);
  const temperature = numberFlag('temperature', args.temperature, 0.8, (v) => v >= 0);
  const topK = numberFlag('top_k', args.top_k, 0, (v) => Number.isInteger(v) && v >= 0);
  const topP = numberFlag('top_p', args.top_p, 1, (v) => v > 0 && v <= 1);
  const seed = numberFlag('seed', args.seed, 0, Number.isInteger);
  await setupThreads(args.threads);
  const model = await LlamaForCausalLM.fromPretrained(dir);
  const prompt = args.prompt ?? 'Call me Ishmael.';
  const promptIds = tokenizer.encode(prompt);
  if (promptIds.length === 0) throw new Error('generate: --prompt is empty');
  if (promptIds.some((id) => id >= model.config.vocabSize)) throw new Error(`generate: the prompt encodes to ids beyond the model's vocabulary of ${model.config.vocabSize}`);
  // the prompt primes the stream decoder, so the first new token decodes in context (its space)
  const stream = tokenizer.createStreamingDecoder({ skipSpecialTokens: true });
  for (const id of promptIds) stream.push(id);
  write(prompt);
  // A model only knows positions up to its context: past it, keep the last half of the text as the
  // new prompt and go on (a sliding window), so any --max_new_tokens works.
  const window = model.config.maxPositionEmbeddings;
  let context = promptIds.slice(-Math.max(1, Math.floor(window / 2)));
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
    context = ids.slice(-Math.floor(window / 2));
  }
  write(stream.flush() + '\n');
  return 0;
}

runIfMain(import.meta.url, (argv) => main(argv));
