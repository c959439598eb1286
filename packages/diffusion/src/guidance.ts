// Classifier-free guidance, guidance rescale, dynamic thresholding and clipping, as denoiser wrappers.
import { check, fmtShape, isTensor, type Tensor } from '@tessera/core';
import { asRowDenoiser, rowDenoiser, rowSigmas } from './rows.js';
import type { Denoiser, RowDenoiser } from './types.js';

/** Options of {@link cfgDenoiser}. */
export interface CfgOptions {
  /** Guidance scale w: D = D_u + w·(D_c − D_u). 1 = conditional only. */
  scale: number;
  /** The unconditional conditioning (e.g. empty-prompt embeddings), batched like `cond`. */
  uncond: unknown;
  /**
   * Guidance rescale φ ∈ [0, 1] (Lin et al. 2023; diffusers `rescale_noise_cfg`): the guided ε is
   * rescaled per sample to the standard deviation of the conditional ε, then mixed φ:(1−φ). Default 0.
   */
  rescale?: number;
  /**
   * Joins cond and uncond into one batch. Default: tensors are concatenated along axis 0
   * ([cond; uncond]); other values need this function.
   */
  combine?: (cond: unknown, uncond: unknown) => unknown;
}

/**
 * Classifier-free guidance in one batched denoiser call: x is duplicated along axis 0, the model sees
 * [cond; uncond], and the two halves are combined. The wrapped denoiser receives the doubled batch (with
 * a per-row σ doubled the same way; a number-only inner denoiser then gets one call per distinct σ, see
 * {@link asRowDenoiser}).
 */
export function cfgDenoiser(denoiser: Denoiser | RowDenoiser, options: CfgOptions): RowDenoiser {
  const { scale, uncond, rescale = 0, combine } = options;
  check(
    Number.isFinite(scale),
    'INVALID_ARGUMENT',
    `cfgDenoiser: scale must be a finite number, got ${scale}`,
  );
  check(
    rescale >= 0 && rescale <= 1,
    'INVALID_ARGUMENT',
    `cfgDenoiser: rescale must be in [0, 1], got ${rescale}`,
  );
  const inner = asRowDenoiser(denoiser);
  return rowDenoiser(async (x, sigma, cond) => {
    const B = x.backend;
    const n = x.shape[0]!;
    check(x.rank >= 1, 'SHAPE_MISMATCH', 'cfgDenoiser: x needs a batch axis');
    const s = await rowSigmas('cfgDenoiser', sigma, x);
    const s2 = typeof s === 'number' ? s : Float64Array.from({ length: 2 * n }, (_, i) => s[i % n]!);
    let both: unknown;
    let made: Tensor | undefined;
    if (combine) both = combine(cond, uncond);
    else {
      check(
        isTensor(cond) && isTensor(uncond),
        'INVALID_ARGUMENT',
        'cfgDenoiser: cond and uncond must be tensors (concatenated along axis 0) unless a combine function is given',
      );
      // a parallel sampler batches k steps: cond then has k copies of uncond's rows
      const reps = cond.shape[0]! / (uncond.shape[0] || 1);
      const u = Number.isInteger(reps) && reps > 1 ? new Array<Tensor>(reps).fill(uncond) : [uncond];
      made = B.concat([cond, ...u], 0);
      both = made;
    }
    const xx = B.concat([x, x], 0);
    const out = await inner(xx, s2, both);
    check(
      out.shape[0] === 2 * n && out.rank === x.rank,
      'SHAPE_MISMATCH',
      () => `cfgDenoiser: the denoiser returned ${fmtShape(out.shape)} for a doubled batch of ${2 * n}`,
    );
    const rest = x.shape.slice(1).map(() => 0);
    const sizes = x.shape.slice(1).map(() => -1);
    const dc = B.slice(out, [0, ...rest], [n, ...sizes]);
    const du = B.slice(out, [n, ...rest], [n, ...sizes]);
    let d = B.lincomb([scale, 1 - scale], [dc, du]);
    if (rescale > 0) {
      const r = rescaleGuidance(x, dc, d, rescale);
      d.dispose();
      d = r;
    }
    for (const t of [made, xx, out, dc, du]) if (t && t !== d) t.dispose();
    return d;
  });
}

/**
 * diffusers' `rescale_noise_cfg` expressed on x0 estimates: with ε = (x − D)/σ, the guided ε is scaled per
 * row by φ·std(ε_c)/std(ε_cfg) + (1 − φ). Returns x − f·(x − D_cfg).
 */
