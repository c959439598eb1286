import { TesseraError } from '@tessera/core';

/** A usage error: bad flag or value. The CLI prints its message on one line and exits with code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Control characters (a config's binary bytes quoted in a JSON error, say) shown as `?` on one line. */
function printable(s: string): string {
  let out = '';
  for (const ch of s) {
    const c = ch.charCodeAt(0);
    out += c < 32 || c === 127 ? '?' : ch;
  }
  return out;
}

/** One line for the terminal: no stack trace, the message only. A non-Tessera error is marked internal. */
export function oneLine(err: unknown): string {
  return printable(describeError(err));
}

function describeError(err: unknown): string {
  if (err instanceof UsageError) return `tessera: ${err.message} (see --help)`;
  if (err instanceof TesseraError) return `tessera: ${err.message.split('\n')[0]}`;
  if (err instanceof Error) {
    const fs = (err as NodeJS.ErrnoException).code;
    // file-system errors (EACCES, ENOSPC…) are the user's situation, not a bug
    if (typeof fs === 'string' && /^E[A-Z]+$/.test(fs)) return `tessera: ${err.message.split('\n')[0]}`;
    return `tessera: internal error (${err.name}): ${err.message.split('\n')[0]}`;
  }
  return `tessera: internal error: ${String(err)}`;
}

const INT_RE = /^[+-]?\d+$/;
const NUM_RE = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/**
 * Parses an integer flag written in decimal digits (no `0x10`, `1e3`, blanks or empty values) within
 * `[min, max]`, rejecting anything else with a UsageError naming the flag, the allowed range and the value.
 */
export function intFlag(
  name: string,
  value: string | undefined,
  fallback: number,
  min = Number.MIN_SAFE_INTEGER,
  max?: number,
): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  const hi = max ?? Number.MAX_SAFE_INTEGER;
  if (!INT_RE.test(value) || !Number.isSafeInteger(n) || n < min || n > hi) {
    const range =
      max !== undefined ? ` from ${min} to ${max}` : min > Number.MIN_SAFE_INTEGER ? ` ≥ ${min}` : '';
    throw new UsageError(`--${name} must be an integer${range}, got '${value}'`);
  }
  return n;
}

/** Bounds of {@link numFlag}: `min`/`max` inclusive, `above` exclusive. */
export interface NumRange {
  min?: number;
  max?: number;
  above?: number;
}

/**
 * Parses a decimal number flag (`2`, `0.5`, `1e-3`; no hex, `Infinity`, blanks or empty values) within the
 * range, rejecting anything else with a UsageError naming the flag, the allowed range and the value.
 */
export function numFlag(
  name: string,
  value: string | undefined,
  fallback: number,
  range: number | NumRange = {},
): number {
  if (value === undefined) return fallback;
  const r = typeof range === 'number' ? { min: range } : range;
  const n = Number(value);
  const ok =
    NUM_RE.test(value) &&
    Number.isFinite(n) &&
    !(r.min !== undefined && n < r.min) &&
    !(r.max !== undefined && n > r.max) &&
    !(r.above !== undefined && n <= r.above);
  if (!ok) {
    const lo = r.above !== undefined ? `(${r.above}` : r.min !== undefined ? `[${r.min}` : '';
    const hi = r.max !== undefined ? `${r.max}]` : '';
    const what =
      lo && hi
        ? ` in ${lo}, ${hi}`
        : lo
          ? r.above !== undefined
            ? ` > ${r.above}`
            : ` ≥ ${r.min}`
          : hi
            ? ` ≤ ${r.max}`
            : '';
    throw new UsageError(`--${name} must be a number${what}, got '${value}'`);
  }
  return n;
}

/** Checks a flag against a list of allowed values. */
export function choiceFlag<T extends string>(
  name: string,
  value: string | undefined,
  allowed: readonly T[],
  fallback: T,
): T {
  if (value === undefined) return fallback;
  if (!allowed.includes(value as T))
    throw new UsageError(`--${name} must be one of ${allowed.join(', ')}, got '${value}'`);
  return value as T;
}
