// float64 references for the tests, derived from the definitions (not from the package's code).

export { mulberry32 as rng } from '../../../test-utils/random.ts';

/** A standard normal from two uniforms (Box–Muller). */
export function normal(u: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
}

/** `r` orthonormal columns in R^d (row-major d×r) by Gram–Schmidt on random vectors. */
export function orthonormal(d: number, r: number, u: () => number): Float64Array {
  const cols: number[][] = [];
  while (cols.length < r) {
    const v = Array.from({ length: d }, () => normal(u));
    for (const c of cols) {
      const p = c.reduce((a, ci, i) => a + ci * v[i]!, 0);
      for (let i = 0; i < d; i++) v[i]! -= p * c[i]!;
    }
    const n = Math.hypot(...v);
    cols.push(v.map((x) => x / n));
  }
  const out = new Float64Array(d * r);
  for (let i = 0; i < d; i++) for (let j = 0; j < r; j++) out[i * r + j] = cols[j]![i]!;
  return out;
}

/** Solves A X = B (A n×n, B n×m, row-major) and returns X and log|det A|, by Gaussian elimination. */
export function solve(
  A: ArrayLike<number>,
  Bm: ArrayLike<number>,
  n: number,
  m: number,
): { x: Float64Array; logDet: number } {
  const a = Float64Array.from(A);
  const b = Float64Array.from(Bm);
  let logDet = 0;
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(a[r * n + c]!) > Math.abs(a[p * n + c]!)) p = r;
    if (p !== c) {
      for (let j = 0; j < n; j++) [a[c * n + j], a[p * n + j]] = [a[p * n + j]!, a[c * n + j]!];
      for (let j = 0; j < m; j++) [b[c * m + j], b[p * m + j]] = [b[p * m + j]!, b[c * m + j]!];
    }
    const piv = a[c * n + c]!;
    logDet += Math.log(Math.abs(piv));
    for (let r = c + 1; r < n; r++) {
      const f = a[r * n + c]! / piv;
      for (let j = c; j < n; j++) a[r * n + j]! -= f * a[c * n + j]!;
      for (let j = 0; j < m; j++) b[r * m + j]! -= f * b[c * m + j]!;
    }
  }
  const x = new Float64Array(n * m);
  for (let r = n - 1; r >= 0; r--) {
    for (let j = 0; j < m; j++) {
      let s = b[r * m + j]!;
      for (let k = r + 1; k < n; k++) s -= a[r * n + k]! * x[k * m + j]!;
      x[r * m + j] = s / a[r * n + r]!;
    }
  }
  return { x, logDet };
}

/** A mixture with explicit full covariances. */
export interface FullMixture {
  weights: number[];
  means: number[][];
  covs: Float64Array[]; // d×d each
}

/**
 * E[x₀ | x₀ + σε = x] for x₀ ~ Σ w_k N(μ_k, Σ_k), from Bayes' rule with the explicit matrices:
 * r_k ∝ w_k N(x; μ_k, Σ_k + σ²I), E_k = μ_k + Σ_k (Σ_k + σ²I)⁻¹ (x − μ_k).
 */
export function posteriorMean(m: FullMixture, x: ArrayLike<number>, sigma: number): Float64Array {
  const d = m.means[0]!.length;
  const logits: number[] = [];
  const posts: Float64Array[] = [];
  m.covs.forEach((S, k) => {
    const C = Float64Array.from(S);
    for (let i = 0; i < d; i++) C[i * d + i]! += sigma * sigma;
    const r = Array.from({ length: d }, (_, i) => x[i]! - m.means[k]![i]!);
    const { x: sol, logDet } = solve(C, r, d, 1);
    const quad = r.reduce((a, ri, i) => a + ri * sol[i]!, 0);
    logits.push(Math.log(m.weights[k]!) - 0.5 * (quad + logDet));
    const e = new Float64Array(d);
    for (let i = 0; i < d; i++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += S[i * d + j]! * sol[j]!;
      e[i] = m.means[k]![i]! + s;
    }
    posts.push(e);
  });
  const mx = Math.max(...logits);
  const ex = logits.map((l) => Math.exp(l - mx));
  const tot = ex.reduce((a, b) => a + b, 0);
  const out = new Float64Array(d);
  posts.forEach((p, k) => {
    for (let i = 0; i < d; i++) out[i]! += (ex[k]! / tot) * p[i]!;
  });
  return out;
}

/** max |a − b| / max(1, |b|). */
export function maxRelErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let e = 0;
  for (let i = 0; i < b.length; i++) e = Math.max(e, Math.abs(a[i]! - b[i]!) / Math.max(1, Math.abs(b[i]!)));
  return e;
}
