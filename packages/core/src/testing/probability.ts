import { philoxWords } from '@tessera/core';
import { describe, expect } from 'vitest';
import { type Ctx, take, test, up } from './context.js';
import { expectClose, expectExact, type Rng, rows, size, softmaxRef } from './reference.js';

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

/**
 * Reference categorical draw in float64: the first index whose cumulative probability exceeds u, and
 * whether u lies within `margin` of a cumulative boundary (where a float32 running sum may pick a
 * neighbouring index). `cum[k]` is the float64 cumulative probability through index k.
 */
function drawRef(
  logits: number[],
  u: number,
  margin: number,
): { pick: number; ambiguous: boolean; cum: number[] } {
  const p = softmaxRef(logits);
  const cum: number[] = [];
  let c = 0;
  for (const q of p) {
    c += q;
    cum.push(c);
  }
  const ambiguous = cum.some((v) => Math.abs(v - u) < margin);
  let pick = p.findIndex((q, k) => cum[k]! > u && q > 0);
  if (pick < 0) {
    pick = p.length - 1;
    while (p[pick] === 0) pick--;
  }
  return { pick, ambiguous, cum };
}

/**
 * Whether index `g` is an acceptable draw for uniform `u`: the float64 pick, or, when u lies within
 * `margin` of a cumulative boundary, any unmasked index whose float64 interval [cum[g−1], cum[g]) comes
 * within `margin` of u. (Not "the pick ± 1": a masked token next to the boundary is skipped, so a
 * float32 sum that lands on the other side of it picks the pick ± 2.)
 */
function drawOk(row: number[], g: number, u: number, margin: number): boolean {
  const { pick, ambiguous, cum } = drawRef(row, u, margin);
  if (!ambiguous) return g === pick;
  if (!(g >= 0 && g < row.length) || row[g] === NEG_INF) return false;
  const lo = g > 0 ? cum[g - 1]! : 0;
  return u >= lo - margin && u < cum[g]! + margin;
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
      // logits at least 1e-4 apart within a row: nearer ones could swap places in a float32 sort, and
      // then the other of the two is kept when the cut falls between them
      const apart = (v: Float32Array) =>
        rows(v, n).every((row) =>
          row.every((a, i) => row.every((b, j) => j <= i || Math.abs(a - b) >= 1e-4)),
        );
      let x = r.f32(3 * n, -3, 3);
      while (!apart(x)) x = r.f32(3 * n, -3, 3);
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
      // A float32 running sum over V = 10 probabilities is off by ≲ 1e-6 from float64; 1e-5 of margin.
      rows(x, V).forEach((row, i) => {
        const u = uniformOf(words[i]!);
        if (!drawOk(row, got[i]!, u, 1e-5))
          bad.push(`row ${i}: got ${got[i]}, expected ${drawRef(row, u, 1e-5).pick} (u = ${u})`);
      });
      expect(bad, `seed ${ctx.seed}`).toEqual([]);
      const one = B.sampleCategorical(up(B, x.slice(0, V), [V]), { seed: pos.seed, offset: pos.offset + 5 });
      expect(one.shape).toEqual([]);
      const [g] = await take(one);
      const u5 = uniformOf(words[5]!);
      const row0 = Array.from(x.slice(0, V));
      expect(drawOk(row0, g!, u5, 1e-5), `got ${g}, u = ${u5}, seed ${ctx.seed}`).toBe(true);
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
      // P(χ²₅ > 45) ≈ 1.5e-8 (scipy.stats.chi2.sf(45, 5)); N·p_k ≥ 6000/(1 + 5e³) ≈ 59, so the χ² law
      // holds well. The suite runs once per backend (six or so per CI run): ≲ 1e-7 per run in all. A wrong
      // draw rule (an off-by-one index, unnormalised cumulative sums) gives χ² in the hundreds.
      expect(
        chi2,
        `counts ${counts} vs probabilities ${p.map((q) => q.toFixed(4))}, seed ${ctx.seed}`,
      ).toBeLessThan(45);
    });
  });
}
