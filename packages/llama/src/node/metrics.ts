// metrics.jsonl: one JSON line per logged step or validation, appended as a run goes, kept across
// resumes (lines past the step a run resumes from are dropped: that run will write them again).

import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from './fs-source.js';

/** One line of metrics.jsonl. */
export interface MetricEntry {
  /** The step the line describes. */
  step: number;
  /** Training loss of that step. */
  loss?: number;
  /** Validation loss at that step. */
  eval_loss?: number;
  [key: string]: number | undefined;
}

/**
 * The lines of a metrics.jsonl ([] when there is none). A kill while appending can tear the last
 * line: it is dropped with a warning. A bad line before it is damage we cannot explain, so it is an
 * error naming the file and line.
 */
function readMetrics(path: string, log: (line: string) => void): MetricEntry[] {
  if (!existsSync(path)) return [];
  const lines = readFileSync(path, 'utf8').split('\n');
  const entries: MetricEntry[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() === '') continue;
    try {
      entries.push(JSON.parse(lines[i]!) as MetricEntry);
    } catch (err) {
      if (lines.slice(i + 1).every((l) => l.trim() === '')) {
        log(`warning: dropping the torn last line ${i + 1} of ${path} (a run was killed while writing it)`);
        break;
      }
      throw new Error(`train: ${path} line ${i + 1} is not valid JSON (${(err as Error).message}); fix or remove that line`);
    }
  }
  return entries;
}

/** A run's metrics.jsonl: the lines so far (for loss.svg) and `record` to append one. */
export class MetricsLog {
  /** Every line of the file, in order. */
  readonly entries: MetricEntry[];
  /** The file. */
  readonly path: string;

  /** Opens `path` for a run at `step`: keeps its lines up to that step and rewrites it with them alone. */
  constructor(path: string, step: number, log: (line: string) => void) {
    this.path = path;
    this.entries = readMetrics(path, log).filter((m) => m.step <= step);
    writeFileAtomic(path, this.entries.map((m) => JSON.stringify(m) + '\n').join(''));
  }

  /** Appends one line. */
  record(entry: MetricEntry): void {
    this.entries.push(entry);
    appendFileSync(this.path, JSON.stringify(entry) + '\n');
  }
}
