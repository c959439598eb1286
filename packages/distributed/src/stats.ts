/**
 * The one file that chooses the feature statistics and the feature extractor (so switching to
 * @tessera/metrics is a change here only).
 */
import { TesseraError } from '@tessera/core';
import { symmetricEigen } from '@tessera/reference';

/** Serialized statistics: count, float64 sums (JSON numbers round-trip float64 exactly). */
export interface StatsJSON {
  dim: number;
  count: number;
  mean: number[];
  /** Co-moment Σ (x − mean)(x − mean)ᵀ, row-major. */
  m2: number[];
}

/**
 * Mergeable first and second moments of feature rows (mean and co-moment, Chan et al.'s pairwise update),
 * in float64.
 */
export class FeatureStats {
  readonly dim: number;
  count = 0;
  #mean: Float64Array;
  #m2: Float64Array;

  constructor(dim: number) {
    if (!Number.isInteger(dim) || dim < 1)
      throw new TesseraError('INVALID_ARGUMENT', `FeatureStats: dim must be a positive integer, got ${dim}`);
    this.dim = dim;
    this.#mean = new Float64Array(dim);
    this.#m2 = new Float64Array(dim * dim);
  }

  /** Adds the rows of a flat `[n, dim]` array. */
  add(rows: Float32Array | Float64Array): this {
    const d = this.dim;
    if (rows.length % d !== 0)
      throw new TesseraError(
        'SHAPE_MISMATCH',
        `FeatureStats.add: expected a multiple of ${d} values, got ${rows.length}`,
      );
    const n = rows.length / d;
    if (n === 0) return this;
    const other = new FeatureStats(d);
    const mean = new Float64Array(d);
    for (let r = 0; r < n; r++) for (let j = 0; j < d; j++) mean[j]! += rows[r * d + j]!;
    for (let j = 0; j < d; j++) mean[j]! /= n;
    const m2 = other.#m2;
    const c = new Float64Array(d);
    for (let r = 0; r < n; r++) {
      for (let j = 0; j < d; j++) c[j] = rows[r * d + j]! - mean[j]!;
      for (let a = 0; a < d; a++) {
        const ca = c[a]!;
        for (let b = 0; b < d; b++) m2[a * d + b]! += ca * c[b]!;
      }
    }
    other.#mean = mean;
    other.count = n;
    return this.merge(other);
  }

  /** Adds another statistics object's rows (pairwise update; merge order affects only rounding). */
  merge(other: FeatureStats): this {
    const d = this.dim;
    if (other.dim !== d)
      throw new TesseraError('SHAPE_MISMATCH', `FeatureStats.merge: dims differ (${d} vs ${other.dim})`);
    if (other.count === 0) return this;
    const na = this.count;
    const nb = other.count;
    const n = na + nb;
    const delta = new Float64Array(d);
    for (let j = 0; j < d; j++) delta[j] = other.#mean[j]! - this.#mean[j]!;
    const f = (na * nb) / n;
    for (let a = 0; a < d; a++)
      for (let b = 0; b < d; b++) this.#m2[a * d + b]! += other.#m2[a * d + b]! + f * delta[a]! * delta[b]!;
    for (let j = 0; j < d; j++) this.#mean[j]! += (delta[j]! * nb) / n;
    this.count = n;
    return this;
  }

  /** Mean of the rows added so far. */
  mean(): Float64Array {
    return this.#mean.slice();
  }

  /** Unbiased covariance (divides by count − 1), row-major `dim × dim`. */
  covariance(): Float64Array {
    const out = new Float64Array(this.dim * this.dim);
    if (this.count < 2) return out;
    for (let i = 0; i < out.length; i++) out[i] = this.#m2[i]! / (this.count - 1);
    return out;
  }

