// maskedDecodeContinuous with a scripted continuous head: the head receives the doubled z and MAR's
// guidance weight, and predicted positions take the head's vectors while known ones stay fixed.
import {
  type ContinuousMaskedModel,
  maskedDecodeContinuous,
  maskPlan,
  randomOrders,
} from '@tessera/autoregressive';
import { describe, expect, it } from 'vitest';
import { testBackends } from '../../../test-utils/backends';
import { freshSeed, rows } from './helpers';

const seed = freshSeed();
const note = `(seed ${seed})`;

describe.each(await testBackends())('continuous-token masked decoding on %s', (_name, B) => {
  it('fills each position once with the head sample of its iteration, passing MAR linear cfg weights', async () => {
    const L = 10;
    const D = 2;
    const n = 2;
    const numIter = 4;
    const weights: number[] = [];
    const zRows: number[] = [];
    let iter = 0;
    // z = (iteration + 1) everywhere; the head returns z·w for the conditional rows.
    const model: ContinuousMaskedModel = {
      numClasses: 3,
      seqLen: L,
      tokenDim: D,
      forward: (tokens) => {
        zRows.push(tokens.shape[0]!);
        return B.fill([tokens.shape[0]!, L, D], ++iter, 'float32');
      },
      sampleHead: (z, o) => {
        weights.push(o.guidanceScale);
        return B.binary('mul', B.slice(z, [0, 0, 0], [n, L, D]), o.guidanceScale);
      },
    };
    const out = rows(
      await (
        await maskedDecodeContinuous(model, {
          batch: n,
          numIter,
          guidance: { scale: 3, schedule: 'linear' },
          seed,
          backend: B,
        })
      ).data(),
      L * D,
    );
    expect(zRows).toEqual(Array(numIter).fill(2 * n));
    // Re-derive which iteration fills each position (MAR mask_by_order with the same orders).
    const orders = randomOrders(n, L, { seed, offset: 0 });
    const plan = maskPlan(n, L, numIter, orders);
    for (let it = 0; it < numIter; it++) {
      const sum0 = plan.masks[it]!.slice(0, L).reduce((a, b) => a + b, 0);
      const maskLen = Math.max(
        1,
        Math.min(sum0 - 1, Math.floor(L * Math.cos((Math.PI / 2) * ((it + 1) / numIter)))),
      );
      expect(weights[it], note).toBeCloseTo(1 + 2 * ((L - maskLen) / L), 10); // MAR cfg_iter
    }
    for (let b = 0; b < n; b++) {
      for (let p = 0; p < L; p++) {
        const it = plan.toPred.findIndex((t) => t[b * L + p] === 1);
        for (let d = 0; d < D; d++) expect(out[b]![p * D + d], note).toBeCloseTo((it + 1) * weights[it]!, 5);
      }
    }
  });
});
