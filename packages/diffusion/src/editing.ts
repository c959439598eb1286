// Image-to-image by strength and masked inpainting (with optional RePaint resampling).
import { check, fmtShape, type Tensor } from '@tessera/core';
import { type SamplerName, sample } from './sample.js';
import type { Denoiser, SampleOptions, StepInfo } from './types.js';

/**
 * The part of a schedule that img2img runs for `strength` ∈ [0, 1], as diffusers' img2img pipelines pick
 * it: with n = sigmas.length − 1 steps, skip the first n − ⌊n·strength⌋ of them.
 */
export function img2imgSigmas(sigmas: ArrayLike<number>, strength: number): Float64Array {
  check(
    strength >= 0 && strength <= 1,
    'INVALID_ARGUMENT',
    `img2img: strength must be in [0, 1], got ${strength}`,
  );
  const n = sigmas.length - 1;
  check(n >= 1, 'INVALID_ARGUMENT', `img2img: sigmas need at least 2 values, got ${sigmas.length}`);
  const init = Math.min(Math.floor(n * strength), n);
  const start = Math.max(n - init, 0);
  return Float64Array.from(Array.prototype.slice.call(sigmas, start) as number[]);
}

/**
 * Prepares img2img: the kept sigmas (see {@link img2imgSigmas}) and the start sample x0 + σ_start·noise.
 * Pass both to {@link sample}.
 */
export function img2img(
  x0: Tensor,
  noise: Tensor,
  options: { sigmas: ArrayLike<number>; strength: number },
): { x: Tensor; sigmas: Float64Array } {
  check(
    x0.shape.length === noise.shape.length && x0.shape.every((d, i) => d === noise.shape[i]),
    'SHAPE_MISMATCH',
    () => `img2img: x0 ${fmtShape(x0.shape)} and noise ${fmtShape(noise.shape)} must have the same shape`,
  );
  const sigmas = img2imgSigmas(options.sigmas, options.strength);
  return { x: x0.backend.lincomb([1, sigmas[0]!], [x0, noise]), sigmas };
}

/** Options of {@link inpaint}: those of {@link sample}, plus the known image and the mask. */
export interface InpaintOptions extends SampleOptions {
  /** The known (clean) image, shaped like `x`. */
  known: Tensor;
  /** 1 where to generate, 0 where to keep `known` (soft values blend); broadcastable to `x`. */
  mask: Tensor;
  /**
   * RePaint resampling: each step is run `resample` times, re-noising back from σ_{i+1} to σ_i between
   * runs (Lugmayr et al. 2022, jump length 1). Default 1 (no resampling). With resampling every sub-run
   * is a single step, so multistep samplers fall back to their first-order start.
   */
  resample?: number;
}

const MIX = 0x9e3779b9;

/**
 * The masked denoiser used by {@link inpaint}: before every call the known region of x is replaced by
 * `known` re-noised to the current σ (fresh Philox noise per call), and the known region of the output
 * is `known` itself.
 */
export function maskedDenoiser(denoiser: Denoiser, known: Tensor, mask: Tensor, seed: number): Denoiser {
  let calls = 0;
  return async (x, sigma, cond) => {
    const B = x.backend;
    const z = B.randn(x.shape, { seed, offset: 2 * x.size * calls++ });
    const kn = B.lincomb([1, sigma], [known, z]);
    const diff = B.lincomb([1, -1], [x, kn]);
    const md = B.binary('mul', diff, mask);
    const xm = B.binary('add', kn, md);
    const d = await denoiser(xm, sigma, cond);
    const dd = B.lincomb([1, -1], [d, known]);
    const mdd = B.binary('mul', dd, mask);
    const out = B.binary('add', known, mdd);
    for (const t of [z, kn, diff, md, xm, d, dd, mdd]) if (t !== out) t.dispose();
    return out;
  };
}

/**
 * Inpainting: samples with {@link maskedDenoiser} and returns mask·x + (1 − mask)·known. Optional
 * RePaint-style resampling (`resample` > 1).
 */
export async function inpaint(name: SamplerName, options: InpaintOptions): Promise<Tensor> {
  const { known, mask, resample = 1, ...sampleOptions } = options; // sample() rejects keys it does not know
  const { x } = sampleOptions;
  check(
    known.shape.length === x.shape.length && known.shape.every((d, i) => d === x.shape[i]),
    'SHAPE_MISMATCH',
    () => `inpaint: known ${fmtShape(known.shape)} must have x's shape ${fmtShape(x.shape)}`,
  );
  check(
    Number.isInteger(resample) && resample >= 1,
    'INVALID_ARGUMENT',
    `inpaint: resample must be a positive integer, got ${resample}`,
  );
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 32);
  const denoiser = maskedDenoiser(options.denoiser, known, mask, (seed + MIX) % 2 ** 53);
  const B = x.backend;
  let result: Tensor;
  if (resample === 1) {
    result = await sample(name, { ...sampleOptions, seed, denoiser });
  } else {
    const sigmas = Float64Array.from(options.sigmas);
    const total = sigmas.length - 1;
    let cur = x;
    try {
      for (let i = 0; i < total; i++) {
        for (let u = 0; u < resample; u++) {
          const cb = options.callback;
          const next = await sample(name, {
            ...sampleOptions,
            x: cur,
            sigmas: [sigmas[i]!, sigmas[i + 1]!],
            seed: (seed + (i * resample + u) * 7919) % 2 ** 53,
            denoiser,
            callback: cb && ((info: StepInfo) => cb({ ...info, step: i, total })),
          });
          if (cur !== x) cur.dispose();
          cur = next;
          if (u < resample - 1) {
            const z = B.randn(x.shape, {
              seed: (seed + 2 * MIX) % 2 ** 53,
              offset: 2 * x.size * (i * resample + u),
            });
            const back = B.lincomb([1, Math.sqrt(sigmas[i]! ** 2 - sigmas[i + 1]! ** 2)], [cur, z]);
            z.dispose();
            cur.dispose();
            cur = back;
          }
        }
      }
    } catch (e) {
      if (cur !== x) cur.dispose();
      throw e;
    }
    result = cur === x ? B.lincomb([1], [x]) : cur;
  }
  const diff = B.lincomb([1, -1], [result, known]);
  const md = B.binary('mul', diff, mask);
  const out = B.binary('add', known, md);
  for (const t of [result, diff, md]) t.dispose();
  return out;
}
