import { TesseraError } from '@tessera/core';
import {
  inceptionScore,
  kernelInceptionDistance,
  kernelInceptionDistanceAsync,
  polynomialMmd2,
  precisionRecall,
} from '@tessera/metrics';
import { describe, expect, it } from 'vitest';
import { Mt19937 } from '../src/numpy-random';
import { formulaRows, freshSeed, mulberry, normals } from './helpers';

const seed = freshSeed();
const tag = `(TESSERA_TEST_SEED=${seed})`;

const flat = (data: Float64Array, dim: number) => ({ data, dim });
const scaled = (x: Float64Array, a: number, b = 0) => x.map((v) => a * v + b);
const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);

/*
 * Reference values: /usr/bin/python3 with torch 2.x / numpy 1.24, the formulas of torch-fidelity's
 * metric_kid.py (polynomial_kernel, mmd2 unbiased), metric_isc.py (without the shuffle) and
 * metric_prc.py (calculate_precision_recall_full), on the integer-formula rows of helpers.formulaRows:
 *
 *   def u(n, d, s):
 *       i = np.arange(n)[:, None]; j = np.arange(d)[None, :]
 *       return ((i * i * 31 + i * j * 17 + j * j * 13 + s * 101 + i * 7 + j * 3) % 1009) / 1009.0 - 0.5
 *   def kern(X, Y, degree=3, gamma=None, coef0=1):
 *       gamma = 1.0 / X.shape[1] if gamma is None else gamma
 *       return (X @ Y.T * gamma + coef0) ** degree
 *   def mmd2(X, Y, **kw):
 *       m = X.shape[0]
 *       kxx, kyy, kxy = kern(X, X, **kw), kern(Y, Y, **kw), kern(X, Y, **kw)
 *       return (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1)) - 2 * kxy.sum() / m**2
 *   X = 3 * u(40, 16, 11); Y = 2.5 * u(40, 16, 12) + 0.2
 *   print('kid', repr(mmd2(X, Y)), repr(mmd2(X, Y, degree=2, gamma=0.5, coef0=0.3)))
 *   def isc(feature, splits):
 *       N = feature.shape[0]
 *       p = feature.softmax(dim=1); log_p = feature.log_softmax(dim=1)
 *       scores = []
 *       for i in range(splits):
 *           pc = p[(i * N // splits):((i + 1) * N // splits)]; lc = log_p[(i * N // splits):((i + 1) * N // splits)]
 *           q = pc.mean(dim=0, keepdim=True)
 *           scores.append((pc * (lc - q.log())).sum(dim=1).mean().exp().item())
 *       return float(np.mean(scores)), float(np.std(scores))
 *   L = torch.tensor(8 * u(53, 10, 13), dtype=torch.float64)
 *   print('isc', isc(L, 10), isc(L, 3))
 *   def prc(f1, f2, k=3):
 *       nn1 = torch.cdist(f1, f1).kthvalue(k + 1).values
 *       nn2 = torch.cdist(f2, f2).kthvalue(k + 1).values
 *       d21 = torch.cdist(f2, f1)
 *       precision = (d21 <= nn1).any(dim=1).float().mean().item()
 *       recall = (d21.T <= nn2).any(dim=1).float().mean().item()
 *       return precision, recall, 2 * precision * recall / max(1e-5, precision + recall)
 *   A = torch.tensor(u(60, 8, 14), dtype=torch.float64); B = torch.tensor(1.3 * u(45, 8, 15) + 0.15, dtype=torch.float64)
 *   print('prc', prc(A, B), prc(A, B, 5))
 *
 * KID's subsets, drawn as torch-fidelity's kid_features_to_metric draws them (numpy 2.4.6, float64):
 *
 *   X = 3 * u(40, 16, 11); Y = 2.5 * u(35, 16, 12) + 0.2
 *   for seed in (2020, 7):
 *       rng = np.random.RandomState(seed); vals = []
 *       for i in range(6):
 *           a = rng.choice(40, 15, replace=False); b = rng.choice(35, 15, replace=False)
 *           if i == 0: print(seed, list(a), list(b))
 *           vals.append(mmd2(X[a], Y[b]))
 *       print(seed, np.mean(vals), np.std(vals))
 *   rng = np.random.RandomState(123456789); print(rng.choice(100000, 5, replace=False))
 *   # IS shuffled as torch-fidelity's isc_features_to_metric shuffles (numpy 1.24, torch 1.13):
 *   print(isc(L[np.random.RandomState(2020).permutation(53)], 10), isc(L[np.random.RandomState(5).permutation(53)], 4))
 *
 * printed:
 *   kid 0.1142739230695975 0.17647335972448985
 *   isc (2.2503222970256935, 0.17674611846235114) (2.5211378051132267, 0.12216007997298735)
 *   prc (0.6222222447395325, 0.949999988079071, 0.7519434756057016) (0.6666666865348816, 0.9666666388511658, 0.7891156509090387)
 * (torch's float32 .mean() of the 0/1 hits: 28/45, 57/60 and 30/45, 58/60.)
 *   2020 [22, 15, 30, 2, 33, 4, 25, 39, 12, 17, 13, 14, 35, 28, 20] [29, 7, 24, 13, 12, 33, 26, 32, 15, 4, 17, 0, 27, 22, 3]
 *   2020 0.14695377337709656 0.05545995070241449
 *   7 [17, 37, 34, 18, 32, 1, 22, 2, 9, 36, 29, 21, 13, 27, 5] [18, 2, 6, 27, 5, 32, 33, 26, 24, 17, 14, 15, 13, 11, 28]
 *   7 0.1335757390099607 0.10199712430549965
 *   [49990 55988 19888 74059 97457]
 *   (2.047007190225554, 0.23522486092687753) (2.418058104955124, 0.1572098187834712)
 */
