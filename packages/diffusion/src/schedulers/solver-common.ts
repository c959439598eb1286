import type { Tensor } from '@tessera/core';
import {
  arange,
  interpTable,
  linspace,
  roundHalfEven,
  type SchedulerConfig,
  sigmaToT,
  timesteps as spacedTimesteps,
} from '@tessera/schedules';
import { descendingTimesteps, indexForTimestep, noiseBatch, timestepList, trainTables } from './common.js';
import { convertSigmas, sigmaConversion, sigmaTable } from './sigma-table.js';

/**
 * Shared pieces of diffusers' λ-space multistep solvers (DPMSolverMultistep, DPMSolverSinglestep,
 * UniPCMultistep): α/σ/λ of a σ, the integer timestep grid, the training tables, the σ's of the
 * grid (interpolated or Karras / exponential / beta), the float32 `sigmas`/`timesteps` arrays, the
 * start of a step and `add_noise`.
 */

const f32 = Math.fround;

/** The β schedules the solvers accept (diffusers raises for others). */
const SOLVER_BETAS = ['linear', 'scaled_linear', 'squaredcos_cap_v2'];

/** α_t, σ_t of a step's σ: VP (1/√(σ²+1), σ/√(σ²+1)) or flow (1 − σ, σ). */
export function solverAlphaSigma(sigma: number, flow: boolean): [number, number] {
  if (flow) return [1 - sigma, sigma];
  const a = 1 / Math.sqrt(sigma * sigma + 1);
  return [a, sigma * a];
}

/** λ = log α_t − log σ_t of a step's σ (see {@link solverAlphaSigma}). */
export function solverLambda(sigma: number, flow: boolean): number {
  const [a, s] = solverAlphaSigma(sigma, flow);
  return Math.log(a) - Math.log(s);
}

/**
 * Integer timesteps of diffusers' DPM-Solver/UniPC `set_timesteps` before any σ conversion. Quirks kept:
 * `linspace` takes n + 1 points over [0, last − 1] and drops the last (so t = 0 is never used);
 * `leading` uses `last // (n + 1)`; `trailing` steps by N/n from `last`.
 */
export function solverTimesteps(cfg: SchedulerConfig, n: number, lastTimestep: number): Int32Array {
  const N = cfg.get('num_train_timesteps');
  const spacing = cfg.get('timestep_spacing');
  if (spacing === 'linspace') {
    const t = linspace(0, lastTimestep - 1, n + 1)
      .map(roundHalfEven)
      .reverse();
    return Int32Array.from(t.subarray(0, n));
  }
  if (spacing === 'leading') {
    const r = Math.floor(lastTimestep / (n + 1));
    const off = cfg.get('steps_offset');
    return Int32Array.from({ length: n }, (_, k) => (n - k) * r + off);
  }
  if (spacing === 'trailing')
    return Int32Array.from(arange(lastTimestep, 0, -N / n).subarray(0, n), (x) => roundHalfEven(x) - 1);
  return spacedTimesteps(n, { spacing, numTrainTimesteps: N }); // throws for unknown spacing
}

/** The training tables of a solver and its grid before `setTimesteps`. */
export interface SolverTables {
  /** β (float32 values). */
  betas: Float64Array;
  /** ᾱ (float32 values; ᾱ_T = 2⁻²⁴ with `rescale_betas_zero_snr`). */
  alphasCumprod: Float64Array;
  /** σ_t = √((1−ᾱ_t)/ᾱ_t), ascending in t. */
  sigmaTable: Float64Array;
  /** float32 log σ_t (for `_sigma_to_t`). */
  logSigmaTable: Float64Array;
  /** N − 1 … 0. */
  timesteps: Int32Array;
  /** A copy of the σ table. */
  sigmas: Float64Array;
}

