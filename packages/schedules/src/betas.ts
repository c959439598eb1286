import { TesseraError } from '@tessera/core';
import { checkCount, checkNumber, f32, torchLinspaceF32 } from './numeric.js';

/**
 * Beta schedules as diffusers builds them. diffusers keeps every schedule table as a float32 torch
 * tensor; by default we reproduce that rounding (`precision: 'float32'`), because it moves ᾱ by up to
 * 1e-6 and σ = √((1−ᾱ)/ᾱ) near t = 0 by up to 1.3e-5 relative for the SD-1.5 schedule. Pass
 * `precision: 'float64'` for the plain float64 formulas.
 */

/** Beta schedule names accepted by {@link betas} (diffusers' `beta_schedule` values). */
export type BetaScheduleName =
  | 'linear'
  | 'scaled_linear'
  | 'squaredcos_cap_v2'
  | 'sigmoid'
  | 'laplace'
  | 'exp';

/** Every accepted beta schedule name. */
export const BETA_SCHEDULES: readonly BetaScheduleName[] = [
  'linear',
  'scaled_linear',
  'squaredcos_cap_v2',
  'sigmoid',
  'laplace',
  'exp',
];

/** `float32`: reproduce diffusers' float32 tables (default). `float64`: plain float64 math. */
export type Precision = 'float32' | 'float64';

/** Options of {@link betas}. */
export interface BetaOptions {
  /** Number of training timesteps (diffusers `num_train_timesteps`). Default 1000. */
  numTrainTimesteps?: number;
  /** First beta (`beta_start`), used by linear, scaled_linear and sigmoid. Default 0.0001. */
  betaStart?: number;
  /** Last beta (`beta_end`). Default 0.02. */
  betaEnd?: number;
  /** Cap of the alpha-bar schedules (squaredcos_cap_v2, laplace, exp). Default 0.999. */
  maxBeta?: number;
  /** Default `float32` (diffusers' tables); `float64` computes without rounding. */
  precision?: Precision;
}

const round = (p: Precision) => (p === 'float32' ? f32 : (x: number) => x);

/** ᾱ(t) of the alpha-bar schedules, t ∈ [0, 1] (diffusers `betas_for_alpha_bar`). */
function alphaBarFn(kind: 'cosine' | 'laplace' | 'exp'): (t: number) => number {
  if (kind === 'cosine') return (t) => Math.cos((((t + 0.008) / 1.008) * Math.PI) / 2) ** 2;
  if (kind === 'exp') return (t) => Math.exp(t * -12.0);
  return (t) => {
    const lmb = -0.5 * Math.sign(0.5 - t || 1) * Math.log(1 - 2 * Math.abs(0.5 - t) + 1e-6);
    const snr = Math.exp(lmb);
    return Math.sqrt(snr / (1 + snr));
  };
}

/**
 * The betas of a named schedule, or of a trained array (diffusers `trained_betas`).
 *
 * - `linear`: `torch.linspace(betaStart, betaEnd, N)`.
 * - `scaled_linear`: `torch.linspace(√betaStart, √betaEnd, N)²` (Stable Diffusion).
 * - `squaredcos_cap_v2`: Nichol & Dhariwal's cosine ᾱ(t) = cos²((t+0.008)/1.008·π/2), βᵢ = min(1 − ᾱ((i+1)/N)/ᾱ(i/N), maxBeta).
 * - `laplace`, `exp`: the other `betas_for_alpha_bar` transforms of diffusers.
 * - `sigmoid`: `sigmoid(linspace(−6, 6, N))·(betaEnd − betaStart) + betaStart`.
 *
 * @example
 * const b = betas('scaled_linear', { numTrainTimesteps: 1000, betaStart: 0.00085, betaEnd: 0.012 });
 */