describe('KID, IS, precision/recall against torch-fidelity formulas', () => {
  const X = scaled(formulaRows(40, 16, 11), 3);
  const Y = scaled(formulaRows(40, 16, 12), 2.5, 0.2);

  it('unbiased polynomial MMD²', () => {
    expect(rel(polynomialMmd2(flat(X, 16), flat(Y, 16)), 0.1142739230695975)).toBeLessThan(1e-12);
    const custom = polynomialMmd2(flat(X, 16), flat(Y, 16), { degree: 2, gamma: 0.5, coef0: 0.3 });
    expect(rel(custom, 0.17647335972448985)).toBeLessThan(1e-12);
  });

  it('KID with subsets of the whole set is that MMD² (any permutation), std 0', () => {
    const r = kernelInceptionDistance(flat(X, 16), flat(Y, 16), { subsets: 5, subsetSize: 40, seed });
    expect(rel(r.mean, 0.1142739230695975), tag).toBeLessThan(1e-12);
    expect(r.std).toBeLessThan(1e-14);
    expect(r.values.length).toBe(5);
  });

  it("KID's subsets are numpy RandomState(seed).choice draws, as torch-fidelity's", () => {
    // MT19937 seeded with 5489: the C++ standard's check value for the 10,000th output
    const mt = new Mt19937(5489);
    let v = 0;
    for (let i = 0; i < 10000; i++) v = mt.nextUint32();
    expect(v).toBe(4123659995);
    const draws = new Mt19937(2020);
    expect(Array.from(draws.choice(40, 15))).toEqual([
      22, 15, 30, 2, 33, 4, 25, 39, 12, 17, 13, 14, 35, 28, 20,
    ]);
    expect(Array.from(draws.choice(35, 15))).toEqual([
      29, 7, 24, 13, 12, 33, 26, 32, 15, 4, 17, 0, 27, 22, 3,
    ]);
    expect(Array.from(new Mt19937(123456789).choice(100000, 5))).toEqual([49990, 55988, 19888, 74059, 97457]);
    const Y35 = scaled(formulaRows(35, 16, 12), 2.5, 0.2);
    const run = (s?: number) =>
      kernelInceptionDistance(flat(X, 16), flat(Y35, 16), { subsets: 6, subsetSize: 15, seed: s });
    const dflt = run();
    expect(rel(dflt.mean, 0.14695377337709656)).toBeLessThan(1e-12);
    expect(rel(dflt.std, 0.05545995070241449)).toBeLessThan(1e-10);
    const seven = run(7);
    expect(rel(seven.mean, 0.1335757390099607)).toBeLessThan(1e-12);
    expect(rel(seven.std, 0.10199712430549965)).toBeLessThan(1e-10);
    for (const bad of [-1, 1.5, 2 ** 32])
      expect(() => run(bad)).toThrow(/seed should be an integer in \[0, 2\^32\)/);
  });

  it('inception score from logits and from probabilities', () => {
    const L = scaled(formulaRows(53, 10, 13), 8);
    const a = inceptionScore(flat(L, 10));
    expect(rel(a.mean, 2.2503222970256935)).toBeLessThan(1e-12);
    expect(rel(a.std, 0.17674611846235114)).toBeLessThan(1e-10);
    const b = inceptionScore(flat(L, 10), { splits: 3 });
    expect(rel(b.mean, 2.5211378051132267)).toBeLessThan(1e-12);
    expect(rel(b.std, 0.12216007997298735)).toBeLessThan(1e-10);
    // The same as probabilities.
    const P = new Float64Array(L.length);
    for (let r = 0; r < 53; r++) {
      const row = L.subarray(r * 10, r * 10 + 10);
      const m = Math.max(...row);
      const e = Array.from(row, (v) => Math.exp(v - m));
      const s = e.reduce((x, y) => x + y, 0);
      for (let j = 0; j < 10; j++) P[r * 10 + j] = e[j]! / s;
    }
    const c = inceptionScore(flat(P, 10), { input: 'probabilities' });
    expect(rel(c.mean, 2.2503222970256935)).toBeLessThan(1e-12);
    // Shuffled as torch-fidelity shuffles (its default seed 2020, and another seed and split count).
    const d = inceptionScore(flat(L, 10), { shuffleSeed: 2020 });
    expect(rel(d.mean, 2.047007190225554)).toBeLessThan(1e-12);
    expect(rel(d.std, 0.23522486092687753)).toBeLessThan(1e-10);
    const e = inceptionScore(flat(L, 10), { shuffleSeed: 5, splits: 4 });
    expect(rel(e.mean, 2.418058104955124)).toBeLessThan(1e-12);
    expect(rel(e.std, 0.1572098187834712)).toBeLessThan(1e-10);
    expect(() => inceptionScore(flat(L, 10), { shuffleSeed: -3 })).toThrow(
      /shuffleSeed should be an integer/,
    );
  });

  it('precision and recall (k = 3 and k = 5)', () => {
    const A = formulaRows(60, 8, 14);
    const B = scaled(formulaRows(45, 8, 15), 1.3, 0.15);
    const f = (p: number, r: number) => (2 * p * r) / Math.max(1e-5, p + r);
    const r3 = precisionRecall(flat(A, 8), flat(B, 8));
    expect(r3.precision).toBe(28 / 45);
    expect(r3.recall).toBe(57 / 60);
    expect(rel(r3.fScore, f(28 / 45, 57 / 60))).toBeLessThan(1e-15);
    expect(Math.abs(r3.fScore - 0.7519434756057016)).toBeLessThan(1e-7);
    const r5 = precisionRecall(flat(A, 8), flat(B, 8), { k: 5 });
    expect([r5.precision, r5.recall]).toEqual([30 / 45, 58 / 60]);
  });
});