/** β, ᾱ and σ tables of a solver's config, and its `timesteps`/`sigmas` before `setTimesteps`. */
export function solverTables(cfg: SchedulerConfig): SolverTables {
  const { betas, alphasCumprod } = trainTables(cfg, SOLVER_BETAS, true);
  const { table, logTable } = sigmaTable(alphasCumprod);
  return {
    betas,
    alphasCumprod,
    sigmaTable: table,
    logSigmaTable: logTable,
    timesteps: descendingTimesteps(alphasCumprod.length),
    sigmas: Float64Array.from(table),
  };
}

/** λ_t = log α_t − log σ_t of each training timestep in float32, as diffusers' `lambda_t`. */
export function lambdaTable(alphasCumprod: Float64Array): Float64Array {
  return alphasCumprod.map((a) =>
    f32(f32(Math.log(f32(Math.sqrt(a)))) - f32(Math.log(f32(Math.sqrt(f32(1 - a)))))),
  );
}

/**
 * The last timestep of the grid under `lambda_min_clipped`: N less the number of the first N λ's
 * below `lambdaMin` (diffusers' `searchsorted(flip(λ), lambda_min_clipped)`).
 */
export function lambdaClippedEnd(lambdaT: Float64Array, lambdaMin: number, N: number): number {
  let clipped = 0;
  for (let i = N - 1; i >= 0; i--) if (lambdaT[i]! < lambdaMin) clipped++;
  return N - clipped;
}

/**
 * The σ's of a solver grid of timesteps `ts` and the timesteps that go with them. With the config's
 * Karras / exponential / beta σ's: ts.length σ's converted from the whole table (descending), their
 * timesteps by `_sigma_to_t` (floats; Karras ones rounded half to even when `roundKarras`), and
 * `converted` true. Otherwise the table interpolated at `ts`, which are kept.
 */
export function solverSigmas(
  cfg: SchedulerConfig,
  table: Float64Array,
  logTable: Float64Array,
  ts: Float64Array,
  roundKarras = true,
): { sigmas: Float64Array; timesteps: Float64Array; converted: boolean } {
  const conv = sigmaConversion(cfg);
  if (!conv) return { sigmas: ts.map((t) => interpTable(t, table)), timesteps: ts, converted: false };
  const sigmas = convertSigmas(conv, Float64Array.from(table).reverse(), ts.length, cfg);
  let timesteps = sigmas.map((s) => sigmaToT(s, logTable));
  if (conv === 'karras' && roundKarras) timesteps = timesteps.map(roundHalfEven);
  return { sigmas, timesteps, converted: true };
}

/**
 * The solver arrays of a σ grid: `sigmas` (float32 values of `sig`, then the final σ `last`) and
 * `timesteps` (`ts` truncated to integers, as torch's `.to(int64)`).
 */
export function solverGrid(
  sig: Float64Array,
  ts: Float64Array,
  last: number,
): { sigmas: Float64Array; timesteps: Int32Array } {
  const steps = sig.length;
  const sigmas = new Float64Array(steps + 1);
  for (let i = 0; i < steps; i++) sigmas[i] = f32(sig[i]!);
  sigmas[steps] = f32(last);
  return { sigmas, timesteps: Int32Array.from(ts, Math.trunc) };
}

/**
 * diffusers' `add_noise` for the multistep solvers: α_t·x₀ + σ_t·noise at each timestep's σ, at the
 * step index `at` once `setBeginIndex` has been called (null: not), else at each timestep looked up in `timesteps`.
 */
export function solverAddNoise(
  x0: Tensor,
  noise: Tensor,
  t: number | readonly number[],
  schedule: { timesteps: ArrayLike<number>; sigmas: ArrayLike<number> },
  at: number | null,
  flow: boolean,
): Tensor {
  return noiseBatch(
    x0,
    noise,
    timestepList(t).map((ti) => {
      const i = at ?? indexForTimestep('addNoise', ti, schedule.timesteps, schedule.timesteps.length - 1);
      return solverAlphaSigma(schedule.sigmas[i]!, flow);
    }),
  );
}
