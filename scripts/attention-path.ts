// The path of LLaMA's attention call down to the kernel loop, measured: a CPU profile (V8's sampling
// profiler, in process) of LlamaAttention.forward at the tiny config's shapes (hidden 128, 4 heads,
// 128 tokens) on one thread, recording the graph as training does (the backward is reached from the
// engine, not from this call). Every sampled stack that passes through the
// `attention` op called from model.ts is cut at model.ts and read as the files its frames lie in
// (consecutive frames in one file are one file); the chains that end in a kernel file (kernels/,
// wasm/, parallel/) are the ways down to the kernel loop. Files = the distinct files of a chain,
// hops = the times it passes from one file to the next. Helpers the op calls on the side (shape
// arithmetic, allocation, recording the graph) end outside the kernel files and are listed apart.
//
// Run: pnpm attention-path [--backend js|wasm]    (default: the default backend)

import { Session } from 'node:inspector';
import { relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Backend, Generator, randn, setBackend } from '@tsgrad/tensor';
import { LlamaAttention } from '@tsgrad/llama';

/** One node of a V8 CPU profile (the fields used here). */
export interface ProfileNode {
  /** The node's id. */
  id: number;
  /** The function and the script URL of the frame. */
  callFrame: { functionName: string; url: string };
  /** Samples taken with this frame on top. */
  hitCount?: number;
  /** Ids of the frames it called. */
  children?: number[];
}

/** A chain of files from the caller down to a sampled frame, and how many samples ended there. */
export interface FileChain {
  /** The files, caller first; consecutive frames in one file count once. */
  files: string[];
  /** Samples whose top frame ended this chain. */
  samples: number;
}

const ROOT = fileURLToPath(new URL('../', import.meta.url));

function fileOf(url: string, root: string): string | null {
  if (!url.startsWith('file://')) return null;
  const file = relative(root, fileURLToPath(url)).split('\\').join('/');
  return file.startsWith('packages/') && !file.includes('node_modules') ? file : null;
}

/**
 * Every chain of our files from a frame in `callerFile` that calls `op` in `opFile`, down to each
 * sampled frame below it (frames outside our sources, e.g. WebAssembly, count as their caller's
 * file), merged by file sequence; most samples first.
 */
export function fileChains(nodes: ProfileNode[], root: string, callerFile: string, opFile: string, op: string): FileChain[] {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const chains = new Map<string, FileChain>();
  const walk = (node: ProfileNode, files: string[]) => {
    const file = fileOf(node.callFrame.url, root);
    const here = file && file !== files[files.length - 1] ? [...files, file] : files;
    if (node.hitCount) {
      const key = here.join(' → ');
      const chain = chains.get(key) ?? { files: here, samples: 0 };
      chain.samples += node.hitCount;
      chains.set(key, chain);
    }
    for (const id of node.children ?? []) walk(byId.get(id)!, here);
  };
  for (const caller of nodes) {
    if (fileOf(caller.callFrame.url, root) !== callerFile) continue;
    for (const id of caller.children ?? []) {
      const child = byId.get(id)!;
      if (fileOf(child.callFrame.url, root) === opFile && child.callFrame.functionName === op) walk(child, [callerFile]);
    }
  }
  return [...chains.values()].sort((a, b) => b.samples - a.samples);
}

function post<T>(session: Session, method: string, params: object = {}): Promise<T> {
  return new Promise((done, fail) => session.post(method, params, (err, result) => (err ? fail(err) : done(result as T))));
}

async function main(backend: Backend | undefined): Promise<void> {
  if (backend) setBackend(backend);
  const attn = new LlamaAttention(128, 4, 4, { generator: new Generator(0) });
  const x = randn([4, 128, 128], { generator: new Generator(1) });
  const step = () => attn.forward(x);
  for (let i = 0; i < 3; i++) attn.forward(x).sum().backward(); // warm up: tables, pools, compiled kernels
  const session = new Session();
  session.connect();
  await post(session, 'Profiler.enable');
  await post(session, 'Profiler.setSamplingInterval', { interval: 50 });
  await post(session, 'Profiler.start');
  for (let i = 0; i < 20; i++) step();
  const { profile } = await post<{ profile: { nodes: ProfileNode[] } }>(session, 'Profiler.stop');
  session.disconnect();
  const chains = fileChains(profile.nodes, ROOT, 'packages/llama/src/model.ts', 'packages/tensor/src/ops/attention.ts', 'attention');
  const isKernel = (f: string) => /^packages\/tensor\/src\/(kernels|wasm|parallel)\//.test(f);
  const toKernel = chains.filter((c) => isKernel(c.files[c.files.length - 1]!));
  const total = chains.reduce((n, c) => n + c.samples, 0);
  console.log(`LlamaAttention.forward → attention, one thread, backend ${backend ?? 'default'}: ${total} samples under the call`);
  console.log('\nChains down to the kernel loop (files, hops, share of samples):');
  for (const c of toKernel) console.log(`  ${new Set(c.files).size} files, ${c.files.length - 1} hops, ${(100 * c.samples / total).toFixed(1)}%: ${c.files.join(' → ')}`);
  const side = chains.filter((c) => !isKernel(c.files[c.files.length - 1]!));
  console.log('\nSide calls that end outside the kernels (helpers, the graph):');
  for (const c of side) console.log(`  ${(100 * c.samples / total).toFixed(1)}%: ${c.files.join(' → ')}`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf('--backend');
  void main(i > 0 ? (process.argv[i + 1] as Backend) : undefined);
}
