// Test helpers: seeds, a small generator and float64 re-derivations independent of the code under test.

/** A fresh seed per run (printed in messages); TESSERA_SEED or TESSERA_TEST_SEED fixes it. */
export function freshSeed(): number {
  const env = process.env.TESSERA_SEED ?? process.env.TESSERA_TEST_SEED;
  if (env) return Number(env) % 2 ** 31;
  return (Date.now() * 7919 + Math.floor(Math.random() * 1e6)) % 2 ** 31;
}

export { mulberry32 as mulberry } from '../../../test-utils/random.ts';

/** Standard normal draws (Box–Muller) from a uniform generator. */
export function normals(rand: () => number, count: number): Float64Array {
  const out = new Float64Array(count);
  for (let i = 0; i < count; i += 2) {
    const r = Math.sqrt(-2 * Math.log(1 - rand()));
    const t = 2 * Math.PI * rand();
    out[i] = r * Math.cos(t);
    if (i + 1 < count) out[i + 1] = r * Math.sin(t);
  }
  return out;
}

/**
 * The integer-formula rows the Python reference scripts use (exact in both languages):
 * u[i][j] = ((31i² + 17ij + 13j² + 101s + 7i + 3j) mod 1009) / 1009 − 0.5, row-major [n, d].
 */
export function formulaRows(n: number, d: number, s: number): Float64Array {
  const out = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) {
      out[i * d + j] = ((i * i * 31 + i * j * 17 + j * j * 13 + s * 101 + i * 7 + j * 3) % 1009) / 1009 - 0.5;
    }
  }
  return out;
}

/** Two-pass float64 mean and unbiased covariance (np.cov(x, rowvar=False)) of row-major [n, d]. */
export function twoPassCov(x: ArrayLike<number>, n: number, d: number): { mean: number[]; cov: number[][] } {
  const mean = new Array<number>(d).fill(0);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j]! += x[i * d + j]!;
  for (let j = 0; j < d; j++) mean[j]! /= n;
  const cov = Array.from({ length: d }, () => new Array<number>(d).fill(0));
  for (let i = 0; i < n; i++) {
    for (let a = 0; a < d; a++) {
      const da = x[i * d + a]! - mean[a]!;
      for (let b = 0; b < d; b++) cov[a]![b]! += da * (x[i * d + b]! - mean[b]!);
    }
  }
  for (const row of cov) for (let b = 0; b < d; b++) row[b]! /= n - 1;
  return { mean, cov };
}

/** Cyclic Jacobi eigen-decomposition of a symmetric matrix (float64): eigenvalues and eigenvectors (columns). */
export function jacobiEigen(m: number[][]): { values: number[]; vectors: number[][] } {
  const n = m.length;
  const a = m.map((r) => r.slice());
  const v: number[][] = Array.from({ length: n }, (_, i) =>
    Array.from({ length: n }, (_, j) => (i === j ? 1 : 0)),
  );
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p]![q]! ** 2;
    if (off < 1e-30) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p]![q]!;
        if (apq === 0) continue;
        const theta = (a[q]![q]! - a[p]![p]!) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k]![p]!;
          const akq = a[k]![q]!;
          a[k]![p] = c * akp - s * akq;
          a[k]![q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p]![k]!;
          const aqk = a[q]![k]!;
          a[p]![k] = c * apk - s * aqk;
          a[q]![k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k]![p]!;
          const vkq = v[k]![q]!;
          v[k]![p] = c * vkp - s * vkq;
          v[k]![q] = s * vkp + c * vkq;
        }
      }
    }
  }
  return { values: a.map((r, i) => r[i]!), vectors: v };
}

/** Fréchet distance by the textbook route: √Σ₁ by Jacobi, then the eigenvalues of √Σ₁ Σ₂ √Σ₁. */
export function frechetJacobi(mu1: number[], s1: number[][], mu2: number[], s2: number[][]): number {
  const n = mu1.length;
  const { values, vectors } = jacobiEigen(s1);
  const r = Array.from({ length: n }, (_, i) =>
    Array.from({ length: n }, (_, j) => {
      let s = 0;
      for (let k = 0; k < n; k++) s += vectors[i]![k]! * Math.sqrt(Math.max(values[k]!, 0)) * vectors[j]![k]!;
      return s;
    }),
  );
  const mul = (x: number[][], y: number[][]) =>
    x.map((row) => y[0]!.map((_, j) => row.reduce((acc, xv, k) => acc + xv * y[k]![j]!, 0)));
  const m = mul(mul(r, s2), r);
  const sym = m.map((row, i) => row.map((x, j) => (x + m[j]![i]!) / 2));
  const t = jacobiEigen(sym).values.reduce((acc, l) => acc + Math.sqrt(Math.max(l, 0)), 0);
  let out = 0;
  for (let i = 0; i < n; i++) out += (mu1[i]! - mu2[i]!) ** 2 + s1[i]![i]! + s2[i]![i]!;
  return out - 2 * t;
}
