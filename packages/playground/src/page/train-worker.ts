// The training worker: trains the Train panel's LLaMA on Moby Dick (the static asset the build
// writes, split into train and validation chapters as `pnpm train` does), posting every step's
// loss, validation losses, and streamed samples. Pause and resume take effect between steps.

import { Generator, Tensor, noGrad, saveSafetensors } from '@tsgrad/tensor';
import { AdamW, clipGradNorm } from '@tsgrad/optim';
import { ByteTokenizer, LlamaForCausalLM, countParameters, createStreamingDecoder, llamaConfigToHF } from '@tsgrad/llama';
import type { TrainEvent, TrainRequest } from './messages.js';
import { PLAYGROUND_MODEL, PLAYGROUND_TRAINING as T, learningRate } from './train-config.js';
import { startKernelThreads } from './threads.js';

const scope = globalThis as unknown as { onmessage: ((e: MessageEvent<TrainRequest>) => void) | null; postMessage(m: TrainEvent): void };
const post = (m: TrainEvent) => scope.postMessage(m);

let model: LlamaForCausalLM | null = null;
let running = false;
let paused = false;
let wake: (() => void) | null = null;
let temperature = 0.8;

scope.onmessage = (e) => {
  const msg = e.data;
  try {
    if (msg.type === 'start' && !running) {
      running = true;
      train().catch((err: Error) => post({ type: 'error', message: err.message }));
    } else if (msg.type === 'pause') {
      paused = true;
    } else if (msg.type === 'resume') {
      paused = false;
      wake?.();
    } else if (msg.type === 'temperature') {
      temperature = msg.value;
    } else if (msg.type === 'export') {
      if (!model) throw new Error('export: no model yet; start training first');
      const tensors = new Map(model.namedParameters());
      const enc = new TextEncoder();
      post({
        type: 'export', id: msg.id, files: [
          { name: 'config.json', bytes: enc.encode(JSON.stringify(llamaConfigToHF(model.config), null, 2) + '\n') },
          { name: 'model.safetensors', bytes: saveSafetensors(tensors, { format: 'pt' }) },
          { name: 'tokenizer.json', bytes: enc.encode(JSON.stringify(new ByteTokenizer().toJSON()) + '\n') },
        ],
      });
    } else if (msg.type === 'probe') {
      if (!model) throw new Error('probe: no model yet; start training first');
      const m = model;
      const logits = noGrad(() => {
        const wasTraining = m.training;
        m.eval();
        const out = m.forward(msg.ids).logits;
        m.train(wasTraining);
        return Array.from(out.toTypedArray());
      });
      post({ type: 'probe', id: msg.id, logits });
    }
  } catch (err) {
    post({ type: 'error', message: (err as Error).message });
  }
};

async function fetchBytes(name: string): Promise<Uint8Array> {
  const url = new URL(name, location.href);
  const res = await fetch(url);
  if (!res.ok) throw new Error(`training data: GET ${url} failed with HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

// A batch of random windows of the training bytes (inputs double as labels: the model shifts them).
function randomBatch(tokens: Uint8Array, generator: Generator): Tensor {
  const ids = new Int32Array(T.batchSize * T.seqLen);
  for (let b = 0; b < T.batchSize; b++) {
    const start = generator.randint(tokens.length - T.seqLen + 1);
    for (let t = 0; t < T.seqLen; t++) ids[b * T.seqLen + t] = tokens[start + t]!;
  }
  return new Tensor(ids, [T.batchSize, T.seqLen]);
}

// The first evalBatches batches of consecutive windows of the validation bytes: the same text every time.
function validationBatches(tokens: Uint8Array): Tensor[] {
  const perBatch = T.batchSize * T.seqLen;
  return Array.from({ length: Math.min(T.evalBatches, Math.floor(tokens.length / perBatch)) }, (_, i) =>
    new Tensor(Int32Array.from(tokens.subarray(i * perBatch, (i + 1) * perBatch)), [T.batchSize, T.seqLen]));
}

function evaluate(m: LlamaForCausalLM, batches: Tensor[]): number {
  m.eval();
  let total = 0;
  noGrad(() => {
    for (const ids of batches) total += m.forward(ids, { labels: ids }).loss!.item();
  });
  m.train();
  return total / batches.length;
}

function sample(m: LlamaForCausalLM, step: number): void {
  const tokenizer = new ByteTokenizer();
  const decoder = createStreamingDecoder();
  post({ type: 'sample-start', step, prompt: T.samplePrompt, temperature });
  m.generate(tokenizer.encode(T.samplePrompt), {
    maxNewTokens: T.sampleTokens, temperature, seed: step,
    onToken: (id) => {
      const text = decoder.push(id);
      if (text) post({ type: 'sample-text', text });
    },
  });
  const rest = decoder.flush();
  if (rest) post({ type: 'sample-text', text: rest });
}

// Lets messages (pause, temperature, export) in between steps; waits while paused.
async function between(step: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 0));
  if (paused) {
    post({ type: 'paused', step });
    await new Promise<void>((resolve) => { wake = resolve; });
    wake = null;
  }
}

async function train(): Promise<void> {
  const threads = await startKernelThreads();
  const [trainBytes, validationBytes] = await Promise.all([fetchBytes('moby-dick-train.txt'), fetchBytes('moby-dick-validation.txt')]);
  const m = new LlamaForCausalLM(PLAYGROUND_MODEL, { generator: new Generator(T.seed) });
  model = m;
  post({ type: 'info', params: countParameters(PLAYGROUND_MODEL), threads: threads.threads, reason: threads.reason, trainBytes: trainBytes.length, validationBytes: validationBytes.length });
  const data = new Generator(T.seed + 1);
  const evalSet = validationBatches(validationBytes);
  const decay = m.namedParameters().filter(([, p]) => p.ndim >= 2);
  const noDecay = m.namedParameters().filter(([, p]) => p.ndim < 2);
  const optimizer = new AdamW([{ params: decay }, { params: noDecay, weightDecay: 0 }], { lr: T.maxLr, betas: T.betas, eps: T.eps, weightDecay: T.weightDecay });
  post({ type: 'eval', step: 0, loss: evaluate(m, evalSet) });
  const tokensPerStep = T.batchSize * T.seqLen;
  let busyMs = 0;
  for (let step = 1; step <= T.maxSteps; step++) {
    const started = performance.now();
    const lr = learningRate(step - 1);
    for (const group of optimizer.paramGroups) group.lr = lr;
    const ids = randomBatch(trainBytes, data);
    const loss = m.forward(ids, { labels: ids }).loss!;
    const value = loss.item();
    if (!Number.isFinite(value)) throw new Error(`train: the loss is ${value} at step ${step}; stopping`);
    loss.backward();
    clipGradNorm(m.parameters(), T.maxGradientNorm);
    optimizer.step();
    optimizer.zeroGrad();
    busyMs += performance.now() - started;
    // tokens/s over time spent training (pauses and samples excluded)
    post({ type: 'step', step, maxSteps: T.maxSteps, loss: value, lr, tokensPerSec: (step * tokensPerStep) / (busyMs / 1000) });
    if (step % T.evalEvery === 0 || step === T.maxSteps) post({ type: 'eval', step, loss: evaluate(m, evalSet) });
    if (step % T.sampleEvery === 0) sample(m, step);
    await between(step);
  }
  running = false;
  post({ type: 'done', step: T.maxSteps });
}
