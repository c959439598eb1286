// Test-only float64 helpers written independently of the package: a seeded PRNG, dense solves.

export { mulberry32 as rng } from '../../../test-utils/random.ts';

/** Standard normal by Box–Muller from a uniform source. */
export function normal(u: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
}

/** A random symmetric positive-definite d×d matrix A Aᵀ/d + eps·I. */
export function randomSpd(u: () => number, d: number, eps = 0.05): number[] {
  const a = Array.from({ length: d * d }, () => normal(u));
  const out = new Array<number>(d * d).fill(0);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j < d; j++) {
      let s = 0;
      for (let k = 0; k < d; k++) s += a[i * d + k]! * a[j * d + k]!;
      out[i * d + j] = s / d + (i === j ? eps : 0);
    }
  }
  return out;
}

/** Solves A y = b by Gaussian elimination with partial pivoting (A: n×n row-major). */
export function solve(A: ArrayLike<number>, b: ArrayLike<number>, n: number): number[] {
  const m = Array.from({ length: n }, (_, i) => [
    ...Array.from({ length: n }, (_, j) => A[i * n + j]!),
    b[i]!,
  ]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r]![c]!) > Math.abs(m[p]![c]!)) p = r;
    [m[c], m[p]] = [m[p]!, m[c]!];
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = m[r]![c]! / m[c]![c]!;
      for (let j = c; j <= n; j++) m[r]![j]! -= f * m[c]![j]!;
    }
  }
  return m.map((row, i) => row[n]! / row[i]!);
}

/** log det of an SPD matrix by elimination. */
export function logDet(A: ArrayLike<number>, n: number): number {
  const m = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => A[i * n + j]!));
  let s = 0;
  for (let c = 0; c < n; c++) {
    s += Math.log(m[c]![c]!);
    for (let r = c + 1; r < n; r++) {
      const f = m[r]![c]! / m[c]![c]!;
      for (let j = c; j < n; j++) m[r]![j]! -= f * m[c]![j]!;
    }
  }
  return s;
}

/** Posterior mean μ + Σ(Σ + σ²I)⁻¹(x − μ) and log N(x; μ, Σ + σ²I) of one Gaussian, by direct formula. */
export function gaussPosterior(
  mean: number[],
  cov: number[],
  x: number[],
  sigma: number,
): { m: number[]; logp: number } {
  const d = mean.length;
  const C = cov.map((v, i) => v + (i % (d + 1) === 0 ? sigma * sigma : 0));
  const r = x.map((v, i) => v - mean[i]!);
  const y = solve(C, r, d);
  const m = mean.map((mu, i) => mu + cov.slice(i * d, (i + 1) * d).reduce((a, c, j) => a + c * y[j]!, 0));
  const quad = r.reduce((a, v, i) => a + v * y[i]!, 0);
  return { m, logp: -0.5 * (quad + logDet(C, d) + d * Math.log(2 * Math.PI)) };
}

/** Exact mixture posterior mean by direct formula; covs are full d×d. */
export function mixturePosterior(
  weights: number[],
  means: number[][],
  covs: number[][],
  x: number[],
  sigma: number,
): number[] {
  const parts = means.map((mu, k) => gaussPosterior(mu, covs[k]!, x, sigma));
  const logits = parts.map((p, k) => Math.log(weights[k]!) + p.logp);
  const mx = Math.max(...logits);
  const w = logits.map((l) => Math.exp(l - mx));
  const tot = w.reduce((a, b) => a + b, 0);
  return x.map((_, i) => parts.reduce((a, p, k) => a + (w[k]! / tot) * p.m[i]!, 0));
}

/** Full covariance of a diagonal. */
export function diagToFull(v: number[]): number[] {
  const d = v.length;
  const out = new Array<number>(d * d).fill(0);
  v.forEach((x, i) => {
    out[i * d + i] = x;
  });
  return out;
}

/** A fresh seed for this run (printed by tests on failure); TESSERA_SEED or TESSERA_TEST_SEED fixes it. */
export function freshSeed(): number {
  const env = process.env.TESSERA_SEED ?? process.env.TESSERA_TEST_SEED;
  if (env) return Number(env) >>> 0;
  return (Date.now() ^ Math.floor(Math.random() * 0x7fffffff)) >>> 0;
}
