// VAR's multi-scale residual quantizer (FoundationVision/VAR models/quant.py, VectorQuantizer2) against a
// float64 re-derivation of its algorithm written here from that source.
import type { Backend, Tensor } from '@tessera/core';
import { MultiScaleResidualQuantizer, phiIndex, phiTicks, VAR_PATCH_NUMS } from '@tessera/tokenizers';
import { describe, expect, it } from 'vitest';
import { testBackends } from '../../../test-utils/backends.ts';
import { freshSeed, maxAbsDiff, normalizeRows, normals, resizeRef, uniforms } from './helpers.ts';

const backends = await testBackends();

/** φ index per scale for VAR's default 10 scales and 4 shared φ's, computed with numpy (see below). */
const VAR_K4 = [0, 0, 1, 1, 1, 2, 2, 3, 3, 3];

/** A procedural multi-scale field: Σₛ 0.6ˢ · bicubic-up(N(0,1) grid of side pₛ), [Bn, C, H, H]. */
function field(seed: number, Bn: number, C: number, pns: readonly number[]): Float64Array {
  const H = pns[pns.length - 1]!;
  const f = new Float64Array(Bn * C * H * H);
  pns.forEach((p, s) => {
    const g = normals(seed + s, Bn * C * p * p);
    const up = p === H ? g : resizeRef(g, Bn * C, p, p, H, H, 'bicubic');
    for (let i = 0; i < f.length; i++) f[i]! += 0.6 ** s * up[i]!;
  });
  return f;
}

/** Codes with log-uniform magnitudes in [0.03, 3] plus the zero code, so every residual has a code. */
function codebook(seed: number, K: number, C: number): Float64Array {
  const g = normals(seed, K * C);
  const u = uniforms(seed + 1, K);
  for (let k = 0; k < K; k++) for (let c = 0; c < C; c++) g[k * C + c]! *= k === 0 ? 0 : 0.03 * 100 ** u[k]!;
  return g;
}

/** NCHW → rows [B·h·w, C] (float64). */
function toRows(x: ArrayLike<number>, Bn: number, C: number, h: number, w: number): Float64Array {
  const out = new Float64Array(Bn * h * w * C);
  for (let b = 0; b < Bn; b++)
    for (let c = 0; c < C; c++)
      for (let p = 0; p < h * w; p++) out[(b * h * w + p) * C + c] = x[(b * C + c) * h * w + p]!;
  return out;
}

/** Codes of `idx` [B·h·w] as NCHW [B, C, h, w] (float64). */
function embedNCHW(
  idx: ArrayLike<number>,
  codes: ArrayLike<number>,
  Bn: number,
  C: number,
  h: number,
  w: number,
) {
  const out = new Float64Array(Bn * C * h * w);
  for (let b = 0; b < Bn; b++)
    for (let p = 0; p < h * w; p++)
      for (let c = 0; c < C; c++) out[(b * C + c) * h * w + p] = codes[idx[b * h * w + p]! * C + c]!;
  return out;
}

/**
 * Float64 VAR encode (`f_to_idxBl_or_fhat`, identity φ) that follows the given indices and checks each is a
 * float64 nearest code of the area-downsampled residual (ties within 1e-4 allowed). Returns f̂ after each scale.
 */
