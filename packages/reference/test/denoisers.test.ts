import { TesseraError } from '@tessera/core';
import { empiricalDenoiser, gaussianDenoiser, gaussianMixtureDenoiser } from '@tessera/reference';
import { describe, expect, it } from 'vitest';
import { testBackends } from '../../../test-utils/backends';
import { diagToFull, freshSeed, gaussPosterior, mixturePosterior, normal, randomSpd, rng } from './helpers';

const backends = await testBackends();
const seed = freshSeed();
const ctx = `seed ${seed}`;

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-4, msg = ctx): void {
  expect(actual.length, msg).toBe(expected.length);
  for (let i = 0; i < actual.length; i++) {
    const e = expected[i]!;
    expect(Math.abs(actual[i]! - e), `${msg} index ${i}: ${actual[i]} vs ${e}`).toBeLessThanOrEqual(
      tol * Math.max(1, Math.abs(e)),
    );
  }
}

describe.each(backends)('reference denoisers on %s', (_name, B) => {
  const u = rng(seed);
  const d = 4;
  const N = 5;
  const rows = Array.from({ length: N }, () => Array.from({ length: d }, () => 2 * normal(u)));
  const flat = Float32Array.from(rows.flat());

  it('Gaussian with full, low-rank and diagonal covariance = μ + Σ(Σ+σ²I)⁻¹(x−μ)', async () => {
    const mean = Array.from({ length: d }, () => normal(u));
    const U = Array.from({ length: d * 2 }, () => normal(u)); // d×2
    const lowRankFull = (diag: number[]) => {
      const c = new Array<number>(d * d).fill(0);
      for (let i = 0; i < d; i++)
        for (let j = 0; j < d; j++)
          c[i * d + j] = U[i * 2]! * U[j * 2]! + U[i * 2 + 1]! * U[j * 2 + 1]! + (i === j ? diag[i]! : 0);
      return c;
    };
    const vdiag = Array.from({ length: d }, () => 0.1 + u());
    const cases: Array<[string, Parameters<typeof gaussianDenoiser>[0], number[]]> = [
      ['full', { mean, cov: randomSpd(u, d) }, []],
      ['lowRank + scalar', { mean, lowRank: { U, diag: 0.3 } }, lowRankFull(new Array(d).fill(0.3))],
      ['lowRank + vector', { mean, lowRank: { U, diag: vdiag } }, lowRankFull(vdiag)],
      ['diag', { mean, diag: vdiag }, diagToFull(vdiag)],
      ['isotropic', { mean, diag: 0.7 }, diagToFull(new Array(d).fill(0.7))],
    ];
    for (const [label, spec, fullIn] of cases) {
      const full = spec.cov ? Array.from(spec.cov) : fullIn;
      const D = gaussianDenoiser(spec);
      const x = B.tensor(flat, [N, 2, 2]);
      for (const sigma of [0.05, 0.4, 1.5, 20]) {
        const out = D(x, sigma);
        expect(out.shape).toEqual([N, 2, 2]);
        const expected = rows.flatMap((r) => gaussPosterior(mean, full, r, sigma).m);
        close(await out.data(), expected, 1e-4, `${ctx} ${label} σ=${sigma}`);
        out.dispose();
      }
      const sig = [0.1, 0.5, 1, 3, 10];
      const out = D(x, sig);
      close(
        await out.data(),
        rows.flatMap((r, n) => gaussPosterior(mean, full, r, sig[n]!).m),
        1e-4,
        `${ctx} ${label} per-row σ`,
      );
      out.dispose();
      x.dispose();
      D.dispose();
    }
  });

  it('Gaussian mixture posterior mean (1-D and 2-D, mixed covariance kinds) matches the direct formula', async () => {
    // 1-D: three components
    const w1 = [0.2, 0.5, 0.3];
    const m1 = [[-2], [0.5], [3]];
    const v1 = [0.1 + u(), 0.05 + u(), 0.2 + u()];
    const D1 = gaussianMixtureDenoiser({ weights: w1, means: m1, covs: v1 });
    const xs = Array.from({ length: 7 }, () => 3 * normal(u));
    const x1 = B.tensor(xs, [7, 1]);
    for (const sigma of [0.02, 0.3, 1, 4]) {
      const out = D1(x1, sigma);
      close(
        await out.data(),
        xs.map(
          (x) =>
            mixturePosterior(
              w1,
              m1,
              v1.map((v) => [v]),
              [x],
              sigma,
            )[0]!,
        ),
        1e-4,
        `${ctx} 1-D σ=${sigma}`,
      );
      out.dispose();
    }
    x1.dispose();
    D1.dispose();
    // d-D: full, diag, isotropic and low-rank components together, weights unnormalised
    const w = [1, 3, 2, 0.5];
    const means = Array.from({ length: 4 }, () => Array.from({ length: d }, () => 2 * normal(u)));
    const full0 = randomSpd(u, d);
    const dg = Array.from({ length: d }, () => 0.05 + u());
    const U = Array.from({ length: d }, () => normal(u));
    const lr = Array.from(
      { length: d * d },
      (_, k) => U[Math.floor(k / d)]! * U[k % d]! + (Math.floor(k / d) === k % d ? 0.2 : 0),
    );
    const covsFull = [full0, diagToFull(dg), diagToFull(new Array(d).fill(0.4)), lr];
    const D = gaussianMixtureDenoiser({
      weights: w,
      means,
      covs: [full0, dg, 0.4, { lowRank: { U, diag: 0.2 } }],
    });
    const x = B.tensor(flat, [N, d]);
    for (const sigma of [0.1, 0.7, 2, 30]) {
      const out = D(x, sigma);
      close(
        await out.data(),
        rows.flatMap((r) => mixturePosterior(w, means, covsFull, r, sigma)),
        1e-4,
        `${ctx} mixture σ=${sigma}`,
      );
      out.dispose();
    }
    const sig = [0.05, 0.2, 0.9, 2.5, 7];
    const out = D(x, sig);
    close(
      await out.data(),
      rows.flatMap((r, n) => mixturePosterior(w, means, covsFull, r, sig[n]!)),
      1e-4,
      `${ctx} mixture per-row σ`,
    );
    out.dispose();
    x.dispose();
    D.dispose();
  });

  it('empirical denoiser = softmax(−‖x−xᵢ‖²/2σ²)-weighted mean of the data', async () => {
    const M = 9;
    const data = Array.from({ length: M * d }, () => normal(u));
    const D = empiricalDenoiser({ data, shape: [M, d] });
    const x = B.tensor(flat, [N, d]);
    const perRow = [0.4, 0.8, 1.6, 3, 6];
    for (const sigma of [0.3, 1, 5, perRow]) {
      const out = D(x, sigma);
      const expected = rows.flatMap((r, n) => {
        const sigma2 = typeof sigma === 'number' ? sigma : sigma[n]!;
        const logits = Array.from(
          { length: M },
          (_, i) => -r.reduce((a, v, j) => a + (v - data[i * d + j]!) ** 2, 0) / (2 * sigma2 * sigma2),
        );
        const mx = Math.max(...logits);
        const e = logits.map((l) => Math.exp(l - mx));
        const tot = e.reduce((a, b) => a + b, 0);
        return r.map((_, j) => e.reduce((a, ei, i) => a + (ei / tot) * data[i * d + j]!, 0));
      });
      close(await out.data(), expected, 1e-4, `${ctx} empirical σ=${String(sigma)}`);
      out.dispose();
    }
    x.dispose();
    D.dispose();
  });

  it('repeated calls do not grow backend memory', async () => {
    const D = gaussianMixtureDenoiser({
      weights: [1, 2],
      means: [new Array(d).fill(-1), new Array(d).fill(1)],
      covs: [0.5, randomSpd(u, d)],
    });
    const x = B.tensor(flat, [N, d]);
    // the first calls upload parameters and fill a device's buffer pool (buffers return to it per batch)
    for (let i = 0; i < 3; i++) {
      D(x, 1 + i).dispose();
      await B.sync();
    }
    const before = B.memory();
    for (let i = 0; i < 20; i++) {
      D(x, 0.1 + i).dispose();
      await B.sync();
    }
    await B.sync();
    expect(B.memory().tensors).toBe(before.tensors);
    expect(B.memory().buffers).toBe(before.buffers);
    x.dispose();
    D.dispose();
  });
});

