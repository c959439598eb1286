import { TesseraError } from '@tessera/core';
import { arange, checkCount, f32, linspace, roundHalfEven } from './numeric.js';

/** diffusers' `timestep_spacing` values. */
export type TimestepSpacing = 'linspace' | 'leading' | 'trailing';

/** Every accepted spacing. */
export const TIMESTEP_SPACINGS: readonly TimestepSpacing[] = ['linspace', 'leading', 'trailing'];

/** Options of {@link timesteps}. */
export interface TimestepOptions {
  /** `linspace` (default), `leading` or `trailing` (Lin et al. 2023, Table 2). */
  spacing?: TimestepSpacing;
  /** Training timesteps N (diffusers `num_train_timesteps`). Default 1000. */
  numTrainTimesteps?: number;
  /** Added to every `leading` timestep (diffusers `steps_offset`, 1 for Stable Diffusion). Default 0. */
  stepsOffset?: number;
}

function spacingOf(op: string, spacing: unknown): TimestepSpacing {
  if (spacing === undefined) return 'linspace';
  if (!TIMESTEP_SPACINGS.includes(spacing as TimestepSpacing)) {
    throw new TesseraError(
      'UNKNOWN_NAME',
      `${op}: unknown spacing '${String(spacing)}', expected one of ${TIMESTEP_SPACINGS.join(', ')}`,
    );
  }
  return spacing as TimestepSpacing;
}

function checkSteps(
  n: number,
  opts: TimestepOptions,
): { N: number; offset: number; spacing: TimestepSpacing } {
  const N = opts.numTrainTimesteps ?? 1000;
  checkCount('timesteps', N, 1, 'numTrainTimesteps');
  checkCount('timesteps', n, 1, 'number of steps');
  if (n > N) {
    throw new TesseraError(
      'INVALID_ARGUMENT',
      `timesteps: number of steps ${n} cannot exceed numTrainTimesteps ${N}`,
    );
  }
  const offset = opts.stepsOffset ?? 0;
  checkCount('timesteps', offset, 0, 'stepsOffset');
  return { N, offset, spacing: spacingOf('timesteps', opts.spacing) };
}

/** Spaced timesteps, descending; rounded half-to-even unless `float` and linspace. */
function spaced(n: number, opts: TimestepOptions, float: boolean): Float64Array {
  const { N, offset, spacing } = checkSteps(n, opts);
  if (spacing === 'linspace') {
    const t = linspace(0, N - 1, n).reverse();
    return float ? t.map(f32) : t.map(roundHalfEven);
  }
  if (spacing === 'leading') {
    const ratio = Math.floor(N / n);
    const out = new Float64Array(n);
    for (let k = 0; k < n; k++) out[k] = (n - 1 - k) * ratio + offset;
    return out;
  }
  // numpy: np.round(np.arange(N, 0, -N / n)) - 1 (round first: half-to-even then subtract). For some
  // (N, n), e.g. (1000, 61), numpy's arange yields n + 1 values ending in ~1e-13, which diffusers turns
  // into a final timestep of -1; we keep the first n values (diffusers' own whenever it is valid).
  return arange(N, 0, -N / n)
    .subarray(0, n)
    .map((x) => roundHalfEven(x) - 1);
}

/**
 * Inference timesteps, descending, as diffusers' DDPM/DDIM `set_timesteps` computes them
 * (numpy round-half-to-even, then int64): `linspace` rounds `linspace(0, N−1, n)`; `leading` takes
 * `k·(N // n)` plus `stepsOffset`; `trailing` rounds `arange(N, 0, −N/n)` and subtracts 1 (keeping n
 * values: for some n, e.g. 61 of 1000, numpy's arange makes one more and diffusers ends in −1).
 * A custom list is checked (integers, strictly descending, in [0, N)) and returned as is.
 *
 * With `{ float: true }` the result is a Float64Array holding the float32 timesteps that Euler-type
 * schedulers use: `linspace` is not rounded there (`np.linspace(0, N−1, n, dtype=float32)`).
 *
 * @example
 * timesteps(10, { spacing: 'leading', numTrainTimesteps: 1000, stepsOffset: 1 }); // 901, 801, …, 1
 */
export function timesteps(
  n: number | readonly number[],
  opts?: TimestepOptions & { float?: false },
): Int32Array;
export function timesteps(
  n: number | readonly number[],
  opts: TimestepOptions & { float: true },
): Float64Array;
export function timesteps(
  n: number | readonly number[],
  opts: TimestepOptions & { float?: boolean } = {},
): Int32Array | Float64Array {
  if (typeof n !== 'number') {
    const custom = customTimesteps(n, opts.numTrainTimesteps ?? 1000);
    return opts.float ? Float64Array.from(custom) : custom;
  }
  const t = spaced(n, opts, opts.float === true);
  return opts.float ? t : Int32Array.from(t);
}

/**
 * Validates an explicit timestep list (diffusers `set_timesteps(timesteps=[...])`): integers,
 * strictly descending, first one below `numTrainTimesteps`, none negative.
 */
export function customTimesteps(list: ArrayLike<number>, numTrainTimesteps = 1000): Int32Array {
  if (!list || typeof list.length !== 'number' || list.length < 1) {
    throw new TesseraError('INVALID_ARGUMENT', 'timesteps: a custom timestep list must be a non-empty array');
  }
  const out = new Int32Array(list.length);
  for (let i = 0; i < list.length; i++) {
    const t = list[i]!;
    if (!Number.isInteger(t) || t < 0 || t >= numTrainTimesteps) {
      throw new TesseraError(
        'OUT_OF_RANGE',
        `timesteps: custom timestep [${i}] must be an integer in [0, ${numTrainTimesteps}), got ${t}`,
      );
    }
    if (i > 0 && t >= list[i - 1]!) {
      throw new TesseraError(
        'INVALID_ARGUMENT',
        `timesteps: custom timesteps must be strictly descending, got ${list[i - 1]} then ${t}`,
      );
    }
    out[i] = t;
  }
  return out;
}