function varReference(
  f: Float64Array,
  codes: Float64Array,
  idxs: Int32Array[],
  Bn: number,
  C: number,
  pns: readonly number[],
  cosine = false,
) {
  const H = pns[pns.length - 1]!;
  const S = pns.length;
  const rest = Float64Array.from(f);
  const fHat = new Float64Array(f.length);
  const fHats: Float64Array[] = [];
  let exact = 0;
  let total = 0;
  const K = codes.length / C;
  pns.forEach((pn, si) => {
    const z = si === S - 1 ? rest : resizeRef(rest, Bn * C, H, H, pn, pn, 'area');
    // using_znorm: argmax of normalised z · normalised e = argmin of their squared distance
    const rows = cosine ? normalizeRows(toRows(z, Bn, C, pn, pn), C) : toRows(z, Bn, C, pn, pn);
    const search = cosine ? normalizeRows(codes, C) : codes;
    const idx = idxs[si]!;
    for (let r = 0; r < Bn * pn * pn; r++) {
      let best = Number.POSITIVE_INFINITY;
      let arg = -1;
      let chosen = 0;
      for (let k = 0; k < K; k++) {
        let d = 0;
        for (let c = 0; c < C; c++) d += (rows[r * C + c]! - search[k * C + c]!) ** 2;
        if (d < best) [best, arg] = [d, k];
        if (k === idx[r]) chosen = d;
      }
      expect(chosen - best, `scale ${si} row ${r}`).toBeLessThan(1e-4 * (1 + best));
      exact += arg === idx[r] ? 1 : 0;
      total++;
    }
    const h = embedNCHW(idx, codes, Bn, C, pn, pn);
    const up = pn === H ? h : resizeRef(h, Bn * C, pn, pn, H, H, 'bicubic');
    for (let i = 0; i < f.length; i++) {
      fHat[i]! += up[i]!;
      rest[i]! -= up[i]!;
    }
    fHats.push(Float64Array.from(fHat));
  });
  expect(exact / total).toBeGreaterThan(0.98);
  return fHats;
}

const mse = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i]! - b[i]!) ** 2;
  return s / a.length;
};

describe('VAR φ ticks (PhiPartiallyShared)', () => {
  it('match numpy linspace values and VAR index choices', () => {
    // numpy: np.linspace(1/3/4, 1-1/3/4, 4) = [0.08333333, 0.36111111, 0.63888889, 0.91666667]
    const t4 = phiTicks(4);
    [1 / 12, 0.3611111111111111, 0.6388888888888888, 11 / 12].forEach((v, i) => {
      expect(t4[i]).toBeCloseTo(v, 12);
    });
    // K ≠ 4: np.linspace(1/2/K, 1-1/2/K, K); K = 2 → [0.25, 0.75]
    expect(phiTicks(2)).toEqual([0.25, 0.75]);
    // VAR default (10 scales, share_quant_resi=4): argmin |ticks − si/9| per scale, computed with numpy:
    // [int(np.argmin(np.abs(np.linspace(1/3/4, 1-1/3/4, 4) - si/9))) for si in range(10)] (numpy 2.4)
    expect(Array.from({ length: 10 }, (_, si) => phiIndex(si, 10, 4))).toEqual(VAR_K4);
    // a tie (|0.25 − 0.5| = |0.75 − 0.5|) takes the first, as np.argmin does
    expect(phiIndex(1, 3, 2)).toBe(0);
    // K = S (PhiNonShared) maps scale s to φ_s
    expect(Array.from({ length: 10 }, (_, si) => phiIndex(si, 10, 10))).toEqual([
      0, 1, 2, 3, 4, 5, 6, 7, 8, 9,
    ]);
  });
});

