/**
 * Gaussian mixtures fitted by expectation–maximisation in float64 on the host: diagonal covariances,
 * or low rank plus isotropic noise (mixtures of probabilistic PCA, Tipping & Bishop 1999, whose M-step
 * for W, σ² is itself one EM step: W̃ = SW(σ²I + M⁻¹WᵀSW)⁻¹, σ̃² = tr(S − SWM⁻¹W̃ᵀ)/d). k-means++
 * initialisation from Philox draws; every iteration is a (generalised) EM step, so the log-likelihood
 * never decreases.
 */
import { philoxWords, TesseraError, wordToUniform } from '@tessera/core';
import type { Dataset } from './denoisers.js';
import { spdInverse } from './linalg.js';
import type { GaussianMixtureSpec, LowRankCovariance } from './spec.js';

/** Options of {@link fitGaussianMixture}. */
export interface FitOptions {
  /** Number of components K. */
  components: number;
  /** EM iterations. Default 30. */
  iterations?: number;
  /** Philox seed of the k-means++ initialisation. Default 0. */
  seed?: number;
  /** `'diag'` (default) or `'lowrank'` (rank `rank` plus isotropic noise). */
  covariance?: 'diag' | 'lowrank';
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
  covs: Array<{ diag: Float64Array } | { lowRank: LowRankCovariance & { U: Float64Array; diag: number } }>;
  /** Mean log-likelihood per data point after initialisation and after each iteration. */
  logLikelihood: number[];
}

