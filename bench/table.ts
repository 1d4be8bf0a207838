// The results table: rows collected by the benchmarks, rendered as markdown sections with the
// same columns. Every figure is a median; ratios divide tsgrad's figure by the peer's, and since
// every timed figure is a throughput (higher is better), a ratio above 1 means tsgrad is faster.

import * as os from 'node:os';
import type { ContenderName } from './timing.js';

/** One line of the table. */
export interface Row {
  /** The section (benchmark family) the row is printed under. */
  section: string;
  /** What was measured, with its unit. */
  benchmark: string;
  /** The median per contender; missing or null prints "n/a". */
  values: Partial<Record<ContenderName, number | null>>;
  /** Whether the ratio columns apply (false for memory figures). Default true. */
  ratios?: boolean;
  /** Text printed instead of tsgrad's number (the number itself is kept in `values`). */
  tsgradText?: string;
}

/** The column titles, in order. */
export const COLUMNS = ['benchmark', 'tsgrad', 'tfjs-cpu', 'tfjs-wasm', 'tsgrad/tfjs-cpu', 'tsgrad/tfjs-wasm'] as const;

/** A number with three significant figures (plain digits for large values), or "n/a". */
export function formatNumber(x: number | null | undefined): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return 'n/a';
  if (Math.abs(x) >= 1000) return Math.round(x).toString();
  return x.toPrecision(3);
}

/** tsgrad's figure divided by the peer's, e.g. "0.61×", or "n/a". */
export function ratio(row: Row, peer: ContenderName): string {
  const ours = row.values.tsgrad;
  const theirs = row.values[peer];
  if (row.ratios === false || ours == null || theirs == null || !(theirs > 0)) return 'n/a';
  return `${formatNumber(ours / theirs)}×`;
}

/** The line under the title: date, Node version, CPU model and core count. */
export function machineLine(date = new Date()): string {
  const cpus = os.cpus();
  const model = cpus[0]?.model.trim() ?? 'unknown CPU';
  return `${date.toISOString().slice(0, 10)} · Node ${process.version} · ${model} · ${cpus.length} cores`;
}

/** The whole report as markdown: a title, the machine line, notes, then one table per section. */
export function renderMarkdown(rows: readonly Row[], notes: readonly string[] = [], date = new Date()): string {
  const out: string[] = ['# tsgrad vs TensorFlow.js', '', machineLine(date), ''];
  for (const note of notes) out.push(`- ${note}`);
  if (notes.length > 0) out.push('');
  const sections = [...new Set(rows.map((r) => r.section))];
  for (const section of sections) {
    out.push(`## ${section}`, '');
    out.push(`| ${COLUMNS.join(' | ')} |`);
    out.push(`| ${COLUMNS.map((c, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`);
    for (const r of rows.filter((x) => x.section === section)) {
      const cells = [
        r.benchmark,
        r.tsgradText ?? formatNumber(r.values.tsgrad),
        formatNumber(r.values['tfjs-cpu']),
        formatNumber(r.values['tfjs-wasm']),
        ratio(r, 'tfjs-cpu'),
        ratio(r, 'tfjs-wasm'),
      ];
      out.push(`| ${cells.join(' | ')} |`);
    }
    out.push('');
  }
  return out.join('\n');
}
