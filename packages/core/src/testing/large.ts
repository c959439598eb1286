import { philoxWords } from '@tessera/core';
import { describe, expect } from 'vitest';
import { type Ctx, take, test, up } from './context.js';
import { expectClose, expectExact, permuteRef, rows, softmaxRef } from './reference.js';
import { resizeRef } from './resize.js';

/**
 * Sizes beyond one workgroup / one dispatch dimension: device backends split such work into tiles,
 * multi-pass reductions and scans, and 2-D dispatch grids, which the small cases above never reach.
 * Long float32 reductions are held to max(tol, 1e-4) · Σ|terms| (a tree reduction does far better; a
 * structural bug is off by whole terms).
 */
export function largeTests(ctx: Ctx): void {
  const { B, tol } = ctx;
  const ltol = Math.max(tol, 1e-4);

  describe('large sizes', () => {
    test('elementwise over 4.5M elements (more than 65,535 workgroups of 64)', async () => {
      const r = ctx.rng('large-elementwise');
      const n = 4_500_003;
      const a = r.f32(n);
      const b = r.f32(n);
      const ta = up(B, a, [n]);
      const tb = up(B, b, [n]);
      // compared in place (typed arrays, no per-element closures: this test must stay fast on CPU)
      const lc = B.lincomb([0.5, -2], [ta, tb]);
      const got = (await lc.data()) as Float32Array;
      lc.dispose();
      let bad = -1;
      for (let i = 0; i < n && bad < 0; i++) {
        const w = 0.5 * a[i]! - 2 * b[i]!;
        if (!(Math.abs(got[i]! - w) <= tol * Math.max(1, Math.abs(w)))) bad = i;
      }
      expect(
        bad < 0 ? 'ok' : `lincomb 4.5M: [${bad}] got ${got[bad]}, expected ${0.5 * a[bad]! - 2 * b[bad]!}`,
      ).toBe('ok');
      const ng = B.unary('neg', ta);
      const neg = (await ng.data()) as Float32Array;
      ng.dispose();
      bad = -1;
      for (let i = 0; i < n && bad < 0; i++) if (neg[i] !== -a[i]!) bad = i;
      expect(bad < 0 ? 'ok' : `neg 4.5M: [${bad}] got ${neg[bad]}, expected ${-a[bad]!}`).toBe('ok');
      ta.dispose();
      tb.dispose();
    });

    test('reductions, argmax and cumsum along long and strided axes', async () => {
      const r = ctx.rng('large-reduce');
      const L = 70_001;
      const x = r.f32(3 * L, -1, 1);
      const t = up(B, x, [3, L]);
      const rowsOf = rows(x, L);
      const sumAbs = rowsOf.map((row) => row.reduce((s, v) => s + Math.abs(v), 0));
      const sum = (v: number[]) => v.reduce((s, e) => s + e, 0);
      expectClose(await take(B.reduce('sum', t, -1)), rowsOf.map(sum), ltol, 'sum over 70,001', sumAbs);
      expectClose(
        await take(B.reduce('mean', t, 1)),
        rowsOf.map((row) => sum(row) / L),
        ltol,
        'mean over 70,001',
        sumAbs.map((s) => s / L),
      );
      expectExact(
        await take(B.reduce('max', t, -1)),
        rowsOf.map((row) => Math.max(...row)),
        'max over 70,001',
      );
      const total = sumAbs.reduce((s, v) => s + v, 0);
      expectClose(await take(B.reduce('sum', t)), [sum(rowsOf.map(sum))], ltol, 'sum of all', [total]);
      // the same data read as [L, 3]: a reduction over the strided outer axis
      const cols = [0, 1, 2].map((c) => Array.from({ length: L }, (_, i) => x[i * 3 + c]!));
      expectClose(
        await take(B.reduce('sum', B.reshape(t, [L, 3]), 0)),
        cols.map(sum),
        ltol,
        'sum over the outer axis',
        cols.map((c) => c.reduce((s, v) => s + Math.abs(v), 0)),
      );
      // a unique extreme planted at a random position of each row
      const y = x.slice();
      const at = [0, 1, 2].map(() => r.int(0, L));
      at.forEach((p, row) => {
        y[row * L + p] = row === 1 ? -5 : 5;
      });
      const ty = up(B, y, [3, L]);
      const best = (sign: number) =>
        rows(y, L).map((row) => row.reduce((bi, v, i) => (sign * v > sign * row[bi]! ? i : bi), 0));
      expect([best(1)[0], best(-1)[1], best(1)[2]]).toEqual(at); // the planted extremes
      expectExact(await take(B.argmax(ty, -1)), best(1), 'argmax over 70,001');
      expectExact(await take(B.argmin(ty, 1)), best(-1), 'argmin over 70,001');
      const cs = B.cumsum(B.slice(t, [0, 0], [2, 5001]), -1);
      const want = new Float64Array(2 * 5001);
      const scale = new Float64Array(2 * 5001);
      for (let row = 0; row < 2; row++) {
        let s = 0;
        let m = 0;
        for (let i = 0; i < 5001; i++) {
          s += x[row * L + i]!;
          m += Math.abs(x[row * L + i]!);
          want[row * 5001 + i] = s;
          scale[row * 5001 + i] = m;
        }
      }
      expectClose(await take(cs), want, ltol, 'cumsum over 5,001', scale);
    });

    test('vocabulary-sized rows: softmax, logit filters, sampleCategorical', async () => {
      const r = ctx.rng('large-vocab');
      const V = 16_384;
      const x = r.f32(2 * V, -8, 8);
      const t = up(B, x, [2, V]);
      const probs = rows(x, V).map((row) => softmaxRef(row));
      expectClose(await take(B.softmax(t)), probs.flat(), tol, 'softmax over 16,384');
      const lse = rows(x, V).map((row) => Math.log(row.reduce((s, v) => s + Math.exp(v), 0)));
      expectClose(
        await take(B.logSoftmax(t)),
        rows(x, V).flatMap((row, i) => row.map((v) => v - lse[i]!)),
        tol,
        'logSoftmax over 16,384',
      );
      const k = 40;
      const topK = rows(x, V).flatMap((row) => {
        const kth = [...row].sort((p, q) => q - p)[k - 1]!;
        return row.map((v) => (v >= kth ? v : Number.NEGATIVE_INFINITY));
      });
      expectExact(await take(B.topK(t, k)), topK, 'topK 40 of 16,384');
      const words = philoxWords(11, 3, 8);
      const xs = r.f32(8 * V, -4, 4);
      const got = await take(B.sampleCategorical(up(B, xs, [8, V]), { seed: 11, offset: 3 }));
      // A float32 running sum over 16,384 probabilities may drift by up to ~V·2⁻²⁴ ≈ 1e-3 in the worst
      // case (~1e-5 typically), so a draw whose uniform lies within 1e-4 of a cumulative boundary may land
      // on any index whose float64 interval [C(j−1), C(j)) comes that close to u; elsewhere it is exact.
      const band = 1e-4;
      rows(xs, V).forEach((row, i) => {
        const p = softmaxRef(row);
        const u = ((words[i]! >>> 9) + 0.5) / 8388608;
        const C: number[] = [];
        let cum = 0;
        for (let j = 0; j < V; j++) {
          cum += p[j]!;
          C.push(cum);
        }
        let pick = C.findIndex((c) => c > u);
        if (pick < 0) pick = V - 1;
        const g = got[i]!;
        const near = Math.abs(C[pick]! - u) < band || (pick > 0 && Math.abs(C[pick - 1]! - u) < band);
        if (near) {
          const lo = g > 0 ? C[g - 1]! : 0;
          expect(
            u >= lo - band && u < C[g]! + band,
            `row ${i}: index ${g} covers [${lo}, ${C[g]}), u = ${u}`,
          ).toBe(true);
        } else expect(g, `row ${i}`).toBe(pick);
      });
    });

    test('larger matmul, gather, transpose, rand and resize', async () => {
      const r = ctx.rng('large-misc');
      const [m, kk, n] = [130, 257, 67];
      const a = r.f32(m * kk);
      const b = r.f32(kk * n);
      const want = new Float64Array(m * n);
      const scale = new Float64Array(m * n);
      for (let i = 0; i < m; i++) {
        for (let p = 0; p < kk; p++) {
          const av = a[i * kk + p]!;
          for (let j = 0; j < n; j++) {
            want[i * n + j]! += av * b[p * n + j]!;
            scale[i * n + j]! += Math.abs(av * b[p * n + j]!);
          }
        }
      }
      expectClose(
        await take(B.matmul(up(B, a, [m, kk]), up(B, b, [kk, n]))),
        want,
        tol,
        'matmul 130×257×67',
        scale,
      );
      const g = r.f32(50_000 * 4);
      const idx = r.i32(3000, 0, 50_000);
      const gathered = await take(B.gather(up(B, g, [50_000, 4]), up(B, idx, [3000], 'int32'), 0));
      expectExact(
        gathered,
        Array.from(idx).flatMap((i) => Array.from(g.subarray(i * 4, i * 4 + 4))),
        'gather 3,000 rows',
      );
      const tx = r.f32(300 * 700);
      expectExact(
        await take(B.transpose(up(B, tx, [300, 700]))),
        permuteRef(tx, [300, 700], [1, 0]),
        'transpose 300×700',
      );
      const pos = { seed: 2 ** 40 + 5, offset: 4 * 2 ** 32 - 7 }; // crosses the counter's 2³² block boundary
      const w = philoxWords(pos.seed, pos.offset, 300_000);
      expectExact(
        await take(B.rand([300_000], pos)),
        Array.from(w, (v) => ((v >>> 9) + 0.5) / 8388608),
        'rand 300,000',
      );
      const img = r.f32(3 * 64 * 64);
      for (const mode of ['bicubic', 'area'] as const) {
        const ref = resizeRef(img, [1, 3, 64, 64], 100, 37, mode);
        const out = await take(B.resize(up(B, img, [1, 3, 64, 64]), [100, 37], mode));
        expectClose(out, ref.out, tol, `resize ${mode} 64×64 → 100×37`, ref.scale);
      }
    });
  });
}
