import { philoxWords, wordToUniform } from '@tessera/core';
import { ResidualVQ } from '@tessera/tokenizers';
import { describe, expect, it } from 'vitest';
import { testBackends } from '../../../test-utils/backends.ts';
import { bruteNearest, freshSeed, maxAbsDiff, normals } from './helpers.ts';

const backends = await testBackends();

/** Codebooks with a zero code (so each layer's residual norm cannot grow) and shrinking scales. */
function books(seed: number, Q: number, K: number, D: number): Float32Array[] {
  return Array.from({ length: Q }, (_, q) => {
    const g = normals(seed + q, K * D);
    return Float32Array.from(g, (v, i) => (i < D ? 0 : v * 0.7 ** q));
  });
}

describe.each(backends)('ResidualVQ on %s', (_name, B) => {
  it('separate codebooks: greedy residual search equals float64; decode sums the codes; error never grows', async () => {
    const seed = freshSeed(31);
    const [Q, K, D, N] = [4, 32, 3, 150];
    const cbs = books(seed, Q, K, D);
    const z = Float32Array.from(normals(seed + 50, N * D));
    const rvq = new ResidualVQ({ codebooks: cbs.map((c) => B.tensor(c, [K, D])) });
    const r = await rvq.quantize(B.tensor(z, [N, D]));
    expect(r.indices.shape).toEqual([N, Q]);
    const idx = (await r.indices.data()) as Int32Array;
    // float64: layer l picks the nearest code to the residual left by layers < l (using our indices so that a
    // float32 near-tie does not fork the paths; each pick must be a float64 nearest within 1e-4)
    const residual = Float64Array.from(z);
    const errs = [residual.reduce((a, v) => a + v * v, 0)];
    let exact = 0;
    for (let l = 0; l < Q; l++) {
      const ref = bruteNearest(residual, cbs[l]!, D);
      for (let i = 0; i < N; i++) {
        const k = idx[i * Q + l]!;
        let d = 0;
        for (let c = 0; c < D; c++) d += (residual[i * D + c]! - cbs[l]![k * D + c]!) ** 2;
        expect(d - ref.d[i]!, `layer ${l} row ${i} seed ${seed}`).toBeLessThan(1e-4 * (1 + ref.d[i]!));
        exact += k === ref.idx[i] ? 1 : 0;
        for (let c = 0; c < D; c++) residual[i * D + c]! -= cbs[l]![k * D + c]!;
      }
      errs.push(residual.reduce((a, v) => a + v * v, 0));
    }
    expect(exact).toBeGreaterThanOrEqual(N * Q - 3);
    for (let l = 1; l < errs.length; l++) expect(errs[l]!).toBeLessThanOrEqual(errs[l - 1]! * (1 + 1e-6));
    const q = await r.quantized.data();
    const want = Float64Array.from(z, (v, i) => v - residual[i]!);
    expect(maxAbsDiff(q, want)).toBeLessThan(1e-4);
    expect(maxAbsDiff(await rvq.decode(r.indices).data(), want)).toBeLessThan(1e-4);
    // decode of the first two layers only = Σ of those codes
    const two = rvq.decode(B.slice(r.indices, [0, 0], [N, 2]));
    const want2 = new Float64Array(N * D);
    for (let i = 0; i < N; i++)
      for (let l = 0; l < 2; l++)
        for (let c = 0; c < D; c++) want2[i * D + c]! += cbs[l]![idx[i * Q + l]! * D + c]!;
    expect(maxAbsDiff(await two.data(), want2)).toBeLessThan(1e-5);
    rvq.dispose();
  });

  it('a shared codebook is used by every layer', async () => {
    const seed = freshSeed(32);
    const [K, D, N] = [16, 2, 40];
    const cb = books(seed, 1, K, D)[0]!;
    const rvq = new ResidualVQ({ codebook: B.tensor(cb, [K, D]), numQuantizers: 3 });
    const idx = await rvq.encode(B.tensor(Float32Array.from(normals(seed + 1, N * D)), [N, D]));
    const dec = await rvq.decode(idx).data();
    const ii = await idx.data();
    const want = new Float64Array(N * D);
    for (let i = 0; i < N; i++)
      for (let l = 0; l < 3; l++) for (let c = 0; c < D; c++) want[i * D + c]! += cb[ii[i * 3 + l]! * D + c]!;
    expect(maxAbsDiff(dec, want)).toBeLessThan(1e-5);
    rvq.dispose();
  });

  it('quantize dropout keeps layers ≤ q (q from the Philox word), marks the rest −1 and decodes them as zero', async () => {
    const seed = freshSeed(33);
    const [Q, K, D, N] = [6, 8, 2, 20];
    const cbs = books(seed, Q, K, D);
    const rvq = new ResidualVQ({
      codebooks: cbs.map((c) => B.tensor(c, [K, D])),
      quantizeDropout: { cutoffIndex: 1 },
    });
    const z = B.tensor(Float32Array.from(normals(seed + 7, N * D)), [N, D]);
    const full = (await (await rvq.encode(z)).data()) as Int32Array;
    for (let s = 0; s < 5; s++) {
      // vector-quantize-pytorch residual_vq.py: q = randrange(cutoff, Q), layers with index > q are dropped
      const u = wordToUniform(philoxWords(seed + s, 0, 1)[0]!);
      const q = 1 + Math.floor(u * (Q - 1));
      expect(rvq.dropoutLayer(seed + s)).toBe(q);
      const r = await rvq.quantize(z, { dropoutSeed: seed + s });
      expect(r.activeLayers).toBe(q + 1);
      const idx = await r.indices.data();
      for (let i = 0; i < N; i++)
        for (let l = 0; l < Q; l++) expect(idx[i * Q + l]).toBe(l <= q ? full[i * Q + l] : -1);
      expect(maxAbsDiff(await rvq.decode(r.indices).data(), await r.quantized.data())).toBeLessThan(1e-6);
    }
    // structured dropout: q + 1 rounded up to a multiple of 4
    const rvq4 = new ResidualVQ({
      codebooks: cbs.map((c) => B.tensor(c, [K, D])),
      quantizeDropout: { multipleOf: 4 },
    });
    for (let s = 0; s < 5; s++) expect([3, 5]).toContain(rvq4.dropoutLayer(seed + s));
    // the training loop does not grow backend memory
    const before = B.memory().tensors;
    for (let s = 0; s < 3; s++) {
      const r = await rvq.quantize(z, { dropoutSeed: seed + s });
      const d = rvq.decode(r.indices);
      for (const t of [r.indices, r.quantized, r.commitmentLoss, d]) t.dispose();
    }
    expect(B.memory().tensors).toBe(before);
    rvq.dispose();
    rvq4.dispose();
  });

  it('rejects mismatched codebooks and missing options', () => {
    expect(() => new ResidualVQ({})).toThrow(/codebooks/);
    expect(
      () =>
        new ResidualVQ({
          codebooks: [B.tensor(new Float32Array(6), [3, 2]), B.tensor(new Float32Array(6), [2, 3])],
        }),
    ).toThrow(/D=2/);
  });
});
