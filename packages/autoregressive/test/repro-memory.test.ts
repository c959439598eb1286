import { maskedDecode, nextScaleDecode, rasterDecode } from '@tessera/autoregressive';
import { type Backend, currentBackend, type Tensor, TesseraError } from '@tessera/core';
import {
  MaskedCountModel,
  proceduralTokenGrids,
  RasterCountModel,
  ScaleCountModel,
} from '@tessera/reference';
import { describe, expect, it } from 'vitest';
import { testBackends } from '../../../test-utils/backends';
import { freshSeed } from './helpers';

const seed = freshSeed();
const note = `(seed ${seed})`;
const backends = await testBackends();
const pn = [1, 2, 3, 4, 6, 8];

/** Runs the three decoders with guidance and filters; returns their token arrays. */
async function decodeAll(B: Backend, s: number): Promise<number[][]> {
  const data = proceduralTokenGrids({ count: 30, height: 8, width: 8, seed: 5 });
  const labels = B.tensor([0, 2, 1], [3], 'int32');
  const sampling = { temperature: 0.9, topK: 4, topP: 0.95 };
  const rm = RasterCountModel.fit(data, { backend: B });
  const sm = ScaleCountModel.fit(data, { patchNums: pn, backend: B });
  const mm = MaskedCountModel.fit(data, { backend: B });
  const a = await rasterDecode(rm, {
    batch: 3,
    length: 64,
    cond: { labels },
    guidance: { scale: 1.5, cutoff: 40 },
    sampling,
    seed: s,
    backend: B,
  });
  const b = await nextScaleDecode(sm, {
    batch: 3,
    cond: { labels },
    guidance: { scale: 2, schedule: 'linear' },
    sampling,
    moreSmooth: true,
    seed: s,
    backend: B,
  });
  const c = await maskedDecode(mm, {
    batch: 3,
    numIter: 6,
    cond: { labels },
    guidance: { scale: 2, schedule: 'linear' },
    sampling: { minP: 0.1 },
    seed: s,
    backend: B,
  });
  const out = [await a.array(), ...(await Promise.all(b.map((t) => t.array()))), await c.array()];
  for (const t of [a, ...b, c, labels]) t.dispose();
  rm.dispose();
  sm.dispose();
  mm.dispose();
  return out;
}

describe.each(backends)('reproducibility and resources on %s', (name, B) => {
  it('a fixed seed gives the same tokens twice, and the same tokens as on CPU', async () => {
    const first = await decodeAll(B, seed);
    expect(await decodeAll(B, seed), note).toEqual(first);
    if (name !== 'cpu') expect(first, note).toEqual(await decodeAll(currentBackend(), seed));
    const other = await decodeAll(B, seed + 1);
    expect(other, note).not.toEqual(first);
  });

  it('decode loops read nothing back and leave no tensors behind', async () => {
    const data = proceduralTokenGrids({ count: 20, height: 8, width: 8, seed: 2 });
    const rm = RasterCountModel.fit(data, { backend: B });
    const sm = ScaleCountModel.fit(data, { patchNums: pn, backend: B });
    const mm = MaskedCountModel.fit(data, { backend: B });
    const labels = B.tensor([1, 0], [2], 'int32');
    const before = B.memory().tensors;
    const read = B.read;
    let reads = 0;
    B.read = (t: Tensor) => {
      reads++;
      return read.call(B, t);
    };
    const outs: Tensor[] = [];
    try {
      for (const cache of ['static', 'concat', 'none'] as const) {
        const m = RasterCountModel.fit(data, { backend: B, cache });
        outs.push(
          await rasterDecode(m, {
            batch: 2,
            length: 64,
            cond: { labels },
            guidance: { scale: 2, cutoff: 10 },
            seed,
            backend: B,
          }),
        );
        m.dispose();
      }
      outs.push(
        ...(await nextScaleDecode(sm, {
          batch: 2,
          cond: { labels },
          guidance: { scale: 2, schedule: 'linear', cutoff: 3 },
          moreSmooth: true,
          seed,
          backend: B,
        })),
      );
      outs.push(
        await maskedDecode(mm, {
          batch: 2,
          numIter: 8,
          cond: { labels },
          guidance: { scale: 2, schedule: 'linear' },
          seed,
          backend: B,
        }),
      );
    } finally {
      B.read = read;
    }
    expect(reads).toBe(0);
    expect(B.memory().tensors).toBe(before + outs.length);
    // The three cache kinds compute the same model: the same seed gives the same tokens.
    const [s, c, n] = await Promise.all(outs.slice(0, 3).map((t) => t.array()));
    expect(c, note).toEqual(s);
    expect(n, note).toEqual(s);
    for (const t of outs) t.dispose();
    labels.dispose();
    rm.dispose();
    sm.dispose();
    mm.dispose();
  });

  it('rejects bad input with TesseraError and honours an aborted signal', async () => {
    const data = proceduralTokenGrids({ count: 5, height: 4, width: 4, seed: 1 });
    const rm = RasterCountModel.fit(data, { backend: B });
    const ac = new AbortController();
    ac.abort();
    await expect(rasterDecode(rm, { batch: 1, length: 16, signal: ac.signal, backend: B })).rejects.toThrow(
      TesseraError,
    );
    await expect(rasterDecode(rm, { batch: 0, length: 16, backend: B })).rejects.toThrow(/batch/);
    await expect(rasterDecode(rm, { batch: 1, length: 16, order: [0, 0], backend: B })).rejects.toThrow(
      /order/,
    );
    const bad = B.tensor([1, 2], [1, 2], 'int32');
    await expect(
      rasterDecode(rm, { batch: 1, length: 16, known: { tokens: bad, mask: bad }, backend: B }),
    ).rejects.toThrow(/known.tokens must be \[1, 16\]/);
    await expect(
      maskedDecode(MaskedCountModel.fit(data, { backend: B }), { batch: 1, numIter: 0, backend: B }),
    ).rejects.toThrow(/numIter/);
    const concat = RasterCountModel.fit(data, { backend: B, cache: 'concat' });
    const order = Array.from({ length: 16 }, (_, i) => 15 - i);
    await expect(rasterDecode(concat, { batch: 1, length: 16, order, backend: B })).rejects.toThrow(
      /raster order only/,
    );
    rm.dispose();
    concat.dispose();
  });
});
