// Wrappers that turn timestep-conditioned networks into k-diffusion denoisers D(x, σ) → x0, as
// k-diffusion's CompVisDenoiser / CompVisVDenoiser (DiscreteSchedule.sigma_to_t) and diffusers'
// `_sigma_to_t` do: σ → t by linear interpolation in log σ over the training schedule, input scaled
// by c_in = 1/√(σ²+1) into the VP frame.
import { check } from '@tessera/core';
import { sigmaToT, tToSigma } from '@tessera/schedules';
import { predictionCoefs } from './forward.js';
import { checkOut, type RowCoefs, rowDenoiser, rowSigmas, rowWise } from './rows.js';
import type { RowDenoiser, TimestepModel } from './types.js';

/** log σ_i = log √((1−ᾱ_i)/ᾱ_i) of a training schedule, ascending in i. */
export function logSigmasFromAlphasCumprod(alphasCumprod: ArrayLike<number>): Float64Array {
  check(
    alphasCumprod.length >= 2,
    'INVALID_ARGUMENT',
    `alphasCumprod must hold at least 2 values, got ${alphasCumprod.length}`,
  );
  const out = new Float64Array(alphasCumprod.length);
  for (let i = 0; i < out.length; i++) {
    const a = alphasCumprod[i]!;
    check(a > 0 && a < 1, 'INVALID_ARGUMENT', () => `alphasCumprod[${i}] must be in (0, 1), got ${a}`);
    out[i] = 0.5 * Math.log((1 - a) / a);
  }
  for (let i = 1; i < out.length; i++) {
    check(
      out[i]! > out[i - 1]!,
      'INVALID_ARGUMENT',
      `alphasCumprod must be strictly decreasing (at index ${i})`,
    );
  }
  return out;
}

/**
 * σ → t: diffusers' `_sigma_to_t` (piecewise-linear in log σ, clamped to [0, T−1]); with `quantize`,
 * the index of the nearest training σ in log space (k-diffusion `sigma_to_t(quantize=True)`).
 */
export function sigmaToTimestep(sigma: number, logSigmas: ArrayLike<number>, quantize = false): number {
  if (!quantize) return sigmaToT(sigma, logSigmas);
  const ls = Math.log(Math.max(sigma, 1e-10));
  let best = 0;
  for (let i = 1; i < logSigmas.length; i++)
    if (Math.abs(ls - logSigmas[i]!) < Math.abs(ls - logSigmas[best]!)) best = i;
  return best;
}

/** t → σ: k-diffusion's `t_to_sigma` (linear interpolation of log σ between neighbouring indices). */
export function timestepToSigma(t: number, logSigmas: ArrayLike<number>): number {
  return tToSigma(t, logSigmas);
}

/** Options of {@link discreteDenoiser}. */
export interface DiscreteDenoiserOptions {
  /** The training schedule's ᾱ (e.g. from `@tessera/schedules`' `alphasCumprod`). */
  alphasCumprod: ArrayLike<number>;
  /** What the network predicts. Default 'eps'. */
  prediction?: 'eps' | 'v' | 'x0';
  /** Pass integer timesteps (nearest training σ) instead of interpolated float ones. Default false. */
  quantize?: boolean;
  /**
   * The model accepts `t` as a `Float64Array` with one timestep per batch row. Then a per-row σ costs
   * one model call; otherwise (default) the model is called once per run of equal σ.
   */
  rowTimesteps?: boolean;
}

/**
 * Wraps a VP network `model(x_t, t)` trained on a discrete schedule (ε-, v- or x0-prediction, diffusers
 * style) into a denoiser D(x, σ): it feeds x/√(σ²+1) at t(σ) and converts the prediction to x0.
 */
