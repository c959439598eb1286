/**
 * Gaussian mixtures fitted by expectation–maximisation in float64 on the host: diagonal covariances,
 * or low rank plus isotropic noise (mixtures of probabilistic PCA, Tipping & Bishop 1999, whose M-step
 * for W, σ² is itself one EM step: W̃ = SW(σ²I + M⁻¹WᵀSW)⁻¹, σ̃² = tr(S − SWM⁻¹W̃ᵀ)/d). k-means++
 * initialisation from Philox draws; every iteration is a (generalised) EM step, so the log-likelihood
 * never decreases.
 */
import { philoxWords, TesseraError, wordToUniform } from '@tessera/core';
import type { Dataset } from './denoisers.js';
import { factorLogDensities, factorStep } from './factor.js';
import { spdInverse } from './linalg.js';
import { type Comp, centre, ppcaStep, project, transpose } from './ppca.js';
import type { GaussianMixtureSpec, LowRankCovariance } from './spec.js';

/** Options of {@link fitGaussianMixture}. */
export interface FitOptions {
  /** Number of components K. */
  components: number;
  /** EM iterations. Default 30. */
  iterations?: number;
  /** Philox seed of the k-means++ initialisation. Default 0. */
  seed?: number;
  /**
   * `'diag'` (default), `'lowrank'` (rank `rank` plus isotropic noise: probabilistic PCA) or `'factor'`
   * (rank `rank` plus a general diagonal: factor analysis; its denoiser needs a d×d eigen-decomposition,
   * so keep d small).
   */
  covariance?: 'diag' | 'lowrank' | 'factor';
  /** Rank of the low-rank part. Default 4. */
  rank?: number;
  /** Floor on every variance (diagonal entries, or the isotropic noise). Default 1e-4. */
  minVariance?: number;
  /** Stop early when the mean log-likelihood improves by less than this. Default 0 (run all iterations). */
  tolerance?: number;
}

/** A fitted mixture: a {@link GaussianMixtureSpec} plus the fit's history. */
export interface FittedMixture extends GaussianMixtureSpec {
  weights: Float64Array;
  means: Float64Array[];
  covs: Array<
    { diag: Float64Array } | { lowRank: LowRankCovariance & { U: Float64Array; diag: number | Float64Array } }
  >;
  /** Mean log-likelihood per data point after initialisation and after each iteration. */
  logLikelihood: number[];
}

function kmeansPP(x: Float64Array, N: number, d: number, K: number, seed: number): Float64Array[] {
  const words = philoxWords(seed, 0, K);
  const centres: Float64Array[] = [];
  const dist = new Float64Array(N).fill(Number.POSITIVE_INFINITY);
  let pick = Math.min(N - 1, Math.floor(wordToUniform(words[0]!) * N));
  for (let k = 0; k < K; k++) {
    const c = x.slice(pick * d, (pick + 1) * d);
    centres.push(c);
    let total = 0;
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let i = 0; i < d; i++) s += (x[n * d + i]! - c[i]!) ** 2;
      dist[n] = Math.min(dist[n]!, s);
      total += dist[n]!;
    }
    if (k + 1 === K) break;
    let u = wordToUniform(words[k + 1]!) * total;
    pick = N - 1;
    for (let n = 0; n < N; n++) {
      u -= dist[n]!;
      if (u < 0) {
        pick = n;
        break;
      }
    }
  }
  return centres;
}

