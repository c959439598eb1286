import {
  applyGuidance,
  cosineMaskLen,
  guidanceWeight,
  maskedDecode,
  maskPlan,
  type NextScaleModel,
  type NextTokenModel,
  nextScaleDecode,
  randomOrders,
  rasterDecode,
} from '@tessera/autoregressive';
import type { Tensor } from '@tessera/core';
import {
  MaskedCountModel,
  proceduralTokenGrids,
  RasterCountModel,
  ScaleCountModel,
} from '@tessera/reference';
import { describe, expect, it } from 'vitest';
import { testBackends } from '../../../test-utils/backends';
import { freshSeed, mulberry } from './helpers';

const seed = freshSeed();
const note = `(seed ${seed})`;

describe.each(await testBackends())('classifier-free guidance on %s', (_name, B) => {
  it('applyGuidance = uncond + w·(cond − uncond), rows [0,B) conditional; −∞ stays −∞', async () => {
    const r = mulberry(seed);
    const n = 3;
    const V = 7;
    const x = Array.from({ length: 2 * n * V }, () => (r() - 0.5) * 6);
    x[2] = Number.NEGATIVE_INFINITY;
    x[n * V + 2] = Number.NEGATIVE_INFINITY;
    const w = 1 + r() * 4;
    const got = await applyGuidance(B.tensor(x, [2 * n, V]), w).data();
    for (let i = 0; i < n * V; i++) {
      const want = x[n * V + i]! + w * (x[i]! - x[n * V + i]!);
      if (i === 2) expect(got[i]).toBe(Number.NEGATIVE_INFINITY);
      else expect(got[i], note).toBeCloseTo(want, 4);
    }
  });

  it("next-scale linear ramp equals VAR's (1+t)·cond − t·uncond with t = cfg·k/(K−1)", async () => {
    const r = mulberry(seed + 1);
    const pn = [1, 2, 3, 4];
    const V = 5;
    const cfg = 1 + r() * 3;
    const tables = pn.map((p) => Array.from({ length: 2 * p * p * V }, () => (r() - 0.5) * 4));
    const model: NextScaleModel<null> = {
      vocabSize: V,
      numClasses: 10,
      patchNums: pn,
      begin: ({ batch }) => ({ logits: scripted(0, batch), state: null }),
      next: (k, _prev, state) => ({ logits: scripted(k, 2), state }),
    };
    function scripted(k: number, batch: number): Tensor {
      expect(batch).toBe(2); // one conditional row, one unconditional row
      return B.tensor(tables[k]!, [2, pn[k]! ** 2, V]);
    }
    const out = await nextScaleDecode(model, {
      batch: 1,
      guidance: { scale: 1 + cfg, schedule: 'linear' },
      sampling: { temperature: 0 },
      seed,
      backend: B,
    });
    for (let k = 0; k < pn.length; k++) {
      const t = (cfg * k) / (pn.length - 1); // VAR models/var.py autoregressive_infer_cfg
      const m = pn[k]! ** 2;
      const got = await out[k]!.data();
      for (let j = 0; j < m; j++) {
        const g = Array.from(
          { length: V },
          (_, v) => (1 + t) * tables[k]![j * V + v]! - t * tables[k]![(m + j) * V + v]!,
        );
        expect(got[j], note).toBe(g.indexOf(Math.max(...g)));
      }
    }
  });

  it('the interval cutoff really halves the batch the model sees', async () => {
    const data = proceduralTokenGrids({ count: 20, height: 8, width: 8, seed });
    const rm = RasterCountModel.fit(data, { backend: B });
    const sizes: number[] = [];
    const rec: NextTokenModel<unknown> = {
      vocabSize: rm.vocabSize,
      numClasses: rm.numClasses,
      prefill: (p, o) => {
        sizes.push(o.batch);
        return rm.prefill(p, o);
      },
      step: (t, s) => {
        sizes.push(t.shape[0]!);
        return rm.step(t, s as never);
      },
      sliceState: (s, b, n) => rm.sliceState(s as never, b, n),
      disposeState: (s) => rm.disposeState(s as never),
    };
    const labels = B.tensor([0, 1, 2], [3], 'int32');
    (
      await rasterDecode(rec, {
        batch: 3,
        length: 64,
        cond: { labels },
        guidance: { scale: 2, cutoff: 5 },
        seed,
        backend: B,
      })
    ).dispose();
    expect(sizes).toEqual([...Array(5).fill(6), ...Array(59).fill(3)]);

    const sm = ScaleCountModel.fit(data, { patchNums: [1, 2, 4, 8], backend: B });
    const ssz: number[] = [];
    const srec: NextScaleModel<unknown> = {
      vocabSize: sm.vocabSize,
      numClasses: sm.numClasses,
      patchNums: sm.patchNums,
      begin: (o) => {
        ssz.push(o.batch);
        return sm.begin(o);
      },
      next: (k, p, s) => {
        ssz.push(p.tokens.shape[0]!);
        return sm.next(k, p, s as never);
      },
      sliceState: (s, b, n) => sm.sliceState(s as never, b, n),
      disposeState: (s) => sm.disposeState(s as never),
    };
    for (const t of await nextScaleDecode(srec, {
      batch: 3,
      cond: { labels },
      guidance: { scale: 3, schedule: 'linear', cutoff: 2 },
      seed,
      backend: B,
    }))
      t.dispose();
    expect(ssz).toEqual([6, 6, 3, 3]);

    const mm = MaskedCountModel.fit(data, { backend: B });
    const msz: number[] = [];
    const mrec = {
      vocabSize: mm.vocabSize,
      numClasses: mm.numClasses,
      seqLen: mm.seqLen,
      logits: (t: Tensor, m: Tensor, c?: object) => {
        msz.push(t.shape[0]!);
        return mm.logits(t, m, c);
      },
    };
    (
      await maskedDecode(mrec, {
        batch: 3,
        numIter: 6,
        cond: { labels },
        guidance: { scale: 3, cutoff: 4 },
        seed,
        backend: B,
      })
    ).dispose();
    expect(msz).toEqual([6, 6, 6, 6, 3, 3]);
    rm.dispose();
    sm.dispose();
    mm.dispose();
  });
});

