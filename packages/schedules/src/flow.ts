import { TesseraError } from '@tessera/core';
import type { Precision } from './betas.js';
import { checkCount, checkNumber, f32, linspace } from './numeric.js';
import { betaSigmas, exponentialSigmas, karrasSigmas } from './sigmas.js';

/**
 * Flow-matching (rectified flow) schedules, x_σ = (1 − σ)·x₀ + σ·ε, as used by SD3 and FLUX through
 * diffusers' `FlowMatchEulerDiscreteScheduler`.
 */

/** Static shift of SD3: σ' = s·σ / (1 + (s − 1)·σ). */
export function shiftSigma(sigma: number, shift: number): number {
  return (shift * sigma) / (1 + (shift - 1) * sigma);
}

/** diffusers' time shift types for dynamic shifting. */
export type TimeShiftType = 'exponential' | 'linear';

/**
 * Dynamic (resolution-dependent) time shift of FLUX: `exponential` gives e^μ / (e^μ + (1/t − 1)^s),
 * `linear` gives μ / (μ + (1/t − 1)^s), with s = `sigma` (1 in diffusers).
 */
export function timeShift(mu: number, sigma: number, t: number, type: TimeShiftType = 'exponential'): number {
  if (type === 'exponential') return Math.exp(mu) / (Math.exp(mu) + (1 / t - 1) ** sigma);
  if (type === 'linear') return mu / (mu + (1 / t - 1) ** sigma);
  throw new TesseraError(
    'UNKNOWN_NAME',
    `timeShift: unknown time shift type '${String(type)}', expected exponential or linear`,
  );
}

/** Options of {@link calculateShift} (FLUX pipeline defaults; the scheduler config keys of the same names). */
export interface ShiftOptions {
  baseSeqLen?: number;
  maxSeqLen?: number;
  baseShift?: number;
  maxShift?: number;
}

/**
 * μ for dynamic shifting, linear in the image token count (diffusers' `calculate_shift` of the FLUX
 * pipeline): μ = m·L + b through (baseSeqLen, baseShift) and (maxSeqLen, maxShift).
 */
export function calculateShift(imageSeqLen: number, opts: ShiftOptions = {}): number {
  const baseSeq = opts.baseSeqLen ?? 256;
  const maxSeq = opts.maxSeqLen ?? 4096;
  const baseShift = opts.baseShift ?? 0.5;
  const maxShift = opts.maxShift ?? 1.15;
  const m = (maxShift - baseShift) / (maxSeq - baseSeq);
  const b = baseShift - m * baseSeq;
  return imageSeqLen * m + b;
}

/** Options of {@link flowMatchSigmas}: the keys of diffusers' FlowMatchEulerDiscreteScheduler config. */
export interface FlowMatchOptions {
  /** N (`num_train_timesteps`). Default 1000. */
  numTrainTimesteps?: number;
  /** Static shift (`shift`). Default 1. */
  shift?: number;
  /** Use the dynamic time shift with `mu` instead of the static shift (`use_dynamic_shifting`). */
  useDynamicShifting?: boolean;
  /** μ of the dynamic shift; required when `useDynamicShifting`. */
  mu?: number;
  /** `time_shift_type`. Default `exponential`. */
  timeShiftType?: TimeShiftType;
  /** Stretch so that the last σ equals this value (`shift_terminal`). */
  shiftTerminal?: number | null;
  /** Convert the shifted sigmas to a Karras / exponential / beta schedule between their ends. */
  sigmaSchedule?: 'karras' | 'exponential' | 'beta';
  /** Custom sigmas (the FLUX pipeline passes `linspace(1, 1/n, n)`); n is then their length. */
  sigmas?: ArrayLike<number>;
  /** Default `float32`: reproduce diffusers' float32 rounding. */
  precision?: Precision;
}

