import { TesseraError } from '@tessera/core';

/** A usage error: bad flag or value. The CLI prints its message on one line and exits with code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** One line for the terminal: no stack trace, the message only. */
export function oneLine(err: unknown): string {
  if (err instanceof UsageError) return `tessera: ${err.message} (see --help)`;
  if (err instanceof TesseraError) return `tessera: ${err.message}`;
  if (err instanceof Error) return `tessera: ${err.message.split('\n')[0]}`;
  return `tessera: ${String(err)}`;
}

/** Parses an integer flag, rejecting anything else with a UsageError naming the flag. */
export function intFlag(
  name: string,
  value: string | undefined,
  fallback: number,
  min = Number.MIN_SAFE_INTEGER,
): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) {
    throw new UsageError(
      `--${name} must be an integer${min > Number.MIN_SAFE_INTEGER ? ` ≥ ${min}` : ''}, got '${value}'`,
    );
  }
  return n;
}

/** Parses a number flag, rejecting anything else with a UsageError naming the flag. */
export function numFlag(name: string, value: string | undefined, fallback: number, min = -Infinity): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < min) {
    throw new UsageError(`--${name} must be a number${min > -Infinity ? ` ≥ ${min}` : ''}, got '${value}'`);
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
