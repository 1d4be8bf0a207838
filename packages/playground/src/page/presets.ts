// The preset programs of the autograd panel. Each is the body of a function that receives the
// library as `tsgrad` (@tsgrad/tensor) and `nn` (@tsgrad/nn) and returns { inputs, f }: the
// leaves by name, and the computation as a function of them (so gradcheck can rerun it in float64).

/** A named program for the autograd panel. */
export interface Preset {
  /** Short id, used in the preset button's data-testid (`preset-<id>`). */
  id: string;
  /** The button label. */
  title: string;
  /** The program text. */
  source: string;
}

/** The presets, in the order their buttons appear. */
export const PRESETS: Preset[] = [
  {
    id: 'neuron',
    title: 'One neuron (tanh)',
    source: `// One neuron: out = tanh(w · x + b), the first example of micrograd.
const { tensor } = tsgrad;
const x = tensor([2.0, 0.0], { requiresGrad: true });
const w = tensor([-3.0, 1.0], { requiresGrad: true });
const b = tensor(6.8813735870195432, { requiresGrad: true });
const f = (x, w, b) => x.mul(w).sum().add(b).tanh();
return { inputs: { x, w, b }, f };
`,
  },
  {
    id: 'mlp',
    title: 'Two-layer MLP on four points',
    source: `// A two-layer MLP (2 → 4 → 1, tanh) on the four XOR points; the loss is the mean squared error.
const { tensor, randn, zeros, Generator } = tsgrad;
const g = new Generator(0);
const X = tensor([[0, 0], [0, 1], [1, 0], [1, 1]]);   // [4, 2]
const y = tensor([[0], [1], [1], [0]]);               // [4, 1]
const W1 = randn([2, 4], { generator: g, requiresGrad: true });
const b1 = zeros([4], { requiresGrad: true });
const W2 = randn([4, 1], { generator: g, requiresGrad: true });
const b2 = zeros([1], { requiresGrad: true });
const f = (W1, b1, W2, b2) => {
  const hidden = X.matmul(W1).add(b1).tanh();         // [4, 4]
  const pred = hidden.matmul(W2).add(b2);             // [4, 1]
  return pred.sub(y).square().mean();
};
return { inputs: { W1, b1, W2, b2 }, f };
`,
  },
  {
    id: 'softmax',
    title: 'Softmax + cross-entropy',
    source: `// Softmax and cross-entropy: logits = x · W for 3 samples and 4 classes; the loss is the mean
// negative log-probability of each sample's class (crossEntropy(logits, targets) computes the same, fused).
const { tensor, randn, softmax, Generator } = tsgrad;
const g = new Generator(1);
const x = randn([3, 5], { generator: g });            // inputs, not trained
const W = randn([5, 4], { generator: g, requiresGrad: true });
const targets = tensor([[0], [3], [1]], { dtype: 'int32' });
const f = (W) => {
  const probs = softmax(x.matmul(W), -1);             // [3, 4], rows sum to 1
  return probs.gather(1, targets).log().neg().mean(); // pick each row's class
};
return { inputs: { W }, f };
`,
  },
];