/**
 * The `n` inference sigmas of diffusers' `FlowMatchEulerDiscreteScheduler.set_timesteps`, descending,
 * without the terminal 0. It reproduces diffusers' path exactly: the training table σ_k = k/N is shifted
 * once at construction (static shift only), the inference grid is `linspace(σ_max·N, σ_min·N, n)/N`
 * between the (shifted) table ends and is then shifted (again); timesteps are σ·N.
 *
 * @example
 * flowMatchSigmas(28, { shift: 3 }); // SD3
 * flowMatchSigmas(28, { useDynamicShifting: true, mu: calculateShift(4096), sigmas: linspace(1, 1 / 28, 28) }); // FLUX
 */
export function flowMatchSigmas(n: number, opts: FlowMatchOptions = {}): Float64Array {
  const precision = opts.precision ?? 'float32';
  const r = precision === 'float32' ? f32 : (x: number) => x;
  const N = opts.numTrainTimesteps ?? 1000;
  checkCount('flowMatchSigmas', N, 1, 'numTrainTimesteps');
  const shift = opts.shift ?? 1;
  checkNumber('flowMatchSigmas', shift, 'shift', true);
  const dynamic = opts.useDynamicShifting === true;
  const type = opts.timeShiftType ?? 'exponential';
  if (dynamic && (opts.mu === undefined || !Number.isFinite(opts.mu))) {
    throw new TesseraError(
      'INVALID_ARGUMENT',
      'flowMatchSigmas: mu must be a finite number when useDynamicShifting is set',
    );
  }
  // float32 rounding of a numpy float32 array op (custom sigmas are float32 in diffusers).
  let s: Float64Array;
  let rc: (x: number) => number = (x) => x;
  if (opts.sigmas !== undefined) {
    if (opts.sigmas.length < 1)
      throw new TesseraError('INVALID_ARGUMENT', 'flowMatchSigmas: custom sigmas must not be empty');
    s = Float64Array.from(opts.sigmas, (v) => r(v));
    rc = r;
  } else {
    checkCount('flowMatchSigmas', n, 1, 'n');
    // Training table ends, shifted once unless dynamic (float32 torch ops in diffusers' __init__).
    const tableEnd = (sigma: number) =>
      dynamic ? sigma : r(r(r(shift) * sigma) / r(1 + r(r(shift - 1) * sigma)));
    const sigmaMax = tableEnd(r(N / N));
    const sigmaMin = tableEnd(r(1 / N));
    s = linspace(sigmaMax * N, sigmaMin * N, n).map((t) => t / N);
  }
  if (dynamic) {
    const mu = opts.mu!;
    const e = type === 'exponential' ? Math.exp(mu) : mu;
    if (type !== 'exponential' && type !== 'linear') timeShift(mu, 1, 0.5, type);
    s = s.map((t) => rc(e / rc(e + rc(rc(1 / t) - 1))));
  } else {
    s = s.map((t) => rc(rc(shift * t) / rc(1 + rc((shift - 1) * t))));
  }
  if (opts.shiftTerminal) {
    const st = opts.shiftTerminal;
    checkNumber('flowMatchSigmas', st, 'shiftTerminal', true);
    const scale = rc((1 - s[s.length - 1]!) / (1 - st));
    s = s.map((t) => rc(1 - rc(rc(1 - t) / scale)));
  }
  const m = s.length;
  if (opts.sigmaSchedule === 'karras') s = karrasSigmas(m, s[m - 1]!, s[0]!);
  else if (opts.sigmaSchedule === 'exponential') s = exponentialSigmas(m, s[m - 1]!, s[0]!);
  else if (opts.sigmaSchedule === 'beta') s = betaSigmas(m, s[m - 1]!, s[0]!);
  else if (opts.sigmaSchedule !== undefined) {
    throw new TesseraError(
      'UNKNOWN_NAME',
      `flowMatchSigmas: unknown sigmaSchedule '${String(opts.sigmaSchedule)}'`,
    );
  }
  return s.map(r);
}
