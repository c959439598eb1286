import { TesseraError } from '@tessera/core';
import type { SampleOptions } from '../types.js';
import { didYouMean } from './nearest.js';

/**
 * Every key {@link SampleOptions} has (the `satisfies` clause makes the compiler keep this list
 * complete when an option is added).
 */
const KEYS = {
  denoiser: true,
  x: true,
  sigmas: true,
  seed: true,
  noiseSampler: true,
  cond: true,
  callback: true,
  signal: true,
  s_churn: true,
  s_tmin: true,
  s_tmax: true,
  s_noise: true,
  eta: true,
  order: true,
  solver_type: true,
  r: true,
  variant: true,
  rtol: true,
  atol: true,
  h_init: true,
  pcoeff: true,
  icoeff: true,
  dcoeff: true,
  accept_safety: true,
  report: true,
} satisfies Record<keyof SampleOptions, true>;

/** The option names `sample` accepts. */
export const SAMPLE_OPTION_NAMES: readonly string[] = Object.keys(KEYS);

function checkNumber(op: string, key: string, v: unknown, ok: (x: number) => boolean, want: string): void {
  if (v === undefined) return;
  if (typeof v !== 'number' || Number.isNaN(v) || !ok(v))
    throw new TesseraError(
      'INVALID_ARGUMENT',
      `${op}: ${key} must be ${want}, got ${typeof v === 'number' ? v : (JSON.stringify(v) ?? typeof v)}`,
    );
}

/**
 * Checks the options of `sample(name, opts)` before anything runs: an object, no key it does not know
 * (a typo such as `s_chrun` is an error naming the nearest known option), and the shared numeric
 * options in range (η, s_noise, s_churn ≥ 0 and finite; s_tmin ≤ s_tmax). Sampler-specific options
 * (`order`, `r`, `solver_type`, `variant`) are checked by their samplers.
 */
export function checkSampleOptions(name: string, opts: unknown): asserts opts is SampleOptions {
  const op = `sample('${name}')`;
  if (opts === null || typeof opts !== 'object' || Array.isArray(opts))
    throw new TesseraError(
      'INVALID_ARGUMENT',
      `${op}: options must be an object, got ${opts === null ? 'null' : Array.isArray(opts) ? 'an array' : typeof opts}`,
    );
  for (const key of Object.keys(opts)) {
    if (!Object.hasOwn(KEYS, key))
      throw new TesseraError(
        'INVALID_ARGUMENT',
        `${op}: unknown option '${key}'${didYouMean(key, SAMPLE_OPTION_NAMES)}; known: ${SAMPLE_OPTION_NAMES.join(', ')}`,
      );
  }
  const o = opts as SampleOptions;
  const finiteNonNeg = (x: number) => Number.isFinite(x) && x >= 0;
  checkNumber(
    op,
    'eta',
    o.eta,
    finiteNonNeg,
    'a finite number ≥ 0 (0: deterministic, 1: full ancestral noise)',
  );
  checkNumber(op, 's_noise', o.s_noise, finiteNonNeg, 'a finite number ≥ 0');
  checkNumber(op, 's_churn', o.s_churn, finiteNonNeg, 'a finite number ≥ 0');
  checkNumber(op, 's_tmin', o.s_tmin, (x) => x >= 0, 'a number ≥ 0');
  checkNumber(op, 's_tmax', o.s_tmax, (x) => x >= (o.s_tmin ?? 0), `a number ≥ s_tmin (${o.s_tmin ?? 0})`);
}
