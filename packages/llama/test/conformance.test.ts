// Conformance with Hugging Face transformers: the llama-hf-tiny fixture (see its README) holds
// logits, loss, gradients, a 6-step AdamW run and a greedy generation computed by PyTorch.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type Tensor, loadSafetensors } from '@tsgrad/tensor';
import { AdamW, CosineWithWarmup, clipGradNorm } from '@tsgrad/optim';
import { LlamaForCausalLM } from '../src/index.js';

const FIXTURE = new URL('./fixtures/llama-hf-tiny/', import.meta.url).pathname;
const reference = JSON.parse(readFileSync(join(FIXTURE, 'reference.json'), 'utf8'));
const tensors = loadSafetensors(new Uint8Array(readFileSync(join(FIXTURE, 'reference.safetensors'))));
const inputIds = tensors.get('input_ids')!;
const labels = tensors.get('labels')!;
const scratch = mkdtempSync(join(tmpdir(), 'tsgrad-conformance-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** max |a − b| / max |b|, the fixture README's relative error. */
function relativeError(a: Tensor, b: Tensor): number {
  expect(a.shape).toEqual(b.shape);
  const x = a.toTypedArray();
  const y = b.toTypedArray();
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < y.length; i++) {
    diff = Math.max(diff, Math.abs(x[i]! - y[i]!));
    scale = Math.max(scale, Math.abs(y[i]!));
  }
  return diff / scale;
}

describe('LlamaForCausalLM against Hugging Face transformers (llama-hf-tiny)', () => {
  it('loads the checkpoint with Hugging Face parameter names, in order', async () => {
    const model = await LlamaForCausalLM.fromPretrained(FIXTURE);
    expect(model.namedParameters().map(([name]) => name)).toEqual(reference.params);
  });

  it('gives the same logits and loss within 1e-4 relative', async () => {
    const model = await LlamaForCausalLM.fromPretrained(FIXTURE);
    const { logits, loss } = model.forward(inputIds, { labels });
    expect(relativeError(logits, tensors.get('logits')!)).toBeLessThan(1e-4);
    expect(Math.abs(loss!.item() - reference.loss) / reference.loss).toBeLessThan(1e-4);
  });

  it('gives every parameter gradient within 1e-3 relative', async () => {
    const model = await LlamaForCausalLM.fromPretrained(FIXTURE);
    model.forward(inputIds, { labels }).loss!.backward();
    for (const [name, p] of model.namedParameters()) {
      expect(p.grad, name).not.toBeNull();
      expect(relativeError(p.grad!, tensors.get(`grad.${name}`)!), name).toBeLessThan(1e-3);
    }
  });

  it('follows the 6-step AdamW run: lr, loss and gradient norm per step, final parameters, greedy generation', async () => {
    const model = await LlamaForCausalLM.fromPretrained(FIXTURE);
    const o = reference.optimizer;
    const opt = new AdamW(model.parameters(), { lr: o.lr, betas: o.betas, eps: o.eps, weightDecay: o.weight_decay });
    const sched = new CosineWithWarmup(opt, { warmupSteps: o.warmup, totalSteps: o.total, minLrRatio: o.min_lr_rate });
    for (const step of reference.steps) {
      expect(Math.abs(sched.lastLr - step.lr), `lr at step ${step.step}`).toBeLessThanOrEqual(1e-12);
      opt.zeroGrad();
      const loss = model.forward(inputIds, { labels }).loss!;
      expect(Math.abs(loss.item() - step.loss) / step.loss, `loss at step ${step.step}`).toBeLessThan(1e-4);
      loss.backward();
      const norm = clipGradNorm(model.parameters(), o.clip);
      expect(Math.abs(norm - step.grad_norm) / step.grad_norm, `grad norm at step ${step.step}`).toBeLessThan(1e-3);
      opt.step();
      sched.step();
    }
    for (const [name, p] of model.namedParameters()) {
      expect(relativeError(p, tensors.get(`final.${name}`)!), name).toBeLessThan(1e-3);
    }
    const finalLoss = model.forward(inputIds, { labels }).loss!.item();
    expect(Math.abs(finalLoss - reference.final_loss) / reference.final_loss).toBeLessThan(1e-3);
    const generated = model.generate(reference.generate.prompt, { maxNewTokens: reference.generate.output.length - reference.generate.prompt.length });
    expect(generated).toEqual(reference.generate.output);
  });

  it('with gradient checkpointing: loss and every gradient bit-identical to without, each layer run twice, generation and the cached forward unchanged', async () => {
    const plain = await LlamaForCausalLM.fromPretrained(FIXTURE);
    const plainLoss = plain.forward(inputIds, { labels }).loss!;
    plainLoss.backward();
    const model = (await LlamaForCausalLM.fromPretrained(FIXTURE)).gradientCheckpointingEnable();
    const calls = [...model.model.layers].map((layer) => {
      const counter = { n: 0 };
      const forward = layer.forward.bind(layer);
      layer.forward = (...args: Parameters<typeof forward>) => { counter.n++; return forward(...args); };
      return counter;
    });
    const loss = model.forward(inputIds, { labels }).loss!;
    expect(calls.map((c) => c.n)).toEqual(calls.map(() => 1));
    loss.backward();
    // recomputed in backward: the layers kept no activations
    expect(calls.map((c) => c.n)).toEqual(calls.map(() => 2));
    expect(loss.item()).toBe(plainLoss.item());
    const plainParams = new Map(plain.namedParameters());
    for (const [name, p] of model.namedParameters()) {
      expect(Array.from(p.grad!.toTypedArray()), name).toEqual(Array.from(plainParams.get(name)!.grad!.toTypedArray()));
      expect(relativeError(p.grad!, tensors.get(`grad.${name}`)!), name).toBeLessThan(1e-3);
    }
    // generation (KV cache, no graph) takes the plain path
    const before = calls.map((c) => c.n);
    const generated = model.generate(reference.generate.prompt, { maxNewTokens: 2 });
    expect(generated).toEqual(plain.generate(reference.generate.prompt, { maxNewTokens: 2 }));
    expect(calls.map((c, i) => c.n - before[i]!)).toEqual(calls.map(() => 2));
    // a KV cache means inference: the cached forward takes the plain path even in training mode with grad on
    const cachedLogits = (m: LlamaForCausalLM) => {
      const caches = m.createCaches();
      m.forward([reference.generate.prompt], { kvCaches: caches });
      return Array.from(m.forward([[3]], { kvCaches: caches }).logits.toTypedArray());
    };
    expect(model.training).toBe(true);
    expect(cachedLogits(model)).toEqual(cachedLogits(plain));
    expect(calls.map((c, i) => c.n - before[i]!)).toEqual(calls.map(() => 4));
    // disabled again: one call per layer per step
    model.gradientCheckpointingDisable();
    model.forward(inputIds, { labels }).loss!.backward();
    expect(calls.map((c, i) => c.n - before[i]!)).toEqual(calls.map(() => 5));
  });

  it('round-trips savePretrained → fromPretrained exactly', async () => {
    const model = await LlamaForCausalLM.fromPretrained(FIXTURE);
    const dir = join(scratch, 'roundtrip');
    await model.savePretrained(dir);
    const again = await LlamaForCausalLM.fromPretrained(dir);
    expect(again.config).toEqual(model.config);
    const before = new Map(model.namedParameters());
    for (const [name, p] of again.namedParameters()) {
      expect(Array.from(p.toTypedArray()), name).toEqual(Array.from(before.get(name)!.toTypedArray()));
    }
    const a = model.forward(inputIds).logits.toTypedArray();
    const b = again.forward(inputIds).logits.toTypedArray();
    expect(Array.from(b)).toEqual(Array.from(a));
  });
});
