import { TesseraError } from '@tessera/core';
import { type Features, gatherRows, type Matrix, sameDim, toMatrix } from './features.js';
import { createKernels } from './kernels.js';
import { gemmNT } from './linalg.js';
import { Mt19937 } from './numpy-random.js';

/** Options of {@link kernelInceptionDistance}; defaults are torch-fidelity's. */
export interface KidOptions {
  /** Number of random subsets (default 100). */
  subsets?: number;
  /** Rows per subset, drawn without replacement from each set (default 1000). */
  subsetSize?: number;
  /** Polynomial kernel degree (default 3). */
  degree?: number;
  /** Kernel scale γ (default 1/dim). */
  gamma?: number;
  /** Kernel offset (default 1). */
  coef0?: number;
  /**
   * Seed of the `np.random.RandomState` the subsets are drawn from, an integer in [0, 2³²)
   * (default 2020, torch-fidelity's `rng_seed`).
   */
  seed?: number;
}

/** KID: mean and population standard deviation (np.std) of the per-subset unbiased MMD² values. */
export interface KidResult {
  mean: number;
  std: number;
  /** The MMD² of each subset, in draw order. */
  values: Float64Array;
}

/**
 * Kernel Inception Distance as torch-fidelity computes it: for each of `subsets` draws of `subsetSize`
 * rows from each set (without replacement), the unbiased MMD² with the polynomial kernel
 * k(x, y) = (γ·x·y + coef0)^degree; returns their mean and std. The subsets are drawn as torch-fidelity
 * draws them: `rng = np.random.RandomState(seed)`, then for each subset `rng.choice(n_real, subsetSize,
 * replace=False)` and `rng.choice(n_fake, subsetSize, replace=False)`, so the same features and seed give
 * torch-fidelity's `kid_features_to_metric(real, fake)` values (up to its float32 kernel arithmetic; ours
 * is float64).
 */
export function kernelInceptionDistance(real: Features, fake: Features, opts: KidOptions = {}): KidResult {
  const job = prepareKid(real, fake, opts, 'kernelInceptionDistance');
  for (let s = 0; s < job.subsets; s++) job.values[s] = job.nextSubset();
  return summarize(job.values);
}

/**
 * {@link kernelInceptionDistance} that yields to the event loop between subsets once ~50 ms have passed,
 * reports progress, and stops with an `ABORTED` TesseraError when `signal` aborts. Same values.
 */
export async function kernelInceptionDistanceAsync(
  real: Features,
  fake: Features,
  opts: KidOptions & { signal?: AbortSignal; onProgress?: (done: number, total: number) => void } = {},
): Promise<KidResult> {
  const job = prepareKid(real, fake, opts, 'kernelInceptionDistanceAsync');
  let last = performance.now();
  for (let s = 0; s < job.subsets; s++) {
    if (opts.signal?.aborted) {
      throw new TesseraError(
        'ABORTED',
        `kernelInceptionDistanceAsync: aborted after ${s} of ${job.subsets} subsets`,
      );
    }
    job.values[s] = job.nextSubset();
    opts.onProgress?.(s + 1, job.subsets);
    if (performance.now() - last > 50) {
      await new Promise((r) => setTimeout(r, 0));
      last = performance.now();
    }
  }
  return summarize(job.values);
}

