// Generation keeps weights resident in wasm memory (packages/tensor/src/wasm/matmul.ts, the few-row
// product): after an AdamW step writes every weight in place, the next tokens must come from the
// new weights. Checked: one-token logits (the few-row path) after the step equal, bit for bit,
// those computed with the resident copies switched off (every weight staged from the tensors).

import { AdamW } from '@tsgrad/optim';
import { Generator, getBackend, noGrad, setBackend } from '@tsgrad/tensor';
import { afterAll, describe, expect, it } from 'vitest';
import { LlamaForCausalLM } from '../src/index.js';
import { residentWeightStats, setResidentWeights } from '../../tensor/src/wasm/matmul.js';

const initialBackend = getBackend();
afterAll(() => {
  setBackend(initialBackend);
  setResidentWeights(true);
});

describe('resident weights during generation', () => {
  it('an AdamW step between two generations is seen by the next one-token forward, bit for bit', () => {
    setBackend('wasm');
    setResidentWeights(true);
    const config = {
      vocabSize: 64, hiddenSize: 96, intermediateSize: 256, numHiddenLayers: 2, numAttentionHeads: 4,
      numKeyValueHeads: 4, maxPositionEmbeddings: 32, rmsNormEps: 1e-6, ropeTheta: 10000, tieWordEmbeddings: false,
    };
    const model = new LlamaForCausalLM(config, { generator: new Generator(3) });
    const token = [[5]];
    const logits = () => noGrad(() => model.forward(token).logits.toTypedArray());
    model.eval();
    model.generate([1, 2, 3], { maxNewTokens: 4 }); // every Linear weight is now kept resident
    expect(residentWeightStats().copies).toBe(2 * 7 + 1); // q, k, v, o, gate, up, down per layer; lm_head
    const before = logits();

    model.train();
    const opt = new AdamW(model.parameters(), { lr: 1e-2 });
    const ids = [[1, 2, 3, 4, 5, 6, 7, 8]];
    model.forward(ids, { labels: ids }).loss!.backward();
    opt.step();
    model.eval();

    const resident = logits();
    setResidentWeights(false);
    const staged = logits();
    setResidentWeights(true);
    expect(Array.from(resident)).toEqual(Array.from(staged));
    expect(Array.from(resident)).not.toEqual(Array.from(before));
  });
});