  /** Plain JSON (exact: float64 values survive JSON.stringify / parse). */
  toJSON(): StatsJSON {
    return { dim: this.dim, count: this.count, mean: Array.from(this.#mean), m2: Array.from(this.#m2) };
  }

  /** Inverse of {@link FeatureStats.toJSON}; checks shapes. */
  static fromJSON(j: StatsJSON): FeatureStats {
    const s = new FeatureStats(j.dim);
    if (
      !Array.isArray(j.mean) ||
      j.mean.length !== j.dim ||
      !Array.isArray(j.m2) ||
      j.m2.length !== j.dim * j.dim
    )
      throw new TesseraError('CORRUPT_FILE', `FeatureStats.fromJSON: arrays do not match dim ${j.dim}`);
    s.count = j.count;
    s.#mean = Float64Array.from(j.mean);
    s.#m2 = Float64Array.from(j.m2);
    return s;
  }
}

/** Dimension of {@link imageFeatures}. */
export const FEATURE_DIM = 64;

/**
 * Features of `[n, 1, 16, 16]` images in [-1, 1]: 2×2 average pooling to 8×8 (64 values per image), in
 * float64.
 */
export function imageFeatures(images: Float32Array, n: number): Float64Array {
  if (images.length !== n * 256)
    throw new TesseraError(
      'SHAPE_MISMATCH',
      `imageFeatures: expected ${n}×1×16×16 values, got ${images.length}`,
    );
  const out = new Float64Array(n * FEATURE_DIM);
  for (let b = 0; b < n; b++) {
    for (let y = 0; y < 8; y++) {
      for (let x = 0; x < 8; x++) {
        const p = b * 256 + 2 * y * 16 + 2 * x;
        out[b * FEATURE_DIM + y * 8 + x] =
          (images[p]! + images[p + 1]! + images[p + 16]! + images[p + 17]!) / 4;
      }
    }
  }
  return out;
}

/**
 * Fréchet distance between the Gaussians fitted to two statistics:
 * |μa − μb|² + tr Σa + tr Σb − 2 tr((Σa^½ Σb Σa^½)^½), through symmetric eigendecompositions in float64.
 */
export function frechetDistance(a: FeatureStats, b: FeatureStats): number {
  const d = a.dim;
  if (b.dim !== d)
    throw new TesseraError('SHAPE_MISMATCH', `frechetDistance: dims differ (${d} vs ${b.dim})`);
  const ma = a.mean();
  const mb = b.mean();
  const ca = a.covariance();
  const cb = b.covariance();
  let dist = 0;
  for (let j = 0; j < d; j++) dist += (ma[j]! - mb[j]!) ** 2 + ca[j * d + j]! + cb[j * d + j]!;
  const ea = symmetricEigen(ca, d);
  // Σa^½ = V diag(√λ) Vᵀ (negative rounding noise clipped to 0)
  const half = new Float64Array(d * d);
  for (let k = 0; k < d; k++) {
    const s = Math.sqrt(Math.max(0, ea.values[k]!));
    for (let i = 0; i < d; i++) {
      const vi = ea.vectors[i * d + k]! * s;
      for (let j = 0; j < d; j++) half[i * d + j]! += vi * ea.vectors[j * d + k]!;
    }
  }
  const t = matmul(matmul(half, cb, d), half, d);
  for (let i = 0; i < d; i++)
    for (let j = 0; j < i; j++) t[i * d + j] = t[j * d + i] = (t[i * d + j]! + t[j * d + i]!) / 2;
  let tr = 0;
  for (const v of symmetricEigen(t, d).values) tr += Math.sqrt(Math.max(0, v));
  return dist - 2 * tr;
}

function matmul(x: Float64Array, y: Float64Array, d: number): Float64Array {
  const out = new Float64Array(d * d);
  for (let i = 0; i < d; i++)
    for (let k = 0; k < d; k++) {
      const xik = x[i * d + k]!;
      for (let j = 0; j < d; j++) out[i * d + j]! += xik * y[k * d + j]!;
    }
  return out;
}