describe('schedules', () => {
  it("guidanceWeight: MAR's cfg_iter = 1 + (cfg − 1)·(L − mask_len)/L and constant", () => {
    expect(guidanceWeight({ scale: 4, schedule: 'linear' }, (256 - 100) / 256)).toBeCloseTo(
      1 + 3 * (156 / 256),
      12,
    );
    expect(guidanceWeight({ scale: 4 }, 0.3)).toBe(4);
  });

  it("mask plan follows MAR's sample_tokens loop (cosine mask_len, mask_by_order, linear cfg progress)", () => {
    const r = mulberry(seed + 5);
    const L = 16 + Math.floor(r() * 50);
    const numIter = 2 + Math.floor(r() * 12);
    const batch = 3;
    const orders = randomOrders(batch, L, { seed, offset: 0 });
    for (const o of orders)
      expect([...o].sort((a, b) => a - b)).toEqual(Array.from({ length: L }, (_, i) => i));
    const plan = maskPlan(batch, L, numIter, orders);
    // Re-derivation of MAR models/mar.py sample_tokens: mask starts all ones.
    let mask = Array.from({ length: batch }, () => new Array<number>(L).fill(1));
    const predicted = Array.from({ length: batch }, () => new Array<number>(L).fill(0));
    for (let step = 0; step < numIter; step++) {
      const ratio = Math.cos(((Math.PI / 2) * (step + 1)) / numIter); // MAR: math.pi / 2. * (step + 1) / num_iter
      const sum0 = mask[0]!.reduce((a, b) => a + b, 0);
      const maskLen = Math.max(1, Math.min(sum0 - 1, Math.floor(L * ratio)));
      const next = orders.map((o) => {
        const m = new Array<number>(L).fill(0);
        for (let i = 0; i < maskLen; i++) m[o[i]!] = 1;
        return m;
      });
      expect(plan.progress[step], note).toBeCloseTo((L - maskLen) / L, 12);
      for (let b = 0; b < batch; b++) {
        for (let p = 0; p < L; p++) {
          const pred = step >= numIter - 1 ? mask[b]![p]! : mask[b]![p]! && !next[b]![p] ? 1 : 0;
          expect(plan.toPred[step]![b * L + p], note).toBe(pred);
          expect(plan.masks[step]![b * L + p], note).toBe(mask[b]![p]);
          predicted[b]![p]! += pred;
        }
      }
      mask = next;
    }
    for (const p of predicted) expect(p.every((c) => c === 1)).toBe(true);
    expect(cosineMaskLen(16, 0, 8, 16)).toBe(15);
  });
});