describe('reference denoisers reject bad input', () => {
  const [[, B]] = backends as [[string, (typeof backends)[0][1]]];
  it('throws TesseraError on bad specs, shapes and sigmas', () => {
    expect(() => gaussianDenoiser({ mean: [0, 0] })).toThrow(TesseraError);
    expect(() => gaussianDenoiser({ mean: [0, 0], cov: [1, 0, 0] })).toThrow(
      /expected 2 variances .* or 2×2 = 4/,
    );
    expect(() => gaussianDenoiser({ mean: [0, 0], cov: [1, 2, 2, 1] })).toThrow(/not positive semi-definite/);
    expect(() => gaussianMixtureDenoiser({ weights: [1, -1], means: [[0], [1]], covs: [1, 1] })).toThrow(
      /weights must be positive/,
    );
    expect(() => gaussianMixtureDenoiser({ weights: [1, 1], means: [[0], [1]], covs: [1] })).toThrow(
      /expected 2 covs/,
    );
    const D = gaussianDenoiser({ mean: [0, 0, 0], diag: 1 });
    const x = B.tensor([1, 2, 3, 4], [2, 2]);
    expect(() => D(x, 1)).toThrow(/3 values per row, got \[2, 2\]/);
    const y = B.tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    expect(() => D(y, [1, 2, 3])).toThrow(/one value per row \(2\), got 3/);
    expect(() => D(y, -1)).toThrow(TesseraError);
    expect(() => D(y, Number.NaN)).toThrow(TesseraError);
    const st = B.tensor([1, 2], [2]);
    expect(() => D(y, st as unknown as number[])).toThrow(/got a tensor \[2\].*read it first/);
    for (const t of [x, y, st]) t.dispose();
  });
});

