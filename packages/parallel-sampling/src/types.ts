import type { Tensor } from '@tessera/core';
import type { Denoiser, RowDenoiser, Scheduler, TimestepModel } from '@tessera/diffusion';
import type { ParallelSamplerName, ParallelSamplerOptions } from './steps.js';

/** What the per-round callback sees. */
export interface RoundInfo {
  /** Round number, 1-based. */
  round: number;
  /** First step of the window this round evaluated (its input sample was already final). */
  begin: number;
  /** One past the window's last step. */
  end: number;
  /** Number of steps (`sigmas.length − 1`). */
  total: number;
  /** Steps whose results are final after this round (the window's next start). */
  done: number;
  /**
   * The round's normalised residual: max over the window's steps and the images of the error relative
   * to the tolerance (see {@link ParallelOptions.tol}); ≤ 1 means within tolerance.
   */
  residual: number;
  /** Denoiser evaluations so far (in steps: a batch of n images at one σ counts once). */
  evaluations: number;
  /**
   * The current guess of the sample at the window's end (the final sample once the window reaches the
   * last step). Valid only during the callback; reading it is the caller's choice (a host read).
   */
  x: Tensor;
}

/** Options shared by {@link paradigms} and {@link parataa}. */
export interface ParallelOptions extends ParallelSamplerOptions {
  /**
   * The denoiser. A {@link RowDenoiser} (every wrapper of `@tessera/diffusion`, the reference models,
   * `onnxDenoiser`) gets one batched call per round; a number-only denoiser is called once per distinct
   * σ of the window (see `asRowDenoiser`).
   */
  denoiser: Denoiser | RowDenoiser;
  /** The starting sample at `sigmas[0]`, `[n, ...]` for n images. Not disposed. */
  x: Tensor;
  /** Noise levels, strictly descending, usually ending in 0. */
  sigmas: ArrayLike<number>;
  /** Sampler whose steps are solved for (see `PARALLEL_SAMPLERS`). */
  sampler: ParallelSamplerName;
  /** Philox seed of the steps' noise, as in `sample`: the same seed gives the sequential run's noise. */
  seed?: number;
  /** Window size p: steps evaluated per round (one batch of p·n rows). Default min(steps, 32). */
  window?: number;
  /**
   * Relative tolerance: a step is final once ‖e‖²/(D·σ_t²) ≤ tol² for every image, with e the step's
   * error (paradigms: the change x_new − x_old of its sample in the round; parataa: its one-step
   * residual F(x_{t−1}) − x_t), D the values per image and σ_t² DDPM's noise variance of that step
   * (ParaDiGMS' criterion; see `stepVariances`). Default 0.1 (ParaDiGMS) for paradigms, 1e-3 (ParaTAA's
   * tol2) for parataa.
   */
  tol?: number;
  /**
   * Absolute tolerance on the RMS of the error in the variance-preserving frame (e/√(1+σ²), ParaTAA's
   * tol1); a step is also final when RMS ≤ atol. Default 0 (off) for paradigms, 1e-3 for parataa.
   */
  atol?: number;
  /** Round budget; past it the run returns with `converged: false`. Default: the number of steps. */
  maxRounds?: number;
  /**
   * Passed to the denoiser as its third argument. Per-image parts are repeated for every step of a
   * batched call: a tensor whose first dimension is n, an array or typed array of length n (class
   * labels; for a {@link RowDenoiser} — a number-only denoiser is called per step on n rows and gets
   * arrays whole), and such values one level down in a plain object (`{ classLabels, guidanceScale }`).
   */
  cond?: unknown;
  /** Checked before every round; an aborted signal throws TesseraError `ABORTED`. */
  signal?: AbortSignal;
  /** Called after every round; may be async (it is awaited). */
  callback?: (info: RoundInfo) => void | Promise<void>;
  /**
   * Keep the trajectory (x at every σ reached: all sigmas.length of them after convergence) in the
   * result, e.g. as a later `parataa` run's `winit`. Default false (samples are freed once the window
   * has passed them).
   */
  keepTrajectory?: boolean;
}

