// Philox offsets advance deterministically: token i of row b in raster decoding is drawn with word
// offset0 + i·B + b; scale k of next-scale decoding starts after all rows of the scales before it.
import {
  type NextScaleModel,
  type NextTokenModel,
  nextScaleDecode,
  rasterDecode,
} from '@tessera/autoregressive';
import { describe, expect, it } from 'vitest';
import { testBackends } from '../../../test-utils/backends';
import { draw64, freshSeed, mulberry, rows, softmax64 } from './helpers';

const seed = freshSeed();
const note = `(seed ${seed})`;

describe.each(await testBackends())('Philox offsets per step on %s', (_name, B) => {
  it('raster: row b, token i uses word offset + i·B + b', async () => {
    const r = mulberry(seed);
    const n = 3;
    const L = 9;
    const V = 5;
    const table = Array.from({ length: L * n * V }, () => (r() - 0.5) * 3);
    const model: NextTokenModel<number> = {
      vocabSize: V,
      prefill: () => ({ logits: B.tensor(table.slice(0, n * V), [n, V]), state: 0 }),
      step: (_t, i) => ({
        logits: B.tensor(table.slice((i + 1) * n * V, (i + 2) * n * V), [n, V]),
        state: i + 1,
      }),
    };
    const offset = Math.floor(r() * 1000);
    const got = rows(
      await (await rasterDecode(model, { batch: n, length: L, seed, offset, backend: B })).data(),
      L,
    );
    for (let i = 0; i < L; i++) {
      for (let b = 0; b < n; b++) {
        const { index, margin } = draw64(
          softmax64(table.slice((i * n + b) * V, (i * n + b + 1) * V)),
          seed,
          offset + i * n + b,
        );
        if (margin > 1e-5) expect(got[b]![i], `${note} b=${b} i=${i}`).toBe(index);
      }
    }
  });

  it('next-scale: scale k, row b, position j uses word Σ_{k′<k} B·p_k′² + b·p_k² + j', async () => {
    const r = mulberry(seed + 1);
    const pn = [1, 2, 3];
    const n = 2;
    const V = 4;
    const tables = pn.map((p) => Array.from({ length: n * p * p * V }, () => (r() - 0.5) * 3));
    const model: NextScaleModel<null> = {
      vocabSize: V,
      patchNums: pn,
      begin: () => ({ logits: B.tensor(tables[0]!, [n, 1, V]), state: null }),
      next: (k) => ({ logits: B.tensor(tables[k]!, [n, pn[k]! ** 2, V]), state: null }),
    };
    const out = await nextScaleDecode(model, { batch: n, seed, backend: B });
    let base = 0;
    for (let k = 0; k < pn.length; k++) {
      const m = pn[k]! ** 2;
      const got = await out[k]!.data();
      for (let row = 0; row < n * m; row++) {
        const { index, margin } = draw64(
          softmax64(tables[k]!.slice(row * V, (row + 1) * V)),
          seed,
          base + row,
        );
        if (margin > 1e-5) expect(got[row], `${note} k=${k} row=${row}`).toBe(index);
      }
      base += n * m;
    }
  });
});