export function betas(kind: BetaScheduleName | ArrayLike<number>, opts: BetaOptions = {}): Float64Array {
  const precision = opts.precision ?? 'float32';
  const r = round(precision);
  if (typeof kind !== 'string') return trainedBetas(kind, precision);
  const n = opts.numTrainTimesteps ?? 1000;
  checkCount('betas', n, 1, 'numTrainTimesteps');
  const start = opts.betaStart ?? 0.0001;
  const end = opts.betaEnd ?? 0.02;
  checkNumber('betas', start, 'betaStart');
  checkNumber('betas', end, 'betaEnd');
  const out = new Float64Array(n);
  switch (kind) {
    case 'linear': {
      if (precision === 'float32') return torchLinspaceF32(start, end, n);
      for (let i = 0; i < n; i++) out[i] = n === 1 ? start : start + ((end - start) * i) / (n - 1);
      return out;
    }
    case 'scaled_linear': {
      if (start < 0 || end < 0) {
        throw new TesseraError(
          'INVALID_ARGUMENT',
          `betas: scaled_linear needs betaStart, betaEnd >= 0, got ${start}, ${end}`,
        );
      }
      const s = Math.sqrt(start);
      const e = Math.sqrt(end);
      if (precision === 'float32') {
        const lin = torchLinspaceF32(s, e, n);
        for (let i = 0; i < n; i++) out[i] = f32(lin[i]! * lin[i]!);
        return out;
      }
      for (let i = 0; i < n; i++) out[i] = (n === 1 ? s : s + ((e - s) * i) / (n - 1)) ** 2;
      return out;
    }
    case 'sigmoid': {
      const x = precision === 'float32' ? torchLinspaceF32(-6, 6, n) : null;
      const scale = r(end - start);
      for (let i = 0; i < n; i++) {
        const xi = x ? x[i]! : n === 1 ? -6 : -6 + (12 * i) / (n - 1);
        out[i] = r(r(r(1 / (1 + Math.exp(-xi))) * scale) + r(start));
      }
      return out;
    }
    case 'squaredcos_cap_v2':
    case 'laplace':
    case 'exp': {
      const maxBeta = opts.maxBeta ?? 0.999;
      checkNumber('betas', maxBeta, 'maxBeta', true);
      const fn = alphaBarFn(kind === 'squaredcos_cap_v2' ? 'cosine' : kind);
      for (let i = 0; i < n; i++) out[i] = r(Math.min(1 - fn((i + 1) / n) / fn(i / n), maxBeta));
      return out;
    }
    default:
      throw new TesseraError(
        'UNKNOWN_NAME',
        `betas: unknown beta schedule '${String(kind)}', expected one of ${BETA_SCHEDULES.join(', ')} or an array of trained betas`,
      );
  }
}

function trainedBetas(values: ArrayLike<number>, precision: Precision): Float64Array {
  if (
    values === null ||
    typeof values !== 'object' ||
    typeof values.length !== 'number' ||
    values.length < 1
  ) {
    throw new TesseraError('INVALID_ARGUMENT', 'betas: trained betas must be a non-empty array of numbers');
  }
  const r = round(precision);
  const out = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (typeof v !== 'number' || !(v >= 0 && v <= 1)) {
      throw new TesseraError(
        'INVALID_ARGUMENT',
        `betas: trained beta [${i}] must be a number in [0, 1], got ${String(v)}`,
      );
    }
    out[i] = r(v);
  }
  return out;
}

/** Options of the alpha/sigma tables. */
export interface TableOptions {
  /** Default `float32` (diffusers' tables); `float64` computes without rounding. */
  precision?: Precision;
}

/** αᵢ = 1 − βᵢ (float32 as diffusers' `1.0 - self.betas` unless `precision: 'float64'`). */
export function alphas(b: ArrayLike<number>, opts: TableOptions = {}): Float64Array {
  const r = round(opts.precision ?? 'float32');
  const out = new Float64Array(b.length);
  for (let i = 0; i < b.length; i++) out[i] = r(1 - r(b[i]!));
  return out;
}

