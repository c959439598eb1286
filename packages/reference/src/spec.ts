/**
 * Gaussian and Gaussian-mixture specifications, and their canonical (eigen) form, computed once in
 * float64 on the host. Every covariance becomes either a diagonal or a "spectral" form
 * Σ = V diag(λ) Vᵀ + s (I − V Vᵀ) with orthonormal columns V (d×r), from which the posterior mean
 * and the noisy density at any σ follow in closed form.
 */
import { TesseraError } from '@tessera/core';
import { matmul64, symmetricEigen } from './linalg.js';

/** A low-rank-plus-diagonal covariance `U Uᵀ + diag(diag)`; `U` is `d×r` row-major. */
export interface LowRankCovariance {
  /** `d×r` row-major factor. */
  U: ArrayLike<number>;
  /** Diagonal: one variance for all coordinates (cheap, thin form) or one per coordinate (full eigen). */
  diag: number | ArrayLike<number>;
}

/**
 * A covariance matrix, in any of the forms the reference models accept:
 * a number (isotropic variance), an array of `d` variances (diagonal), an array of `d²` values (full,
 * row-major), or an object `{ full }`, `{ diag }`, `{ lowRank: { U, diag } }`.
 */
export type CovarianceSpec =
  | number
  | ArrayLike<number>
  | { full: ArrayLike<number> }
  | { diag: number | ArrayLike<number> }
  | { lowRank: LowRankCovariance };

/** One Gaussian N(mean, Σ); give exactly one of `cov`, `lowRank`, `diag`. */
export interface GaussianSpec {
  /** Mean, length d (the flattened image size). */
  mean: ArrayLike<number>;
  /** Full covariance, `d×d` row-major. */
  cov?: ArrayLike<number>;
  /** Low-rank plus diagonal covariance. */
  lowRank?: LowRankCovariance;
  /** Diagonal covariance: one variance (isotropic) or `d` variances. */
  diag?: number | ArrayLike<number>;
}

/** A Gaussian mixture Σ_k w_k N(μ_k, Σ_k). */
export interface GaussianMixtureSpec {
  /** Mixture weights (normalised internally; must be positive). */
  weights: ArrayLike<number>;
  /** Means: one array of length d per component, or all of them flat (`K·d`). */
  means: ArrayLike<number>[] | ArrayLike<number>;
  /** Covariances, one per component (see {@link CovarianceSpec}). */
  covs: CovarianceSpec[];
}

/** The canonical form of one Gaussian component. */
export type CanonicalComponent =
  | {
      kind: 'diag';
      mean: Float64Array;
      /** Per-coordinate variances. */
      variances: Float64Array;
    }
  | {
      kind: 'spectral';
      mean: Float64Array;
      /** `d×rank` row-major, orthonormal columns. */
      basis: Float64Array;
      rank: number;
      /** Variance along each basis column (≥ 0). */
      eigenvalues: Float64Array;
      /** Variance in every direction orthogonal to the basis (when rank = d: any positive value). */
      residual: number;
    };

/** A mixture in canonical form: normalised weights and canonical components of one dimension. */
export interface CanonicalMixture {
  dim: number;
  weights: Float64Array;
  components: CanonicalComponent[];
}

function toF64(name: string, a: ArrayLike<number>, len?: number): Float64Array {
  if (a === null || typeof a !== 'object' || typeof (a as ArrayLike<number>).length !== 'number') {
    throw new TesseraError('INVALID_ARGUMENT', `${name}: expected an array of numbers, got ${typeof a}`);
  }
  if (len !== undefined && a.length !== len) {
    throw new TesseraError('SHAPE_MISMATCH', `${name}: expected ${len} values, got ${a.length}`);
  }
  const out = Float64Array.from(a);
  for (let i = 0; i < out.length; i++) {
    if (!Number.isFinite(out[i]!))
      throw new TesseraError(
        'INVALID_ARGUMENT',
        `${name}: value ${i} is ${out[i]}, expected a finite number`,
      );
  }
  return out;
}

function checkVariance(name: string, v: Float64Array): Float64Array {
  for (let i = 0; i < v.length; i++) {
    if (v[i]! < 0)
      throw new TesseraError('INVALID_ARGUMENT', `${name}: variances must be ≥ 0, got ${v[i]} at ${i}`);
  }
  return v;
}

