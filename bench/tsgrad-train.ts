// tsgrad's side of the training benchmarks, kept free of TensorFlow.js so a child process can
// train without loading it (bench/memory.ts): a model, a fixed batch and AdamW, one step per call.

import { type LlamaConfig, LlamaForCausalLM } from '@tsgrad/llama';
import { AdamW } from '@tsgrad/optim';
import { Generator, Tensor, withReleaseScope } from '@tsgrad/tensor';
import { seededInts } from './timing.js';

/** One contender's training step (returns the loss) and its gradient check. */
export interface Trainer {
  /** One forward, backward and optimizer step; returns the loss. */
  step: () => number;
  /** Loss and gradients by HF name on a batch of its own, without updating anything. */
  lossAndGrads: (checkIds: Int32Array, T: number) => { loss: number; grads: Map<string, Float32Array> };
}

/** tsgrad's Trainer: AdamW over `model` on the batch `ids`; `probe` runs after the forward, backward and optimizer phases. */
export function tsgradTrainer(model: LlamaForCausalLM, ids: Tensor, lr: number, probe: () => void): Trainer {
  const opt = new AdamW(model.namedParameters(), { lr });
  return {
    step: () => {
      opt.zeroGrad();
      // forward and backward in a release scope, as the training command runs them: the forward's
      // buffers go back to the pool as the backward consumes them, not when V8 collects them
      const loss = withReleaseScope(() => {
        const out = model.forward(ids, { labels: ids }).loss!;
        probe();
        out.backward();
        probe();
        return out.item();
      }, { duringBackward: true });
      opt.step();
      probe();
      return loss;
    },
    lossAndGrads: (checkIds, T) => {
      const x = new Tensor(checkIds, [checkIds.length / T, T]);
      const { loss } = model.forward(x, { labels: x });
      loss!.backward();
      const grads = new Map(model.namedParameters().map(([n, p]) => [n, Float32Array.from(p.grad!.toTypedArray())]));
      model.zeroGrad();
      return { loss: loss!.item(), grads };
    },
  };
}

/** A tsgrad model, batch and AdamW ready to train: each call runs one step and returns its loss. */
export function tsgradTrainStep(config: LlamaConfig, batch: number, seqLen: number, lr = 1e-3): () => number {
  const model = new LlamaForCausalLM(config, { generator: new Generator(0) });
  const ids = new Tensor(seededInts(batch * seqLen, config.vocabSize, 21), [batch, seqLen]);
  return tsgradTrainer(model, ids, lr, () => {}).step;
}

