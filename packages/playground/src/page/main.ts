// The page: wires the three panels to the program runner and the two workers. Every failure ends
// as a message in the page (the panel's error box, or the page's for anything unexpected).

import { instance as vizInstance } from '@viz-js/viz';
import { countParameters } from '@tsgrad/llama';
import { PRESETS } from './presets.js';
import { formatNested, formatNumber, runProgram } from './program.js';
import { LossPlot } from './loss-plot.js';
import { PLAYGROUND_MODEL, PLAYGROUND_TRAINING } from './train-config.js';
import type { FolderFile, LoadEvent, LoadRequest, TrainEvent, TrainRequest } from './messages.js';
import { storedZip } from './zip.js';

const $ = <T extends Element = HTMLElement>(id: string) => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`playground: the page has no #${id}`);
  return el as unknown as T;
};

function showError(box: HTMLElement, err: unknown): void {
  box.hidden = false;
  box.textContent = err instanceof Error ? `${err.name === 'Error' ? '' : `${err.name}: `}${err.message}` : String(err);
}

function clearError(box: HTMLElement): void {
  box.hidden = true;
  box.textContent = '';
}

// anything not caught by a panel still reaches the page
window.addEventListener('error', (e) => showError($('page-error'), e.error ?? e.message));
window.addEventListener('unhandledrejection', (e) => showError($('page-error'), e.reason));

// ************* autograd *************

const program = $<HTMLTextAreaElement>('program');
const presets = $('presets');
for (const preset of PRESETS) {
  const button = document.createElement('button');
  button.textContent = preset.title;
  button.dataset.testid = `preset-${preset.id}`;
  button.addEventListener('click', () => {
    program.value = preset.source;
    void runAutograd();
  });
  presets.append(button);
}
program.value = PRESETS[0]!.source;

let viz: ReturnType<typeof vizInstance> | null = null;

async function runAutograd(): Promise<void> {
  const errorBox = $('program-error');
  clearError(errorBox);
  const graphBox = $('graph-box'), grads = $('leaf-grads'), check = $('gradcheck'), value = $('output-value');
  graphBox.replaceChildren();
  grads.replaceChildren();
  check.textContent = '';
  value.textContent = '';
  try {
    const run = runProgram(program.value);
    value.textContent = `output = ${formatNumber(run.output.item(), 7)}`;
    for (const [name, t] of run.inputs) {
      const row = document.createElement('div');
      row.className = 'leaf';
      row.dataset.leaf = name;
      const title = document.createElement('b');
      title.textContent = `${name}.grad  [${t.shape.join(', ')}]`;
      const code = document.createElement('code');
      code.textContent = t.grad ? formatNested(t.grad) : 'null';
      row.append(title, code);
      grads.append(row);
    }
    check.textContent = run.gradcheck.message;
    check.className = run.gradcheck.passed ? 'passed' : 'failed';
    viz ??= vizInstance();
    const svg = (await viz).renderSVGElement(run.dot);
    svg.dataset.testid = 'graph';
    graphBox.append(svg);
  } catch (err) {
    showError(errorBox, err);
  }
}
$('run-program').addEventListener('click', () => void runAutograd());

// ************* train *************

const plot = new LossPlot($<SVGSVGElement>('loss-plot'), PLAYGROUND_TRAINING.maxSteps);
const T = PLAYGROUND_TRAINING, M = PLAYGROUND_MODEL;
$('train-summary').textContent = `hidden ${M.hiddenSize}, ${M.numHiddenLayers} layers, ${M.numAttentionHeads} heads, FFN ${M.intermediateSize}, context ${M.maxPositionEmbeddings}, ${T.maxSteps} steps of ${T.batchSize} × ${T.seqLen} bytes, AdamW (peak learning rate ${T.maxLr}).`;
$('train-max-steps').textContent = String(T.maxSteps);
$('param-count').textContent = countParameters(M).toLocaleString('en-US');

let trainer: Worker | null = null;
let trainState: 'idle' | 'running' | 'paused' | 'done' = 'idle';
let requestId = 0;
const pending = new Map<number, (e: TrainEvent) => void>();

function toTrainer(m: TrainRequest): void {
  trainer?.postMessage(m);
}

function setTrainState(state: typeof trainState, text: string): void {
  trainState = state;
  $('train-state').textContent = text;
  const pause = $<HTMLButtonElement>('train-pause');
  pause.disabled = state === 'idle' || state === 'done';
  pause.textContent = state === 'paused' ? 'Resume' : 'Pause';
  $<HTMLButtonElement>('train-start').disabled = state !== 'idle';
  $<HTMLButtonElement>('download-model').disabled = state === 'idle';
}

function onTrainEvent(e: TrainEvent): void {
  switch (e.type) {
    case 'info':
      $('param-count').textContent = e.params.toLocaleString('en-US');
      $('threads').textContent = `Training threads: ${e.reason}.`;
      break;
    case 'step':
      $('train-step').textContent = String(e.step);
      $('train-loss').textContent = e.loss.toFixed(4);
      $('tokens-per-sec').textContent = Math.round(e.tokensPerSec).toLocaleString('en-US');
      plot.addTrain(e.step, e.loss);
      break;
    case 'eval':
      $('validation-loss').textContent = `${e.loss.toFixed(4)} (step ${e.step})`;
      plot.addValidation(e.step, e.loss);
      break;
    case 'sample-start':
      $('sample-info').textContent = `at step ${e.step}, temperature ${e.temperature}`;
      $('sample-text').textContent = e.prompt;
      break;
    case 'sample-text':
      $('sample-text').append(e.text);
      break;
    case 'paused':
      if (trainState === 'paused') $('train-state').textContent = `paused at step ${e.step}`;
      break;
    case 'done':
      setTrainState('done', `done: ${e.step} steps`);
      break;
    case 'error':
      showError($('train-error'), new Error(e.message));
      break;
    case 'export':
    case 'probe':
      pending.get(e.id)?.(e);
      pending.delete(e.id);
      break;
  }
}