/** Options of {@link parataa}. */
export interface ParaTAAOptions extends ParallelOptions {
  /**
   * Anderson memory m: iterates kept per step (m − 1 differences). 1 = plain fixed-point. Default 4
   * (upstream's scripts use 2; on the digits models 2–4 differ by a round or two).
   */
  memory?: number;
  /**
   * Regulariser λ added to the Gram matrix of the residual differences, taken in the variance-preserving
   * frame (x/√(1+σ²), as upstream) and averaged over the image's values. Default 1e-2 (on the digits
   * model 1e-2 beat 1e-3 and 1e-1 for DDIM-100). Upstream adds its λ = 1e-3 to raw sums over the D
   * values: the same regularisation here is 1e-3/D.
   */
  lambda?: number;
  /**
   * Order k of the nonlinear equations: each step's residual sums its last k one-step residuals within
   * the window. Default: unbounded (back to the window's start; on the digits model k = window beat
   * ParaTAA's default 20 (its SD script; 100 in its DiT script): 9 rounds against 11.5 for DDIM-100).
   */
  order?: number;
  /**
   * Warm start: an earlier trajectory (x at sigmas[0], sigmas[1], …, as `keepTrajectory` returns it,
   * e.g. from a nearby prompt or seed) used as the initial guess instead of copies of `x`. Entry 0 is
   * ignored; a shorter array leaves the later steps to the default initialisation. Not disposed.
   */
  winit?: readonly Tensor[];
}

/**
 * Options of {@link paradigms} and {@link parataa} over a diffusers-API scheduler of
 * `@tessera/diffusion` instead of `sampler` + `sigmas` + an x₀-denoiser. The fixed point solved is the
 * diffusers loop
 * `for (const t of s.timesteps) x = s.step(await model(s.scaleModelInput(x, t), t, cond), t, x, { ...stepOptions, generator }).prevSample`
 * with one `generator = { seed, offset: 0 }` object passed to every step (so its Philox offset
 * advances by the words each stochastic step draws). Supported: see `PARALLEL_SCHEDULERS`.
 */
export interface SchedulerParallelOptions
  extends Omit<
    ParallelOptions,
    'denoiser' | 'sigmas' | 'sampler' | 'eta' | 's_noise' | 's_churn' | 's_tmin' | 's_tmax'
  > {
  /**
   * The scheduler, after `setTimesteps(n)` (its config and grid are read; it is neither stepped nor
   * mutated: every round steps a fresh copy built from its config with `setTimesteps(n)`, so a grid
   * set some other way, e.g. custom timesteps, is refused).
   */
  scheduler: Scheduler;
  /**
   * The model: `(sample, timestep, cond) → model_output` (ε, v or x₀ as the scheduler's
   * `prediction_type` says; Optimum's U-Net signature). With `rowTimesteps` it gets one timestep per
   * batch row (a `Float64Array`) and one call per round; otherwise it is called once per step of the
   * window on that step's n rows.
   */
  model: TimestepModel;
  /** Whether `model` takes a `Float64Array` of one timestep per batch row. Default false. */
  rowTimesteps?: boolean;
  /**
   * Passed to every `step` call (e.g. `{ eta: 0.5 }` for DDIM, `{ s_churn }` for Euler); `generator`
   * and `varianceNoise` are not allowed (the noise comes from `seed`).
   */
  stepOptions?: Record<string, unknown>;
  /** Philox seed of the steps' noise: the sequential loop's `generator = { seed, offset: 0 }`. */
  seed?: number;
}

/** Options of {@link parataa} over a diffusers-API scheduler (see {@link SchedulerParallelOptions}). */
export interface SchedulerParaTAAOptions
  extends SchedulerParallelOptions,
    Pick<ParaTAAOptions, 'memory' | 'lambda' | 'order' | 'winit'> {}

/** The sample and the run's record. */
export interface ParallelResult {
  /** The final sample (the caller disposes it). */
  x: Tensor;
  /** Parallel rounds (each: one batched denoiser call per stage of the sampler). */
  rounds: number;
  /** Denoiser evaluations in steps (a batch of n images at one σ counts once). */
  evaluations: number;
  /** Calls made to the (row-capable) denoiser. */
  batchedCalls: number;
  /** Largest batch (rows) of one denoiser call. */
  largestBatch: number;
  /** The normalised residual of every round (see {@link RoundInfo.residual}; ≤ 1 is within tolerance). */
  residuals: number[];
  /** Whether every step became final within `maxRounds`. */
  converged: boolean;
  /** Number of steps. */
  steps: number;
  /** The relative tolerance used. */
  tol: number;
  /** The absolute tolerance used. */
  atol: number;
  /** With `keepTrajectory`: x at sigmas[0], sigmas[1], … as far as the run got (the caller disposes them). */
  trajectory?: Tensor[];
}
