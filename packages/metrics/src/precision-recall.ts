import { TesseraError } from '@tessera/core';
import { type Features, type Matrix, sameDim, toMatrix } from './features.js';

/** Options of {@link precisionRecall}. */
export interface PrecisionRecallOptions {
  /** Neighbourhood size k (default 3, Kynkäänniemi et al. and torch-fidelity). */
  k?: number;
}

/** Improved precision and recall, and torch-fidelity's F-score 2PR / max(1e-5, P + R). */
export interface PrecisionRecallResult {
  precision: number;
  recall: number;
  fScore: number;
}

/**
 * Improved precision and recall (Kynkäänniemi et al. 2019) as torch-fidelity computes them: each real
 * sample's radius is the Euclidean distance to its k-th nearest other real sample (torch's
 * `kthvalue(k + 1)` over distances that include the zero self-distance); precision is the fraction of
 * fake samples within (≤) the radius of at least one real sample; recall swaps the roles. Distances are
 * exact float64 differences (no ‖x‖² + ‖y‖² − 2x·y shortcut). Cost O((n_real + n_fake)² · dim).
 */
export function precisionRecall(
  real: Features,
  fake: Features,
  opts: PrecisionRecallOptions = {},
): PrecisionRecallResult {
  const op = 'precisionRecall';
  const a = toMatrix(real, op, 'real features');
  const b = toMatrix(fake, op, 'fake features');
  sameDim(a, b, op);
  const k = opts.k ?? 3;
  if (!Number.isInteger(k) || k < 1) {
    throw new TesseraError('INVALID_ARGUMENT', `${op}: k should be a positive integer, got ${k}`);
  }
  if (a.n <= k || b.n <= k) {
    throw new TesseraError(
      'OUT_OF_RANGE',
      `${op}: k = ${k} needs more than ${k} samples in each set, got ${a.n} real and ${b.n} fake`,
    );
  }
  const ra = kthRadius2(a, k);
  const rb = kthRadius2(b, k);
  const precision = coverage(b, a, ra);
  const recall = coverage(a, b, rb);
  return { precision, recall, fScore: (2 * precision * recall) / Math.max(1e-5, precision + recall) };
}

function dist2(x: Float64Array, i: number, y: Float64Array, j: number, d: number): number {
  let s = 0;
  const oi = i * d;
  const oj = j * d;
  for (let t = 0; t < d; t++) {
    const v = x[oi + t]! - y[oj + t]!;
    s += v * v;
  }
  return s;
}

/** Squared distance of each row to its k-th nearest other row (self included as the 0-th). */
function kthRadius2(m: Matrix, k: number): Float64Array {
  const { n, dim, data } = m;
  const row = new Float64Array(n);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) row[j] = i === j ? 0 : dist2(data, i, data, j, dim);
    out[i] = kthSmallest(row, k);
  }
  return out;
}

/** The k-th smallest value (0-based) of `a` (reordered in place), by quickselect. */
function kthSmallest(a: Float64Array, k: number): number {
  let lo = 0;
  let hi = a.length - 1;
  while (lo < hi) {
    const pivot = a[(lo + hi) >> 1]!;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) {
        const t = a[i]!;
        a[i] = a[j]!;
        a[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return a[k]!;
  }
  return a[k]!;
}

/** Fraction of rows of `q` within (≤) the radius of at least one row of `ref`. */
function coverage(q: Matrix, ref: Matrix, r2: Float64Array): number {
  let hit = 0;
  for (let i = 0; i < q.n; i++) {
    for (let j = 0; j < ref.n; j++) {
      if (dist2(q.data, i, ref.data, j, q.dim) <= r2[j]!) {
        hit++;
        break;
      }
    }
  }
  return hit / q.n;
}
