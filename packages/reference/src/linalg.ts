/**
 * Small float64 dense linear algebra on the host (row-major Float64Arrays): what the reference models
 * need at construction time, never inside a sampling loop.
 */
import { TesseraError } from '@tessera/core';

/** Eigen-decomposition of a symmetric matrix: `A = V diag(values) Vᵀ`, eigenvalues descending. */
export interface SymmetricEigen {
  /** Eigenvalues, largest first. */
  values: Float64Array;
  /** `n×n` row-major; column `j` is the eigenvector of `values[j]`. */
  vectors: Float64Array;
}

/**
 * Eigen-decomposition of a symmetric `n×n` matrix by cyclic Jacobi rotations (accurate to a few ulps
 * of ‖A‖; O(n³) per sweep, meant for n up to a few hundred). Only the upper triangle is trusted after
 * symmetrising.
 */
export function symmetricEigen(matrix: ArrayLike<number>, n: number): SymmetricEigen {
  if (matrix.length !== n * n) {
    throw new TesseraError(
      'SHAPE_MISMATCH',
      `symmetricEigen: expected ${n}×${n} = ${n * n} values, got ${matrix.length}`,
    );
  }
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) a[i * n + j] = 0.5 * (matrix[i * n + j]! + matrix[j * n + i]!);
  }
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  let scale = 0;
  for (let i = 0; i < n * n; i++) scale = Math.max(scale, Math.abs(a[i]!));
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p * n + q]! ** 2;
    if (off <= (1e-30 * scale) ** 2 || off === 0) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q]!;
        if (apq === 0) continue;
        const app = a[p * n + p]!;
        const aqq = a[q * n + q]!;
        const theta = (aqq - app) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p]!;
          const akq = a[k * n + q]!;
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k]!;
          const aqk = a[q * n + k]!;
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p]!;
          const vkq = v[k * n + q]!;
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => a[j * n + j]! - a[i * n + i]!);
  const values = new Float64Array(n);
  const vectors = new Float64Array(n * n);
  order.forEach((src, dst) => {
    values[dst] = a[src * n + src]!;
    for (let k = 0; k < n; k++) vectors[k * n + dst] = v[k * n + src]!;
  });
  return { values, vectors };
}

/** `C = A·B` for row-major `A` (m×k) and `B` (k×n); `transposeB` reads `B` as n×k. */
export function matmul64(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  m: number,
  k: number,
  n: number,
  transposeB = false,
): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let p = 0; p < k; p++) {
      const av = a[i * k + p]!;
      if (av === 0) continue;
      if (transposeB) for (let j = 0; j < n; j++) c[i * n + j]! += av * b[j * k + p]!;
      else for (let j = 0; j < n; j++) c[i * n + j]! += av * b[p * n + j]!;
    }
  }
  return c;
}

/** Cholesky factor `L` (lower, row-major) of a symmetric positive-definite `n×n` matrix. */
export function cholesky(a: ArrayLike<number>, n: number): Float64Array {
  const l = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * n + j]!;
      for (let k = 0; k < j; k++) s -= l[i * n + k]! * l[j * n + k]!;
      if (i === j) {
        if (!(s > 0))
          throw new TesseraError(
            'INVALID_ARGUMENT',
            `cholesky: matrix is not positive definite (pivot ${i} = ${s})`,
          );
        l[i * n + i] = Math.sqrt(s);
      } else l[i * n + j] = s / l[j * n + j]!;
    }
  }
  return l;
}

/** Inverse of a symmetric positive-definite matrix and log |A|, via Cholesky. */
export function spdInverse(a: ArrayLike<number>, n: number): { inverse: Float64Array; logDet: number } {
  const l = cholesky(a, n);
  let logDet = 0;
  for (let i = 0; i < n; i++) logDet += 2 * Math.log(l[i * n + i]!);
  // invert L (lower), then A⁻¹ = L⁻ᵀ L⁻¹
  const li = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    li[j * n + j] = 1 / l[j * n + j]!;
    for (let i = j + 1; i < n; i++) {
      let s = 0;
      for (let k = j; k < i; k++) s -= l[i * n + k]! * li[k * n + j]!;
      li[i * n + j] = s / l[i * n + i]!;
    }
  }
  const inverse = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = 0;
      for (let k = i; k < n; k++) s += li[k * n + i]! * li[k * n + j]!;
      inverse[i * n + j] = s;
      inverse[j * n + i] = s;
    }
  }
  return { inverse, logDet };
}