interface Comp {
  mean: Float64Array;
  vars?: Float64Array; // diag
  W?: Float64Array; // d×q
  s2?: number; // isotropic noise
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

/** `d×q` → `q×d`. */
function transpose(W: Float64Array, d: number, q: number): Float64Array {
  const t = new Float64Array(d * q);
  for (let i = 0; i < d; i++) for (let a = 0; a < q; a++) t[a * d + i] = W[i * q + a]!;
  return t;
}

/** r = x_n − μ; returns ‖r‖². */
function centre(x: Float64Array, n: number, d: number, mean: Float64Array, r: Float64Array): number {
  let rr = 0;
  const o = n * d;
  for (let i = 0; i < d; i++) {
    const v = x[o + i]! - mean[i]!;
    r[i] = v;
    rr += v * v;
  }
  return rr;
}

/** p = Wᵀ r with Wt = Wᵀ (q×d). */
function project(Wt: Float64Array, r: Float64Array, d: number, q: number, p: Float64Array): void {
  for (let a = 0; a < q; a++) {
    let s = 0;
    const o = a * d;
    for (let i = 0; i < d; i++) s += Wt[o + i]! * r[i]!;
    p[a] = s;
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

/** One PPCA EM step for W, σ² given weighted data (weights r, total nk) around `mean`. */
function ppcaStep(
  x: Float64Array,
  N: number,
  d: number,
  r: Float64Array,
  K: number,
  k: number,
  nk: number,
  c: Comp,
  floor: number,
): void {
  const W = c.W!;
  const q = W.length / d;
  const s2 = c.s2!;
  // SW = (1/nk) Σ r_n (x_n − μ)((x_n − μ)ᵀ W), trS = (1/nk) Σ r_n ‖x_n − μ‖²
  const Wt = transpose(W, d, q);
  const SWt = new Float64Array(d * q); // (SW)ᵀ, q×d
  const p = new Float64Array(q);
  const res = new Float64Array(d);
  let trS = 0;
  for (let n = 0; n < N; n++) {
    const rn = r[n * K + k]!;
    if (rn < 1e-12) continue;
    trS += rn * centre(x, n, d, c.mean, res);
    project(Wt, res, d, q, p);
    for (let a = 0; a < q; a++) {
      const f = rn * p[a]!;
      const o = a * d;
      for (let i = 0; i < d; i++) SWt[o + i]! += f * res[i]!;
    }
  }
  const SW = transpose(SWt, q, d);
  for (let i = 0; i < d * q; i++) SW[i]! /= nk;
  trS /= nk;
  const M = new Float64Array(q * q);
  for (let i = 0; i < d; i++)
    for (let a = 0; a < q; a++) for (let b = 0; b < q; b++) M[a * q + b]! += W[i * q + a]! * W[i * q + b]!;
  for (let a = 0; a < q; a++) M[a * q + a]! += s2;
  const Mi = spdInverse(M, q).inverse;
  // T = σ²I + M⁻¹ WᵀSW
  const WSW = new Float64Array(q * q);
  for (let i = 0; i < d; i++)
    for (let a = 0; a < q; a++) for (let b = 0; b < q; b++) WSW[a * q + b]! += W[i * q + a]! * SW[i * q + b]!;
  const T = new Float64Array(q * q);
  for (let a = 0; a < q; a++) {
    for (let b = 0; b < q; b++) {
      let s = a === b ? s2 : 0;
      for (let e = 0; e < q; e++) s += Mi[a * q + e]! * WSW[e * q + b]!;
      T[a * q + b] = s;
    }
  }
  const Ti = invertGeneral(T, q);
  const Wn = new Float64Array(d * q);
  for (let i = 0; i < d; i++)
    for (let a = 0; a < q; a++) for (let b = 0; b < q; b++) Wn[i * q + b]! += SW[i * q + a]! * Ti[a * q + b]!;
  // tr(SW M⁻¹ W̃ᵀ)
  let tr = 0;
  for (let i = 0; i < d; i++)
    for (let a = 0; a < q; a++)
      for (let b = 0; b < q; b++) tr += SW[i * q + a]! * Mi[a * q + b]! * Wn[i * q + b]!;
  c.W = Wn;
  c.s2 = Math.max(floor, (trS - tr) / d);
}

/** Inverse of a small general matrix by Gauss–Jordan with partial pivoting. */
function invertGeneral(a: Float64Array, n: number): Float64Array {
  const m = Float64Array.from(a);
  const inv = new Float64Array(n * n);
  for (let i = 0; i < n; i++) inv[i * n + i] = 1;
  for (let col = 0; col < n; col++) {
    let piv = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(m[r * n + col]!) > Math.abs(m[piv * n + col]!)) piv = r;
    if (m[piv * n + col] === 0)
      throw new TesseraError('INVALID_ARGUMENT', 'fitGaussianMixture: singular matrix in the PPCA update');
    for (let j = 0; j < n; j++) {
      [m[col * n + j], m[piv * n + j]] = [m[piv * n + j]!, m[col * n + j]!];
      [inv[col * n + j], inv[piv * n + j]] = [inv[piv * n + j]!, inv[col * n + j]!];
    }
    const pv = m[col * n + col]!;
    for (let j = 0; j < n; j++) {
      m[col * n + j]! /= pv;
      inv[col * n + j]! /= pv;
    }
    for (let r = 0; r < n; r++) {
      if (r === col) continue;
      const f = m[r * n + col]!;
      if (f === 0) continue;
      for (let j = 0; j < n; j++) {
        m[r * n + j]! -= f * m[col * n + j]!;
        inv[r * n + j]! -= f * inv[col * n + j]!;
      }
    }
  }
  return inv;
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
  if (kind !== 'diag' && kind !== 'lowrank')
    throw new TesseraError(
      'INVALID_ARGUMENT',
      `fitGaussianMixture: covariance must be 'diag' or 'lowrank', got '${kind}'`,
    );
  const q = options.rank ?? 4;
  if (kind === 'lowrank' && (!Number.isInteger(q) || q < 1 || q >= d))
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
    return { mean: c, W, s2: 1 };
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
    covs: comps.map((c) => (c.vars ? { diag: c.vars } : { lowRank: { U: c.W!, diag: c.s2! } })),
    logLikelihood,
  };
}