export function discreteDenoiser(model: TimestepModel, options: DiscreteDenoiserOptions): RowDenoiser {
  const logSigmas = logSigmasFromAlphasCumprod(options.alphasCumprod);
  const prediction = options.prediction ?? 'eps';
  check(
    ['eps', 'v', 'x0'].includes(prediction),
    'UNKNOWN_NAME',
    `discreteDenoiser: prediction must be 'eps', 'v' or 'x0', got '${prediction}'`,
  );
  const quantize = options.quantize ?? false;
  const op = `${prediction}Denoiser`;
  const coefs = (sigma: number): RowCoefs => {
    const cin = 1 / Math.sqrt(sigma * sigma + 1);
    // In the VP frame x_vp = cin·x has α = cin and σ_vp = σ·cin.
    const [cx, cp] = predictionCoefs(prediction, 'x0', { alpha: cin, sigma: sigma * cin });
    return { cin, t: sigmaToTimestep(sigma, logSigmas, quantize), cSkip: cx * cin, cOut: cp };
  };
  return rowDenoiser(async (x, sigma, cond) => {
    const s = await rowSigmas(op, sigma, x);
    if (typeof s !== 'number') return rowWise(op, model, x, s, cond, coefs, options.rowTimesteps);
    const k = coefs(s);
    const xin = x.backend.lincomb([k.cin], [x]);
    const out = await model(xin, k.t, cond);
    checkOut(op, out, x);
    const d = x.backend.lincomb([k.cSkip, k.cOut], [x, out]);
    xin.dispose();
    if (out !== x) out.dispose();
    return d;
  });
}

/** {@link discreteDenoiser} for an ε-prediction model (k-diffusion `CompVisDenoiser`). */
export function epsDenoiser(
  model: TimestepModel,
  options: Omit<DiscreteDenoiserOptions, 'prediction'>,
): RowDenoiser {
  return discreteDenoiser(model, { ...options, prediction: 'eps' });
}

/** {@link discreteDenoiser} for a v-prediction model (k-diffusion `CompVisVDenoiser`). */
export function vDenoiser(
  model: TimestepModel,
  options: Omit<DiscreteDenoiserOptions, 'prediction'>,
): RowDenoiser {
  return discreteDenoiser(model, { ...options, prediction: 'v' });
}

/** Options of {@link flowDenoiser}. */
export interface FlowDenoiserOptions {
  /** Factor from flow time t ∈ [0, 1] to the model's timestep (diffusers passes t·1000). Default 1000. */
  timestepScale?: number;
  /**
   * 've' (default): σ is the VE noise level, t = σ/(1+σ), and the sample is scaled by 1/(1+σ) — every
   * sampler's exactness assumptions hold. 'flow': σ *is* the flow time t ∈ [0, 1] and x is the flow
   * sample itself (ComfyUI's convention; start from pure noise at σ = 1).
   */
  space?: 've' | 'flow';
  /** The model accepts `t` as a `Float64Array`, one per batch row (see {@link DiscreteDenoiserOptions}). */
  rowTimesteps?: boolean;
}

/**
 * Wraps a rectified-flow velocity model `model(x_t, t)` (x_t = (1−t)x0 + tε, velocity ε − x0) into a
 * denoiser: x0 = x_t − t·v.
 */
export function flowDenoiser(model: TimestepModel, options: FlowDenoiserOptions = {}): RowDenoiser {
  const scale = options.timestepScale ?? 1000;
  const space = options.space ?? 've';
  check(
    space === 've' || space === 'flow',
    'INVALID_ARGUMENT',
    `flowDenoiser: space must be 've' or 'flow', got '${String(space)}'`,
  );
  const coefs = (sigma: number): RowCoefs => {
    if (space === 've') {
      const t = sigma / (1 + sigma);
      const cin = 1 / (1 + sigma);
      return { cin, t: t * scale, cSkip: cin, cOut: -t };
    }
    check(
      sigma >= 0 && sigma <= 1,
      'OUT_OF_RANGE',
      `flowDenoiser: in 'flow' space sigma is the flow time and must be in [0, 1], got ${sigma}`,
    );
    return { cin: 1, t: sigma * scale, cSkip: 1, cOut: -sigma };
  };
  return rowDenoiser(async (x, sigma, cond) => {
    const s = await rowSigmas('flowDenoiser', sigma, x);
    if (typeof s !== 'number') return rowWise('flowDenoiser', model, x, s, cond, coefs, options.rowTimesteps);
    const k = coefs(s);
    const xin = k.cin === 1 ? x : x.backend.lincomb([k.cin], [x]);
    const v = await model(xin, k.t, cond);
    checkOut('flowDenoiser', v, x);
    const d = x.backend.lincomb([k.cSkip, k.cOut], [x, v]);
    if (xin !== x) xin.dispose();
    if (v !== x) v.dispose();
    return d;
  });
}

/** VE σ of a flow time t: σ = t/(1−t). */
export function flowTimeToSigma(t: number): number {
  return t / (1 - t);
}

/** Flow time of a VE σ: t = σ/(1+σ). */
export function sigmaToFlowTime(sigma: number): number {
  return sigma / (1 + sigma);
}
