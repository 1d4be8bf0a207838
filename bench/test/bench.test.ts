// The quick benchmark suite, run programmatically on tiny sizes: every expected row is there, every
// timed figure is a finite positive number, and the markdown has the table's shape. Timings on
// tiny sizes mean nothing; this guards the harness, not the speed.

import { describe, expect, it } from 'vitest';
import { countParameters, validateLlamaConfig } from '@tsgrad/llama';
import { type SuiteResult, benchConfig, parseArgs, runSuite } from '../run.js';
import { COLUMNS } from '../table.js';
import { CONTENDERS, checkClose, geomean, median, relativeError } from '../timing.js';

describe('bench helpers', () => {
  it('median and geometric mean are the textbook ones', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(geomean([1, 4, 16])).toBeCloseTo(4, 12);
  });

  it('the correctness check passes equal data and aborts loudly on a difference', () => {
    expect(relativeError([1, 2, 3], [1, 2, 3])).toBe(0);
    expect(checkClose('same', [1, 2], [1, 2 + 1e-7])).toBeLessThan(1e-4);
    expect(() => checkClose('matmul wrong', [1, 2], [1, 3])).toThrow(/CORRECTNESS CHECK FAILED for matmul wrong/);
    expect(() => checkClose('nan', [NaN], [1])).toThrow(/CORRECTNESS/);
  });

  it('the benchmark model is a valid config of 3.3M parameters, FFN 688', () => {
    const config = benchConfig();
    expect(validateLlamaConfig(config)).toBe(config);
    expect(config.intermediateSize).toBe(688);
    // embedding and lm_head 2·V·d, per layer 4d² (attention) + 3dF (SwiGLU) + 2d (norms), final norm d
    const [V, d, L, F] = [256, 256, 4, 688];
    expect(countParameters(config)).toBe(2 * V * d + L * (4 * d * d + 3 * d * F + 2 * d) + d);
    expect(countParameters(config)).toBeCloseTo(3.3e6, -5);
  });

  it('parses --quick and --only, and rejects anything else', () => {
    expect(parseArgs(['--quick', '--only', 'norms'])).toEqual({ quick: true, long: false, only: 'norms' });
    expect(parseArgs(['--only=train', '--long'])).toEqual({ quick: false, long: true, only: 'train' });
    expect(() => parseArgs(['--only', 'conv'])).toThrow(/--only expects/);
    expect(() => parseArgs(['--fast'])).toThrow(/unknown argument/);
  });
});

describe('quick suite', () => {
  let result: SuiteResult;

  it('runs every benchmark on tiny sizes', async () => {
    result = await runSuite({ quick: true });
    expect(result.rows.length).toBeGreaterThan(0);
  }, 60_000);

  it('has the expected rows in the expected sections', () => {
    const names = result.rows.map((r) => r.benchmark);
    for (const shape of ['32³', '2×[16×32×8]']) {
      for (const layout of ['A·B', 'A·Bᵀ', 'Aᵀ·B']) expect(names).toContain(`${shape} ${layout}`);
    }
    expect(names).toContain('geometric mean (6 shape × layout)');
    for (const c of ['softmax forward', 'softmax forward+backward', 'RMSNorm forward', 'RMSNorm forward+backward']) expect(names).toContain(c);
    expect(names.some((n) => n.startsWith('forward + backward + optimizer'))).toBe(true);
    // PyTorch's row is there whether torch ran or was skipped (it is never required)
    expect(names.some((n) => /^PyTorch .*(tokens\/s|skipped)/.test(n))).toBe(true);
    const memory = result.rows.filter((r) => r.section.startsWith('training memory'));
    for (const m of ['rss before the model', 'rss after warm-up', 'rss range over the measured steps', 'analytic: weights + grads', 'peak rss ÷ analytic',
      'peak rss per measured step', 'checkpointing on vs off', 'activation part of the peak', 'step time, on ÷ off']) {
      expect(memory.some((r) => r.benchmark.includes(m)), m).toBe(true);
    }
    // --dry_run's expected peak against the measured one, for the default config's model and micro-batch among the rest
    const expected = memory.filter((r) => r.benchmark.includes('--dry_run\'s expected peak rss'));
    expect(expected).toHaveLength(3);
    expect(expected[0]!.benchmark).toMatch(/^the default config \(params_llama_tiny\.yaml\), batch 4 × 128, 2 threads/);
    for (const r of expected) {
      // the four terms, their sum, the measured peak and the ratio, as printed
      const m = /^([\d.]+) \+ ([\d.]+) \+ ([\d.]+) \+ ([\d.]+) = ([\d.]+) vs ([\d.]+) \((VmHWM|largest rss sampled)\): measured ÷ estimate ([\d.]+)×$/.exec(r.tsgradText ?? '');
      expect(m, r.tsgradText).not.toBeNull();
      const [a, b, c, d, total, peak, , ratio] = m!.slice(1).map(Number) as number[];
      expect(Math.abs(a! + b! + c! + d! - total!)).toBeLessThanOrEqual(0.7); // three significant figures each: total ±0.5, terms ±0.05
      expect(d).toBeCloseTo(32, 1); // two 16 MiB semi-spaces, V8's default (the bench sets no flag)
      expect(Math.abs(peak! / total! - ratio!)).toBeLessThan(0.015); // the ratio to 0.01, peak and total to 3 figures
    }
    expect(names).toContain('4-token prompt + 8 new tokens');
    expect(result.rows.filter((r) => r.section.startsWith('two threads'))).toHaveLength(2);
    expect(result.rows.filter((r) => r.section === 'tokenizer (one thread)').map((r) => r.benchmark)).toEqual([
      'encode Moby Dick (0.02 MB), LLaMA 2 (32,000 entries), MB/s', 'encode Moby Dick (0.02 MB), LLaMA 3 (128,256 entries), MB/s',
    ]);
  });

  it('gives every contender a finite positive figure on every comparison row', () => {
    for (const row of result.rows.filter((r) => r.ratios !== false)) {
      for (const c of CONTENDERS) {
        const v = row.values[c];
        expect(Number.isFinite(v) && v! > 0, `${row.benchmark}: ${c} = ${v}`).toBe(true);
      }
    }
    for (const row of result.rows.filter((r) => r.ratios === false)) {
      expect(Number.isFinite(row.values.tsgrad) && row.values.tsgrad! > 0, row.benchmark).toBe(true);
    }
  });

  it('renders markdown tables with the six columns, a machine line and finite ratios', () => {
    const md = result.markdown;
    expect(md).toMatch(/Node v\d+\.\d+\.\d+ · .+ · \d+ cores/);
    expect(md).toContain(`| ${COLUMNS.join(' | ')} |`);
    const dataRows = md.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| benchmark') && !l.startsWith('| ---'));
    expect(dataRows.length).toBe(result.rows.length);
    for (const line of dataRows) expect(line.split(' | ').length, line).toBe(COLUMNS.length);
    for (const row of result.rows.filter((r) => r.ratios !== false)) {
      const line = dataRows.find((l) => l.startsWith(`| ${row.benchmark} |`))!;
      expect(line, row.benchmark).toMatch(/\| \d+(\.\d+)?(e[+-]\d+)?× \| \d+(\.\d+)?(e[+-]\d+)?× \|$/);
    }
    expect(md).not.toMatch(/NaN|Infinity/);
  });
});
