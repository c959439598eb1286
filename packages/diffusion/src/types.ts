import type { Tensor } from '@tessera/core';
import type { DpmAdaptiveInfo } from './samplers/dpm-solver.js';

/**
 * A k-diffusion denoiser: given `x` at noise level `sigma` (variance-exploding parameterisation,
 * `x = x0 + sigma·ε`) it returns its estimate of `x0`, a fresh tensor of `x`'s shape that the caller
 * owns. `cond` is passed through unchanged from {@link SampleOptions.cond}.
 *
 * A denoiser that also takes one σ per batch row is a {@link RowDenoiser} (it carries
 * `perRowSigma: true`); every wrapper of this package, the reference models and `onnxDenoiser` are.
 * A plain number-only denoiser keeps working wherever rows are batched: {@link asRowDenoiser} calls it
 * once per run of equal σ.
 */
export type Denoiser = (x: Tensor, sigma: number, cond?: unknown) => Promise<Tensor> | Tensor;

/**
 * One σ per batch row: a `Float64Array` (or any array of numbers) of length `x.shape[0]`, or a 1-D
 * float32 tensor of that length. Every {@link RowDenoiser} takes the array form; the wrappers of this
 * package (and `onnxDenoiser`) also take the tensor form, reading it back once per call (pass an array
 * to avoid that read).
 */
export type RowSigmas = ArrayLike<number> | Tensor;

/** What the wrappers of this package accept as σ: one number for all rows, or one per row. */
export type SigmaArg = number | RowSigmas;

/**
 * A denoiser that accepts `sigma` as a number or as one value per batch row (parallel samplers batch
 * different steps into one call). Row `i` of the result must equal what the denoiser returns for row
 * `i` alone at `sigma[i]`. Mark a function with `rowDenoiser`; the reference models of
 * `@tessera/reference` carry the same marker.
 */
export interface RowDenoiser {
  (x: Tensor, sigma: number | ArrayLike<number>, cond?: unknown): Promise<Tensor> | Tensor;
  /** Always true: the marker parallel samplers check before batching rows of different σ. */
  readonly perRowSigma: true;
}

/**
 * A model conditioned on a diffusers-style timestep (an integer or float index into the training
 * schedule, or a flow time), returning its raw prediction (ε, v or velocity). When a wrapper is created
 * with `rowTimesteps: true`, `t` may arrive as a `Float64Array` holding one timestep per batch row.
 */
export type TimestepModel = (x: Tensor, t: number, cond?: unknown) => Promise<Tensor> | Tensor;

/**
 * Draws standard normal noise for the step from `sigma` to `sigmaNext` (k-diffusion's
 * `noise_sampler(sigma, sigma_next)`). Returns a fresh tensor of the sample's shape.
 */
export type NoiseSampler = (sigma: number, sigmaNext: number) => Tensor;

/** What the per-step callback sees. Tensors are valid only during the callback. */
export interface StepInfo {
  /** Step index, 0-based. */
  step: number;
  /** Number of steps (`sigmas.length - 1`). */
  total: number;
  /** σ at the start of the step. */
  sigma: number;
  /** σ the step moves to. */
  sigmaNext: number;
  /** σ̂ the denoiser was called at (differs from `sigma` only with churn). */
  sigmaHat: number;
  /** The sample the denoiser saw. */
  x: Tensor;
  /** The denoiser's x0 estimate. */
  denoised: Tensor;
}

/**
 * Options specific to some samplers (k-diffusion names). A key `sample` does not know is an error
 * naming the nearest known option; a known option a sampler does not use is ignored.
 */
export interface SamplerOptions {
  /** Churn amount (euler, heun, dpm_2). Default 0. */
  s_churn?: number;
  /** Lowest σ that gets churn. Default 0. */
  s_tmin?: number;
  /** Highest σ that gets churn. Default Infinity. */
  s_tmax?: number;
  /** Noise multiplier for churn and SDE noise. Default 1. */
  s_noise?: number;
  /** Ancestral / SDE noise fraction, finite and ≥ 0 (default 1; `ddim` defaults to 0). */
  eta?: number;
  /** Multistep order: lms (default 4), unipc (default 3), deis (default 3), dpm_adaptive (2 or 3, default 3). */
  order?: number;
  /** dpmpp_2m_sde second-order correction: 'midpoint' (default) or 'heun'. */
  solver_type?: 'midpoint' | 'heun';
  /** dpmpp_sde intermediate point ratio. Default 1/2. */
  r?: number;
  /** unipc B(h) variant: 'bh1' (default) or 'bh2'. */
  variant?: 'bh1' | 'bh2';
  /** dpm_adaptive relative tolerance. Default 0.05. */
  rtol?: number;
  /** dpm_adaptive absolute tolerance. Default 0.0078. */
  atol?: number;
  /** dpm_adaptive first step size in t = −log σ. Default 0.05. */
  h_init?: number;
  /** dpm_adaptive PID controller coefficients. Defaults 0, 1, 0 (an integral controller). */
  pcoeff?: number;
  /** See `pcoeff`. */
  icoeff?: number;
  /** See `pcoeff`. */
  dcoeff?: number;
  /** dpm_adaptive acceptance threshold of the controller's factor. Default 0.81. */
  accept_safety?: number;
  /** dpm_adaptive: called once at the end with the solve's NFE and step counts. */
  report?: (info: DpmAdaptiveInfo) => void;
}

/** Everything {@link sample} takes. */
export interface SampleOptions extends SamplerOptions {
  /** The denoiser D(x, σ) → x0. */
  denoiser: Denoiser;
  /** The starting sample at `sigmas[0]` (noise already multiplied by `sigmas[0]`). Not disposed. */
  x: Tensor;
  /** Noise levels, strictly descending, usually ending in 0. */
  sigmas: ArrayLike<number>;
  /** Philox seed for churn and SDE noise. Default: random. */
  seed?: number;
  /**
   * Noise for stochastic steps: `'philox'` (fresh Philox draws per step), `'brownian'` (a Brownian tree,
   * consistent across step counts) or a custom {@link NoiseSampler}. Default as k-diffusion:
   * `'brownian'` for dpmpp_sde, dpmpp_2m_sde and dpmpp_3m_sde, `'philox'` otherwise.
   */
  noiseSampler?: 'philox' | 'brownian' | NoiseSampler;
  /** Passed to the denoiser as its third argument. */
  cond?: unknown;
  /** Called after the first denoiser call of every step; may be async (it is awaited). */
  callback?: (info: StepInfo) => void | Promise<void>;
  /** Checked before every step; an aborted signal throws TesseraError `ABORTED`. */
  signal?: AbortSignal;
}
