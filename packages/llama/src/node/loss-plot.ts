// loss.svg: the training and validation loss curves of a run, as a small self-contained SVG.

import type { MetricEntry } from './metrics.js';
import { writeFileAtomic } from './fs-source.js';

/** Writes an SVG line chart of train loss and validation loss against step. */
export function writeLossSvg(path: string, metrics: readonly MetricEntry[]): void {
  const train = metrics.filter((m) => m.loss !== undefined).map((m) => [m.step, m.loss!] as const);
  const evals = metrics.filter((m) => m.eval_loss !== undefined).map((m) => [m.step, m.eval_loss!] as const);
  const all = [...train, ...evals];
  const W = 640, H = 360, L = 56, R = 16, T = 24, B = 40;
  const maxStep = Math.max(1, ...all.map(([s]) => s));
  const ys = all.map(([, y]) => y);
  const yMin = ys.length ? Math.min(...ys) : 0;
  const yMax = ys.length ? Math.max(...ys) : 1;
  const span = yMax - yMin || 1;
  const x = (s: number) => L + ((W - L - R) * s) / maxStep;
  const y = (v: number) => T + ((H - T - B) * (yMax - v)) / span;
  const line = (pts: ReadonlyArray<readonly [number, number]>) => pts.map(([s, v], i) => `${i ? 'L' : 'M'}${x(s).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => yMin + f * span);
  // step ticks at whole steps, deduplicated for runs of fewer than 4 steps
  const stepTicks = [...new Set([0, 0.25, 0.5, 0.75, 1].map((f) => Math.round(f * maxStep)))];
  const svg = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    ...ticks.map((v) => `<line x1="${L}" x2="${W - R}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#eee"/><text x="${L - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${v.toFixed(2)}</text>`),
    `<line x1="${L}" x2="${L}" y1="${T}" y2="${H - B}" stroke="#333"/><line x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}" stroke="#333"/>`,
    ...stepTicks.map((st) => `<line x1="${x(st).toFixed(1)}" x2="${x(st).toFixed(1)}" y1="${H - B}" y2="${H - B + 4}" stroke="#333"/><text x="${x(st).toFixed(1)}" y="${H - B + 15}" text-anchor="middle">${st}</text>`),
    `<text x="${(L + W - R) / 2}" y="${H - 6}" text-anchor="middle">step</text>`,
    `<text x="14" y="${(T + H - B) / 2}" transform="rotate(-90 14 ${(T + H - B) / 2})" text-anchor="middle">loss (nats per token)</text>`,
    train.length ? `<path d="${line(train)}" fill="none" stroke="#1f77b4" stroke-width="1.5"/>` : '',
    evals.length ? `<path d="${line(evals)}" fill="none" stroke="#d62728" stroke-width="2"/>` + evals.map(([s, v]) => `<circle cx="${x(s).toFixed(1)}" cy="${y(v).toFixed(1)}" r="3" fill="#d62728"/>`).join('') : '',
    `<text x="${W - R - 150}" y="${T + 4}" fill="#1f77b4">— train loss</text><text x="${W - R - 150}" y="${T + 18}" fill="#d62728">— validation loss</text>`,
    '</svg>',
  ].join('\n');
  writeFileAtomic(path, svg + '\n');
}