/**
 * ᾱᵢ = Π_{j≤i} (1 − βⱼ). With `precision: 'float32'` (default) this is exactly what diffusers gets from
 * `torch.cumprod(1 - betas)` on the CPU: float32 alphas, a float64 running product (PyTorch's CPU
 * accumulate type for float), each output rounded to float32.
 */
export function alphasCumprod(b: ArrayLike<number>, opts: TableOptions = {}): Float64Array {
  const precision = opts.precision ?? 'float32';
  const r = round(precision);
  const a = alphas(b, opts);
  const out = new Float64Array(a.length);
  let acc = 1;
  for (let i = 0; i < a.length; i++) {
    acc *= a[i]!;
    out[i] = r(acc);
  }
  return out;
}

/**
 * σᵢ = √((1 − ᾱᵢ)/ᾱᵢ), indexed by training timestep (ascending in t). float32 like diffusers'
 * `((1 - alphas_cumprod) / alphas_cumprod) ** 0.5` unless `precision: 'float64'`. ᾱ = 0 gives Infinity.
 */
export function sigmasFromAlphasCumprod(ac: ArrayLike<number>, opts: TableOptions = {}): Float64Array {
  const r = round(opts.precision ?? 'float32');
  const out = new Float64Array(ac.length);
  for (let i = 0; i < ac.length; i++) {
    const a = ac[i]!;
    out[i] = r(Math.sqrt(r(r(1 - a) / a)));
  }
  return out;
}

/** ᾱ = 1/(1 + σ²), the inverse of {@link sigmasFromAlphasCumprod} (float64). */
export function alphasCumprodFromSigmas(sigmas: ArrayLike<number>): Float64Array {
  const out = new Float64Array(sigmas.length);
  for (let i = 0; i < sigmas.length; i++) out[i] = 1 / (1 + sigmas[i]! ** 2);
  return out;
}

/**
 * Log signal-to-noise ratio log(ᾱ/(1 − ᾱ)) = −2 log σ, in float64. DPM-Solver's λ = log α − log σ_t
 * is half of it.
 */
export function logSNR(ac: ArrayLike<number>): Float64Array {
  const out = new Float64Array(ac.length);
  for (let i = 0; i < ac.length; i++) {
    const a = ac[i]!;
    out[i] = Math.log(a) - Math.log1p(-a);
  }
  return out;
}

/**
 * Rescales betas to zero terminal SNR (Lin et al. 2023, "Common Diffusion Noise Schedules and Sample
 * Steps are Flawed", Algorithm 1): shift and scale √ᾱ so that √ᾱ₀ is kept and √ᾱ_T = 0, then
 * recover the betas. The last beta becomes 1. With `precision: 'float32'` (default) every step is
 * rounded to float32 as diffusers' torch code does.
 */
export function rescaleZeroTerminalSnr(b: ArrayLike<number>, opts: TableOptions = {}): Float64Array {
  const r = round(opts.precision ?? 'float32');
  const n = b.length;
  if (n < 2)
    throw new TesseraError('INVALID_ARGUMENT', `rescaleZeroTerminalSnr: needs at least 2 betas, got ${n}`);
  const ac = alphasCumprod(b, opts);
  const s = new Float64Array(n);
  for (let i = 0; i < n; i++) s[i] = r(Math.sqrt(ac[i]!));
  const s0 = s[0]!;
  const sT = s[n - 1]!;
  if (!(s0 > sT)) {
    throw new TesseraError(
      'INVALID_ARGUMENT',
      'rescaleZeroTerminalSnr: alphas_cumprod must decrease from first to last step',
    );
  }
  const scale = r(s0 / r(s0 - sT));
  const abar = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const v = r(r(s[i]! - sT) * scale);
    abar[i] = r(v * v);
  }
  const out = new Float64Array(n);
  out[0] = r(1 - abar[0]!);
  for (let i = 1; i < n; i++) out[i] = r(1 - r(abar[i]! / abar[i - 1]!));
  return out;
}
