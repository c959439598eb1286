// The exported AR reference models on the other ONNX Runtime targets: onnxruntime-web (wasm) and
// onnxruntime-node's WebGPU provider. The logits are a Gather from the model's float32 table, so every
// provider must give the same bits as the TypeScript model; here the reference is the model's own
// logits on the CPU backend, teacher-forced where the model is causal.
import { onnxMaskedModel, onnxRasterModel, onnxScaleModel } from '@tessera/backend-onnx';
import { currentBackend, type Tensor } from '@tessera/core';
import {
  MaskedCountModel,
  proceduralTokenGrids,
  RasterCountModel,
  ScaleCountModel,
} from '@tessera/reference';
import { exportTokenModel } from '@tessera/reference-onnx';
import { describe, expect, it } from 'vitest';
import { rng } from '../../backend-onnx/test/ref64.ts';
import { type Target, tryOnnxBackend } from '../../backend-onnx/test/targets.ts';

const seed = Number(process.env.TESSERA_TEST_SEED ?? Date.now() % 1e9);
const u = rng(seed);
const ri = (k: number) => Math.floor(u() * k);
const cpu = currentBackend();
const [H, W, V, C] = [6, 6, 5, 3];
const L = H * W;
const pn = [1, 2, 3, 6];
const data = proceduralTokenGrids({ count: 30, height: H, width: W, vocabSize: V, seed });

async function read(t: Tensor): Promise<number[]> {
  const d = Array.from(await t.data());
  t.dispose();
  return d;
}

/** Index of the first difference, or −1. */
const firstDiff = (a: number[], b: number[]) =>
  a.length !== b.length ? 0 : a.findIndex((v, i) => !Object.is(v, b[i]));

describe.each<Target>(['web-wasm', 'node-webgpu'])(
  `exported AR count models on %s (seed ${seed})`,
  (target) => {
    it('raster, next-scale and masked: logits equal the TypeScript models bit for bit', async (ctx) => {
      const B = await tryOnnxBackend(target);
      if (!B) return ctx.skip();
      const n = 2;
      const labels = Array.from({ length: n }, () => ri(C + 1));
      const lab = (BB: typeof cpu) => BB.tensor(labels, [n], 'int32');

      // raster: the graph's teacher-forced logits against prefill + steps of the TS model
      const raster = RasterCountModel.fit(data, { backend: cpu });
      const ra = await onnxRasterModel(exportTokenModel(raster), { backend: B });
      const grid = Array.from({ length: n * L }, () => ri(V));
      const got = await read(
        (await ra.model.run({ tokens: B.tensor(grid, [n, L], 'int32'), labels: lab(B) })).logits!,
      );
      const want = new Array<number>(n * L * V);
      let r = raster.prefill(null, { batch: n, cond: { labels: lab(cpu) } });
      for (let t = 0; t < L; t++) {
        const l = await read(r.logits);
        for (let b = 0; b < n; b++) for (let v = 0; v < V; v++) want[(b * L + t) * V + v] = l[b * V + v]!;
        if (t + 1 < L)
          r = raster.step(
            cpu.tensor(
              grid.filter((_, i) => i % L === t),
              [n],
              'int32',
            ),
            r.state,
          );
      }
      raster.disposeState(r.state);
      expect(firstDiff(got, want), `raster on ${target}, seed ${seed}`).toBe(-1);

      // next-scale: each scale's logits from the adapter against begin/next
      const scale = ScaleCountModel.fit(data, { patchNums: pn, backend: cpu });
      const sa = await onnxScaleModel(exportTokenModel(scale), { backend: B });
      let ts = scale.begin({ batch: n, cond: { labels: lab(cpu) } });
      let ox = sa.begin({ batch: n, cond: { labels: lab(B) } });
      for (let k = 0; k < pn.length; k++) {
        const w = await read(ts.logits);
        expect(firstDiff(await read(ox.logits), w), `scale ${k} on ${target}, seed ${seed}`).toBe(-1);
        if (k + 1 === pn.length) break;
        const tok = Array.from({ length: n * pn[k]! ** 2 }, () => ri(V));
        ts = scale.next(k + 1, { tokens: cpu.tensor(tok, [n, pn[k]! ** 2], 'int32') }, ts.state);
        ox = sa.next(k + 1, { tokens: B.tensor(tok, [n, pn[k]! ** 2], 'int32') }, ox.state);
      }
      scale.disposeState?.(ts.state);
      sa.disposeState?.(ox.state);

      // masked: random tokens and mask (1 = masked)
      const masked = MaskedCountModel.fit(data, { backend: cpu });
      const ma = await onnxMaskedModel(exportTokenModel(masked), { backend: B });
      const tok = Array.from({ length: n * L }, () => ri(V));
      const mask = tok.map(() => (u() < 0.5 ? 1 : 0));
      const mg = await read(
        ma.logits(B.tensor(tok, [n, L], 'int32'), B.tensor(mask, [n, L]), { labels: lab(B) }),
      );
      const mw = await read(
        masked.logits(cpu.tensor(tok, [n, L], 'int32'), cpu.tensor(mask, [n, L]), { labels: lab(cpu) }),
      );
      expect(firstDiff(mg, mw), `masked on ${target}, seed ${seed}`).toBe(-1);

      for (const m of [raster, scale, masked]) m.dispose();
      for (const a of [ra, sa, ma]) await a.dispose();
    }, 60_000);
  },
);
