// PyTorch as a reference row for the training step, when a python3 that imports torch is found
// (Debian: apt-get install python3-torch libopenblas0-pthread; never a test dependency). It runs
// bench/pytorch_train.py on one thread: OPENBLAS_NUM_THREADS=1, OMP_NUM_THREADS=1 and
// torch.set_num_threads(1). Debian's OpenBLAS may not recognize a recent CPU and fall back to a
// slow kernel, so OPENBLAS_CORETYPE is set from /proc/cpuinfo (SkylakeX with AVX-512, Haswell
// with AVX2) and the row prints the kernel that ran.

import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { LlamaConfig } from '@tsgrad/llama';
import { formatNumber, type Row } from './table.js';

/** What the PyTorch reference measured, or why it was skipped. */
export type PytorchResult =
  | { ran: true; tokensPerSecond: number; torch: string; python: string; blasCore: string; coretype: string }
  | { ran: false; reason: string };

// The first interpreter that imports torch: python3 on PATH, then the system's (a pyenv or venv
// python3 on PATH does not see Debian's python3-torch).
function findPython(): string | null {
  for (const python of ['python3', '/usr/bin/python3']) {
    const r = spawnSync(python, ['-c', 'import torch'], { stdio: 'ignore', timeout: 60_000 });
    if (r.status === 0) return python;
  }
  return null;
}

// OPENBLAS_CORETYPE for this CPU, from /proc/cpuinfo's flags ('' when neither applies).
function openblasCoretype(): string {
  const info = existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '';
  if (/\bavx512f\b/.test(info)) return 'SkylakeX';
  if (/\bavx2\b/.test(info)) return 'Haswell';
  return '';
}

/** Runs the PyTorch training step (same model shape, batch and AdamW as tsgrad's) on one thread. */
export function benchPytorchTrain(config: LlamaConfig, batch: number, seqLen: number, steps: number): PytorchResult {
  const python = findPython();
  if (!python) return { ran: false, reason: "no python3 here imports torch (Debian: apt-get install python3-torch libopenblas0-pthread)" };
  const coretype = openblasCoretype();
  const script = fileURLToPath(new URL('./pytorch_train.py', import.meta.url));
  const args = [config.hiddenSize, config.numHiddenLayers, config.numAttentionHeads, config.intermediateSize, config.vocabSize, batch, seqLen, steps].map(String);
  const env = { ...process.env, OPENBLAS_NUM_THREADS: '1', OMP_NUM_THREADS: '1', MKL_NUM_THREADS: '1', ...(coretype ? { OPENBLAS_CORETYPE: coretype } : {}) };
  const r = spawnSync(python, [script, ...args], { env, encoding: 'utf8', timeout: 30 * 60_000 });
  if (r.status !== 0) return { ran: false, reason: `${python} ${script} failed: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}` };
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { tokens_per_second: number; torch: string; blas_core: string };
  return { ran: true, tokensPerSecond: out.tokens_per_second, torch: out.torch, python, blasCore: out.blas_core, coretype };
}

/** The reference row: tsgrad's training tokens/s from the same run, and PyTorch's in the text. */
export function pytorchRows(r: PytorchResult, tsgradTokensPerSecond: number | undefined, section: string): Row[] {
  if (!r.ran) return [{ section, benchmark: `PyTorch reference: skipped (${r.reason})`, values: { tsgrad: tsgradTokensPerSecond ?? null }, ratios: false }];
  const ratio = tsgradTokensPerSecond ? `; tsgrad/PyTorch ${formatNumber(tsgradTokensPerSecond / r.tokensPerSecond)}×` : '';
  const blas = `OpenBLAS kernel ${r.blasCore}${r.coretype ? `, OPENBLAS_CORETYPE=${r.coretype}` : ''}`;
  return [{
    section,
    benchmark: `PyTorch ${r.torch} reference, one thread (${blas}): ${formatNumber(r.tokensPerSecond)} tokens/s${ratio}`,
    values: { tsgrad: tsgradTokensPerSecond ?? null },
    ratios: false,
  }];
}
