// The loading worker: fromPretrained from a URL (fetch) or from picked files, then streaming
// generation with the byte-level tokenizer, off the page's thread.

import { ByteTokenizer, LlamaForCausalLM, countParameters, createStreamingDecoder, fetchFileSource, setFileSource } from '@tsgrad/llama';
import type { LoadEvent, LoadRequest } from './messages.js';
import { fileListSource } from './file-list-source.js';
import { type ThreadInfo, startKernelThreads } from './threads.js';

const scope = globalThis as unknown as { onmessage: ((e: MessageEvent<LoadRequest>) => void) | null; postMessage(m: LoadEvent): void };
const post = (m: LoadEvent) => scope.postMessage(m);

let model: LlamaForCausalLM | null = null;
let threads: Promise<ThreadInfo> | null = null;

scope.onmessage = (e) => {
  handle(e.data).catch((err: Error) => post({ type: 'error', message: err.message }));
};

function describe(m: LlamaForCausalLM): string {
  const c = m.config;
  return `hidden ${c.hiddenSize}, ${c.numHiddenLayers} layers, ${c.numAttentionHeads} heads, vocab ${c.vocabSize}, context ${c.maxPositionEmbeddings}`;
}

async function handle(msg: LoadRequest): Promise<void> {
  if (!threads) {
    threads = startKernelThreads();
    const info = await threads;
    post({ type: 'threads', threads: info.threads, reason: info.reason });
  }
  await threads;
  if (msg.type === 'load-url') {
    setFileSource(fetchFileSource());
    model = null;
    model = await LlamaForCausalLM.fromPretrained(msg.url);
    post({ type: 'loaded', source: msg.url, params: countParameters(model.config), summary: describe(model) });
  } else if (msg.type === 'load-files') {
    setFileSource(fileListSource(msg.files));
    model = null;
    model = await LlamaForCausalLM.fromPretrained('');
    post({ type: 'loaded', source: msg.files.map((f) => f.name).join(', '), params: countParameters(model.config), summary: describe(model) });
  } else if (msg.type === 'generate') {
    if (!model) throw new Error('generate: load a model first');
    const tokenizer = new ByteTokenizer();
    const decoder = createStreamingDecoder();
    const ids = tokenizer.encode(msg.prompt);
    const room = model.config.maxPositionEmbeddings - ids.length;
    if (room <= 0) throw new Error(`generate: the prompt has ${ids.length} bytes, but the model's context is ${model.config.maxPositionEmbeddings}`);
    const started = performance.now();
    let count = 0;
    model.generate(ids, {
      maxNewTokens: Math.min(msg.maxNewTokens, room), temperature: msg.temperature, seed: msg.seed,
      onToken: (id) => {
        count++;
        // ids past the byte range (a model with a larger vocabulary) are shown as ids
        const text = id < 256 ? decoder.push(id) : `⟨${id}⟩`;
        if (text) post({ type: 'token', text });
      },
    });
    const rest = decoder.flush();
    if (rest) post({ type: 'token', text: rest });
    post({ type: 'generated', tokens: count, tokensPerSec: count / ((performance.now() - started) / 1000) });
  }
}
