// Type-checked (tsc --noEmit, strict) against the installed declarations only: the published
// types must be complete enough for a TypeScript user's program.
import { type Tensor, gradcheck, noGrad, tensor } from '@tsgrad/tensor';
import { Linear, type Module } from '@tsgrad/nn';
import { AdamW, CosineWithWarmup } from '@tsgrad/optim';
import { type LlamaConfig, LlamaForCausalLM, llamaPreset } from '@tsgrad/llama';

const t: Tensor = tensor([1, 2, 3], { requiresGrad: true });
const shape: readonly number[] = t.shape;
const ok: boolean = gradcheck((a: Tensor) => a.exp().sum(), [t.detach().to('float64').setRequiresGrad()]);
const layer: Module = new Linear(3, 1);
const opt = new AdamW(layer.parameters(), { lr: 1e-3 });
const sched = new CosineWithWarmup(opt, { warmupSteps: 1, totalSteps: 10 });
const lr: number = sched.lastLr;
const config: LlamaConfig = llamaPreset('7b');
const hidden: number = config.hiddenSize;
const model: Promise<LlamaForCausalLM> = LlamaForCausalLM.fromPretrained('some/folder');
noGrad(() => t.mul(2));
export { shape, ok, lr, hidden, model };