describe.each(backends)('MultiScaleResidualQuantizer on %s', (_name, B: Backend) => {
  const pns = VAR_PATCH_NUMS;
  const [Bn, C, K] = [2, 4, 256];

  it('identity φ: f̂ = Σ bicubic-up(codes) as VAR specifies; error falls with every scale', async () => {
    const seed = freshSeed(11);
    const f = field(seed, Bn, C, pns);
    const codes = codebook(seed + 100, K, C);
    const cb = B.tensor(Float32Array.from(codes), [K, C]);
    const ft = B.tensor(Float32Array.from(f), [Bn, C, 16, 16]);
    const msrq = new MultiScaleResidualQuantizer({ codebook: cb });
    expect(msrq.tokenCount).toBe(680);
    const { indices, fHat, loss } = await msrq.quantize(ft);
    expect(indices.map((t) => t.shape)).toEqual(pns.map((p) => [Bn, p, p]));
    const idxs = await Promise.all(indices.map(async (t) => (await t.data()) as Int32Array));
    const ref = varReference(
      Float64Array.from(Float32Array.from(f)),
      Float64Array.from(Float32Array.from(codes)),
      idxs,
      Bn,
      C,
      pns,
    );
    const got = await fHat.data();
    expect(maxAbsDiff(got, ref[ref.length - 1]!), `seed ${seed}`).toBeLessThan(1e-4);
    // per-scale f̂ from decode(all) equals the reference's running sums
    const all = await msrq.decode(indices, { all: true });
    for (let s = 0; s < pns.length; s++)
      expect(maxAbsDiff(await all[s]!.data(), ref[s]!), `scale ${s} seed ${seed}`).toBeLessThan(1e-4);
    // monotone error on this procedural data
    const errs = ref.map((r) => mse(r, f));
    for (let s = 1; s < errs.length; s++)
      expect(errs[s]!, `scale ${s}: ${errs.join(', ')} seed ${seed}`).toBeLessThan(errs[s - 1]!);
    // VAR's mean_vq_loss forward value: (1 + β)/S Σ mse(f̂ₛ, f)
    const fl = Float64Array.from(Float32Array.from(f));
    const wantLoss = ((1 + 0.25) / pns.length) * ref.reduce((a, r) => a + mse(r, fl), 0);
    expect((await loss.data())[0]).toBeCloseTo(wantLoss, 4);
    for (const t of [cb, ft, fHat, loss, ...indices, ...all]) t.dispose();
    msrq.dispose();
  });

  it('cosine search (VAR using_znorm) picks by normalised vectors and decodes with the raw codes', async () => {
    const seed = freshSeed(15);
    const small = [1, 2, 4, 6];
    const f = field(seed, Bn, C, small);
    const codes = codebook(seed + 3, 64, C);
    codes.fill(0.5, 0, C); // no zero code: a zero vector has no direction
    const msrq = new MultiScaleResidualQuantizer({
      codebook: B.tensor(Float32Array.from(codes), [64, C]),
      patchNums: small,
      metric: 'cosine',
    });
    const { indices, fHat } = await msrq.quantize(B.tensor(Float32Array.from(f), [Bn, C, 6, 6]));
    const idxs = await Promise.all(indices.map(async (t) => (await t.data()) as Int32Array));
    const ref = varReference(
      Float64Array.from(Float32Array.from(f)),
      Float64Array.from(Float32Array.from(codes)),
      idxs,
      Bn,
      C,
      small,
      true,
    );
    expect(maxAbsDiff(await fHat.data(), ref[ref.length - 1]!), `seed ${seed}`).toBeLessThan(1e-4);
    msrq.dispose();
  });

  it('teacher-forcing input equals idxBl_to_var_input re-derived in float64', async () => {
    const seed = freshSeed(12);
    const small = [1, 2, 3, 5, 8];
    const H = 8;
    const codes = codebook(seed, 32, C);
    const cb = B.tensor(Float32Array.from(codes), [32, C]);
    const msrq = new MultiScaleResidualQuantizer({ codebook: cb, patchNums: small });
    const u = uniforms(seed + 1, Bn * small.reduce((a, p) => a + p * p, 0));
    let o = 0;
    const idxs = small.map((p) => Int32Array.from({ length: Bn * p * p }, () => Math.floor(u[o++]! * 32)));
    const tfi = (await msrq.teacherForcingInput(
      idxs.map((a, s) => B.tensor(a, [Bn, small[s]! * small[s]!])),
    ))!;
    expect(tfi.shape).toEqual([Bn, 4 + 9 + 25 + 64, C]);
    // reference: f̂ += up(codes of scale s); next = area(f̂ → p_{s+1}) as [B, p², C], concatenated on axis 1
    const cf = Float64Array.from(Float32Array.from(codes));
    const fHat = new Float64Array(Bn * C * H * H);
    const parts: Float64Array[] = [];
    for (let s = 0; s < small.length - 1; s++) {
      const p = small[s]!;
      const up = resizeRef(embedNCHW(idxs[s]!, cf, Bn, C, p, p), Bn * C, p, p, H, H, 'bicubic');
      for (let i = 0; i < fHat.length; i++) fHat[i]! += up[i]!;
      const q = small[s + 1]!;
      parts.push(toRows(resizeRef(fHat, Bn * C, H, H, q, q, 'area'), Bn, C, q, q));
    }
    const want = new Float64Array(Bn * 102 * C);
    for (let b = 0; b < Bn; b++) {
      let t0 = 0;
      parts.forEach((pt, s) => {
        const L = small[s + 1]! ** 2;
        want.set(pt.subarray(b * L * C, (b + 1) * L * C), (b * 102 + t0) * C);
        t0 += L;
      });
    }
    expect(maxAbsDiff(await tfi.data(), want), `seed ${seed}`).toBeLessThan(1e-5);
    tfi.dispose();
    const maps = idxs.map((a, s) => B.tensor(a, [Bn, small[s]!, small[s]!]));
    const before = B.memory().tensors;
    for (let rep = 0; rep < 3; rep++) (await msrq.teacherForcingInput(maps))!.dispose();
    expect(B.memory().tensors).toBe(before);
    msrq.dispose();
  });

  it('K shared φ functions are chosen by VAR ticks and applied after upsampling', async () => {
    const seed = freshSeed(13);
    const codes = codebook(seed, 16, C);
    const cb = B.tensor(Float32Array.from(codes), [16, C]);
    const calls: Array<[number, number]> = [];
    const scales = [0.5, 0.8, 1.1, 1.4];
    const phis = scales.map((a, k) => (h: Tensor, si: number) => {
      calls.push([si, k]);
      return h.backend.binary('mul', h, a);
    });
    const msrq = new MultiScaleResidualQuantizer({ codebook: cb, phi: phis });
    const idxs = pns.map((p, s) => Int32Array.from({ length: p * p }, (_, i) => (i * 7 + s) % 16));
    const [fHat] = await msrq.decode(idxs.map((a, s) => B.tensor(a, [1, pns[s]!, pns[s]!])));
    expect(calls).toEqual(VAR_K4.map((k, si) => [si, k]));
    const cf = Float64Array.from(Float32Array.from(codes));
    const want = new Float64Array(C * 256);
    pns.forEach((p, s) => {
      const h = embedNCHW(idxs[s]!, cf, 1, C, p, p);
      const up = p === 16 ? h : resizeRef(h, C, p, p, 16, 16, 'bicubic');
      const a = scales[VAR_K4[s]!]!;
      for (let i = 0; i < want.length; i++) want[i]! += a * up[i]!;
    });
    expect(maxAbsDiff(await fHat!.data(), want)).toBeLessThan(1e-4);
    msrq.dispose();
  });

  it('nextInput steps reproduce decode, and encode/decode loops do not grow backend memory', async () => {
    const seed = freshSeed(14);
    const small = [1, 2, 4];
    const codes = codebook(seed, 16, C);
    const cb = B.tensor(Float32Array.from(codes), [16, C]);
    const msrq = new MultiScaleResidualQuantizer({ codebook: cb, patchNums: small });
    const f = B.tensor(Float32Array.from(field(seed, 1, C, small)), [1, C, 4, 4]);
    const warm = await msrq.encode(f);
    for (const t of warm) t.dispose();
    const before = B.memory().tensors;
    for (let rep = 0; rep < 3; rep++) {
      const idx = await msrq.encode(f);
      const [dec] = await msrq.decode(idx);
      let fHat: Tensor | undefined;
      let next: Tensor | undefined;
      for (let s = 0; s < small.length; s++) {
        const r = await msrq.nextInput(s, fHat, msrq.embedAt(idx[s]!, s));
        fHat?.dispose();
        next?.dispose();
        fHat = r.fHat;
        next = r.next;
      }
      expect(maxAbsDiff(await fHat!.data(), await dec!.data())).toBeLessThan(1e-6);
      for (const t of [...idx, dec!, fHat!, next!]) t.dispose();
    }
    expect(B.memory().tensors).toBe(before);
    msrq.dispose();
  });

  it('rejects a feature map whose size is not the last patch size', async () => {
    const cb = B.tensor(Float32Array.from(codebook(1, 8, C)), [8, C]);
    const msrq = new MultiScaleResidualQuantizer({ codebook: cb });
    await expect(msrq.encode(B.fill([1, C, 8, 8], 1))).rejects.toThrow(/\[B, 4, 16, 16\]/);
    msrq.dispose();
  });
});
