// @tessera/autoregressive's decoders on exported AR reference models: the raster, next-scale and masked
// decoders run through onnxRasterModel / onnxScaleModel / onnxMaskedModel and through the TypeScript
// models, on the same ONNX backend with the same seed, and must produce identical tokens (the logits are
// the same float32 values — see export-ar.test.ts — and the sampling ops are the same), with guidance,
// its cutoff (sliceState), control embeddings, random orders and known tokens. Adapters leave no tensors
// behind.
import { maskedDecode, nextScaleDecode, rasterDecode } from '@tessera/autoregressive';
import { onnxMaskedModel, onnxRasterModel, onnxScaleModel } from '@tessera/backend-onnx';
import type { Tensor } from '@tessera/core';
import {
  EmpiricalRasterModel,
  EmpiricalScaleModel,
  MaskedCountModel,
  RasterCountModel,
  ScaleCountModel,
  tokenPyramid,
} from '@tessera/reference';
import { exportTokenModel } from '@tessera/reference-onnx';
import { afterAll, describe, expect, it } from 'vitest';
import { arFixture } from './ar-fixture.ts';

const { seed, note, u, ri, B, H, W, L, V, C, pn, data, randomLabels } = arFixture();
afterAll(() => B.dispose());
const n = 3;
const labelsOf = () => randomLabels(n);

async function tokensOf(t: Tensor | Tensor[]): Promise<number[][]> {
  const all = Array.isArray(t) ? t : [t];
  const out: number[][] = [];
  for (const x of all) {
    out.push(Array.from(await x.data()));
    x.dispose();
  }
  return out;
}

/** Decodes with the TS model and the adapter (same backend and seed); checks no adapter tensor leaks. */
async function both(
  decode: (model: never, extra: { labels: Tensor }) => Promise<Tensor | Tensor[]>,
  ts: unknown,
  onnx: unknown,
  labels: number[],
): Promise<[number[][], number[][]]> {
  const lt = B.tensor(labels, [n], 'int32');
  const want = await tokensOf(await decode(ts as never, { labels: lt }));
  const before = B.memory().tensors;
  const got = await tokensOf(await decode(onnx as never, { labels: lt }));
  expect(B.memory().tensors, `adapter tensors left behind (${note})`).toBe(before);
  lt.dispose();
  return [got, want];
}

describe(`decoders on exported AR models give the TS model's tokens (${note})`, () => {
  it('rasterDecode: labels, CFG with a cutoff (sliceState), control embeddings, top-k', async () => {
    const m = RasterCountModel.fit(data, { backend: B });
    const a = await onnxRasterModel(exportTokenModel(m), { backend: B });
    const emb = B.tensor(
      Float32Array.from({ length: n * L * V }, () => u() - 0.5),
      [n, L, V],
    );
    const cutoff = 1 + ri(L - 2);
    const [got, want] = await both(
      (model, { labels }) =>
        rasterDecode(model, {
          batch: n,
          length: L,
          backend: B,
          cond: { labels, control: { embeddings: emb, strength: 0.7 } },
          sampling: { temperature: 1, topK: 4 },
          guidance: { scale: 1.5, cutoff },
          seed,
        }),
      m,
      a,
      labelsOf(),
    );
    expect(got, note).toEqual(want);
    expect(new Set(want[0]).size, `a degenerate decode (${note})`).toBeGreaterThan(1);
    emb.dispose();
    m.dispose();
    await a.dispose();
  });

  it('rasterDecode in a random order with known tokens (inpainting)', async () => {
    const m = RasterCountModel.fit(data, { backend: B });
    const a = await onnxRasterModel(exportTokenModel(m), { backend: B });
    const order = Array.from({ length: L }, (_, i) => i);
    for (let i = L - 1; i > 0; i--) {
      const j = ri(i + 1);
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    const known = Array.from({ length: n * L }, () => (u() < 0.3 ? 1 : 0));
    const kt = B.tensor(
      Array.from({ length: n * L }, () => ri(V)),
      [n, L],
      'int32',
    );
    const km = B.tensor(known, [n, L]);
    const [got, want] = await both(
      (model, { labels }) =>
        rasterDecode(model, {
          batch: n,
          length: L,
          backend: B,
          order,
          cond: { labels },
          known: { tokens: kt, mask: km },
          seed,
        }),
      m,
      a,
      labelsOf(),
    );
    expect(got, note).toEqual(want);
    kt.dispose();
    km.dispose();
    m.dispose();
    await a.dispose();
  });

  it('nextScaleDecode: labels, linear CFG schedule, top-k', async () => {
    const m = ScaleCountModel.fit(data, { patchNums: pn, backend: B });
    const a = await onnxScaleModel(exportTokenModel(m), { backend: B });
    const [got, want] = await both(
      (model, { labels }) =>
        nextScaleDecode(model, {
          batch: n,
          backend: B,
          cond: { labels },
          guidance: { scale: 2.5, schedule: 'linear' },
          sampling: { topK: 3 },
          seed,
        }),
      m,
      a,
      labelsOf(),
    );
    expect(got.map((s) => s.length)).toEqual(pn.map((p) => n * p * p));
    expect(got, note).toEqual(want);
    m.dispose();
    await a.dispose();
  });

  it('maskedDecode: labels, MAR linear CFG, a guidance cutoff', async () => {
    const m = MaskedCountModel.fit(data, { backend: B });
    const a = await onnxMaskedModel(exportTokenModel(m), { backend: B });
    const [got, want] = await both(
      (model, { labels }) =>
        maskedDecode(model, {
          batch: n,
          numIter: 6,
          backend: B,
          cond: { labels },
          guidance: { scale: 3, schedule: 'linear', cutoff: 4 },
          seed,
        }),
      m,
      a,
      labelsOf(),
    );
    expect(got, note).toEqual(want);
    m.dispose();
    await a.dispose();
  });

  it('empirical models: raster (random order) and next-scale decodes reproduce training sequences, like the TS models', async () => {
    const labelled = { sequences: data.grids, vocabSize: V, labels: data.labels, numClasses: C };
    const er = new EmpiricalRasterModel(labelled, { backend: B });
    const ar = await onnxRasterModel(exportTokenModel(er), { backend: B });
    const order = Array.from({ length: L }, (_, i) => (i * 37) % L); // 37 is coprime to 64
    const [got, want] = await both(
      (model, { labels }) =>
        rasterDecode(model, { batch: n, length: L, backend: B, order, cond: { labels }, seed }),
      er,
      ar,
      labelsOf(),
    );
    expect(got, note).toEqual(want);
    const train = new Set(data.grids.map((g) => g.join()));
    for (let b = 0; b < n; b++)
      expect(train.has(got[0]!.slice(b * L, (b + 1) * L).join()), `row ${b} (${note})`).toBe(true);

    const pyr = data.grids.map((g) =>
      Int32Array.from(tokenPyramid(g, H, W, pn).flatMap((x) => Array.from(x))),
    );
    const es = new EmpiricalScaleModel({ ...labelled, sequences: pyr }, pn, { backend: B });
    const as = await onnxScaleModel(exportTokenModel(es), { backend: B });
    const [gs, ws] = await both(
      (model, { labels }) => nextScaleDecode(model, { batch: n, backend: B, cond: { labels }, seed }),
      es,
      as,
      labelsOf(),
    );
    expect(gs, note).toEqual(ws);
    er.dispose();
    es.dispose();
    await ar.dispose();
    await as.dispose();
  });
});
