import { getBackend, TesseraError, tensor } from '@tessera/core';
import { NearestCodeSearch, nearestCode, VectorQuantizer } from '@tessera/tokenizers';
import { describe, expect, it } from 'vitest';
import { testBackends } from '../../../test-utils/backends.ts';
import { bruteNearest, dist2, freshSeed, normalizeRows, normals } from './helpers.ts';

const backends = await testBackends();

/** Every chosen code must be a float64 nearest code; ties (equal within float32 noise) may pick either. */
function expectNearest(got: Int32Array, z: Float32Array, codes: Float32Array, D: number, seed: number) {
  const ref = bruteNearest(z, codes, D);
  let exact = 0;
  for (let i = 0; i < got.length; i++) {
    if (got[i] === ref.idx[i]) exact++;
    else
      expect(dist2(z, i, codes, got[i]!, D) - ref.d[i]!, `row ${i}, seed ${seed}`).toBeLessThan(
        1e-4 * (1 + ref.d[i]!),
      );
  }
  expect(exact, `seed ${seed}`).toBeGreaterThanOrEqual(got.length - 2);
}

describe.each(backends)('VectorQuantizer on %s', (_name, B) => {
  it('L2 nearest codes equal a float64 brute-force search (one block and many blocks)', async () => {
    const seed = freshSeed(1);
    const [N, K, D] = [300, 97, 8];
    const z = Float32Array.from(normals(seed, N * D));
    const codes = Float32Array.from(normals(seed + 1, K * D));
    const cb = B.tensor(codes, [K, D]);
    const zt = B.tensor(z, [N, D]);
    for (const maxBlockElements of [undefined, 97 * 7]) {
      const vq = new VectorQuantizer({ codebook: cb, maxBlockElements });
      const idx = await vq.encode(zt);
      expect(idx.dtype).toBe('int32');
      expect(idx.shape).toEqual([N]);
      expectNearest((await idx.data()) as Int32Array, z, codes, D, seed);
      idx.dispose();
      vq.dispose();
    }
    cb.dispose();
    zt.dispose();
  });

  it('cosine nearest codes equal a float64 search on normalised vectors, decode gives normalised codes', async () => {
    const seed = freshSeed(2);
    const [N, K, D] = [200, 64, 6];
    const z = Float32Array.from(normals(seed, N * D));
    const codes = Float32Array.from(normals(seed + 1, K * D));
    const cb = B.tensor(codes, [K, D]);
    const vq = new VectorQuantizer({ codebook: cb, metric: 'cosine' });
    const zt = B.tensor(z, [N, D]);
    const idx = (await (await vq.encode(zt)).data()) as Int32Array;
    // for unit vectors, squared distance = 2 − 2cos, so the L2 search on normalised rows is the reference
    expectNearest(
      idx,
      Float32Array.from(normalizeRows(z, D)),
      Float32Array.from(normalizeRows(codes, D)),
      D,
      seed,
    );
    const dec = await vq.decode(B.tensor(Int32Array.from([0, 5]), [2])).data();
    const unit = normalizeRows(codes, D);
    for (let d = 0; d < D; d++) {
      expect(dec[d]).toBeCloseTo(unit[d]!, 5);
      expect(dec[D + d]).toBeCloseTo(unit[5 * D + d]!, 5);
    }
    vq.dispose();
  });

  it('a 16384-code book searches an 8×8 grid in 4 bounded blocks and matches brute force on sampled rows', async () => {
    const seed = freshSeed(3);
    const [K, D, N] = [16384, 8, 8 * 8];
    const codes = Float32Array.from(normals(seed, K * D));
    const z = Float32Array.from(normals(seed + 1, N * D));
    const cb = B.tensor(codes, [K, D]);
    // by default a block holds 2²² distances: 256 rows of 16384 codes, so a 64×64 grid takes 16 blocks
    const dflt = new NearestCodeSearch(cb);
    expect(dflt.blockRows).toBe(256);
    dflt.dispose();
    const vq = new VectorQuantizer({ codebook: cb, maxBlockElements: K * 16 });
    const f = B.transpose(B.tensor(z, [1, 8, 8, D]), [0, 3, 1, 2]); // channel-first [1, D, 8, 8]
    const idx = await vq.encodeImage(f);
    expect(idx.shape).toEqual([1, 8, 8]);
    const got = (await idx.data()) as Int32Array;
    const rows = [0, 1, 15, 16, 31, 32, 50, 63];
    const sub = new Float32Array(rows.length * D);
    for (const [i, r] of rows.entries()) sub.set(z.subarray(r * D, r * D + D), i * D);
    expectNearest(
      Int32Array.from(rows, (r) => got[r]!),
      sub,
      codes,
      D,
      seed,
    );
    for (const t of [cb, f, idx]) t.dispose();
    vq.dispose();
  });

  it('decode ∘ encode is a projection: codes map to themselves, re-encoding quantized vectors is stable', async () => {
    const seed = freshSeed(4);
    const [K, D, N] = [50, 5, 120];
    const codes = Float32Array.from(normals(seed, K * D));
    const cb = B.tensor(codes, [K, D]);
    const vq = new VectorQuantizer({ codebook: cb });
    expect(Array.from(await (await vq.encode(cb)).data())).toEqual(Array.from({ length: K }, (_, i) => i));
    const zt = B.tensor(Float32Array.from(normals(seed + 1, N * D)), [4, 30, D]);
    const i1 = await vq.encode(zt);
    expect(i1.shape).toEqual([4, 30]);
    const q = vq.decode(i1);
    expect(q.shape).toEqual([4, 30, D]);
    const i2 = await vq.encode(q);
    expect(Array.from(await i2.data())).toEqual(Array.from(await i1.data()));
    vq.dispose();
  });

  it('quantize returns commitment loss, counts, usage and perplexity equal to float64 recomputation', async () => {
    const seed = freshSeed(5);
    const [K, D, N] = [16, 3, 400];
    const codes = Float32Array.from(normals(seed, K * D));
    const z = Float32Array.from(normals(seed + 1, N * D));
    const vq = new VectorQuantizer({ codebook: B.tensor(codes, [K, D]), beta: 0.3 });
    const r = await vq.quantize(B.tensor(z, [N, D]));
    const idx = (await r.indices.data()) as Int32Array;
    expectNearest(idx, z, codes, D, seed);
    let se = 0;
    const counts = new Float64Array(K);
    for (let i = 0; i < N; i++) {
      se += dist2(z, i, codes, idx[i]!, D);
      counts[idx[i]!]!++;
    }
    expect((await r.mse.data())[0]).toBeCloseTo(se / (N * D), 5);
    expect((await r.commitmentLoss.data())[0]).toBeCloseTo((0.3 * se) / (N * D), 5);
    expect(Array.from(await r.counts.data())).toEqual(Array.from(counts));
    // taming-transformers quantize.py: perplexity = exp(−Σ p log(p + 1e-10))
    let h = 0;
    for (const c of counts) h -= (c / N) * Math.log(c / N + 1e-10);
    expect((await r.perplexity.data())[0]).toBeCloseTo(Math.exp(h), 3);
    expect((await r.usage.data())[0]).toBeCloseTo(counts.filter((c) => c > 0).length / K, 6);
    const q = await r.quantized.data();
    for (let i = 0; i < N; i++) for (let d = 0; d < D; d++) expect(q[i * D + d]).toBe(codes[idx[i]! * D + d]);
  });

  it('repeated encodes do not grow backend memory', async () => {
    const seed = freshSeed(6);
    const cb = B.tensor(Float32Array.from(normals(seed, 64 * 4)), [64, 4]);
    const z = B.tensor(Float32Array.from(normals(seed + 1, 500 * 4)), [500, 4]);
    const vq = new VectorQuantizer({ codebook: cb, maxBlockElements: 64 * 100 });
    (await vq.encode(z)).dispose();
    const before = B.memory().tensors;
    for (let i = 0; i < 5; i++) {
      (await vq.encode(z)).dispose();
      const r = await vq.quantize(z);
      for (const t of Object.values(r)) t.dispose();
    }
    expect(B.memory().tensors).toBe(before);
  });

  it('bad input throws TesseraError', async () => {
    const cb = B.tensor(Float32Array.from([1, 2, 3, 4, 5, 6]), [3, 2]);
    const vq = new VectorQuantizer({ codebook: cb });
    await expect(vq.encode(B.tensor(Float32Array.from([1, 2, 3]), [1, 3]))).rejects.toThrow(TesseraError);
    await expect(vq.encode(B.tensor(Int32Array.from([1, 2]), [1, 2]))).rejects.toThrow(/float32/);
    expect(() => new VectorQuantizer({ codebook: B.tensor(Float32Array.from([1, 2]), [2]) })).toThrow(
      /\[K, D\]/,
    );
    expect(() => vq.decode(B.tensor(Float32Array.from([1]), [1]))).toThrow(TesseraError);
  });
});

describe('issue contract', () => {
  it('new VectorQuantizer({ codebook: tensor(codes, [K, D]) }).encode → Int32Array(N), L2 by default', async () => {
    const B = await getBackend();
    expect(typeof B.resize).toBe('function');
    const seed = freshSeed(7);
    const [K, D, N] = [10, 4, 25];
    const codes = Float32Array.from(normals(seed, K * D));
    const z = Float32Array.from(normals(seed + 1, N * D));
    const vq = new VectorQuantizer({ codebook: tensor(codes, [K, D]) });
    expect(vq.metric).toBe('l2');
    const idx = await (await vq.encode(tensor(z, [N, D]))).data();
    expect(idx).toBeInstanceOf(Int32Array);
    expect(idx.length).toBe(N);
    expectNearest(idx as Int32Array, z, codes, D, seed);
    // the one-shot helper agrees
    expect(Array.from(await nearestCode(tensor(z, [N, D]), tensor(codes, [K, D])).data())).toEqual(
      Array.from(idx),
    );
  });
});
