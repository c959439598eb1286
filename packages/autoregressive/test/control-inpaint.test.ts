import { controlFromTokens, maskedDecode, nextScaleDecode, rasterDecode } from '@tessera/autoregressive';
import {
  EmpiricalMaskedModel,
  EmpiricalRasterModel,
  MaskedCountModel,
  proceduralTokenGrids,
  RasterCountModel,
  ScaleCountModel,
  tokenPyramid,
} from '@tessera/reference';
import { describe, expect, it } from 'vitest';
import { testBackends } from '../../../test-utils/backends';
import { freshSeed, mulberry, rows } from './helpers';

const seed = freshSeed();
const note = `(seed ${seed})`;

describe.each(await testBackends())('control and inpainting on %s', (_name, B) => {
  const data = proceduralTokenGrids({ count: 30, height: 8, width: 8, vocabSize: 5, seed });
  const V = 5;
  const L = 64;
  const r = mulberry(seed);
  const target = Int32Array.from({ length: 2 * L }, () => Math.floor(r() * V)); // not a training image
  const eye = B.tensor(
    Float32Array.from({ length: V * V }, (_, i) => (i % (V + 1) === 0 ? 1 : 0)),
    [V, V],
  );

  it('strong control tokens steer every decoder to the control map; strength 0 changes nothing', async () => {
    const rm = RasterCountModel.fit(data, { backend: B });
    const ctl = controlFromTokens(B.tensor(target, [2, L], 'int32'), eye, 60);
    const steered = await (
      await rasterDecode(rm, {
        batch: 2,
        length: L,
        cond: { control: ctl },
        seed,
        backend: B,
      })
    ).data();
    expect(Array.from(steered), note).toEqual(Array.from(target));
    const off = await (
      await rasterDecode(rm, {
        batch: 2,
        length: L,
        cond: { control: { ...ctl, strength: 0 } },
        seed,
        backend: B,
      })
    ).data();
    const plain = await (await rasterDecode(rm, { batch: 2, length: L, seed, backend: B })).data();
    expect(Array.from(off), note).toEqual(Array.from(plain));

    const mm = MaskedCountModel.fit(data, { backend: B });
    const ms = await (
      await maskedDecode(mm, {
        batch: 2,
        numIter: 5,
        cond: { control: ctl },
        seed,
        backend: B,
      })
    ).data();
    expect(Array.from(ms), note).toEqual(Array.from(target));

    const pn = [1, 2, 4, 8];
    const sm = ScaleCountModel.fit(data, { patchNums: pn, backend: B });
    const pyr = [0, 1].map((b) => tokenPyramid(target.subarray(b * L, (b + 1) * L), 8, 8, pn));
    const flat = Int32Array.from([
      ...pyr[0]!.flatMap((a) => Array.from(a)),
      ...pyr[1]!.flatMap((a) => Array.from(a)),
    ]);
    const sctl = controlFromTokens(B.tensor(flat, [2, flat.length / 2], 'int32'), eye, 60);
    const out = await nextScaleDecode(sm, { batch: 2, cond: { control: sctl }, seed, backend: B });
    expect(Array.from(await out.at(-1)!.data()), note).toEqual(Array.from(target));
    rm.dispose();
    mm.dispose();
    sm.dispose();
  });

  it('known tokens are teacher-forced: fixed positions keep their values under every decoder', async () => {
    const known = Float32Array.from({ length: 2 * L }, () => (r() < 0.3 ? 1 : 0));
    const kt = B.tensor(target, [2, L], 'int32');
    const km = B.tensor(known, [2, L], 'float32');
    const check = (got: ArrayLike<number>) => {
      for (let i = 0; i < 2 * L; i++) if (known[i]) expect(got[i], `${note} at ${i}`).toBe(target[i]);
    };
    const rm = RasterCountModel.fit(data, { backend: B });
    check(
      await (
        await rasterDecode(rm, {
          batch: 2,
          length: L,
          known: { tokens: kt, mask: km },
          seed,
          backend: B,
        })
      ).data(),
    );
    const mm = MaskedCountModel.fit(data, { backend: B });
    check(
      await (
        await maskedDecode(mm, {
          batch: 2,
          numIter: 6,
          known: { tokens: kt, mask: known },
          seed,
          backend: B,
        })
      ).data(),
    );
    const sm = ScaleCountModel.fit(data, { patchNums: [1, 2, 4, 8], backend: B });
    const out = await nextScaleDecode(sm, {
      batch: 2,
      known: [undefined, undefined, undefined, { tokens: kt, mask: km }],
      seed,
      backend: B,
    });
    check(await out.at(-1)!.data());
    rm.dispose();
    mm.dispose();
    sm.dispose();
  });

  it('inpainting with the empirical models completes the one training sequence consistent with the known tokens', async () => {
    const N = 6;
    const Lm = 12;
    const seqs = Array.from({ length: N }, (_, n) =>
      Int32Array.from({ length: Lm }, () => 3 * n + Math.floor(r() * 3)),
    );
    const s = 1 + Math.floor(r() * (N - 1));
    // Outpainting in raster order: a known prefix of 2 tokens (tokens identify the sequence).
    const rm = new EmpiricalRasterModel({ sequences: seqs, vocabSize: 3 * N }, { backend: B });
    const mask = Float32Array.from({ length: Lm }, (_, i) => (i < 2 ? 1 : 0));
    const got = await (
      await rasterDecode(rm, {
        batch: 1,
        length: Lm,
        known: { tokens: B.tensor(seqs[s]!, [1, Lm], 'int32'), mask: B.tensor(mask, [1, Lm]) },
        seed,
        backend: B,
      })
    ).data();
    expect(Array.from(got), note).toEqual(Array.from(seqs[s]!));
    // Masked: one known token anywhere.
    const mm = new EmpiricalMaskedModel({ sequences: seqs, vocabSize: 3 * N }, { backend: B });
    const hole = new Float32Array(Lm);
    hole[Math.floor(r() * Lm)] = 1;
    const got2 = rows(
      await (
        await maskedDecode(mm, {
          batch: 1,
          numIter: 4,
          known: { tokens: B.tensor(seqs[s]!, [1, Lm], 'int32'), mask: hole },
          seed,
          backend: B,
        })
      ).data(),
      Lm,
    );
    expect(got2[0], note).toEqual(Array.from(seqs[s]!));
    rm.dispose();
    mm.dispose();
  });
});
