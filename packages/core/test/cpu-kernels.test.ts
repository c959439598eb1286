import { createCpuBackend } from '@tessera/core';
import { describe, expect, it } from 'vitest';
import { rngFor } from '../src/testing/reference.ts';
import { conformanceSeed } from '../src/testing/suite.ts';

// The CPU backend's fast kernels (lincomb by arity, packed 4×4 matmul, recycled output arrays) against
// float64 sums written out here; sizes straddle the 4-wide blocks and the pool's 16,384-element floor.
const seed = conformanceSeed();

/** max |got − want| / (1 + Σ|terms|): float32 rounding of a float64 sum stays below 2⁻²⁴ of that. */
function worst(got: ArrayLike<number>, want: ArrayLike<number>, scale: ArrayLike<number>): number {
  let w = 0;
  for (let i = 0; i < want.length; i++) w = Math.max(w, Math.abs(got[i]! - want[i]!) / (1 + scale[i]!));
  return w;
}

describe(`cpu kernels (seed ${seed}, replay: TESSERA_TEST_SEED=${seed})`, () => {
  it('lincomb of 1 to 9 terms, twice over recycled arrays, equals the float64 sum', async () => {
    const B = createCpuBackend();
    const r = rngFor(seed, 'lincomb-arity');
    const n = 16384 + r.int(1, 7);
    for (let round = 0; round < 2; round++) {
      for (let terms = 1; terms <= 9; terms++) {
        const xs = Array.from({ length: terms }, () => r.f32(n, -3, 3));
        const c = xs.map(() => r.uniform(-2, 2));
        if (terms === 1 && round === 1) c[0] = 1; // the plain-copy path
        const want = new Float64Array(n);
        const scale = new Float64Array(n);
        for (let i = 0; i < terms; i++)
          for (let j = 0; j < n; j++) {
            want[j]! += c[i]! * xs[i]![j]!;
            scale[j]! += Math.abs(c[i]! * xs[i]![j]!);
          }
        const ts = xs.map((x) => B.tensor(x, [n]));
        const out = B.lincomb(c, ts);
        const err = worst(await out.data(), want, scale);
        expect(err, `lincomb of ${terms} (round ${round}, seed ${seed})`).toBeLessThan(1e-7);
        for (const t of [...ts, out]) t.dispose(); // their arrays go back to the pool for the next round
      }
    }
    expect(B.memory().tensors).toBe(0);
  });

  it('matmul with every transpose and a broadcast batch equals the float64 product', async () => {
    const B = createCpuBackend();
    const r = rngFor(seed, 'matmul-packed');
    for (const [ta, tb] of [
      [false, false],
      [true, false],
      [false, true],
      [true, true],
    ] as const) {
      const [m, k, n] = [r.int(1, 11), r.int(1, 13), r.int(1, 11)];
      const batch = 3;
      const aShape = ta ? [batch, k, m] : [batch, m, k];
      const bShape = tb ? [1, n, k] : [1, k, n];
      const a = r.f32(batch * m * k);
      const b = r.f32(n * k);
      const A = (bi: number, i: number, p: number) => a[bi * m * k + (ta ? p * m + i : i * k + p)]!;
      const Bv = (p: number, j: number) => b[tb ? j * k + p : p * n + j]!;
      const want = new Float64Array(batch * m * n);
      const scale = new Float64Array(batch * m * n);
      for (let bi = 0; bi < batch; bi++)
        for (let i = 0; i < m; i++)
          for (let j = 0; j < n; j++)
            for (let p = 0; p < k; p++) {
              want[(bi * m + i) * n + j]! += A(bi, i, p) * Bv(p, j);
              scale[(bi * m + i) * n + j]! += Math.abs(A(bi, i, p) * Bv(p, j));
            }
      const out = B.matmul(B.tensor(a, aShape), B.tensor(b, bShape), { transposeA: ta, transposeB: tb });
      expect(out.shape).toEqual([batch, m, n]);
      const err = worst(await out.data(), want, scale);
      expect(err, `matmul ${m}×${k}×${n} ta=${ta} tb=${tb} (seed ${seed})`).toBeLessThan(1e-7);
    }
  });
});

describe(`cpu logit filters on short and long rows (seed ${seed})`, () => {
  it('topK keeps v ≥ the k-th largest, NaN ranked above every number (and itself dropped)', async () => {
    const B = createCpuBackend();
    const r = rngFor(seed, 'topk-short-long');
    for (const len of [7, 20, 40]) {
      // quantised values: ties, including at the threshold; one NaN per row
      const x = Array.from({ length: 3 * len }, () => Math.round(r.uniform(-4, 4)));
      for (let row = 0; row < 3; row++) x[row * len + r.int(0, len)] = Number.NaN;
      for (const k of [1, 3, len - 1]) {
        const got = Array.from(await B.topK(B.tensor(x, [3, len]), k).data());
        const want: number[] = [];
        for (let row = 0; row < 3; row++) {
          const v = x.slice(row * len, (row + 1) * len);
          const desc = [
            ...v.filter(Number.isNaN),
            ...v.filter((e) => !Number.isNaN(e)).sort((p, q) => q - p),
          ];
          const kth = desc[k - 1]!;
          want.push(...v.map((e) => (e >= kth ? e : Number.NEGATIVE_INFINITY)));
        }
        expect(got, `len ${len}, k ${k}, seed ${seed}`).toEqual(want);
      }
    }
  });
});

describe('Float32Pool', () => {
  it('recycles by length, keeps at most its cap, and evicts the least recently released sizes first', async () => {
    const { Float32Pool } = await import('../src/cpu/pool.ts');
    const pool = new Float32Pool(3 * 4 * 20000);
    const a = new Float32Array(20000);
    pool.give(a);
    expect(pool.take(20000)).toBe(a);
    expect(pool.take(20000)).not.toBe(a); // empty again: a fresh array
    pool.give(new Float32Array(100)); // too small to keep
    pool.give(new Float32Array(new ArrayBuffer(4 * 40000), 0, 20000)); // a view: never recycled
    expect(pool.bytes).toBe(0);
    const [x, y, z] = [new Float32Array(20000), new Float32Array(20000), new Float32Array(30000)];
    pool.give(x);
    pool.give(y);
    pool.give(z); // 70,000 floats > the 60,000 cap: the oldest size (20,000) loses arrays until it fits
    expect(pool.bytes).toBeLessThanOrEqual(pool.capBytes);
    expect(pool.take(30000)).toBe(z);
    expect(pool.take(20000)).toBe(x);
  });
});
