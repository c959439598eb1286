import { philoxWords, TesseraError } from '@tessera/core';
import { type Features, gatherRows, type Matrix, sameDim, toMatrix } from './features.js';
import { createKernels } from './kernels.js';
import { gemmNT } from './linalg.js';

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
  /** Seed of the Philox stream the subsets are drawn from (default 0). */
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
 * k(x, y) = (γ·x·y + coef0)^degree; returns their mean and std. Subset s draws set 1 from Philox words
 * at offset 2s·subsetSize and set 2 at (2s+1)·subsetSize of `seed` (a partial Fisher–Yates shuffle), so
 * results are reproducible for a seed (numpy's RandomState draws differ, so values match
 * torch-fidelity's in distribution, and exactly when `subsetSize` equals both set sizes).
 */
export function kernelInceptionDistance(real: Features, fake: Features, opts: KidOptions = {}): KidResult {
  const job = prepareKid(real, fake, opts, 'kernelInceptionDistance');
  for (let s = 0; s < job.subsets; s++) job.values[s] = job.subset(s);
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
    job.values[s] = job.subset(s);
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
): { subsets: number; values: Float64Array; subset: (s: number) => number } {
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
  const seed = opts.seed ?? 0;
  return {
    subsets,
    values: new Float64Array(subsets),
    subset: (s) => {
      const ia = drawSubset(a.n, m, seed, 2 * s * m);
      const ib = drawSubset(b.n, m, seed, (2 * s + 1) * m);
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

/** `size` distinct indices in [0, n) by a partial Fisher–Yates shuffle on Philox words at `offset`. */
export function drawSubset(n: number, size: number, seed: number, offset: number): Int32Array {
  const idx = new Int32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  const words = philoxWords(seed, offset, size);
  for (let i = 0; i < size; i++) {
    const j = i + Math.floor((words[i]! / 4294967296) * (n - i));
    const t = idx[i]!;
    idx[i] = idx[j]!;
    idx[j] = t;
  }
  return idx.slice(0, size);
}
