import { TesseraError } from '@tessera/core';
import { FeatureStats, frechetDistance, frechetDistanceAsync, frechetDistanceParts } from '@tessera/metrics';
import { describe, expect, it } from 'vitest';
import { formulaRows, frechetJacobi, freshSeed, mulberry, normals } from './helpers';

const seed = freshSeed();
const tag = `(TESSERA_TEST_SEED=${seed})`;

function statsOf(x: Float64Array, d: number): FeatureStats {
  return new FeatureStats(d).add(x);
}

function toRows(flat: Float64Array, d: number): number[][] {
  return Array.from({ length: flat.length / d }, (_, i) => Array.from(flat.subarray(i * d, (i + 1) * d)));
}

/*
 * Reference values: /usr/bin/python3 (numpy 1.24.2, scipy 1.10.1), inputs from the integer formula in
 * helpers.formulaRows. `fd` is the symmetric eigh route, `fid` pytorch-fid's calculate_frechet_distance.
 *
 *   import numpy as np, scipy.linalg as sl
 *   def u(n, d, s):
 *       i = np.arange(n)[:, None]; j = np.arange(d)[None, :]
 *       return ((i * i * 31 + i * j * 17 + j * j * 13 + s * 101 + i * 7 + j * 3) % 1009) / 1009.0 - 0.5
 *   def case(name, X, Y):
 *       m1, m2 = X.mean(0), Y.mean(0)
 *       s1, s2 = np.cov(X, rowvar=False), np.cov(Y, rowvar=False)
 *       covmean, _ = sl.sqrtm(s1.dot(s2), disp=False)
 *       if not np.isfinite(covmean).all():
 *           off = np.eye(s1.shape[0]) * 1e-6
 *           covmean = sl.sqrtm((s1 + off).dot(s2 + off))
 *       covmean = covmean.real
 *       diff = m1 - m2
 *       fid = diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)
 *       w, V = np.linalg.eigh(s1)
 *       r = (V * np.sqrt(np.clip(w, 0, None))) @ V.T
 *       t = np.sqrt(np.clip(np.linalg.eigvalsh(r @ s2 @ r), 0, None)).sum()
 *       fd = diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * t
 *       print(name, repr(fd), repr(fid), 'rank1', np.linalg.matrix_rank(s1), 'cond', np.linalg.cond(s1))
 *   d = 48
 *   case('full', u(120, d, 1), 0.8 * u(150, d, 2) + 0.1)
 *   case('rankdef', u(20, d, 3), u(30, d, 4))
 *   X = u(200, d, 5); X[:, 24:] = X[:, :24] + 1e-6 * u(200, 24, 6)
 *   Y = u(180, d, 7); Y[:, 24:] = 0.5 * Y[:, :24] + 1e-5 * u(180, 24, 8)
 *   case('nearsingular', X, Y)
 *
 * printed:
 *   full 1.1869836961832547 1.18698369618326 rank1 48 cond 12.916760103168645
 *   rankdef 3.1175039333204335 3.1175039450730875 rank1 19 cond 1.3033206216341633e+19
 *   nearsingular 0.6906178185910514 0.6906178281723809 rank1 48 cond 22804397564820.73
 */
describe('frechetDistance against numpy/scipy', () => {
  const d = 48;
  const cols = (
    x: Float64Array,
    n: number,
    from: number,
    to: number,
    y: Float64Array,
    a: number,
    b: number,
  ) => {
    // x[:, from:] = a * x[:, :to-from] + b * y  (y is [n, d - from])
    const w = d - from;
    for (let i = 0; i < n; i++) {
      for (let j = from; j < to; j++) x[i * d + j] = a * x[i * d + j - from]! + b * y[i * w + j - from]!;
    }
  };
  it('full rank', () => {
    const y = formulaRows(150, d, 2).map((v) => 0.8 * v + 0.1);
    const v = frechetDistance(statsOf(formulaRows(120, d, 1), d), statsOf(y, d));
    expect(Math.abs(v - 1.1869836961832547) / 1.1869836961832547).toBeLessThan(1e-6);
    expect(Math.abs(v - 1.18698369618326) / 1.18698369618326).toBeLessThan(1e-6);
  });
  it('rank-deficient (20 samples in 48 dimensions)', () => {
    const p = frechetDistanceParts(statsOf(formulaRows(20, d, 3), d), statsOf(formulaRows(30, d, 4), d));
    expect(p.rank1).toBe(19);
    expect(Math.abs(p.distance - 3.1175039333204335) / 3.1175039333204335).toBeLessThan(1e-6);
    expect(Math.abs(p.distance - 3.1175039450730875) / 3.1175039450730875).toBeLessThan(1e-6);
  });
  it('nearly singular (condition number 2e13)', () => {
    const x = formulaRows(200, d, 5);
    cols(x, 200, 24, d, formulaRows(200, 24, 6), 1, 1e-6);
    const y = formulaRows(180, d, 7);
    cols(y, 180, 24, d, formulaRows(180, 24, 8), 0.5, 1e-5);
    const v = frechetDistance(statsOf(x, d), statsOf(y, d));
    expect(Math.abs(v - 0.6906178185910514) / 0.6906178185910514).toBeLessThan(1e-6);
  });
});

