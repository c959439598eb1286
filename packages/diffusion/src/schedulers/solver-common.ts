import { type Tensor, TesseraError } from '@tessera/core';
import {
  arange,
  interpTable,
  linspace,
  roundHalfEven,
  type SchedulerConfig,
  sigmaToT,
  timesteps as spacedTimesteps,
} from '@tessera/schedules';
import { indexForTimestep, noiseBatch, timestepList } from './common.js';
import { convertSigmas, sigmaConversion } from './sigma-table.js';

/**
 * Shared pieces of diffusers' λ-space multistep solvers (DPMSolverMultistep, DPMSolverSinglestep,
 * UniPCMultistep): α/σ/λ of a σ, the integer timestep grid, the training tables, the σ's of the
 * grid (interpolated or Karras / exponential / beta), the float32 `sigmas`/`timesteps` arrays, the
 * start of a step and `add_noise`.
 */

const f32 = Math.fround;

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

/**
 * The order of step `i` of `n` in diffusers' multistep solvers (DPM-Solver++, EDM DPM-Solver, DEIS):
 * `solver_order`, lowered while fewer than that many outputs are stored (`warm`), to 1 on the last step
 * (`lower_order_final` below 15 steps, or `forceFinal`: euler_at_final / a zero final σ) and to ≤ 2 on the
 * one before (`lower_order_final` below 15 steps).
 */
export function multistepOrder(
  cfg: SchedulerConfig,
  i: number,
  n: number,
  warm: number,
  forceFinal: boolean,
): number {
  const order = cfg.get('solver_order');
  const low = cfg.get('lower_order_final') && n < 15;
  const lowerFinal = i === n - 1 && (forceFinal || low);
  const lowerSecond = i === n - 2 && low;
  if (order === 1 || warm < 1 || lowerFinal) return 1;
  return order === 2 || warm < 2 || lowerSecond ? 2 : 3;
}

/** diffusers' forced first-order last step of DPM-Solver multistep: euler_at_final or a zero final σ. */
export function dpmForceFinal(cfg: SchedulerConfig): boolean {
  return cfg.get('euler_at_final') || cfg.get('final_sigmas_type') === 'zero';
}

/**
 * diffusers' DPM-Solver(++) config normalisation (multistep, singlestep, EDM): `algorithm_type` "deis"
 * runs as dpmsolver++, and a `solver_type` other than midpoint / heun (logrho, bh1, bh2) as midpoint;
 * an algorithm outside `allowed` is UNSUPPORTED.
 */
export function dpmSolverConfig(cfg: SchedulerConfig, allowed: readonly string[]): SchedulerConfig {
  let out = cfg;
  const algo = out.get('algorithm_type');
  if (algo === 'deis') out = out.with({ algorithm_type: 'dpmsolver++' });
  else if (!allowed.includes(algo))
    throw new TesseraError(
      'UNSUPPORTED',
      `${cfg.className}: algorithm_type "${algo}" (one of ${allowed.join(', ')})`,
    );
  const st = out.get('solver_type');
  if (st !== 'midpoint' && st !== 'heun') out = out.with({ solver_type: 'midpoint' });
  return out;
}