export function rescaleGuidance(x: Tensor, dCond: Tensor, dCfg: Tensor, phi: number): Tensor {
  const B = x.backend;
  const axes = x.shape.map((_, i) => i).slice(1);
  const centredSumsq = (y: Tensor): Tensor => {
    const m = B.reduce('mean', y, axes, true);
    const dev = B.binary('sub', y, m);
    const ss = B.reduce('sumsq', dev, axes, true);
    m.dispose();
    dev.dispose();
    return ss;
  };
  const ec = B.lincomb([1, -1], [x, dCond]);
  const eg = B.lincomb([1, -1], [x, dCfg]);
  const sc = centredSumsq(ec);
  const sg = centredSumsq(eg);
  const q = B.binary('div', sc, sg);
  const ratio = B.unary('sqrt', q);
  const pr = B.binary('mul', ratio, phi);
  const f = B.binary('add', pr, 1 - phi);
  const scaled = B.binary('mul', eg, f);
  const out = B.binary('sub', x, scaled);
  for (const t of [ec, eg, sc, sg, q, ratio, pr, f, scaled]) t.dispose();
  return out;
}

/** Options of {@link thresholdDenoiser}. */
export interface ThresholdOptions {
  /** Percentile of |x0| per sample (Imagen's p). Default 0.995. */
  ratio?: number;
  /** Upper bound of the threshold s (diffusers `sample_max_value`). Default 1. */
  maxValue?: number;
}

/** The `q`-quantile of each row of a [B, N] tensor (torch.quantile, linear interpolation), shape [B, 1]. */
export function rowQuantile(rows: Tensor, q: number): Tensor {
  const B = rows.backend;
  const n = rows.shape[1]!;
  const pos = q * (n - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  // The j-th smallest (0-based) is the (n − j)-th largest: the minimum of the top (n − j).
  const kth = (j: number): Tensor => {
    const top = B.topK(rows, n - j);
    const isOut = B.binary('eq', top, Number.NEGATIVE_INFINITY);
    const kept = B.where(isOut, Number.POSITIVE_INFINITY, top);
    const m = B.reduce('min', kept, 1, true);
    top.dispose();
    isOut.dispose();
    kept.dispose();
    return m;
  };
  const vlo = kth(lo);
  if (hi === lo) return vlo;
  const vhi = kth(hi);
  const out = B.lincomb([1 - (pos - lo), pos - lo], [vlo, vhi]);
  vlo.dispose();
  vhi.dispose();
  return out;
}

/**
 * Dynamic thresholding (Saharia et al. 2022, Imagen; diffusers `_threshold_sample`): per sample,
 * s = clamp(quantile(|x0|, ratio), 1, maxValue) and x0 ← clamp(x0, −s, s)/s.
 */
export function thresholdDenoiser(
  denoiser: Denoiser | RowDenoiser,
  options: ThresholdOptions = {},
): RowDenoiser {
  const { ratio = 0.995, maxValue = 1 } = options;
  check(
    ratio >= 0 && ratio <= 1,
    'INVALID_ARGUMENT',
    `thresholdDenoiser: ratio must be in [0, 1], got ${ratio}`,
  );
  check(maxValue >= 1, 'INVALID_ARGUMENT', `thresholdDenoiser: maxValue must be ≥ 1, got ${maxValue}`);
  const inner = asRowDenoiser(denoiser);
  return rowDenoiser(async (x, sigma, cond) => {
    const d = await inner(x, await rowSigmas('thresholdDenoiser', sigma, x), cond);
    const out = dynamicThreshold(d, ratio, maxValue);
    d.dispose();
    return out;
  });
}

/** Applies dynamic thresholding to a batch of x0 estimates (axis 0 = batch). A fresh tensor. */
export function dynamicThreshold(x0: Tensor, ratio = 0.995, maxValue = 1): Tensor {
  const B = x0.backend;
  const b = x0.shape[0]!;
  const rows = B.reshape(x0, [b, -1]);
  const abs = B.unary('abs', rows);
  const q = rowQuantile(abs, ratio);
  const s = B.clamp(q, 1, maxValue);
  const negS = B.unary('neg', s);
  const lo = B.binary('max', rows, negS);
  const hi = B.binary('min', lo, s);
  const scaled = B.binary('div', hi, s);
  const out = B.reshape(scaled, x0.shape);
  for (const t of [rows, abs, q, s, negS, lo, hi, scaled]) t.dispose();
  return out;
}

/** diffusers' `clip_sample`: clamps x0 estimates to [−range, range]. */
export function clipDenoiser(denoiser: Denoiser | RowDenoiser, range = 1): RowDenoiser {
  check(range > 0, 'INVALID_ARGUMENT', `clipDenoiser: range must be positive, got ${range}`);
  const inner = asRowDenoiser(denoiser);
  return rowDenoiser(async (x, sigma, cond) => {
    const d = await inner(x, await rowSigmas('clipDenoiser', sigma, x), cond);
    const out = x.backend.clamp(d, -range, range);
    d.dispose();
    return out;
  });
}
