// tsgrad in a page: the installed packages bundled for the browser (esbuild, platform browser) by
// the packaging test, loaded by page.html. It writes a gradient into the page for the test to read.
import { tensor } from '@tsgrad/tensor';
import { LlamaForCausalLM } from '@tsgrad/llama';

const x = tensor([1, 2, 3], { requiresGrad: true });
x.mul(x).sum().backward(); // d/dx Σx² = 2x
document.querySelector('#grad').textContent = JSON.stringify(Array.from(x.grad.toTypedArray()));
document.querySelector('#llama').textContent = typeof LlamaForCausalLM.fromPretrained;
