// Reference AR models: their logits equal smoothed counts re-derived here in float64.
import { currentBackend } from '@tessera/core';
import {
  EmpiricalMaskedModel,
  EmpiricalRasterModel,
  EmpiricalScaleModel,
  MaskedCountModel,
  proceduralTokenGrids,
  RasterCountModel,
  ScaleCountModel,
  tokenPyramid,
} from '@tessera/reference';
import { describe, expect, it } from 'vitest';
import { testBackends } from '../../../test-utils/backends';
import { mulberry32 as rng } from '../../../test-utils/random.ts';

const seed = Number(
  process.env.TESSERA_SEED ?? process.env.TESSERA_TEST_SEED ?? (Date.now() * 131) % 2 ** 31,
);
const note = `(seed ${seed})`;

const H = 6;
const W = 6;
const V = 4;
const data = proceduralTokenGrids({ count: 25, height: H, width: W, vocabSize: V, seed });

/** Smoothed log-probability from a map of counts. */
function smoothed(counts: number[], alpha = 1): number[] {
  const tot = counts.reduce((a, b) => a + b, 0);
  return counts.map((c) => Math.log((c + alpha) / (tot + alpha * counts.length)));
}

/** Neighbour token of grid g at (r, c) or V outside / not generated. */
const at = (g: ArrayLike<number>, r: number, c: number, known?: (p: number) => boolean) =>
  r >= 0 && r < H && c >= 0 && c < W && (!known || known(r * W + c)) ? g[r * W + c]! : V;

describe('procedural token data', () => {
  it('is deterministic in the seed, in range, and has all three classes', () => {
    const again = proceduralTokenGrids({ count: 25, height: H, width: W, vocabSize: V, seed });
    expect(again.grids).toEqual(data.grids);
    for (const g of data.grids) for (const t of g) expect(t >= 0 && t < V).toBe(true);
    expect(new Set(data.labels).size, note).toBeGreaterThan(1);
    expect(data.grids.some((g) => g.some((t) => t !== 0))).toBe(true);
  });

  it('tokenPyramid takes grid[⌊i·H/p⌋, ⌊j·W/p⌋] (PyTorch nearest) and ends with the grid', () => {
    const g = data.grids[0]!;
    const pyr = tokenPyramid(g, H, W, [1, 2, 4, 6]);
    expect(Array.from(pyr[3]!)).toEqual(Array.from(g));
    expect(pyr[1]![3]).toBe(g[Math.floor(3) * W + 3]); // (1,1) at p=2 → (3,3)
    expect(pyr[2]![1 * 4 + 3]).toBe(g[Math.floor(6 / 4) * W + Math.floor((3 * 6) / 4)]);
  });
});