describe('KID, IS, precision/recall on fresh random inputs', () => {
  it('KID subsets are seeded draws without replacement; mean/std are np.mean/np.std of the values', async () => {
    const rand = mulberry(seed);
    const d = 6;
    const x = normals(rand, 30 * d);
    const y = normals(rand, 25 * d).map((v) => 1.2 * v + 0.3);
    const r1 = kernelInceptionDistance(flat(x, d), flat(y, d), { subsets: 7, subsetSize: 12, seed });
    const r2 = kernelInceptionDistance(flat(x, d), flat(y, d), { subsets: 7, subsetSize: 12, seed });
    expect(Array.from(r1.values)).toEqual(Array.from(r2.values));
    const mean = r1.values.reduce((a, b) => a + b, 0) / 7;
    const std = Math.sqrt(r1.values.reduce((a, b) => a + (b - mean) ** 2, 0) / 7);
    expect(rel(r1.mean, mean), tag).toBeLessThan(1e-14);
    expect(rel(r1.std, std), tag).toBeLessThan(1e-12);
    expect(r1.std, tag).toBeGreaterThan(0);
    // The async form yields between subsets and gives the same values; an aborted signal stops it.
    const seen: number[] = [];
    const r4 = await kernelInceptionDistanceAsync(flat(x, d), flat(y, d), {
      subsets: 7,
      subsetSize: 12,
      seed,
      onProgress: (i) => seen.push(i),
    });
    expect(Array.from(r4.values)).toEqual(Array.from(r1.values));
    expect(seen).toEqual([1, 2, 3, 4, 5, 6, 7]);
    const ac = new AbortController();
    ac.abort();
    await expect(
      kernelInceptionDistanceAsync(flat(x, d), flat(y, d), { subsetSize: 12, signal: ac.signal }),
    ).rejects.toThrow(/aborted after 0 of 100/);
    // Another seed draws other subsets.
    const r3 = kernelInceptionDistance(flat(x, d), flat(y, d), {
      subsets: 7,
      subsetSize: 12,
      seed: seed + 1,
    });
    expect(Array.from(r3.values), tag).not.toEqual(Array.from(r1.values));
  });

  it('IS is 1 for identical rows and the class count for one-hot rows spread evenly', () => {
    const rand = mulberry(seed + 2);
    const c = 4 + Math.floor(rand() * 5);
    const row = Array.from({ length: c }, () => rand() * 4);
    const same = inceptionScore(
      Array.from({ length: 20 }, () => row),
      { splits: 2 },
    );
    expect(Math.abs(same.mean - 1), tag).toBeLessThan(1e-12);
    const onehot = Array.from({ length: 5 * c }, (_, i) =>
      Array.from({ length: c }, (_, j) => (j === i % c ? 1 : 0)),
    );
    const r = inceptionScore(onehot, { input: 'probabilities', splits: 5 });
    expect(Math.abs(r.mean - c), tag).toBeLessThan(1e-12);
    // Shuffled splits keep the total mass: with one split the shuffle changes nothing.
    const L = normals(rand, 30 * c);
    const one = inceptionScore(flat(L, c), { splits: 1 });
    const shuf = inceptionScore(flat(L, c), { splits: 1, shuffleSeed: seed });
    expect(rel(shuf.mean, one.mean), tag).toBeLessThan(1e-12);
  });

  it('precision and recall are 1 for the same set and 0 for far-apart sets', () => {
    const rand = mulberry(seed + 3);
    const d = 5;
    const x = normals(rand, 20 * d);
    const same = precisionRecall(flat(x, d), flat(x, d));
    expect([same.precision, same.recall], tag).toEqual([1, 1]);
    const far = precisionRecall(
      flat(x, d),
      flat(
        x.map((v) => v + 1e3),
        d,
      ),
    );
    expect([far.precision, far.recall, far.fScore], tag).toEqual([0, 0, 0]);
  });

  it('bad input is a TesseraError naming what was expected', () => {
    const d = 3;
    const x = flat(
      Float64Array.from({ length: 30 }, (_, i) => i % 7),
      d,
    );
    const y4 = flat(new Float64Array(40).fill(1), 4);
    expect(() => kernelInceptionDistance(x, y4)).toThrow(/same dimension/);
    expect(() => kernelInceptionDistance(x, x)).toThrow(/subsets of 1000 rows need at least 1000/);
    const nan = flat(
      Float64Array.from({ length: 30 }, (_, i) => (i === 7 ? Number.NaN : i)),
      d,
    );
    expect(() => precisionRecall(x, nan)).toThrow(/finite/);
    expect(() => precisionRecall(x, flat(new Float64Array(9).fill(2), d))).toThrow(TesseraError);
    expect(() => inceptionScore(x, { splits: 11 })).toThrow(/splits/);
    expect(() => inceptionScore([[0.5, 0.6]], { input: 'probabilities', splits: 1 })).toThrow(/sum to 1/);
    expect(() => inceptionScore([[1, 2], [3]])).toThrow(TesseraError);
  });
});
