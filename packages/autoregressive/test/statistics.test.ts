// Tokens generated from the count-based reference models match the training set's statistics within
// sampling error. Expected frequencies are re-derived here from the training data (float64 counts).
import { maskedDecode, nextScaleDecode, rasterDecode } from '@tessera/autoregressive';
import {
  MaskedCountModel,
  proceduralTokenGrids,
  RasterCountModel,
  ScaleCountModel,
} from '@tessera/reference';
import { describe, expect, it } from 'vitest';
import { testBackends } from '../../../test-utils/backends';
import { freshSeed, rows } from './helpers';

const seed = freshSeed();
const note = `(seed ${seed})`;
const H = 8;
const W = 8;
const V = 5;
const data = proceduralTokenGrids({ count: 80, height: H, width: W, vocabSize: V, seed: seed % 1000 });
/**
 * One-sided tail probability allowed per binomial check (10 checks a backend, so the file fails by chance
 * about once in 10⁶ runs). Exact binomial tails, not a normal approximation: for a rare token (n·p ≈ 10)
 * "within 5 SD" still failed about once in 10⁵ runs per check, the upper tail being far longer.
 */
const ALPHA = 5e-8;

/** Chi-square critical value (Wilson–Hilferty) at standard-normal quantile z for k dof. */
const chi2Crit = (k: number, z = 4.75) => k * (1 - 2 / (9 * k) + z * Math.sqrt(2 / (9 * k))) ** 3;

/**
 * Pearson chi-square of observed counts against probabilities. Cells with expected count < 5 are pooled,
 * smallest first, until the pool's expected count is ≥ 5 too (a pool left at, say, 0.05 expected turned one
 * stray token into a term of 18 and gave the statistic a tail far longer than χ²'s).
 */
function chi2(obs: number[], p: number[]): { stat: number; dof: number } {
  const n = obs.reduce((a, b) => a + b, 0);
  const cells = obs.map((o, v) => ({ o, e: n * p[v]! })).sort((a, b) => a.e - b.e);
  const pool = { o: 0, e: 0 };
  let stat = 0;
  let count = 0;
  for (const c of cells) {
    if (c.e < 5 || (pool.e > 0 && pool.e < 5)) {
      pool.o += c.o;
      pool.e += c.e;
    } else {
      stat += (c.o - c.e) ** 2 / c.e;
      count++;
    }
  }
  if (pool.e > 0) {
    stat += (pool.o - pool.e) ** 2 / pool.e;
    count++;
  }
  return { stat, dof: count - 1 };
}

const smooth = (c: number[]) => {
  const t = c.reduce((a, b) => a + b, 0);
  return c.map((x) => (x + 1) / (t + V));
};

/** P(X ≤ k) and P(X ≥ k) for X ~ Binomial(n, p), summed in float64 from log-pmfs. */
function binomialTails(k: number, n: number, p: number): { lower: number; upper: number } {
  const logFact = [0];
  for (let i = 1; i <= n; i++) logFact.push(logFact[i - 1]! + Math.log(i));
  const pmf = (i: number) =>
    Math.exp(logFact[n]! - logFact[i]! - logFact[n - i]! + i * Math.log(p) + (n - i) * Math.log1p(-p));
  let lower = 0;
  let upper = 0;
  for (let i = 0; i <= n; i++) {
    if (i <= k) lower += pmf(i);
    if (i >= k) upper += pmf(i);
  }
  return { lower, upper };
}

function expectInCI(observed: number, n: number, p: number, what: string) {
  const { lower, upper } = binomialTails(observed, n, p);
  const msg = `${note} ${what}: observed ${observed} of ${n}, expected ${(n * p).toFixed(1)}`;
  expect(lower, `${msg}, P(X ≤ observed) = ${lower}`).toBeGreaterThan(ALPHA);
  expect(upper, `${msg}, P(X ≥ observed) = ${upper}`).toBeGreaterThan(ALPHA);
}