function fromEigen(
  mean: Float64Array,
  values: Float64Array,
  vectors: Float64Array,
  d: number,
): CanonicalComponent {
  const eigenvalues = values.map((v) => Math.max(v, 0));
  let min = Number.POSITIVE_INFINITY;
  let sum = 0;
  for (const v of eigenvalues) {
    min = Math.min(min, v);
    sum += v;
  }
  // rank = d: the residual only conditions the arithmetic (kept near the spectrum's bottom)
  const residual = min > 0 ? min : sum > 0 ? sum / d : 1;
  return { kind: 'spectral', mean, basis: vectors, rank: d, eigenvalues, residual };
}

/** Canonical form of a covariance given the mean (length d). */
export function canonicalComponent(
  meanIn: ArrayLike<number>,
  cov: CovarianceSpec,
  name = 'covariance',
): CanonicalComponent {
  const mean = toF64(`${name}: mean`, meanIn);
  const d = mean.length;
  if (d === 0) throw new TesseraError('INVALID_ARGUMENT', `${name}: mean must not be empty`);
  if (typeof cov === 'number') {
    if (!(cov >= 0) || !Number.isFinite(cov))
      throw new TesseraError(
        'INVALID_ARGUMENT',
        `${name}: isotropic variance must be finite and ≥ 0, got ${cov}`,
      );
    return { kind: 'diag', mean, variances: new Float64Array(d).fill(cov) };
  }
  if (cov === null || typeof cov !== 'object') {
    throw new TesseraError(
      'INVALID_ARGUMENT',
      `${name}: expected a number, an array or { full | diag | lowRank }, got ${cov === null ? 'null' : typeof cov}`,
    );
  }
  if ('full' in cov) return canonicalComponent(mean, (cov as { full: ArrayLike<number> }).full, name);
  if ('diag' in cov && !('length' in cov)) {
    const dg = (cov as { diag: number | ArrayLike<number> }).diag;
    return typeof dg === 'number'
      ? canonicalComponent(mean, dg, name)
      : { kind: 'diag', mean, variances: checkVariance(name, toF64(`${name}: diag`, dg, d)) };
  }
  if ('lowRank' in cov) {
    const { U, diag } = (cov as { lowRank: LowRankCovariance }).lowRank;
    const u = toF64(`${name}: lowRank.U`, U);
    if (u.length % d !== 0)
      throw new TesseraError(
        'SHAPE_MISMATCH',
        `${name}: lowRank.U must hold d×r = ${d}×r values, got ${u.length}`,
      );
    const r = u.length / d;
    const dv =
      typeof diag === 'number'
        ? new Float64Array(d).fill(diag)
        : checkVariance(name, toF64(`${name}: lowRank.diag`, diag, d));
    checkVariance(name, dv);
    const iso = dv.every((v) => v === dv[0]);
    if (!iso) {
      const full = matmul64(u, u, d, r, d, true);
      for (let i = 0; i < d; i++) full[i * d + i]! += dv[i]!;
      const { values, vectors } = symmetricEigen(full, d);
      return fromEigen(mean, values, vectors, d);
    }
    // thin form: UᵀU = W diag(κ) Wᵀ, basis = U W κ^{-1/2}
    const s = dv[0]!;
    const utu = new Float64Array(r * r);
    for (let i = 0; i < d; i++) {
      for (let a = 0; a < r; a++)
        for (let b = 0; b < r; b++) utu[a * r + b]! += u[i * r + a]! * u[i * r + b]!;
    }
    const { values, vectors } = symmetricEigen(utu, r);
    const keep: number[] = [];
    for (let j = 0; j < r; j++) if (values[j]! > 1e-12 * Math.max(values[0]!, 1e-300)) keep.push(j);
    const rank = keep.length;
    const basis = new Float64Array(d * rank);
    const eigenvalues = new Float64Array(rank);
    keep.forEach((j, c) => {
      const inv = 1 / Math.sqrt(values[j]!);
      eigenvalues[c] = values[j]! + s;
      for (let i = 0; i < d; i++) {
        let acc = 0;
        for (let a = 0; a < r; a++) acc += u[i * r + a]! * vectors[a * r + j]!;
        basis[i * rank + c] = acc * inv;
      }
    });
    return { kind: 'spectral', mean, basis, rank, eigenvalues, residual: s };
  }
  const arr = toF64(name, cov as ArrayLike<number>);
  if (arr.length === d) return { kind: 'diag', mean, variances: checkVariance(name, arr) };
  if (arr.length !== d * d) {
    throw new TesseraError(
      'SHAPE_MISMATCH',
      `${name}: expected ${d} variances (diagonal) or ${d}×${d} = ${d * d} values (full), got ${arr.length}`,
    );
  }
  const { values, vectors } = symmetricEigen(arr, d);
  if (values[d - 1]! < -1e-9 * Math.max(Math.abs(values[0]!), 1)) {
    throw new TesseraError(
      'INVALID_ARGUMENT',
      `${name}: covariance is not positive semi-definite (smallest eigenvalue ${values[d - 1]})`,
    );
  }
  return fromEigen(mean, values, vectors, d);
}