/** log N(x_n; comp) for every row, with the component's precomputed factors. */
function logDensities(
  x: Float64Array,
  N: number,
  d: number,
  c: Comp,
  out: Float64Array,
  stride: number,
  k: number,
): void {
  const LOG2PI = Math.log(2 * Math.PI);
  if (c.vars) {
    let logDet = 0;
    for (let i = 0; i < d; i++) logDet += Math.log(c.vars[i]!);
    for (let n = 0; n < N; n++) {
      let q = 0;
      for (let i = 0; i < d; i++) q += (x[n * d + i]! - c.mean[i]!) ** 2 / c.vars[i]!;
      out[n * stride + k] = -0.5 * (q + logDet + d * LOG2PI);
    }
    return;
  }
  if (c.psi) {
    factorLogDensities(x, N, d, c.mean, c.W!, c.psi, out, stride, k);
    return;
  }
  const W = c.W!;
  const s2 = c.s2!;
  const q = W.length / d;
  const M = new Float64Array(q * q);
  for (let i = 0; i < d; i++)
    for (let a = 0; a < q; a++) for (let b = 0; b < q; b++) M[a * q + b]! += W[i * q + a]! * W[i * q + b]!;
  for (let a = 0; a < q; a++) M[a * q + a]! += s2;
  const { inverse: Mi, logDet: ldM } = spdInverse(M, q);
  const logDet = (d - q) * Math.log(s2) + ldM;
  const Wt = transpose(W, d, q);
  const r = new Float64Array(d);
  const p = new Float64Array(q);
  for (let n = 0; n < N; n++) {
    const rr = centre(x, n, d, c.mean, r);
    project(Wt, r, d, q, p);
    let pmp = 0;
    for (let a = 0; a < q; a++) for (let b = 0; b < q; b++) pmp += p[a]! * Mi[a * q + b]! * p[b]!;
    out[n * stride + k] = -0.5 * ((rr - pmp) / s2 + logDet + d * LOG2PI);
  }
}

/** E-step: responsibilities (in place of log densities) and the mean log-likelihood. */
function eStep(
  x: Float64Array,
  N: number,
  d: number,
  comps: Comp[],
  weights: Float64Array,
  resp: Float64Array,
): number {
  const K = comps.length;
  comps.forEach((c, k) => {
    logDensities(x, N, d, c, resp, K, k);
  });
  let ll = 0;
  for (let n = 0; n < N; n++) {
    let mx = Number.NEGATIVE_INFINITY;
    for (let k = 0; k < K; k++) {
      resp[n * K + k]! += Math.log(weights[k]!);
      mx = Math.max(mx, resp[n * K + k]!);
    }
    let s = 0;
    for (let k = 0; k < K; k++) s += Math.exp(resp[n * K + k]! - mx);
    const lse = mx + Math.log(s);
    ll += lse;
    for (let k = 0; k < K; k++) resp[n * K + k] = Math.exp(resp[n * K + k]! - lse);
  }
  return ll / N;
}

function readData(data: Dataset | { data: ArrayLike<number>; shape: readonly number[] }): {
  x: Float64Array;
  N: number;
  d: number;
} {
  const shape = data?.shape;
  if (!shape || shape.length < 2 || !data.data)
    throw new TesseraError('INVALID_ARGUMENT', 'fitGaussianMixture: expected { data, shape: [N, ...dims] }');
  const N = shape[0]!;
  const d = shape.slice(1).reduce((a, b) => a * b, 1);
  if (data.data.length !== N * d || N < 1)
    throw new TesseraError(
      'SHAPE_MISMATCH',
      `fitGaussianMixture: data length ${data.data.length} does not match shape [${shape.join(', ')}]`,
    );
  return { x: Float64Array.from(data.data), N, d };
}

/**
 * Fits a K-component Gaussian mixture to the rows of `data` by EM in float64. Deterministic in
 * `seed`. The result plugs into {@link gaussianMixtureDenoiser} directly.
 */