function prepareKid(
  real: Features,
  fake: Features,
  opts: KidOptions,
  op: string,
): { subsets: number; values: Float64Array; nextSubset: () => number } {
  const a = toMatrix(real, op, 'real features');
  const b = toMatrix(fake, op, 'fake features');
  sameDim(a, b, op);
  const subsets = opts.subsets ?? 100;
  const m = opts.subsetSize ?? 1000;
  if (!Number.isInteger(subsets) || subsets < 1) {
    throw new TesseraError('INVALID_ARGUMENT', `${op}: subsets should be a positive integer, got ${subsets}`);
  }
  if (!Number.isInteger(m) || m < 2) {
    throw new TesseraError('INVALID_ARGUMENT', `${op}: subsetSize should be an integer ≥ 2, got ${m}`);
  }
  if (a.n < m || b.n < m) {
    throw new TesseraError(
      'OUT_OF_RANGE',
      `${op}: subsets of ${m} rows need at least ${m} samples in each set, got ${a.n} real and ${b.n} fake ` +
        '(pass a smaller subsetSize)',
    );
  }
  const seed = opts.seed ?? 2020;
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new TesseraError('INVALID_ARGUMENT', `${op}: seed should be an integer in [0, 2^32), got ${seed}`);
  }
  const rng = new Mt19937(seed);
  return {
    subsets,
    values: new Float64Array(subsets),
    // one stream, as torch-fidelity's loop: each call draws the next subset of each set
    nextSubset: () => {
      const ia = rng.choice(a.n, m);
      const ib = rng.choice(b.n, m);
      return mmd2Unbiased(
        { data: gatherRows(a, ia), n: m, dim: a.dim },
        { data: gatherRows(b, ib), n: m, dim: b.dim },
        opts,
      );
    },
  };
}

function summarize(values: Float64Array): KidResult {
  let mean = 0;
  for (const v of values) mean += v;
  mean /= values.length;
  let v2 = 0;
  for (const v of values) v2 += (v - mean) ** 2;
  return { mean, std: Math.sqrt(v2 / values.length), values };
}

/**
 * The unbiased MMD² between two equally sized feature sets with the polynomial kernel
 * (γ·x·y + coef0)^degree (torch-fidelity's `polynomial_mmd`, `mmd_est='unbiased'`):
 * (ΣᵢΣ_{j≠i} k(xᵢ,xⱼ) + ΣᵢΣ_{j≠i} k(yᵢ,yⱼ)) / (m(m−1)) − 2 Σᵢⱼ k(xᵢ,yⱼ) / m².
 */
export function polynomialMmd2(
  x: Features,
  y: Features,
  opts: Pick<KidOptions, 'degree' | 'gamma' | 'coef0'> = {},
): number {
  const op = 'polynomialMmd2';
  const a = toMatrix(x, op, 'first features');
  const b = toMatrix(y, op, 'second features');
  sameDim(a, b, op);
  if (a.n !== b.n || a.n < 2) {
    throw new TesseraError(
      'SHAPE_MISMATCH',
      `${op}: both sets need the same number (≥ 2) of rows, got ${a.n} and ${b.n}`,
    );
  }
  return mmd2Unbiased(a, b, opts);
}

function mmd2Unbiased(a: Matrix, b: Matrix, opts: Pick<KidOptions, 'degree' | 'gamma' | 'coef0'>): number {
  const m = a.n;
  const d = a.dim;
  const degree = opts.degree ?? 3;
  const gamma = opts.gamma ?? 1 / d;
  const coef0 = opts.coef0 ?? 1;
  // The Gram products run on the SIMD kernels when available (2·m·d + m² doubles of their memory).
  const kern = createKernels(2 * m * d + m * m + 16);
  const x = kern ? kern.alloc(m * d) : a.data;
  const y = kern ? kern.alloc(m * d) : b.data;
  if (kern) {
    x.set(a.data);
    y.set(b.data);
  }
  const k = kern ? kern.alloc(m * m) : new Float64Array(m * m);
  const kern3 = (t: number) => (t * gamma + coef0) ** degree;
  // Off-diagonal sums of K_XX and K_YY (upper triangle counted twice), full sum of K_XY.
  const offDiag = (z: Float64Array) => {
    gemmNT(z, m, z, m, d, k, { upper: true }, kern);
    let s = 0;
    for (let i = 0; i < m; i++) for (let j = i + 1; j < m; j++) s += kern3(k[i * m + j]!);
    return 2 * s;
  };
  const sxx = offDiag(x);
  const syy = offDiag(y);
  gemmNT(x, m, y, m, d, k, {}, kern);
  let sxy = 0;
  for (let i = 0; i < m * m; i++) sxy += kern3(k[i]!);
  return (sxx + syy) / (m * (m - 1)) - (2 * sxy) / (m * m);
}
