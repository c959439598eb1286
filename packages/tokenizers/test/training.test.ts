import type { Backend } from '@tessera/core';
import { EmaCodebook, kmeans, kmeansPlusPlus, kmeansStep, UsageMeter } from '@tessera/tokenizers';
import { describe, expect, it } from 'vitest';
import { testBackends } from '../../../test-utils/backends.ts';
import { blobs, bruteNearest, dist2, freshSeed, maxAbsDiff, uniforms } from './helpers.ts';

const backends = await testBackends();

/** Float64 mean squared distance to the nearest code. */
const data0 = () => Float32Array.from([0, 0, 1, 1]);

function distortion64(data: ArrayLike<number>, codes: ArrayLike<number>, D: number): number {
  const { d } = bruteNearest(data, codes, D);
  return d.reduce((a, b) => a + b, 0) / d.length;
}

/** One float64 Lloyd step: each code moves to the mean of its rows (a code with no rows stays put). */
function lloydStep64(data: ArrayLike<number>, codes: ArrayLike<number>, D: number) {
  const K = codes.length / D;
  const { idx } = bruteNearest(data, codes, D);
  const sums = new Float64Array(K * D);
  const counts = new Float64Array(K);
  for (let i = 0; i < idx.length; i++) {
    counts[idx[i]!]!++;
    for (let d = 0; d < D; d++) sums[idx[i]! * D + d]! += data[i * D + d]!;
  }
  const next = Float64Array.from(codes);
  for (let k = 0; k < K; k++)
    if (counts[k]! > 0) for (let d = 0; d < D; d++) next[k * D + d] = sums[k * D + d]! / counts[k]!;
  return { codes: next, counts };
}

/**
 * `data` without its float32 near-ties: rows whose two nearest distinct codes are within 1e-5·(‖z‖² + ‖e‖²)
 * in float64 (but not exactly tied). The backend ranks codes by float32 ‖e‖² − 2z·e, whose rounding
 * error is ~1e-7 of those norms, so for such a row it may pick either code and no float64 reference
 * can say which (about 1 run in 4000 failed so: seed 43761394 here, 96779099 in the EMA test). Exact ties (a
 * code drawn twice) stay: both sides take the first index.
 */
function dropNearTies(data: Float32Array, codes: ArrayLike<number>, D: number): Float32Array {
  const K = codes.length / D;
  const keep: number[] = [];
  for (let i = 0; i < data.length / D; i++) {
    const d = Array.from({ length: K }, (_, k) => dist2(data, i, codes, k, D)).sort((a, b) => a - b);
    const gap = d.find((v) => v > d[0]!)! - d[0]!;
    let norms = 0;
    for (let j = 0; j < D; j++) norms += data[i * D + j]! ** 2;
    if (!(gap < 1e-5 * (norms + d[0]! + d[1]!))) keep.push(i);
  }
  return pickRows(data, keep, D);
}

/**
 * Greedy k-means++ re-derived in float64 from the documented draws (Philox word `1 + (k − 1)·T + j` for
 * candidate j of centre k, inverse-CDF over D²), with the row indices it picks and `settled`: how many
 * leading centres no float32 rounding could change. A draw whose target lies within 1e-5 of the total
 * from a CDF boundary, or two distinct candidates whose potentials differ by under 1e-4 relative, may
 * go either way on a float32 backend (a serial float32 sum of 900 terms is off by ~2e-6 typically).
 */
function kmeansPlusPlus64(data: Float32Array, D: number, K: number, seed: number, T: number) {
  const N = data.length / D;
  const near = (i: number, j: number) => dist2(data, i, data, j, D);
  const pick = (w: Float64Array, u: number) => {
    const total = w.reduce((a, b) => a + b, 0);
    const target = u * total;
    let cum = 0;
    let margin = Number.POSITIVE_INFINITY;
    let row = N - 1;
    for (let i = 0; i < N; i++) {
      margin = Math.min(margin, Math.abs(cum - target));
      cum += w[i]!;
      if (cum > target) {
        row = i;
        margin = Math.min(margin, cum - target);
        break;
      }
    }
    return { row, tight: margin < 1e-5 * total };
  };
  const first = pick(new Float64Array(N).fill(1), uniforms(seed, 1)[0]!);
  const rows = [first.row];
  let settled = first.tight ? 0 : K;
  let minD = Float64Array.from({ length: N }, (_, i) => near(i, first.row));
  for (let k = 1; k < K; k++) {
    const u = uniforms(seed, T, 1 + (k - 1) * T);
    const w = minD.map((d) => Math.max(d, 1e-30));
    const cands = Array.from(u, (uj) => pick(w, uj));
    const after = cands.map(({ row }) => minD.map((d, i) => Math.min(d, near(i, row))));
    const pot = after.map((a) => a.reduce((x, y) => x + y, 0));
    let best = 0;
    for (let j = 1; j < T; j++) if (pot[j]! < pot[best]!) best = j;
    const close = cands.some(
      (c, j) => c.row !== cands[best]!.row && Math.abs(pot[j]! - pot[best]!) < 1e-4 * pot[best]!,
    );
    if (cands.some((c) => c.tight) || close) settled = Math.min(settled, k);
    rows.push(cands[best]!.row);
    minD = after[best]!;
  }
  return { rows, settled };
}

