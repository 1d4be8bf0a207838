// Command-line flag values for both CLIs: numbers checked against their valid range, with errors
// that say the range, and negative numbers accepted as values (`--seed -1`).

/**
 * Rewrites `--flag -1` as `--flag=-1` for the given value-taking flags: node's parseArgs takes a
 * value that starts with a dash for an option, so a negative number would otherwise be refused.
 */
export function joinNegativeValues(argv: readonly string[], valueFlags: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = argv[i + 1];
    if (valueFlags.includes(a.replace(/^--/, '')) && a.startsWith('--') && next !== undefined && /^-(\d|\.\d)/.test(next)) {
      out.push(`${a}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

/** An integer flag in decimal digits (a sign only when min < 0) within [min, max]; fallback when absent. */
export function integerFlag(command: string, name: string, value: string | undefined, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  const v = Number(value);
  if (!/^[+-]?\d+$/.test(value.trim()) || !Number.isSafeInteger(v) || v < min || v > max) {
    const what = max !== Number.MAX_SAFE_INTEGER ? `an integer from ${min} to ${max}`
      : min === 1 ? 'a positive integer (1 to 2^53 − 1)' : min === 0 ? 'a non-negative integer (0 to 2^53 − 1)'
      : min === -max ? 'a safe integer (−(2^53 − 1) to 2^53 − 1)' : `an integer from ${min} to 2^53 − 1`;
    throw new Error(`${command}: --${name} must be ${what} in decimal digits; got '${value}'`);
  }
  return v;
}

/** A decimal number flag within a range described by `ok` and `range` (e.g. "≥ 0"); fallback when absent. */
export function numberFlag(command: string, name: string, value: string | undefined, range: string, ok: (v: number) => boolean, fallback: number): number {
  if (value === undefined) return fallback;
  const v = Number(value);
  if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(value.trim()) || !Number.isFinite(v) || !ok(v)) {
    throw new Error(`${command}: --${name} must be a number ${range}; got '${value}'`);
  }
  return v;
}