export function fitGaussianMixture(data: Dataset, options: FitOptions): FittedMixture {
  const { x, N, d } = readData(data);
  const K = options.components;
  if (!Number.isInteger(K) || K < 1 || K > N)
    throw new TesseraError(
      'INVALID_ARGUMENT',
      `fitGaussianMixture: components must be an integer in [1, ${N}] (the row count), got ${K}`,
    );
  const iterations = options.iterations ?? 30;
  if (!Number.isInteger(iterations) || iterations < 0)
    throw new TesseraError(
      'INVALID_ARGUMENT',
      `fitGaussianMixture: iterations must be a non-negative integer, got ${iterations}`,
    );
  const kind = options.covariance ?? 'diag';
  if (kind !== 'diag' && kind !== 'lowrank' && kind !== 'factor')
    throw new TesseraError(
      'INVALID_ARGUMENT',
      `fitGaussianMixture: covariance must be 'diag', 'lowrank' or 'factor', got '${kind}'`,
    );
  const q = options.rank ?? 4;
  if (kind !== 'diag' && (!Number.isInteger(q) || q < 1 || q >= d))
    throw new TesseraError(
      'INVALID_ARGUMENT',
      `fitGaussianMixture: rank must be an integer in [1, ${d - 1}], got ${q}`,
    );
  const floor = options.minVariance ?? 1e-4;
  const seed = options.seed ?? 0;

  // initialisation: k-means++ centres, hard assignment, then one M-step
  const centres = kmeansPP(x, N, d, K, seed);
  const resp = new Float64Array(N * K);
  for (let n = 0; n < N; n++) {
    let best = 0;
    let bestD = Number.POSITIVE_INFINITY;
    centres.forEach((c, k) => {
      let s = 0;
      for (let i = 0; i < d; i++) s += (x[n * d + i]! - c[i]!) ** 2;
      if (s < bestD) {
        bestD = s;
        best = k;
      }
    });
    resp[n * K + best] = 1;
  }
  const weights = new Float64Array(K);
  const comps: Comp[] = centres.map((c, k) => {
    if (kind === 'diag') return { mean: c, vars: new Float64Array(d).fill(1) };
    // small random W (uniform Philox draws) so the PPCA iteration can leave W = 0
    const w = philoxWords(seed, 2 ** 40 + k * d * q, d * q);
    const W = new Float64Array(d * q);
    for (let i = 0; i < d * q; i++) W[i] = 0.2 * (wordToUniform(w[i]!) - 0.5);
    return kind === 'factor' ? { mean: c, W, psi: new Float64Array(d).fill(1) } : { mean: c, W, s2: 1 };
  });
  const mStep = (first: boolean) => {
    comps.forEach((c, k) => {
      let nk = 0;
      const mean = new Float64Array(d);
      for (let n = 0; n < N; n++) {
        const r = resp[n * K + k]!;
        nk += r;
        if (r > 0) for (let i = 0; i < d; i++) mean[i]! += r * x[n * d + i]!;
      }
      nk = Math.max(nk, 1e-10);
      weights[k] = Math.max(nk / N, 1e-300);
      for (let i = 0; i < d; i++) mean[i]! /= nk;
      c.mean = mean;
      if (c.vars) {
        const v = new Float64Array(d);
        for (let n = 0; n < N; n++) {
          const r = resp[n * K + k]!;
          if (r > 0) for (let i = 0; i < d; i++) v[i]! += r * (x[n * d + i]! - mean[i]!) ** 2;
        }
        c.vars = v.map((s) => Math.max(floor, s / nk));
      } else if (c.psi) {
        if (first) {
          const v = new Float64Array(d);
          for (let n = 0; n < N; n++)
            for (let i = 0; i < d; i++) v[i]! += resp[n * K + k]! * (x[n * d + i]! - mean[i]!) ** 2;
          c.psi = v.map((s) => Math.max(floor, s / nk));
        }
        const next = factorStep(x, N, d, resp, K, k, nk, mean, c.W!, c.psi, floor);
        c.W = next.W;
        c.psi = next.psi;
      } else {
        if (first) {
          let tr = 0;
          for (let n = 0; n < N; n++)
            for (let i = 0; i < d; i++) tr += resp[n * K + k]! * (x[n * d + i]! - mean[i]!) ** 2;
          c.s2 = Math.max(floor, tr / nk / d);
        }
        ppcaStep(x, N, d, resp, K, k, nk, c, floor);
      }
    });
  };
  mStep(true);
  const logLikelihood: number[] = [];
  logLikelihood.push(eStep(x, N, d, comps, weights, resp));
  for (let it = 0; it < iterations; it++) {
    mStep(false);
    logLikelihood.push(eStep(x, N, d, comps, weights, resp));
    const n = logLikelihood.length;
    if (options.tolerance && Math.abs(logLikelihood[n - 1]! - logLikelihood[n - 2]!) < options.tolerance)
      break;
  }
  return {
    weights: Float64Array.from(weights),
    means: comps.map((c) => c.mean),
    covs: comps.map((c) => (c.vars ? { diag: c.vars } : { lowRank: { U: c.W!, diag: c.psi ?? c.s2! } })),
    logLikelihood,
  };
}
