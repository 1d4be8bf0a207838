import { type Tensor, gradcheck, tensor } from '@tsgrad/tensor';

const x = tensor([[1, 2], [3, 4]], { requiresGrad: true });  // float32 [2, 2], a leaf
const w = tensor([0.5, -1], { requiresGrad: true });         // [2], broadcast over the rows
const loss = x.mul(w).tanh().sum();                          // Σ tanh(x·w): a 0-d tensor
loss.backward();                                             // fills x.grad and w.grad
console.log('loss  ', loss.toString());
console.log('x.grad', x.grad!.toString());                   // w·(1 − tanh²(x·w))
console.log('w.grad', w.grad!.toString());                   // Σ over rows of x·(1 − tanh²(x·w))

// Check the backward against central finite differences, in float64 (as PyTorch's gradcheck)
const f = (a: Tensor, b: Tensor) => a.mul(b).tanh().sum();
const x64 = x.detach().to('float64').setRequiresGrad();
const w64 = w.detach().to('float64').setRequiresGrad();
console.log('gradcheck', gradcheck(f, [x64, w64]));          // true (a mismatch throws)