/** Rows of `data` chosen by `rows` (float32 copies). */
function pickRows(data: Float32Array, rows: ArrayLike<number>, D: number): Float32Array {
  const out = new Float32Array(rows.length * D);
  for (let i = 0; i < rows.length; i++) out.set(data.subarray(rows[i]! * D, rows[i]! * D + D), i * D);
  return out;
}

describe.each(backends)('codebook training on %s', (_name, B: Backend) => {
  it('one k-means step equals a float64 Lloyd step (empty clusters stay put)', async () => {
    const seed = freshSeed(21);
    const [K, D, N0] = [6, 3, 600];
    const blob = blobs(seed, 5, D, N0, 0.5).data;
    const u = uniforms(seed + 9, K);
    const init = pickRows(
      blob,
      Array.from(u, (v) => Math.floor(v * N0)),
      D,
    );
    init.set([1e3, 1e3, 1e3], (K - 1) * D); // a far code that gets no rows
    const data = dropNearTies(blob, init, D);
    const N = data.length / D;
    const r = kmeansStep(B.tensor(data, [N, D]), B.tensor(init, [K, D]));
    const { codes: want, counts } = lloydStep64(data, init, D);
    expect(Array.from(await r.counts.data()), `seed ${seed}`).toEqual(Array.from(counts));
    expect(maxAbsDiff(await r.codebook.data(), want), `seed ${seed}`).toBeLessThan(1e-4);
    expect(counts[K - 1]).toBe(0);
  });

  it('k-means++ picks data rows, never a row twice, and both of two far points for K = 2', async () => {
    const seed = freshSeed(22);
    const [D, N] = [4, 300];
    const { data } = blobs(seed, 4, D, N, 0.3);
    const c = await kmeansPlusPlus(B.tensor(data, [N, D]), 8, { seed }).data();
    const rows: number[] = [];
    for (let k = 0; k < 8; k++) {
      const r = bruteNearest(c.subarray(k * D, k * D + D), data, D);
      expect(r.d[0]).toBe(0); // the centre is exactly a data row
      rows.push(r.idx[0]!);
    }
    expect(new Set(rows).size).toBe(8);
    // two distinct points: the second draw has D² weight 0 on the first, so it must pick the other
    const two = Float32Array.from([0, 0, 0, 0, 5, 5, 5, 5]);
    const c2 = Array.from(await kmeansPlusPlus(B.tensor(two, [2, D]), 2, { seed: seed + 1 }).data());
    expect(c2.slice(0, 4).concat(c2.slice(4)).sort()).toEqual([0, 0, 0, 0, 5, 5, 5, 5]);
    expect(c2[0]).not.toBe(c2[4]);
  });

  it('greedy k-means++ (default localTrials) seeds with a lower potential than the plain algorithm, over 32 seeds', async () => {
    const base = freshSeed(27);
    const [K, D, N, R] = [8, 2, 400, 32];
    let greedy = 0;
    let plain = 0;
    let greedyWins = 0;
    for (let r = 0; r < R; r++) {
      const seed = base + r;
      // 8 blobs of σ 0.35, centres N(0, 2²): some overlap, so plain k-means++ often doubles up a blob
      const { data } = blobs(seed, K, D, N, 0.35, 2);
      const x = B.tensor(data, [N, D]);
      // potentials Σ min_k ‖x − c_k‖² in float64 from the returned centres
      const g = distortion64(data, await kmeansPlusPlus(x, K, { seed }).data(), D);
      const p = distortion64(data, await kmeansPlusPlus(x, K, { seed, localTrials: 1 }).data(), D);
      x.dispose();
      greedy += g / R;
      plain += p / R;
      if (g < p) greedyWins++;
    }
    // scikit-learn's reason for the greedy variant: a lower mean potential and a better seeding on most
    // seeds. Measured over 1200 seeds: greedy is better on a seed with probability q = 0.90 (≥ 0.88 at
    // 2 SE), and the ratio of mean potentials over 32 seeds is 0.70 ± 0.041. So fewer than 17 wins of 32
    // has binomial probability < 2e-7 even at q = 0.88, and a ratio ≥ 0.92 is 5.4 SD out (0 of 4·10⁶ bootstrap draws of
    // 32). With 24 seeds and ≥ 14 wins the test failed about once in 10⁵ runs.
    const note = `mean potential greedy ${greedy}, plain ${plain}, greedy better in ${greedyWins}/${R}, seed ${base}`;
    console.log(`[training] ${note}`);
    expect(greedy, note).toBeLessThan(0.92 * plain);
    expect(greedyWins, note).toBeGreaterThan(R / 2);
    expect(() => kmeansPlusPlus(B.tensor(data0(), [2, 2]), 2, { seed: 1, localTrials: 0 })).toThrow(
      /localTrials must be a positive integer, got 0/,
    );
  });

  it('k-means from k-means++ seeds reaches the blob noise level; a seed gives the same codebook on every backend', async () => {
    const seed = freshSeed(23);
    const [K, D, N, sigma] = [6, 3, 900, 0.3];
    const { data } = blobs(seed, K, D, N, sigma, 6);
    const { codebook } = kmeans(B.tensor(data, [N, D]), K, { seed, iters: 8 });
    const dist = distortion64(data, await codebook.data(), D);
    // D·σ² is the distortion at the true centres; allow for an unlucky split of one blob
    expect(dist, `seed ${seed}`).toBeLessThan(3 * D * sigma * sigma + 2);
    // The same seed picks the same rows on every backend: both equal the float64 re-derivation for every
    // centre that float32 rounding cannot change (all K in most runs; CPU and WebGPU differed at a near-tie
    // about once in 1500 seeds, seed 1010713, when the whole codebook was compared).
    const want = kmeansPlusPlus64(data, D, K, seed, 2 + Math.floor(Math.log(K)));
    const note = `rows ${want.rows}, settled ${want.settled}, seed ${seed}`;
    for (const BB of [backends[0]![1], B]) {
      const got = await kmeansPlusPlus(BB.tensor(data, [N, D]), K, { seed }).data();
      for (let k = 0; k < want.settled; k++)
        expect(Array.from(got.subarray(k * D, k * D + D)), note).toEqual(
          Array.from(data.subarray(want.rows[k]! * D, want.rows[k]! * D + D)),
        );
    }
  });

  it('one EMA update equals the float64 formula with Laplace smoothing', async () => {
    const seed = freshSeed(24);
    const [K, D] = [5, 2];
    const blob = blobs(seed, 4, D, 200, 0.5).data;
    const init = pickRows(blob, [0, 40, 80, 120, 160], D);
    const data = dropNearTies(blob, init, D);
    const N = data.length / D;
    const [g, eps] = [0.9, 1e-5];
    const ema = new EmaCodebook({ codebook: B.tensor(init, [K, D]), decay: g, eps });
    ema.update(B.tensor(data, [N, D])).dispose();
    // vector-quantize-pytorch EuclideanCodebook.forward: N ← γN + (1−γ)n, M ← γM + (1−γ)Σz,
    // Ñ = (N + ε)/(ΣN + Kε)·ΣN, codes = M/Ñ; state starts at N = 1, M = codes.
    const { idx } = bruteNearest(data, init, D);
    const cs = new Float64Array(K).fill(g);
    const ea = Float64Array.from(init, (v) => g * v);
    for (let i = 0; i < N; i++) {
      cs[idx[i]!]! += 1 - g;
      for (let d = 0; d < D; d++) ea[idx[i]! * D + d]! += (1 - g) * data[i * D + d]!;
    }
    const tot = cs.reduce((a, b) => a + b, 0);
    const want = new Float64Array(K * D);
    for (let k = 0; k < K; k++) {
      const sm = ((cs[k]! + eps) / (tot + K * eps)) * tot;
      for (let d = 0; d < D; d++) want[k * D + d] = ea[k * D + d]! / sm;
    }
    expect(maxAbsDiff(await ema.clusterSize.data(), cs), `seed ${seed}`).toBeLessThan(1e-4);
    expect(maxAbsDiff(await ema.codebook.data(), want), `seed ${seed}`).toBeLessThan(1e-4);
    ema.dispose();
  });

  it('EMA k-means over batches reduces distortion on Gaussian blobs without growing memory', async () => {
    const seed = freshSeed(25);
    const [K, D, N, sigma] = [8, 4, 2048, 0.4];
    const { data } = blobs(seed, K, D, N, sigma, 3);
    // a poor start: all codes drawn from the first 64 rows
    const u = uniforms(seed + 5, K);
    const init = pickRows(
      data,
      Array.from(u, (v) => Math.floor(v * 64)),
      D,
    );
    const d0 = distortion64(data, init, D);
    const ema = new EmaCodebook({ codebook: B.tensor(init, [K, D]), decay: 0.8 });
    const batches = Array.from({ length: 8 }, (_, b) =>
      B.tensor(data.subarray(b * 256 * D, (b + 1) * 256 * D), [256, D]),
    );
    ema.update(batches[0]!).dispose();
    const before = B.memory().tensors;
    const curve: number[] = [];
    for (let epoch = 0; epoch < 4; epoch++) {
      for (const [b, x] of batches.entries()) {
        ema.update(x).dispose();
        ema.replaceDeadCodes(x, { threshold: 0.05, seed, offset: (epoch * 8 + b) * K });
      }
      curve.push(distortion64(data, await ema.codebook.data(), D));
    }
    expect(B.memory().tensors).toBe(before);
    // EMA k-means is mini-batch Lloyd: a descent method on a fixed data set, up to the EMA lag (2%
    // allowed), and replacing a dead code (few rows) by a data row helps or costs little. So no epoch
    // undoes progress, and after 33 updates it ends at least as low as one float64 Lloyd step from the
    // same start. (Not "near a Lloyd fixed point": a code replaced in the last epoch has not settled;
    // one more Lloyd step then gained 22%, seed 51745544.)
    // How far it falls is not a property of the method: a start that puts two codes in one blob and
    // one code between two blobs is a local optimum (seed 755851731 stopped 9% below d0; typically
    // ~40%), so no fixed fraction is asserted. (Not "converged after 3 epochs": a late dead-code
    // replacement can still drop it by 20%, seed 748384065.)
    const d1 = distortion64(data, lloydStep64(data, init, D).codes, D);
    const note = `d0 ${d0}, one Lloyd step ${d1}, curve ${curve}, seed ${seed}`;
    expect(d1, note).toBeLessThan(d0);
    expect(curve[curve.length - 1]!, note).toBeLessThan(1.02 * d1);
    expect(curve[0]!, note).toBeLessThan(1.02 * d0);
    for (let e = 1; e < curve.length; e++) expect(curve[e]!, note).toBeLessThan(1.02 * curve[e - 1]!);
    ema.dispose();
  });

  it('dead codes (EMA size below threshold) are replaced by batch rows; live codes stay', async () => {
    const seed = freshSeed(26);
    const [D, N] = [3, 100];
    const { data } = blobs(seed, 2, D, N, 0.2);
    const init = Float32Array.from([
      ...data.subarray(0, D),
      ...data.subarray(D, 2 * D),
      1e3,
      1e3,
      1e3,
      -1e3,
      -1e3,
      -1e3,
    ]);
    const ema = new EmaCodebook({ codebook: B.tensor(init, [4, D]), decay: 0.5 });
    const x = B.tensor(data, [N, D]);
    ema.update(x).dispose(); // codes 2, 3 get no rows: size 1 → 0.5
    const live = Array.from((await ema.codebook.data()).subarray(0, 2 * D));
    ema.replaceDeadCodes(x, { threshold: 0.6, seed, resetClusterSize: 2 });
    const after = await ema.codebook.data();
    expect(Array.from(after.subarray(0, 2 * D))).toEqual(live);
    for (const k of [2, 3]) expect(bruteNearest(after.subarray(k * D, k * D + D), data, D).d[0]).toBe(0);
    const cs = Array.from(await ema.clusterSize.data());
    expect(cs.slice(2)).toEqual([2, 2]);
    ema.dispose();
  });

  it('UsageMeter keeps exactly the last `window` indices (LlamaGen rolling codebook_used)', async () => {
    const seed = freshSeed(27);
    const K = 20;
    const before = B.memory().tensors;
    const meter = new UsageMeter({ codebookSize: K, window: 50 });
    const all: number[] = [];
    const u = uniforms(seed, 200);
    let o = 0;
    for (const n of [30, 15, 40, 7, 60]) {
      const batch = Array.from({ length: n }, () => Math.floor(u[o++]! ** 2 * K));
      all.push(...batch);
      const bt = B.tensor(Int32Array.from(batch), [n]);
      meter.update(bt);
      bt.dispose();
      const win = all.slice(-50);
      const counts = new Array(K).fill(0);
      for (const i of win) counts[i]++;
      expect(meter.count).toBe(win.length);
      const counted = meter.counts()!;
      expect(Array.from(await counted.data())).toEqual(counts);
      counted.dispose();
      const { usage, perplexity } = meter.stats()!;

      expect((await usage.data())[0]).toBeCloseTo(counts.filter((c) => c > 0).length / K, 6);
      const h = counts.reduce((a, c) => a - (c / win.length) * Math.log(c / win.length + 1e-10), 0);
      expect((await perplexity.data())[0]).toBeCloseTo(Math.exp(h), 3);
      usage.dispose();
      perplexity.dispose();
    }
    meter.dispose();
    expect(B.memory().tensors).toBe(before);
  });
});