/** Canonical form of a {@link GaussianSpec}. */
export function canonicalGaussian(spec: GaussianSpec): CanonicalComponent {
  if (spec === null || typeof spec !== 'object')
    throw new TesseraError('INVALID_ARGUMENT', 'gaussian: expected { mean, cov | lowRank | diag }');
  const given = (['cov', 'lowRank', 'diag'] as const).filter((k) => spec[k] !== undefined);
  if (given.length !== 1) {
    throw new TesseraError(
      'INVALID_ARGUMENT',
      `gaussian: give exactly one of cov, lowRank, diag; got ${given.length ? given.join(', ') : 'none'}`,
    );
  }
  if (spec.cov !== undefined) return canonicalComponent(spec.mean, { full: spec.cov }, 'gaussian');
  if (spec.lowRank !== undefined) return canonicalComponent(spec.mean, { lowRank: spec.lowRank }, 'gaussian');
  return canonicalComponent(spec.mean, { diag: spec.diag! }, 'gaussian');
}

/** Canonical form of a {@link GaussianMixtureSpec} (weights normalised). */
export function canonicalMixture(spec: GaussianMixtureSpec): CanonicalMixture {
  if (spec === null || typeof spec !== 'object')
    throw new TesseraError('INVALID_ARGUMENT', 'gaussianMixture: expected { weights, means, covs }');
  const w = toF64('gaussianMixture: weights', spec.weights);
  const K = w.length;
  if (K === 0) throw new TesseraError('INVALID_ARGUMENT', 'gaussianMixture: weights must not be empty');
  if (w.some((v) => !(v > 0)))
    throw new TesseraError(
      'INVALID_ARGUMENT',
      `gaussianMixture: weights must be positive, got [${Array.from(w).join(', ')}]`,
    );
  if (!Array.isArray(spec.covs) || spec.covs.length !== K) {
    throw new TesseraError(
      'SHAPE_MISMATCH',
      `gaussianMixture: expected ${K} covs (one per weight), got ${Array.isArray(spec.covs) ? spec.covs.length : typeof spec.covs}`,
    );
  }
  let means: ArrayLike<number>[];
  const m = spec.means as ArrayLike<number>[] | ArrayLike<number>;
  if (Array.isArray(m) && m.length > 0 && typeof m[0] === 'object') means = m as ArrayLike<number>[];
  else {
    const flat = m as ArrayLike<number>;
    if (!flat || flat.length % K !== 0 || flat.length === 0) {
      throw new TesseraError(
        'SHAPE_MISMATCH',
        `gaussianMixture: flat means must hold K·d values for K = ${K}, got ${flat?.length}`,
      );
    }
    const d = flat.length / K;
    means = Array.from(
      { length: K },
      (_, k) => Array.prototype.slice.call(flat, k * d, (k + 1) * d) as number[],
    );
  }
  if (means.length !== K)
    throw new TesseraError('SHAPE_MISMATCH', `gaussianMixture: expected ${K} means, got ${means.length}`);
  const components = means.map((mu, k) =>
    canonicalComponent(mu, spec.covs[k]!, `gaussianMixture: component ${k}`),
  );
  const dim = components[0]!.mean.length;
  components.forEach((c, k) => {
    if (c.mean.length !== dim)
      throw new TesseraError(
        'SHAPE_MISMATCH',
        `gaussianMixture: component ${k} has dimension ${c.mean.length}, component 0 has ${dim}`,
      );
  });
  const total = w.reduce((a, b) => a + b, 0);
  return { dim, weights: w.map((v) => v / total), components };
}

