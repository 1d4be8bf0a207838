// Both entries bundle with esbuild for their platform; the browser bundle reaches no Node built-in.

import { describe, expect, it } from 'vitest';
import { build } from 'esbuild';

const entry = (name: string) => new URL(`../src/${name}`, import.meta.url).pathname;

describe('bundling', () => {
  it('bundles the browser entry for the browser with no Node built-ins', async () => {
    const result = await build({
      entryPoints: [entry('browser.ts')], bundle: true, platform: 'browser', format: 'esm', write: false,
      conditions: ['browser'], metafile: true, logLevel: 'silent',
      // drops the comments, which are not code: doc-comment examples for Node do import node:fs
      minifyWhitespace: true,
    });
    const inputs = Object.keys(result.metafile!.inputs);
    expect(inputs.some((p) => p.includes('node/'))).toBe(false);
    const code = result.outputFiles[0]!.text;
    expect(code).not.toMatch(/from\s*["']node:|require\(["'](fs|path|os|worker_threads|node:)/);
    expect(code).toContain('LlamaForCausalLM');
  });

  it('bundles the Node entry for Node', async () => {
    const result = await build({
      entryPoints: [entry('index.ts')], bundle: true, platform: 'node', format: 'esm', write: false, logLevel: 'silent',
      external: ['@stdlib/*'],
    });
    expect(result.outputFiles[0]!.text).toContain('fsFileSource');
  });
});
