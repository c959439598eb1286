import { philoxWords } from '@tessera/core';
import { describe, expect } from 'vitest';
import { type Ctx, take, test, up } from './context.ts';
import { expectClose, expectExact, type Rng, rows, size, softmaxRef } from './reference.ts';

const NEG_INF = Number.NEGATIVE_INFINITY;

/** The rand contract, written out: ((w >>> 9) + 0.5) · 2⁻²³. */
const uniformOf = (w: number) => ((w >>> 9) + 0.5) / 8388608;

/** Box–Muller in float64 from two stream words. */
const normalOf = (w1: number, w2: number) =>
  Math.sqrt(-2 * Math.log(uniformOf(w1))) * Math.cos(2 * Math.PI * uniformOf(w2));

/** A seed that exercises both key words, and an offset that is not block aligned. */
function randomPosition(r: Rng): { seed: number; offset: number } {
  const seed = r.int(0, 2 ** 21) * 2 ** 32 + r.int(0, 2 ** 32);
  return { seed, offset: r.int(0, 2 ** 20) * 4 + r.int(1, 4) };
}

/** Reference categorical draw; `ambiguous` when u·total lies within `margin` of a cumulative boundary. */
function drawRef(logits: number[], u: number, margin: number): { pick: number; ambiguous: boolean } {
  const p = softmaxRef(logits);
  const target = u;
  let cum = 0;
  let ambiguous = false;
  for (let k = 0; k < p.length; k++) {
    cum += p[k]!;
    if (Math.abs(cum - target) < margin) ambiguous = true;
    if (cum > target && p[k]! > 0) return { pick: k, ambiguous };
  }
  let last = p.length - 1;
  while (p[last] === 0) last--;
  return { pick: last, ambiguous };
}