/**
 * For one component at noise level σ² and a point x (length d): the posterior mean E[x₀ | x] and
 * log N(x; μ, Σ + σ²I), in float64.
 */
export function componentPosterior64(
  c: CanonicalComponent,
  x: ArrayLike<number>,
  s2: number,
): { mean: Float64Array; logDensity: number } {
  const d = c.mean.length;
  const r = new Float64Array(d);
  for (let i = 0; i < d; i++) r[i] = x[i]! - c.mean[i]!;
  const out = new Float64Array(d);
  let quad = 0;
  let logDet = 0;
  if (c.kind === 'diag') {
    for (let i = 0; i < d; i++) {
      const v = c.variances[i]! + s2;
      quad += (r[i]! * r[i]!) / v;
      logDet += Math.log(v);
      out[i] = x[i]! - (s2 / v) * r[i]!;
    }
  } else {
    const { basis, rank, eigenvalues, residual } = c;
    const cs = 1 / (residual + s2);
    let rr = 0;
    for (let i = 0; i < d; i++) {
      rr += r[i]! * r[i]!;
      out[i] = x[i]! - s2 * cs * r[i]!;
    }
    quad = rr * cs;
    logDet = (d - rank) * Math.log(residual + s2);
    for (let j = 0; j < rank; j++) {
      let p = 0;
      for (let i = 0; i < d; i++) p += basis[i * rank + j]! * r[i]!;
      const lv = eigenvalues[j]! + s2;
      const e = 1 / lv - cs;
      quad += p * p * e;
      logDet += Math.log(lv);
      const f = s2 * e * p;
      for (let i = 0; i < d; i++) out[i]! -= f * basis[i * rank + j]!;
    }
  }
  return { mean: out, logDensity: -0.5 * (quad + logDet + d * Math.log(2 * Math.PI)) };
}

/**
 * Exact posterior mean E[x₀ | x₀ + σε = x] of a mixture, in float64, for `x` holding whole rows of
 * length d. Returns a new array of x's length.
 */
export function mixturePosteriorMean64(
  model: CanonicalMixture,
  x: ArrayLike<number>,
  sigma: number,
): Float64Array {
  const d = model.dim;
  if (x.length % d !== 0)
    throw new TesseraError(
      'SHAPE_MISMATCH',
      `mixturePosteriorMean64: x length ${x.length} is not a multiple of d = ${d}`,
    );
  const s2 = sigma * sigma;
  const out = new Float64Array(x.length);
  const K = model.components.length;
  for (let n = 0; n < x.length / d; n++) {
    const row = Array.prototype.slice.call(x, n * d, (n + 1) * d) as number[];
    const parts = model.components.map((c) => componentPosterior64(c, row, s2));
    const logits = parts.map((p, k) => Math.log(model.weights[k]!) + p.logDensity);
    const mx = Math.max(...logits);
    const ex = logits.map((l) => Math.exp(l - mx));
    const tot = ex.reduce((a, b) => a + b, 0);
    for (let k = 0; k < K; k++) {
      const rk = ex[k]! / tot;
      const m = parts[k]!.mean;
      for (let i = 0; i < d; i++) out[n * d + i]! += rk * m[i]!;
    }
  }
  return out;
}

/** log p(x) of a mixture convolved with N(0, σ²I), for one row x (float64). */
export function mixtureLogDensity64(model: CanonicalMixture, x: ArrayLike<number>, sigma = 0): number {
  const logits = model.components.map(
    (c, k) => Math.log(model.weights[k]!) + componentPosterior64(c, x, sigma * sigma).logDensity,
  );
  const mx = Math.max(...logits);
  return mx + Math.log(logits.reduce((a, l) => a + Math.exp(l - mx), 0));
}
