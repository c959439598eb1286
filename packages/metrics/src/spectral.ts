import { type Tensor, TesseraError } from '@tessera/core';
import { dft1d } from './fft.js';

/** A radially averaged power spectral density. */
export interface Rapsd {
  /** Bin centres in cycles per pixel: k / min(H, W), k = 0, 1, …; bins past 0.5 hold the corners. */
  frequencies: Float64Array;
  /** Mean of |F(u, v)|² / (H·W) over the frequencies of each ring, averaged over images and channels. */
  power: Float64Array;
  /** Number of 2-D frequencies in each ring (per image and channel). */
  counts: Int32Array;
  /** Index of the last bin at or below Nyquist (0.5 cycles per pixel). */
  nyquist: number;
}

/**
 * RAPSD of an image or a batch: `data` row-major with `shape` [H, W], [C, H, W] or [N, C, H, W] (any
 * leading dims; the last two are H and W). Each H×W plane's 2-D DFT power |F(u,v)|²/(H·W) (so white
 * noise of variance σ² has flat power σ², and Σ power·counts = Σ x² per plane, Parseval) is binned by
 * radial frequency r = √(f_u² + f_v²) (f in cycles per pixel, signed: index u ↦ u/H or u/H − 1)
 * into rings round(r·min(H, W)), and averaged over all planes. The mean is not removed.
 */
export function rapsd(data: ArrayLike<number>, shape: readonly number[]): Rapsd {
  if (shape.length < 2 || shape.some((s) => !Number.isInteger(s) || s < 1)) {
    throw new TesseraError(
      'SHAPE_MISMATCH',
      `rapsd: shape [..., H, W] of positive integers expected, got [${shape.join(', ')}]`,
    );
  }
  const h = shape[shape.length - 2]!;
  const w = shape[shape.length - 1]!;
  const planes = shape.slice(0, -2).reduce((a, b) => a * b, 1);
  if (data.length !== planes * h * w) {
    throw new TesseraError(
      'SHAPE_MISMATCH',
      `rapsd: shape [${shape.join(', ')}] needs ${planes * h * w} values, got ${data.length}`,
    );
  }
  const n = Math.min(h, w);
  const bin = new Int32Array(h * w);
  let maxBin = 0;
  for (let u = 0; u < h; u++) {
    const fu = u <= h / 2 ? u / h : u / h - 1;
    for (let v = 0; v < w; v++) {
      const fv = v <= w / 2 ? v / w : v / w - 1;
      const k = Math.round(Math.sqrt(fu * fu + fv * fv) * n);
      bin[u * w + v] = k;
      if (k > maxBin) maxBin = k;
    }
  }
  const bins = maxBin + 1;
  const counts = new Int32Array(bins);
  for (let i = 0; i < h * w; i++) counts[bin[i]!]! += 1;
  const sum = new Float64Array(bins);
  const re = new Float64Array(h * w);
  const im = new Float64Array(h * w);
  for (let p = 0; p < planes; p++) {
    const o = p * h * w;
    for (let i = 0; i < h * w; i++) {
      const v = data[o + i]!;
      if (!Number.isFinite(v)) {
        throw new TesseraError(
          'INVALID_ARGUMENT',
          `rapsd: values must be finite, got ${v} at flat index ${o + i}`,
        );
      }
      re[i] = v;
      im[i] = 0;
    }
    for (let u = 0; u < h; u++) dft1d(re, im, u * w, 1, w);
    for (let v = 0; v < w; v++) dft1d(re, im, v, w, h);
    for (let i = 0; i < h * w; i++) sum[bin[i]!]! += (re[i]! * re[i]! + im[i]! * im[i]!) / (h * w);
  }
  const power = new Float64Array(bins);
  const frequencies = new Float64Array(bins);
  let nyquist = 0;
  for (let k = 0; k < bins; k++) {
    power[k] = counts[k]! > 0 ? sum[k]! / (counts[k]! * planes) : 0;
    frequencies[k] = k / n;
    if (k / n <= 0.5) nyquist = k;
  }
  return { frequencies, power, counts, nyquist };
}

/** {@link rapsd} of a tensor (reads it back once; last two dims are H and W). */
export async function rapsdOfTensor(t: Tensor): Promise<Rapsd> {
  return rapsd(await t.data(), t.shape);
}

/**
 * The frequency (cycles per pixel) where the white-noise power σ² meets the data spectrum S(f): the
 * first ring above DC with S(f) ≤ σ², interpolated linearly in log f / log S from the ring before.
 * Frequencies below the cut-off still carry signal at noise level σ; those above are drowned. Returns
 * 0 when σ² ≥ S at the first ring, and the Nyquist frequency when S > σ² up to Nyquist.
 */
export function cutoffFrequency(spectrum: Rapsd, sigma: number): number {
  if (!(sigma >= 0) || !Number.isFinite(sigma)) {
    throw new TesseraError(
      'INVALID_ARGUMENT',
      `cutoffFrequency: sigma should be finite and ≥ 0, got ${sigma}`,
    );
  }
  const { power: s, frequencies: f, nyquist } = spectrum;
  const noise = sigma * sigma;
  for (let k = 1; k <= nyquist; k++) {
    if (s[k]! <= noise) {
      if (k === 1) return 0;
      const s0 = s[k - 1]!;
      const s1 = s[k]!;
      if (!(s1 > 0) || !(s0 > s1)) return f[k]!;
      const t = (Math.log(s0) - Math.log(noise)) / (Math.log(s0) - Math.log(s1));
      return Math.exp(Math.log(f[k - 1]!) + t * (Math.log(f[k]!) - Math.log(f[k - 1]!)));
    }
  }
  return f[nyquist]!;
}

/** What {@link spectralRecorder}'s callback needs of a sampler step (diffusion's `StepInfo` fits). */
export interface SpectralStepInfo {
  step: number;
  sigma: number;
  x: Tensor;
  denoised: Tensor;
}

/** One recorded step: the spectra of the noisy sample x_t and of the x̂₀ estimate at σ. */
export interface SpectralStep {
  step: number;
  sigma: number;
  x: Rapsd;
  denoised: Rapsd;
}

/**
 * A sampler callback that records the RAPSD of x_t and of x̂₀ every `every` steps (default 1), for the
 * "coarse to fine" picture: pass `recorder.callback` as the sampler's `callback`. It reads both tensors
 * back to the host at the recorded steps — a diagnostic, opt-in cost the sampling loop itself never pays.
 */
export function spectralRecorder(opts: { every?: number } = {}): {
  callback: (info: SpectralStepInfo) => Promise<void>;
  steps: SpectralStep[];
} {
  const every = opts.every ?? 1;
  if (!Number.isInteger(every) || every < 1) {
    throw new TesseraError(
      'INVALID_ARGUMENT',
      `spectralRecorder: every should be a positive integer, got ${every}`,
    );
  }
  const steps: SpectralStep[] = [];
  return {
    steps,
    callback: async (info) => {
      if (info.step % every !== 0) return;
      const [x, denoised] = await Promise.all([rapsdOfTensor(info.x), rapsdOfTensor(info.denoised)]);
      steps.push({ step: info.step, sigma: info.sigma, x, denoised });
    },
  };
}