export function probabilityTests(ctx: Ctx): void {
  const { B, tol } = ctx;

  describe('softmax / logSoftmax', () => {
    test('along every axis, with −∞ entries and large logits', async () => {
      const r = ctx.rng('softmax');
      const shape = [3, 4, 5];
      const x = r.f32(60, -4, 4);
      x[3] = NEG_INF;
      x[7] = NEG_INF;
      x[40] = 60; // stability: exp(60) overflows float32 unless max-subtracted
      x[41] = 58;
      const t = up(B, x, shape);
      for (const axis of [-1, 0, 1, 2]) {
        const ax = axis < 0 ? axis + 3 : axis;
        const st = [20, 5, 1][ax]!;
        const wantS = new Float64Array(60);
        const wantL = new Float64Array(60);
        for (let i = 0; i < 60; i++) {
          const k = Math.floor(i / st) % shape[ax]!;
          const row = Array.from({ length: shape[ax]! }, (_, j) => x[i + (j - k) * st]!);
          const m = Math.max(...row);
          const lse = m + Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0));
          wantS[i] = Math.exp(x[i]! - lse);
          wantL[i] = x[i]! - lse;
        }
        const s = B.softmax(t, axis);
        expect(s.shape).toEqual(shape);
        expectClose(await take(s), wantS, tol, `softmax axis ${axis}`);
        expectClose(await take(B.logSoftmax(t, axis)), wantL, tol, `logSoftmax axis ${axis}`);
      }
      expectClose(await take(B.softmax(t)), await take(B.softmax(t, 2)), 0, 'default axis is −1');
    });
  });

  describe('logit filters', () => {
    test('topK keeps the k largest (ties at the k-th kept); k ≤ 0 or ≥ n keeps all', async () => {
      const r = ctx.rng('topK');
      const x = r.f32(48, -5, 5);
      const t = up(B, x, [4, 12]);
      for (const k of [1, 3, 11, 12, 0, 20]) {
        const want = rows(x, 12).flatMap((row) => {
          if (k <= 0 || k >= 12) return row;
          const kth = [...row].sort((p, q) => q - p)[k - 1]!;
          return row.map((v) => (v >= kth ? v : NEG_INF));
        });
        expectExact(await take(B.topK(t, k)), want, `topK k=${k}`);
      }
      const ties = up(B, [1, 3, 3, 2, 3, 0], [1, 6]);
      expectExact(await take(B.topK(ties, 2)), [NEG_INF, 3, 3, NEG_INF, 3, NEG_INF], 'topK ties');
    });

    test('topP keeps the smallest most-probable set reaching p', async () => {
      const r = ctx.rng('topP');
      const n = 10;
      const x = r.f32(3 * n, -3, 3);
      const sorted = rows(x, n).map((row) => softmaxRef(row).sort((a, b) => b - a));
      const cums = sorted.map((ps) => ps.map((_, i) => ps.slice(0, i + 1).reduce((a, b) => a + b, 0)));
      // a p well away (≥ 1e-3) from every row's cumulative sums, so float32 rounding cannot flip a decision
      const t = up(B, x, [3, n]);
      const keep = (row: number[], q: number) => {
        const probs = softmaxRef(row);
        const order = probs.map((_, i) => i).sort((i, j) => probs[j]! - probs[i]!);
        const kept = new Set<number>();
        let cum = 0;
        for (const i of order) {
          kept.add(i);
          cum += probs[i]!;
          if (cum >= q) break;
        }
        return row.map((v, i) => (kept.has(i) ? v : NEG_INF));
      };
      for (let trial = 0; trial < 6; trial++) {
        let p = 0;
        do p = r.uniform(0.05, 0.97);
        while (cums.some((c) => c.some((v) => Math.abs(v - p) < 1e-3)));
        expectExact(
          await take(B.topP(t, p)),
          rows(x, n).flatMap((row) => keep(row, p)),
          `topP p=${p}`,
        );
      }
      expectExact(await take(B.topP(t, 1)), Array.from(x), 'topP p=1 keeps all');
      expectExact(
        await take(B.topP(t, 1e-6)),
        rows(x, n).flatMap((row) => keep(row, 1e-6)),
        'tiny p keeps the argmax',
      );
    });

    test('minP keeps tokens with probability ≥ p · max probability', async () => {
      const r = ctx.rng('minP');
      const x = r.f32(40, -3, 3);
      const ratios = rows(x, 10).flatMap((row) => row.map((v) => Math.exp(v - Math.max(...row))));
      let p = 0;
      do p = r.uniform(0.05, 0.6);
      while (ratios.some((q) => Math.abs(q - p) < 1e-3));
      const want = rows(x, 10).flatMap((row) => {
        const m = Math.max(...row);
        return row.map((v) => (Math.exp(v - m) >= p ? v : NEG_INF));
      });
      expectExact(await take(B.minP(up(B, x, [4, 10]), p)), want, `minP p=${p}`);
    });
  });

  describe('random', () => {
    test('rand equals ((w >>> 9) + 0.5)·2⁻²³ of the Philox words exactly', async () => {
      const r = ctx.rng('rand');
      for (const pos of [
        { seed: 0, offset: 0 },
        randomPosition(r),
        { seed: 2 ** 53 - 1, offset: 2 ** 34 + 3 },
      ]) {
        const shape = [7, 13];
        const words = philoxWords(pos.seed, pos.offset, size(shape));
        const out = B.rand(shape, pos);
        expect([out.shape, out.dtype]).toEqual([shape, 'float32']);
        expectExact(
          await take(out),
          Array.from(words, uniformOf),
          `rand seed ${pos.seed} offset ${pos.offset}`,
        );
      }
      const def = B.rand([5], { seed: 9 });
      expectExact(await take(def), Array.from(philoxWords(9, 0, 5), uniformOf), 'offset defaults to 0');
    });

    test('rand at offset k is the tail of a longer draw', async () => {
      const r = ctx.rng('rand-offset');
      const seed = r.int(0, 2 ** 31);
      const k = r.int(1, 40);
      const long = await take(B.rand([100 + k], { seed }));
      expectExact(await take(B.rand([100], { seed, offset: k })), long.slice(k), `offset ${k}`);
    });

    test('randn is float64 Box–Muller of the same words to 1e-6', async () => {
      const r = ctx.rng('randn');
      for (const pos of [{ seed: 42, offset: 0 }, randomPosition(r)]) {
        const n = 1025;
        const w = philoxWords(pos.seed, pos.offset, 2 * n);
        const want = Array.from({ length: n }, (_, i) => normalOf(w[2 * i]!, w[2 * i + 1]!));
        const out = B.randn([n], pos);
        expect(out.dtype).toBe('float32');
        expectClose(await take(out), want, 1e-6, `randn seed ${pos.seed} offset ${pos.offset}`);
      }
    });

    test('sampleCategorical reproduces the contract draw exactly', async () => {
      const r = ctx.rng('categorical');
      const R = 64;
      const V = 10;
      const x = r.f32(R * V, -3, 3);
      for (let i = 0; i < R * V; i += 7) x[i] = NEG_INF; // masked tokens are never drawn
      const pos = randomPosition(r);
      const words = philoxWords(pos.seed, pos.offset, R);
      const out = B.sampleCategorical(up(B, x, [4, 16, V]), pos);
      expect([out.shape, out.dtype]).toEqual([[4, 16], 'int32']);
      const got = await take(out);
      const bad: string[] = [];
      rows(x, V).forEach((row, i) => {
        const { pick, ambiguous } = drawRef(row, uniformOf(words[i]!), 1e-5);
        const ok = ambiguous ? Math.abs(got[i]! - pick) <= 1 && row[got[i]!] !== NEG_INF : got[i] === pick;
        if (!ok) bad.push(`row ${i}: got ${got[i]}, expected ${pick}`);
      });
      expect(bad).toEqual([]);
      const one = B.sampleCategorical(up(B, x.slice(0, V), [V]), { seed: pos.seed, offset: pos.offset + 5 });
      expect(one.shape).toEqual([]);
      const ref = drawRef(Array.from(x.slice(0, V)), uniformOf(words[5]!), 1e-5);
      const [g] = await take(one);
      if (ref.ambiguous) expect(Math.abs(g! - ref.pick)).toBeLessThanOrEqual(1);
      else expect(g).toBe(ref.pick);
    });

    test('sampleCategorical frequencies match softmax (χ², 5 d.o.f.)', async () => {
      const r = ctx.rng('categorical-chi2');
      const V = 6;
      const N = 6000;
      const logits = r.f32(V, -1.5, 1.5);
      const p = softmaxRef(Array.from(logits));
      const batch = B.broadcastTo(up(B, logits, [1, V]), [N, V]);
      const got = await take(B.sampleCategorical(batch, { seed: r.int(0, 2 ** 31) }));
      const counts = new Array(V).fill(0);
      for (const k of got) counts[k]++;
      const chi2 = counts.reduce((a, c, k) => a + (c - N * p[k]!) ** 2 / (N * p[k]!), 0);
      // P(χ²₅ > 35) ≈ 1.5e-6
      expect(chi2, `counts ${counts} vs probabilities ${p.map((q) => q.toFixed(4))}`).toBeLessThan(35);
    });
  });
}