function askTrainer<K extends 'export' | 'probe'>(m: Extract<TrainRequest, { type: K }> & { id: number }): Promise<Extract<TrainEvent, { type: K }>> {
  return new Promise((resolve) => {
    pending.set((m as { id: number }).id, resolve as (e: TrainEvent) => void);
    toTrainer(m);
  });
}

$('train-start').addEventListener('click', () => {
  clearError($('train-error'));
  trainer = new Worker('train-worker.js');
  trainer.onmessage = (e: MessageEvent<TrainEvent>) => onTrainEvent(e.data);
  trainer.onerror = (e) => showError($('train-error'), new Error(`training worker: ${e.message}`));
  toTrainer({ type: 'temperature', value: Number($<HTMLInputElement>('temperature').value) });
  toTrainer({ type: 'start' });
  setTrainState('running', 'training');
});
$('train-pause').addEventListener('click', () => {
  if (trainState === 'running') {
    toTrainer({ type: 'pause' });
    setTrainState('paused', 'pausing after this step');
  } else if (trainState === 'paused') {
    toTrainer({ type: 'resume' });
    setTrainState('running', 'training');
  }
});
$('temperature').addEventListener('input', () => {
  const value = Number($<HTMLInputElement>('temperature').value);
  $('temperature-value').textContent = String(value);
  toTrainer({ type: 'temperature', value });
});

async function downloadModel(): Promise<void> {
  const reply = await askTrainer({ type: 'export', id: ++requestId });
  const folder = 'tsgrad-tiny-llama';
  const zip = storedZip(reply.files.map((f: FolderFile) => ({ name: `${folder}/${f.name}`, bytes: f.bytes })));
  const url = URL.createObjectURL(new Blob([zip], { type: 'application/zip' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = `${folder}.zip`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
$('download-model').addEventListener('click', () => {
  downloadModel().catch((err) => showError($('train-error'), err));
});

// ************* load *************

let loader: Worker | null = null;
function toLoader(m: LoadRequest): void {
  if (!loader) {
    loader = new Worker('load-worker.js');
    loader.onmessage = (e: MessageEvent<LoadEvent>) => onLoadEvent(e.data);
    loader.onerror = (e) => showError($('load-error'), new Error(`loading worker: ${e.message}`));
  }
  clearError($('load-error'));
  loader.postMessage(m);
}

function onLoadEvent(e: LoadEvent): void {
  switch (e.type) {
    case 'threads':
      break;
    case 'loaded':
      $('load-status').textContent = `loaded ${e.source}: ${e.summary}, ${e.params.toLocaleString('en-US')} parameters`;
      $<HTMLButtonElement>('generate').disabled = false;
      break;
    case 'token':
      $('generate-output').append(e.text);
      break;
    case 'generated':
      $('load-status').textContent += ` · generated ${e.tokens} tokens (${Math.round(e.tokensPerSec)} tokens/s)`;
      $<HTMLButtonElement>('generate').disabled = false;
      break;
    case 'error':
      showError($('load-error'), new Error(e.message));
      $('load-status').textContent = 'failed';
      $<HTMLButtonElement>('generate').disabled = false;
      break;
  }
}

$('load-url-button').addEventListener('click', () => {
  const raw = $<HTMLInputElement>('load-url').value.trim();
  if (!raw) return showError($('load-error'), new Error('enter the URL of a Hugging Face model folder'));
  const url = new URL(raw, location.href).href.replace(/\/$/, '');
  $('load-status').textContent = `loading ${url}…`;
  $<HTMLButtonElement>('generate').disabled = true;
  toLoader({ type: 'load-url', url });
});
$('load-files').addEventListener('change', () => {
  const files = Array.from($<HTMLInputElement>('load-files').files ?? []);
  if (files.length === 0) return;
  $('load-status').textContent = `loading ${files.map((f) => f.name).join(', ')}…`;
  $<HTMLButtonElement>('generate').disabled = true;
  toLoader({ type: 'load-files', files });
});
$('generate').addEventListener('click', () => {
  $('generate-output').textContent = '';
  $<HTMLButtonElement>('generate').disabled = true;
  toLoader({
    type: 'generate', prompt: $<HTMLInputElement>('generate-prompt').value,
    maxNewTokens: Number($<HTMLInputElement>('generate-tokens').value), temperature: Number($<HTMLInputElement>('generate-temperature').value), seed: 0,
  });
});

// the page's own thread count (workers report theirs once started)
$('threads').textContent = globalThis.crossOriginIsolated
  ? `Cross-origin isolated: training and generation use up to ${Math.min(navigator.hardwareConcurrency || 1, 4)} threads.`
  : 'Not cross-origin isolated (the server sends no COOP/COEP headers): training and generation run on one thread.';

/** Hooks for the browser tests: the training model's logits for given ids. */
(window as unknown as { playground: object }).playground = {
  trainLogits: async (ids: number[][]) => (await askTrainer({ type: 'probe', id: ++requestId, ids })).logits,
};

void runAutograd();
