# The bench's PyTorch reference (bench/pytorch.ts runs it): the same LLaMA training step as
# tsgrad's bench (forward, backward, AdamW) in PyTorch on one thread, in tokens per second.
# Prints one JSON line: {"tokens_per_second", "step_ms", "torch", "blas_core", "loss"}.
# Usage: python3 bench/pytorch_train.py DIM LAYERS HEADS FFN VOCAB BATCH SEQ STEPS
import ctypes
import json
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(1)
dim, layers, heads, ffn, vocab, batch, seq, steps = (int(x) for x in sys.argv[1:9])
head_dim = dim // heads
eps, theta = 1e-6, 10000.0


class RMSNorm(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


# rotary as Hugging Face's LLaMA: rotate_half on the two halves of each head
inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2).float() / head_dim))
angles = torch.outer(torch.arange(seq).float(), inv_freq)
cos = torch.cat([angles.cos(), angles.cos()], -1)
sin = torch.cat([angles.sin(), angles.sin()], -1)
causal = torch.full((seq, seq), float('-inf')).triu(1)


def rotary(x):
    x1, x2 = x[..., : head_dim // 2], x[..., head_dim // 2:]
    return x * cos + torch.cat([-x2, x1], -1) * sin


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.input_layernorm, self.post_attention_layernorm = RMSNorm(), RMSNorm()
        self.q, self.k, self.v, self.o = (nn.Linear(dim, dim, bias=False) for _ in range(4))
        self.gate, self.up = nn.Linear(dim, ffn, bias=False), nn.Linear(dim, ffn, bias=False)
        self.down = nn.Linear(ffn, dim, bias=False)

    def forward(self, x):
        B, T, _ = x.shape
        h = self.input_layernorm(x)
        q, k, v = (f(h).view(B, T, heads, head_dim).transpose(1, 2) for f in (self.q, self.k, self.v))
        q, k = rotary(q), rotary(k)
        att = F.softmax(q @ k.transpose(-1, -2) / head_dim ** 0.5 + causal, dim=-1)
        x = x + self.o((att @ v).transpose(1, 2).reshape(B, T, dim))
        h = self.post_attention_layernorm(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class Llama(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.layers = nn.ModuleList(Block() for _ in range(layers))
        self.norm = RMSNorm()
        self.lm_head = nn.Linear(dim, vocab, bias=False)

    def forward(self, ids):
        x = self.embed(ids)
        for layer in self.layers:
            x = layer(x)
        logits = self.lm_head(self.norm(x))
        # next-token loss, as the labels=ids convention
        return F.cross_entropy(logits[:, :-1].reshape(-1, vocab), ids[:, 1:].reshape(-1))


torch.manual_seed(0)
model = Llama()
opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
ids = torch.randint(0, vocab, (batch, seq))


def step():
    opt.zero_grad()
    loss = model(ids)
    loss.backward()
    opt.step()
    return loss.item()


step()  # warm-up
times = []
for _ in range(steps):
    t = time.perf_counter()
    loss = step()
    times.append(time.perf_counter() - t)
times.sort()
median = times[len(times) // 2]


def blas_core():
    # the OpenBLAS library this process loaded, and the kernel it chose (OPENBLAS_CORETYPE or detected)
    with open('/proc/self/maps') as maps:
        paths = sorted({line.split()[-1] for line in maps if 'openblas' in line.lower() and line.split()[-1].startswith('/')})
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
            lib.openblas_get_corename.restype = ctypes.c_char_p
            return lib.openblas_get_corename().decode() + ' (' + path + ')'
        except (OSError, AttributeError):
            continue
    return 'no OpenBLAS loaded (' + torch.__config__.show().split('BLAS_INFO=')[-1].split(',')[0] + ')'


print(json.dumps({'tokens_per_second': batch * seq / median, 'step_ms': median * 1e3, 'torch': torch.__version__, 'blas_core': blas_core(), 'loss': loss}))