describe.each(await testBackends())('reference AR models on %s', (_name, B) => {
  it.each(['static', 'concat', 'none'] as const)(
    'raster count model (%s cache): logits = log smoothed counts of (class, left, up, up-left, up-right)',
    async (cache) => {
      const m = RasterCountModel.fit(data, { cache, backend: B });
      const r = rng(seed);
      const src = data.grids[Math.floor(r() * data.grids.length)]!;
      const T = 1 + Math.floor(r() * (H * W - 2));
      const label = Math.floor(r() * 4); // 3 = null label: pooled over classes
      const { logits, state } = m.prefill(B.tensor(src.slice(0, T), [1, T], 'int32'), {
        batch: 1,
        cond: { labels: B.tensor([label], [1], 'int32') },
      });
      let got = Array.from(await logits.data());
      const ctx = (g: ArrayLike<number>, p: number) => {
        const rr = Math.floor(p / W);
        const cc = p % W;
        return [at(g, rr, cc - 1), at(g, rr - 1, cc), at(g, rr - 1, cc - 1), at(g, rr - 1, cc + 1)].join();
      };
      const want = (g: ArrayLike<number>, p: number) => {
        const counts = new Array(V).fill(0);
        data.grids.forEach((tg, n) => {
          if (label !== 3 && data.labels[n] !== label) return;
          for (let q = 0; q < H * W; q++) if (ctx(tg, q) === ctx(g, p)) counts[tg[q]!]++;
        });
        return smoothed(counts);
      };
      for (const [v, w] of want(src, T).entries()) expect(got[v], note).toBeCloseTo(w, 4);
      // One step more: feed the true token T.
      const next = m.step(B.tensor([src[T]!], [1], 'int32'), state);
      got = Array.from(await next.logits.data());
      for (const [v, w] of want(src, T + 1).entries()) expect(got[v], note).toBeCloseTo(w, 4);
      m.disposeState(next.state);
      m.dispose();
    },
  );

  it('raster count model in a random order (static cache): unknown neighbours read as boundary', async () => {
    const m = RasterCountModel.fit(data, { backend: B });
    const r = rng(seed + 1);
    const order = Array.from({ length: H * W }, (_, i) => i).sort(() => r() - 0.5);
    const g = data.grids[0]!;
    const T = 5;
    const prefix = order.slice(0, T).map((p) => g[p]!);
    const { logits, state } = m.prefill(B.tensor(prefix, [1, T], 'int32'), { batch: 1, order });
    const got = Array.from(await logits.data());
    const known = new Set(order.slice(0, T));
    const p = order[T]!;
    const rr = Math.floor(p / W);
    const cc = p % W;
    const has = (q: number) => known.has(q);
    const key = [
      at(g, rr, cc - 1, has),
      at(g, rr - 1, cc, has),
      at(g, rr - 1, cc - 1, has),
      at(g, rr - 1, cc + 1, has),
    ].join();
    const counts = new Array(V).fill(0);
    for (const tg of data.grids) {
      for (let q = 0; q < H * W; q++) {
        const r2 = Math.floor(q / W);
        const c2 = q % W;
        if (
          [at(tg, r2, c2 - 1), at(tg, r2 - 1, c2), at(tg, r2 - 1, c2 - 1), at(tg, r2 - 1, c2 + 1)].join() ===
          key
        )
          counts[tg[q]!]++;
      }
    }
    for (const [v, w] of smoothed(counts).entries()) expect(got[v], note).toBeCloseTo(w, 4);
    m.disposeState(state);
    m.dispose();
  });

  it('next-scale count model: logits of scale k = smoothed counts of (class, k, parent, side neighbours)', async () => {
    const pn = [1, 2, 3, 6];
    const m = ScaleCountModel.fit(data, { patchNums: pn, backend: B });
    const pyrs = data.grids.map((g) => tokenPyramid(g, H, W, pn));
    // Context re-derived: nearest parent to the child's centre, horizontal/vertical neighbour on the centre's side.
    const ctx = (pyr: Int32Array[], k: number, i: number, j: number) => {
      if (k === 0) return 'start';
      const p = pn[k]!;
      const q = pn[k - 1]!;
      const y = ((i + 0.5) * q) / p;
      const x = ((j + 0.5) * q) / p;
      const pi = Math.min(q - 1, Math.floor(y));
      const pj = Math.min(q - 1, Math.floor(x));
      const hj = x < pj + 0.5 ? pj - 1 : pj + 1;
      const vi = y < pi + 0.5 ? pi - 1 : pi + 1;
      const prev = pyr[k - 1]!;
      const get = (a: number, b: number) => (a >= 0 && a < q && b >= 0 && b < q ? prev[a * q + b]! : V);
      return `${k}|${get(pi, pj)},${get(pi, hj)},${get(vi, pj)}`;
    };
    const src = pyrs[1]!;
    const labels = B.tensor([data.labels[1]!], [1], 'int32');
    let { logits, state } = m.begin({ batch: 1, cond: { labels } });
    for (let k = 0; k < pn.length; k++) {
      const got = Array.from(await logits.data());
      const p = pn[k]!;
      for (let i = 0; i < p; i++) {
        for (let j = 0; j < p; j++) {
          const counts = new Array(V).fill(0);
          pyrs.forEach((pyr, n) => {
            if (data.labels[n] !== data.labels[1]) return;
            for (let a = 0; a < p; a++)
              for (let b = 0; b < p; b++)
                if (ctx(pyr, k, a, b) === ctx(src, k, i, j)) counts[pyr[k]![a * p + b]!]++;
          });
          for (const [v, w] of smoothed(counts).entries())
            expect(got[(i * p + j) * V + v], `${note} k=${k}`).toBeCloseTo(w, 4);
        }
      }
      if (k + 1 < pn.length)
        ({ logits, state } = m.next(k + 1, { tokens: B.tensor(src[k]!, [1, p * p], 'int32') }, state));
    }
    m.disposeState(state);
    m.dispose();
  });

  it('masked count model: logits = smoothed counts of (class, up, down, left, right) with masked = V over all 16 patterns', async () => {
    const m = MaskedCountModel.fit(data, { backend: B });
    const r = rng(seed + 2);
    const g = data.grids[3]!;
    const mask = Float32Array.from({ length: H * W }, () => (r() < 0.5 ? 1 : 0));
    const got = Array.from(
      await m.logits(B.tensor(g, [1, H * W], 'int32'), B.tensor(mask, [1, H * W])).data(),
    );
    const nb = (tg: ArrayLike<number>, q: number, hide: (q: number) => boolean) => {
      const rr = Math.floor(q / W);
      const cc = q % W;
      return [
        [-1, 0],
        [1, 0],
        [0, -1],
        [0, 1],
      ].map(([dr, dc]) => {
        const a = rr + dr!;
        const b = cc + dc!;
        if (a < 0 || a >= H || b < 0 || b >= W) return V + 1;
        return hide(a * W + b) ? V : tg[a * W + b]!;
      });
    };
    for (let p = 0; p < H * W; p++) {
      const key = nb(g, p, (q) => mask[q] === 1).join();
      const counts = new Array(V).fill(0);
      for (const tg of data.grids) {
        for (let q = 0; q < H * W; q++) {
          for (let s = 0; s < 16; s++) {
            const ord = [
              [-1, 0],
              [1, 0],
              [0, -1],
              [0, 1],
            ];
            const hidden = new Set<number>();
            ord.forEach(([dr, dc], j) => {
              if (s & (1 << j)) hidden.add((Math.floor(q / W) + dr!) * W + (q % W) + dc!);
            });
            if (nb(tg, q, (x) => hidden.has(x)).join() === key) counts[tg[q]!]++;
          }
        }
      }
      for (const [v, w] of smoothed(counts).entries())
        expect(got[p * V + v], `${note} p=${p}`).toBeCloseTo(w, 4);
    }
    m.dispose();
  });

  it('empirical models: logits are log counts of matching training sequences (−∞ if none)', async () => {
    const seqs = [
      [0, 1, 2, 3],
      [0, 1, 3, 3],
      [0, 2, 2, 1],
      [1, 1, 2, 3],
    ].map((s) => Int32Array.from(s));
    const labels = Int32Array.from([0, 1, 0, 1]);
    const rm = new EmpiricalRasterModel(
      { sequences: seqs, vocabSize: 4, labels, numClasses: 2 },
      { backend: B },
    );
    const { logits, state } = rm.prefill(B.tensor([0, 1], [1, 2], 'int32'), { batch: 1 });
    expect(Array.from(await logits.data())).toEqual([
      Number.NEGATIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
      0,
      0,
    ]); // one each of 2 and 3
    rm.disposeState(state);
    const l0 = rm.prefill(null, { batch: 2, cond: { labels: B.tensor([0, 2], [2], 'int32') } });
    const got = Array.from(await l0.logits.data());
    expect(got.slice(0, 4)).toEqual(
      [Math.log(2), Number.NEGATIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.NEGATIVE_INFINITY].map(
        Math.fround,
      ),
    );
    expect(got[4]).toBeCloseTo(Math.log(3), 6); // null label: all sequences
    expect(got[5]).toBeCloseTo(0, 6);
    rm.disposeState(l0.state);

    const sm = new EmpiricalScaleModel(
      { sequences: seqs.map((s) => Int32Array.from([s[0]!, s[0]!, s[1]!, s[2]!, s[3]!])), vocabSize: 4 },
      [1, 2],
      { backend: B },
    );
    const b = sm.begin({ batch: 1 });
    expect(Array.from(await b.logits.data()).map((x) => Math.round(Math.exp(x)))).toEqual([3, 1, 0, 0]);
    const n1 = sm.next(1, { tokens: B.tensor([0], [1, 1], 'int32') }, b.state);
    expect(n1.logits.shape).toEqual([1, 4, 4]);
    const e = Array.from(await n1.logits.data()).map((x) => Math.round(Math.exp(x)));
    expect(e.slice(0, 4)).toEqual([3, 0, 0, 0]); // position 0 of scale 1 repeats s[0]
    expect(e.slice(4, 8)).toEqual([0, 2, 1, 0]);
    sm.disposeState(n1.state);

    const mm = new EmpiricalMaskedModel({ sequences: seqs, vocabSize: 4 }, { backend: B });
    const ml = await mm
      .logits(B.tensor([0, 0, 2, 0], [1, 4], 'int32'), B.tensor([1, 1, 0, 1], [1, 4]))
      .data();
    const c = Array.from(ml).map((x) => Math.round(Math.exp(x)));
    expect(c.slice(0, 4)).toEqual([2, 1, 0, 0]); // sequences with token 2 at position 2: 0, 2, 3
    expect(c.slice(12, 16)).toEqual([0, 1, 0, 2]);
    rm.dispose();
    sm.dispose();
    mm.dispose();
  });

  it('rejects bad input with TesseraError', () => {
    expect(() => RasterCountModel.fit({ ...data, grids: [] })).toThrow(/empty/);
    expect(() => ScaleCountModel.fit(data, { patchNums: [1, 2, 4] })).toThrow(/grid size/);
    expect(() => RasterCountModel.fit(data, { neighbours: [[0, 1]] })).toThrow(/causal/);
    expect(() => new EmpiricalRasterModel({ sequences: [Int32Array.from([0, 9])], vocabSize: 4 })).toThrow(
      /outside/,
    );
    const m = MaskedCountModel.fit(data, { backend: currentBackend() });
    expect(() =>
      m.logits(currentBackend().tensor([0], [1, 1], 'int32'), currentBackend().tensor([0], [1, 1])),
    ).toThrow(/\[B, 36\]/);
  });
});