describe.each(await testBackends())('generated statistics on %s', (_name, B) => {
  it('raster: each token follows the smoothed training conditional of its generated context (chi-square)', async () => {
    const m = RasterCountModel.fit(data, { backend: B });
    const n = 48;
    const labels = Int32Array.from({ length: n }, (_, i) => i % 3);
    const out = rows(
      await (
        await rasterDecode(m, {
          batch: n,
          length: H * W,
          cond: { labels: B.tensor(labels, [n], 'int32') },
          seed,
          backend: B,
        })
      ).data(),
      H * W,
    );
    const at = (g: ArrayLike<number>, r: number, c: number) =>
      r >= 0 && r < H && c >= 0 && c < W ? g[r * W + c]! : V;
    const key = (g: ArrayLike<number>, p: number, l: number) => {
      const r = Math.floor(p / W);
      const c = p % W;
      return `${l}|${at(g, r, c - 1)},${at(g, r - 1, c)},${at(g, r - 1, c - 1)},${at(g, r - 1, c + 1)}`;
    };
    const train = new Map<string, number[]>();
    data.grids.forEach((g, i) => {
      for (let p = 0; p < H * W; p++) {
        const k = key(g, p, data.labels[i]!);
        if (!train.has(k)) train.set(k, new Array(V).fill(0));
        train.get(k)![g[p]!]!++;
      }
    });
    const gen = new Map<string, number[]>();
    out.forEach((g, i) => {
      for (let p = 0; p < H * W; p++) {
        const k = key(g, p, labels[i]!);
        if (!gen.has(k)) gen.set(k, new Array(V).fill(0));
        gen.get(k)![g[p]!]!++;
      }
    });
    let stat = 0;
    let dof = 0;
    for (const [k, obs] of gen) {
      if (obs.reduce((a, b) => a + b, 0) < 10) continue;
      const r = chi2(obs, smooth(train.get(k) ?? new Array(V).fill(0)));
      stat += r.stat;
      dof += r.dof;
    }
    // With cells pooled to expected ≥ 5, dof is 12 ± 2.4 (5 to 20 over 3000 seeds, where the old pooling's
    // statistic reached a chi-square p of 3e-6); the χ² bound below fails by chance at p ≈ 1e-6.
    expect(dof, note).toBeGreaterThan(0);
    expect(stat, `${note} chi2 ${stat.toFixed(1)} on ${dof} dof`).toBeLessThan(chi2Crit(dof));
    // The images are new: none is a copy of a training image.
    const seen = new Set(data.grids.map((g) => g.join()));
    expect(out.filter((g) => seen.has(g.join())).length, note).toBeLessThan(n / 4);
    m.dispose();
  });

  it('next-scale: scale-0 tokens per class have the smoothed training frequencies (binomial CI)', async () => {
    const m = ScaleCountModel.fit(data, { patchNums: [1, 2, 4, 8], backend: B });
    const n = 300;
    const label = seed % 3;
    const labels = B.tensor(new Int32Array(n).fill(label), [n], 'int32');
    const out = await nextScaleDecode(m, { batch: n, cond: { labels }, seed, backend: B });
    const s0 = Array.from(await out[0]!.data());
    const counts = new Array(V).fill(0);
    data.grids.forEach((g, i) => {
      if (data.labels[i] === label) counts[g[0]!]++; // the 1×1 scale takes grid[0, 0] (nearest)
    });
    const p = smooth(counts);
    for (let v = 0; v < V; v++) expectInCI(s0.filter((t) => t === v).length, n, p[v]!, `token ${v}`);
    for (const t of out) t.dispose();
    m.dispose();
  });

  it('masked with one iteration: interior tokens are i.i.d. from the class unigram with all neighbours masked', async () => {
    const m = MaskedCountModel.fit(data, { backend: B });
    const n = 16;
    const label = (seed + 1) % 3;
    const out = rows(
      await (
        await maskedDecode(m, {
          batch: n,
          numIter: 1,
          cond: { labels: B.tensor(new Int32Array(n).fill(label), [n], 'int32') },
          seed,
          backend: B,
        })
      ).data(),
      H * W,
    );
    const interior = (p: number) => p >= W && p < (H - 1) * W && p % W > 0 && p % W < W - 1;
    const counts = new Array(V).fill(0);
    data.grids.forEach((g, i) => {
      if (data.labels[i] === label) for (let p = 0; p < H * W; p++) if (interior(p)) counts[g[p]!]++;
    });
    const p = smooth(counts);
    const obs = new Array(V).fill(0);
    let total = 0;
    for (const g of out) {
      for (let q = 0; q < H * W; q++) {
        if (!interior(q)) continue;
        obs[g[q]!]++;
        total++;
      }
    }
    for (let v = 0; v < V; v++) expectInCI(obs[v], total, p[v]!, `token ${v}`);
    m.dispose();
  });
});