describe.each(backends)('per-row σ on %s (the RowDenoiser contract parallel samplers rely on)', (name, B) => {
  it('marked perRowSigma; row i of a batched call equals the call on row i alone', async () => {
    const u = rng(seed + 1);
    const d = 6;
    const n = 4;
    const D = gaussianMixtureDenoiser({
      weights: [1, 2],
      means: [Array.from({ length: d }, () => normal(u)), Array.from({ length: d }, () => normal(u))],
      covs: [0.5, Array.from({ length: d }, () => 0.2 + u())],
    });
    expect(D.perRowSigma).toBe(true);
    const xs = Float32Array.from({ length: n * d }, () => 3 * normal(u));
    const sig = Array.from({ length: n }, () => 0.05 + 4 * u());
    const x = B.tensor(xs, [n, d]);
    const all = D(x, sig);
    const got = await all.data();
    for (let i = 0; i < n; i++) {
      const xi = B.tensor(xs.slice(i * d, (i + 1) * d), [1, d]);
      const one = D(xi, sig[i]!);
      const want = await one.data();
      // bitwise on the CPU backend (row-independent kernels); float tolerance on devices
      if (name === 'cpu')
        expect(Array.from(got.slice(i * d, (i + 1) * d)), `${ctx} row ${i}`).toEqual(Array.from(want));
      else close(got.slice(i * d, (i + 1) * d), want, 1e-5, `${ctx} row ${i}`);
      xi.dispose();
      one.dispose();
    }
    for (const t of [x, all]) t.dispose();
    D.dispose();
  });
});