describe('frechetDistance on fresh random inputs', () => {
  it('equals the Jacobi-eigen textbook route', () => {
    const rand = mulberry(seed);
    // A zero eigenvalue of Σ₁Σ₂ comes out of any float64 eigen-solver as ±O(ε‖Σ‖), and its square root
    // as O(√ε): rank-deficient cases agree to ~1e-8 relative only, full-rank ones to ~1e-13.
    for (const [d, n1, n2, tol] of [
      [12, 40, 55, 1e-10],
      [10, 6, 30, 1e-7], // Σ₁ of rank 5
      [9, 30, 4, 1e-7], // Σ₂ of rank 3
    ] as const) {
      const x = normals(rand, n1 * d).map((v, i) => v * (1 + (i % d) / 3));
      const y = normals(rand, n2 * d).map((v, i) => 0.5 * v + (i % d) * 0.1);
      const a = statsOf(x, d);
      const b = statsOf(y, d);
      const rows = (m: Float64Array) => toRows(m, d);
      const ref = frechetJacobi(
        Array.from(a.mean()),
        rows(a.covariance()),
        Array.from(b.mean()),
        rows(b.covariance()),
      );
      const v = frechetDistance(a, b);
      expect(Math.abs(v - ref) / ref, `d=${d} n=${n1},${n2} ${v} vs ${ref} ${tag}`).toBeLessThan(tol);
      // Symmetric in its arguments.
      expect(Math.abs(frechetDistance(b, a) - ref) / ref, tag).toBeLessThan(tol);
    }
  });

  it('the SIMD WebAssembly kernels and the plain-JS loops agree (odd and even sizes, rank-deficient)', () => {
    const rand = mulberry(seed + 2);
    for (const [d, n] of [
      [37, 60],
      [64, 40],
      [21, 9],
    ] as const) {
      const a = statsOf(normals(rand, n * d), d);
      const b = statsOf(
        normals(rand, (n + 5) * d).map((v, i) => v * (1 + (i % 3))),
        d,
      );
      const simd = frechetDistanceParts(a, b);
      const js = frechetDistanceParts(a, b, { simd: false });
      expect(simd.rank1, tag).toBe(js.rank1);
      expect(Math.abs(simd.distance - js.distance) / js.distance, `d=${d} n=${n} ${tag}`).toBeLessThan(1e-10);
    }
  });

  it('frechetDistanceAsync gives the same value and honours an aborted signal', async () => {
    const rand = mulberry(seed + 3);
    const d = 40;
    const a = statsOf(normals(rand, 90 * d), d);
    const b = statsOf(
      normals(rand, 70 * d).map((v) => 0.7 * v + 0.1),
      d,
    );
    const got = await frechetDistanceAsync(a, b);
    expect(got.distance, tag).toBe(frechetDistance(a, b));
    const ac = new AbortController();
    ac.abort();
    await expect(frechetDistanceAsync(a, b, { signal: ac.signal })).rejects.toThrow(/aborted/);
  });

  it('closed forms: equal covariances, scaled covariances, diagonal covariances', () => {
    const rand = mulberry(seed + 1);
    const d = 16;
    const x = normals(rand, 60 * d);
    const s = statsOf(x, d);
    const sigma = s.covariance();
    const mu2 = Float64Array.from(s.mean(), (m) => m + rand() - 0.5);
    let dmu = 0;
    let tr = 0;
    for (let i = 0; i < d; i++) {
      dmu += (mu2[i]! - s.mean()[i]!) ** 2;
      tr += sigma[i * d + i]!;
    }
    const same = frechetDistance(s, { mu: mu2, sigma });
    expect(Math.abs(same - dmu) / tr, tag).toBeLessThan(1e-12);
    const c = 0.3 + rand();
    const scaled = frechetDistance(s, { mu: mu2, sigma: sigma.map((v) => v * c * c) });
    const want = dmu + (1 - c) ** 2 * tr;
    expect(Math.abs(scaled - want) / want, tag).toBeLessThan(1e-10);
    // Diagonal (one zero variance): Σ (√a − √b)².
    const a = Array.from({ length: d }, (_, i) => (i === 3 ? 0 : rand() * 2));
    const b = Array.from({ length: d }, () => rand() * 2);
    const diag = (v: number[]) =>
      Float64Array.from({ length: d * d }, (_, k) => (k % (d + 1) === 0 ? v[k / (d + 1)]! : 0));
    const zero = new Float64Array(d);
    const got = frechetDistance({ mu: zero, sigma: diag(a) }, { mu: zero, sigma: diag(b) });
    const exp = a.reduce((acc, ai, i) => acc + (Math.sqrt(ai) - Math.sqrt(b[i]!)) ** 2, 0);
    expect(Math.abs(got - exp) / exp, tag).toBeLessThan(1e-12);
  });

  it('bad input is a TesseraError', () => {
    const a = {
      mu: [0, 0],
      sigma: [
        [1, 0],
        [0, 1],
      ],
    };
    expect(() => frechetDistance(a, { mu: [0, 0, 0], sigma: new Float64Array(9) })).toThrow(TesseraError);
    expect(() => frechetDistance(a, { mu: [0, 0], sigma: new Float64Array(3) })).toThrow(/4 values/);
    expect(() =>
      frechetDistance(a, {
        mu: [0, Number.NaN],
        sigma: [
          [1, 0],
          [0, 1],
        ],
      }),
    ).toThrow(/finite/);
    expect(() => frechetDistance(a, {} as never)).toThrow(TesseraError);
  });
});
