/**
 * The embedded default model for demos: a Gaussian mixture over 16×16 digit images, fitted by EM
 * (low rank + isotropic noise, a few components per digit) to a procedural digits data set, at first
 * call, deterministically, and cached. Also exact sampling from any mixture (draw a component, then a
 * Gaussian) with Philox normals.
 */
import { type Backend, philoxWords, TesseraError, wordsToNormal, wordToUniform } from '@tessera/core';
import { digitsDataset } from './datasets.js';
import { DEFAULT_DIGITS_DATA } from './default-model-data.js';
import { gaussianMixtureDenoiser, type ReferenceDenoiser } from './denoisers.js';
import { type FittedMixture, fitGaussianMixture } from './em.js';
import { type CanonicalMixture, canonicalMixture, type GaussianMixtureSpec } from './spec.js';

/**
 * Draws `count` exact samples from a mixture: component k with probability w_k, then
 * x = μ_k + Σ_k^{1/2} z, from the Philox stream of `seed`. Returns rows of length d and the components.
 */
export function sampleMixture(
  model: GaussianMixtureSpec | CanonicalMixture,
  count: number,
  seed = 0,
): { data: Float64Array; components: Int32Array } {
  if (!Number.isInteger(count) || count < 1)
    throw new TesseraError(
      'INVALID_ARGUMENT',
      `sampleMixture: count must be a positive integer, got ${count}`,
    );
  const m = 'components' in model ? model : canonicalMixture(model);
  const d = m.dim;
  const data = new Float64Array(count * d);
  const components = new Int32Array(count);
  const cdf: number[] = [];
  m.weights.reduce((acc, w) => {
    cdf.push(acc + w);
    return acc + w;
  }, 0);
  const per = 2 + 2 * d; // words per sample: one for the component (two for alignment), 2d for normals
  const z = new Float64Array(d);
  for (let n = 0; n < count; n++) {
    const words = philoxWords(seed, n * per, per);
    const u = wordToUniform(words[0]!);
    let k = cdf.findIndex((c) => u < c);
    if (k < 0) k = cdf.length - 1;
    components[n] = k;
    for (let i = 0; i < d; i++) z[i] = wordsToNormal(words[2 + 2 * i]!, words[3 + 2 * i]!);
    const c = m.components[k]!;
    const row = data.subarray(n * d, (n + 1) * d);
    if (c.kind === 'diag') {
      for (let i = 0; i < d; i++) row[i] = c.mean[i]! + Math.sqrt(c.variances[i]!) * z[i]!;
      continue;
    }
    const sr = Math.sqrt(c.residual);
    for (let i = 0; i < d; i++) row[i] = c.mean[i]! + sr * z[i]!;
    for (let j = 0; j < c.rank; j++) {
      let p = 0;
      for (let i = 0; i < d; i++) p += c.basis[i * c.rank + j]! * z[i]!;
      p *= Math.sqrt(c.eigenvalues[j]!) - sr;
      for (let i = 0; i < d; i++) row[i]! += p * c.basis[i * c.rank + j]!;
    }
  }
  return { data, components };
}

/** The default digits model. */
export interface DefaultDigitsModel {
  /** Mixture weights (sum to 1). */
  weights: Float64Array;
  /** Component means, each of length 256 (16×16, values around [-1, 1]). */
  means: Float64Array[];
  /** Component covariances: `{ lowRank: { U (256×rank), diag (isotropic) } }`. */
  covs: FittedMixture['covs'];
  /** Digit (0–9) each component was fitted to. */
  componentLabels: Int32Array;
  /** `[1, 16, 16]`: one channel of 16×16. */
  imageShape: [number, number, number];
  /** The canonical (eigen) form, as the denoisers use it. */
  canonical: CanonicalMixture;
  /**
   * The exact mixture denoiser (x: [N, 1, 16, 16]); `digits` restricts it to those digits' components
   * (a class-conditional model). Parameters are uploaded to `backend` now when given, else on first use.
   */
  denoiser(backend?: Backend, options?: { digits?: readonly number[] }): ReferenceDenoiser;
}

/** Recipe of the default model (kept here so the model is reproducible from code alone). */
export const DEFAULT_DIGITS_RECIPE = {
  size: 16,
  perDigit: 160,
  componentsPerDigit: 3,
  rank: 10,
  iterations: 10,
  seed: 20240607,
} as const;

/** The fitted parameters of the default digits model (what {@link DEFAULT_DIGITS_DATA} ships). */
export interface DigitsParameters {
  /** Mixture weights (sum to 1). */
  weights: Float64Array;
  /** Component means, each of length 256. */
  means: Float64Array[];
  /** Component covariances `{ lowRank: { U (256×rank), diag (isotropic) } }`. */
  covs: FittedMixture['covs'];
  /** Digit (0–9) each component was fitted to. */
  labels: number[];
}

