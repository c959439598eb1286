import { philoxWords, scope } from '@tessera/core';
import { describe, expect, it } from 'vitest';
import { expectClose, gpu, rng, SEED, uniform, unravel } from './helpers.ts';

/** Float64 softmax of a row. */
function softmax64(row: readonly number[]): number[] {
  const m = Math.max(...row);
  const e = row.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

describe.skipIf(!gpu)('webgpu kernels beyond the shared suite', () => {
  const B = gpu!;

  // 3000 and 2000 take the workgroup-per-row kernels, 20 and 24 the thread-per-row ones
  it.each([3000, 20])('topK on rows of %i with ties keeps every value ≥ the k-th largest', async (len) => {
    const r = rng(SEED + len);
    // quantised logits: many exact ties, including at the threshold
    const x = Array.from({ length: 3 * len }, () => Math.round((r() * 2 - 1) * 40) / 8);
    for (const k of [1, 7, Math.floor(r() * len) + 1]) {
      const got = await scope(() => B.topK(B.tensor(x, [3, len]), k).data());
      const want: number[] = [];
      for (let i = 0; i < 3; i++) {
        const row = x.slice(i * len, (i + 1) * len);
        const kth = [...row].sort((a, b) => b - a)[k - 1]!;
        want.push(...row.map((v) => (v >= kth ? v : Number.NEGATIVE_INFINITY)));
      }
      expect(Array.from(got), `k ${k} seed ${SEED}`).toEqual(want);
    }
  });

  it.each([2000, 24])(
    'topP on rows of %i keeps the smallest most-probable prefix (ties by index)',
    async (len) => {
      const r = rng(SEED + 1 + len);
      const x = Array.from({ length: 2 * len }, () => Math.round((r() * 2 - 1) * 24) / 4);
      const rows = [0, 1].map((i) => {
        const row = x.slice(i * len, (i + 1) * len);
        const probs = softmax64(row);
        const order = row.map((_, j) => j).sort((a, b) => probs[b]! - probs[a]! || a - b);
        return { row, probs, order };
      });
      // the kernel sums probabilities in float32 (off by ~1e-6 over 2000 terms): a p within 1e-5 of a
      // float64 partial sum could go either way, so such a p moves on by 3e-5 (about 1 draw in 100)
      const clear = (p: number): number => {
        for (const { probs, order } of rows) {
          let cum = 0;
          for (const j of order) {
            cum += probs[j]!;
            if (Math.abs(cum - p) < 1e-5) return clear(p + 3e-5);
          }
        }
        return p;
      };
      for (const p of [0, clear(0.05 + 0.9 * r()), clear(0.5)]) {
        const got = await scope(() => B.topP(B.tensor(x, [2, len]), p).data());
        const want: number[] = [];
        for (const { row, probs, order } of rows) {
          const out = new Array<number>(len).fill(Number.NEGATIVE_INFINITY);
          let cum = 0;
          for (const j of order) {
            if (cum >= p && cum > 0) break;
            out[j] = row[j]!;
            cum += probs[j]!;
          }
          want.push(...out);
        }
        expect(Array.from(got), `p ${p} seed ${SEED}`).toEqual(want);
      }
    },
  );

  it('lincomb of more tensors than one kernel can bind (chunked passes)', async () => {
    const r = rng(SEED + 2);
    const k = 21;
    const xs = Array.from({ length: k }, () => uniform(r, 50));
    const cs = uniform(r, k);
    const got = await scope(() =>
      B.lincomb(
        cs,
        xs.map((x) => B.tensor(x, [5, 10])),
      ).data(),
    );
    const want = xs[0]!.map((_, j) => xs.reduce((s, x, i) => s + cs[i]! * x[j]!, 0));
    expectClose(got, want, 1e-5, 'lincomb ×21');
  });

  it('sum and argmax over non-adjacent axes (transposed first) and int dtypes', async () => {
    const r = rng(SEED + 3);
    const shape = [3, 4, 5, 2];
    const x = uniform(r, 120);
    const got = await scope(() => B.reduce('sum', B.tensor(x, shape), [0, 2]).data());
    const want = new Array(8).fill(0);
    for (let j = 0; j < 120; j++) {
      const [, b, , d] = unravel(j, shape) as [number, number, number, number];
      want[b * 2 + d] += x[j]!;
    }
    expectClose(got, want, 1e-5, 'sum over [0, 2]');
    const xi = x.map((v) => Math.round(v * 100));
    const arg = await scope(() => B.argmax(B.tensor(xi, shape, 'int32'), 1).data());
    const wantArg: number[] = [];
    for (let a = 0; a < 3; a++)
      for (let c = 0; c < 5; c++)
        for (let d = 0; d < 2; d++) {
          let best = 0;
          for (let b = 1; b < 4; b++) {
            if (xi[((a * 4 + b) * 5 + c) * 2 + d]! > xi[((a * 4 + best) * 5 + c) * 2 + d]!) best = b;
          }
          wantArg.push(best);
        }
    expect(Array.from(arg)).toEqual(wantArg);
  });

  it('matmul larger than one tile with broadcast batches and both transposes', async () => {
    const r = rng(SEED + 4);
    const [m, k, n] = [37, 53, 29];
    const a = uniform(r, 3 * k * m); // [3, 1, K, M] used transposed
    const b = uniform(r, 2 * n * k); // [2, N, K] used transposed
    const got = await scope(() =>
      B.matmul(B.tensor(a, [3, 1, k, m]), B.tensor(b, [2, n, k]), {
        transposeA: true,
        transposeB: true,
      }).data(),
    );
    const want: number[] = [];
    for (let i3 = 0; i3 < 3; i3++)
      for (let i2 = 0; i2 < 2; i2++)
        for (let i = 0; i < m; i++)
          for (let j = 0; j < n; j++) {
            let s = 0;
            for (let p = 0; p < k; p++) s += a[i3 * k * m + p * m + i]! * b[i2 * n * k + j * k + p]!;
            want.push(s);
          }
    // float32 accumulation of k = 53 products of terms in [-1, 1]: the rounding bound is about
    // k·2⁻²⁴·Σ|aᵢbᵢ| ≈ 53 · 6e-8 · 13 ≈ 4e-5, so 1e-5 flakes (seen at 1.1e-5); allow 1e-4.
    expectClose(got, want, 1e-4, 'matmul');
  });

  it('casts like JS typed arrays: truncation modulo 2³², round-to-nearest-even to float32', async () => {
    const f = [
      3e9,
      -3e9,
      1.5,
      -2.7,
      2 ** 31,
      -(2 ** 31) - 256,
      1e20,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      -0.5,
    ];
    const i = [16777217, 16777219, -16777219, 2147483647, -2147483648, 123456789];
    const [fi, fu, iF] = await scope(() =>
      Promise.all([
        B.cast(B.tensor(f, [f.length]), 'int32').data(),
        B.cast(B.tensor(f, [f.length]), 'uint32').data(),
        B.cast(B.tensor(i, [i.length], 'int32'), 'float32').data(),
      ]),
    );
    // ToInt32 / ToUint32 of the truncated value (ECMA-262 7.1.6-7), computed with | and >>> here
    const f32 = f.map(Math.fround);
    expect(Array.from(fi)).toEqual(f32.map((v) => (Number.isFinite(v) ? (Math.trunc(v) % 2 ** 32) | 0 : 0)));
    expect(Array.from(fu)).toEqual(
      f32.map((v) => (Number.isFinite(v) ? (Math.trunc(v) % 2 ** 32) >>> 0 : 0)),
    );
    expect(Array.from(iF)).toEqual(i.map(Math.fround));
  });
  it('long rows (workgroup kernels): sum, max, logsumexp and softmax over 500-wide axes', async () => {
    const r = rng(SEED + 5);
    const [a, n, c] = [3, 500, 2];
    const x = uniform(r, a * n * c, -4, 4);
    const at = (i: number, k: number, j: number) => x[(i * n + k) * c + j]!;
    const rows: number[][] = [];
    for (let i = 0; i < a; i++)
      for (let j = 0; j < c; j++) rows.push(Array.from({ length: n }, (_, k) => at(i, k, j)));
    const [sum, max, lse, sm] = await scope(() => {
      const t = B.tensor(x, [a, n, c]);
      return Promise.all([
        B.reduce('sum', t, 1).data(),
        B.reduce('max', t, 1).data(),
        B.reduce('logsumexp', t, 1).data(),
        B.softmax(t, 1).data(),
      ]);
    });
    expectClose(
      sum,
      rows.map((row) => row.reduce((p, v) => p + v, 0)),
      1e-5 * n,
      'sum',
    );
    expect(Array.from(max)).toEqual(rows.map((row) => Math.max(...row)));
    const lse64 = rows.map((row) => {
      const m = Math.max(...row);
      return m + Math.log(row.reduce((p, v) => p + Math.exp(v - m), 0));
    });
    expectClose(lse, lse64, 1e-5, 'logsumexp');
    const want = new Array<number>(x.length);
    for (let i = 0; i < a; i++)
      for (let j = 0; j < c; j++)
        for (let k = 0; k < n; k++) want[(i * n + k) * c + j] = Math.exp(at(i, k, j) - lse64[i * c + j]!);
    expectClose(sm, want, 1e-5, 'softmax');
  });

  it('sampleCategorical on long rows (a workgroup per row) draws the contract index', async () => {
    const r = rng(SEED + 7);
    const [R, V] = [24, 777];
    const x = uniform(r, R * V, -4, 4);
    for (let i = 0; i < x.length; i += 5) x[i] = Number.NEGATIVE_INFINITY; // masked: never drawn
    for (let k = 0; k < V; k++) x[3 * V + k] = Number.NEGATIVE_INFINITY; // a fully masked row draws 0
    const seed = Math.floor(r() * 2 ** 31);
    const words = philoxWords(seed, 9, R);
    const got = await scope(() => B.sampleCategorical(B.tensor(x, [R, V]), { seed, offset: 9 }).data());
    for (let i = 0; i < R; i++) {
      const row = x.slice(i * V, (i + 1) * V);
      if (i === 3) {
        expect(got[i], `masked row, seed ${SEED}`).toBe(0);
        continue;
      }
      // the contract: u = (word >> 9 + 0.5)/2²³; the first j whose float64 cumulative probability
      // exceeds u; a float32 sum may move the pick to any j whose interval comes within 1e-4 of u
      const u = ((words[i]! >>> 9) + 0.5) / 8388608;
      const m = Math.max(...row);
      const e = row.map((v) => Math.exp(v - m));
      const total = e.reduce((a, b) => a + b, 0);
      let lo = 0;
      const ok: number[] = [];
      for (let j = 0; j < V; j++) {
        const hi = lo + e[j]! / total;
        if (e[j]! > 0 && hi > u - 1e-4 && lo < u + 1e-4) ok.push(j);
        lo = hi;
      }
      expect(ok, `row ${i}, u ${u}, seed ${SEED}`).toContain(got[i]);
    }
  });

  it('cumsum along long strided lines (a workgroup per line): exclusive, reverse, float32 and int32', async () => {
    const r = rng(SEED + 8);
    const [a, n, c] = [2, 150, 3];
    const at = (x: number[], i: number, k: number, j: number) => x[(i * n + k) * c + j]!;
    for (const dtype of ['float32', 'int32'] as const) {
      const x = uniform(r, a * n * c, -3, 3).map((v) => (dtype === 'int32' ? Math.round(v * 100) : v));
      for (const exclusive of [false, true])
        for (const reverse of [false, true]) {
          const got = await scope(() =>
            B.cumsum(B.tensor(x, [a, n, c], dtype), 1, { exclusive, reverse }).data(),
          );
          const want = new Array<number>(x.length);
          for (let i = 0; i < a; i++)
            for (let j = 0; j < c; j++) {
              let s = 0;
              for (let q = 0; q < n; q++) {
                const k = reverse ? n - 1 - q : q;
                if (exclusive) want[(i * n + k) * c + j] = s;
                s += at(x, i, k, j);
                if (!exclusive) want[(i * n + k) * c + j] = s;
              }
            }
          const what = `${dtype} exclusive=${exclusive} reverse=${reverse} seed ${SEED}`;
          if (dtype === 'int32') expect(Array.from(got), what).toEqual(want);
          else expectClose(got, want, 1e-5 * n, what);
        }
    }
  });

  it('the tiled matmul kernel (workgroup memory) equals the float64 product, every transpose, batches', async () => {
    const r = rng(SEED + 9);
    B.matmulKernel = 'tiled';
    try {
      for (const [ta, tb, m, k, n] of [
        [false, false, 37, 45, 33],
        [true, false, 5, 16, 70],
        [false, true, 64, 17, 1],
        [true, true, 33, 3, 40],
      ] as const) {
        const batch = 2;
        const a = uniform(r, batch * m * k);
        const b = uniform(r, k * n);
        const A = (bi: number, i: number, p: number) => a[bi * m * k + (ta ? p * m + i : i * k + p)]!;
        const Bv = (p: number, j: number) => b[tb ? j * k + p : p * n + j]!;
        const want: number[] = [];
        for (let bi = 0; bi < batch; bi++)
          for (let i = 0; i < m; i++)
            for (let j = 0; j < n; j++) {
              let s = 0;
              for (let p = 0; p < k; p++) s += A(bi, i, p) * Bv(p, j);
              want.push(s);
            }
        const got = await scope(() =>
          B.matmul(B.tensor(a, ta ? [batch, k, m] : [batch, m, k]), B.tensor(b, tb ? [n, k] : [k, n]), {
            transposeA: ta,
            transposeB: tb,
          }).data(),
        );
        // float32 sums of k terms of size ≤ 9: within k·9·2⁻²³ of the float64 value
        expectClose(got, want, k * 9 * 1.2e-7, `tiled matmul ${m}×${k}×${n} ta=${ta} tb=${tb}`);
      }
    } finally {
      B.matmulKernel = 'direct';
    }
  });
});