/**
 * Fits the default model's parameters afresh by EM from {@link DEFAULT_DIGITS_RECIPE} (about a second).
 * {@link defaultDigitsModel} uses the shipped result instead; this is how that data was made (see
 * `packages/reference/scripts/generate-default-model.mjs`) and what the tests compare it against.
 */
export function fitDefaultDigitsParameters(): DigitsParameters {
  const R = DEFAULT_DIGITS_RECIPE;
  const weights: number[] = [];
  const means: Float64Array[] = [];
  const covs: FittedMixture['covs'] = [];
  const labels: number[] = [];
  for (let digit = 0; digit < 10; digit++) {
    const ds = digitsDataset({ count: R.perDigit, size: R.size, seed: R.seed + digit, digits: [digit] });
    const fit = fitGaussianMixture(ds, {
      components: R.componentsPerDigit,
      covariance: 'lowrank',
      rank: R.rank,
      iterations: R.iterations,
      seed: R.seed + digit,
      minVariance: 1e-3,
    });
    fit.weights.forEach((w, k) => {
      weights.push(w / 10);
      means.push(fit.means[k]!);
      covs.push(fit.covs[k]!);
      labels.push(digit);
    });
  }
  return { weights: Float64Array.from(weights), means, covs, labels };
}

/** Decodes base64 little-endian float64 (`f64`) or float32 (`f32`) values into a Float64Array. */
function decode(b64: string, kind: 'f32' | 'f64'): Float64Array {
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  const view = new DataView(bytes.buffer);
  const size = kind === 'f64' ? 8 : 4;
  const out = new Float64Array(bytes.length / size);
  for (let i = 0; i < out.length; i++)
    out[i] = kind === 'f64' ? view.getFloat64(i * size, true) : view.getFloat32(i * size, true);
  return out;
}

/** The shipped parameters, decoded (means and factors were stored as float32, the rest as float64). */
export function shippedDigitsParameters(): DigitsParameters {
  const D = DEFAULT_DIGITS_DATA;
  const d = D.size * D.size;
  const all = decode(D.means, 'f32');
  const U = decode(D.factors, 'f32');
  const diag = decode(D.diag, 'f64');
  const K = D.labels.length;
  return {
    weights: decode(D.weights, 'f64'),
    means: Array.from({ length: K }, (_, k) => all.slice(k * d, (k + 1) * d)),
    covs: Array.from({ length: K }, (_, k) => ({
      lowRank: { U: U.slice(k * d * D.rank, (k + 1) * d * D.rank), diag: diag[k]! },
    })),
    labels: [...D.labels],
  };
}

let cached: DefaultDigitsModel | undefined;

/**
 * The embedded default model: per digit 0–9, a 3-component mixture of probabilistic PCA (rank 10 plus
 * isotropic noise) fitted by EM to procedural 16×16 digits; the ten mixtures are joined with equal
 * digit weights. The fit ({@link fitDefaultDigitsParameters}) ran once and ships as data (means and
 * factors in float32), so the first call only decodes it; cached afterwards.
 */
export function defaultDigitsModel(): DefaultDigitsModel {
  if (cached) return cached;
  const R = DEFAULT_DIGITS_RECIPE;
  const { weights, means, covs, labels } = shippedDigitsParameters();
  const canonical = canonicalMixture({ weights, means, covs });
  const componentLabels = Int32Array.from(labels);
  const full = gaussianMixtureDenoiser(canonical);
  cached = {
    weights: canonical.weights,
    means,
    covs,
    componentLabels,
    imageShape: [1, R.size, R.size],
    canonical,
    denoiser(backend?: Backend, options: { digits?: readonly number[] } = {}) {
      let D = full;
      if (options.digits) {
        const keep = new Set(options.digits);
        const idx = labels.map((l, k) => (keep.has(l) ? k : -1)).filter((k) => k >= 0);
        if (!idx.length)
          throw new TesseraError(
            'INVALID_ARGUMENT',
            `defaultDigitsModel: digits must include one of 0–9, got [${[...keep].join(', ')}]`,
          );
        const w = idx.map((k) => canonical.weights[k]!);
        const tot = w.reduce((a, b) => a + b, 0);
        D = gaussianMixtureDenoiser({
          dim: canonical.dim,
          weights: Float64Array.from(w, (v) => v / tot),
          components: idx.map((k) => canonical.components[k]!),
        });
      }
      if (backend) {
        const z = backend.fill([1, 1, R.size, R.size], 0);
        D(z, 1).dispose();
        z.dispose();
      }
      return D;
    },
  };
  return cached;
}
