import { createCpuBackend, philoxWords } from '@tessera/core';
import { describe, expect, it } from 'vitest';
import { gpu, rng, SEED } from './helpers.ts';

// ((w >>> 9) + 0.5)·2⁻²³, the contract in core's backend.ts, re-derived here in float64
const U = (w: number) => ((w >>> 9) + 0.5) / 8388608;

describe.skipIf(!gpu)('webgpu random', () => {
  const B = gpu!;

  it('rand reproduces the Random123 known-answer block (counter 0, key 0)', async () => {
    // Random123 kat_vectors, philox4x32_10: ctr 0 0 0 0, key 0 0 → 6627e8d5 e169c58d bc57ac4c 9b00dbd8
    const kat = [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8];
    expect(Array.from(await B.rand([4], { seed: 0 }).data())).toEqual(kat.map((w) => Math.fround(U(w))));
  });

  it('rand is bit-exact with the Philox stream at any seed and offset (64-bit offsets too)', async () => {
    const r = rng(SEED);
    for (const offset of [0, 3, Math.floor(r() * 1e6), 2 ** 32 - 5, 2 ** 40 + 7]) {
      const seed = Math.floor(r() * 2 ** 53);
      const got = await B.rand([1000], { seed, offset }).data();
      const want = Array.from(philoxWords(seed, offset, 1000), (w) => Math.fround(U(w)));
      expect(Array.from(got), `seed ${seed} offset ${offset}`).toEqual(want);
    }
  });

  it('randn([1024], { seed: 42 }) agrees with the CPU backend to 1e-6', async () => {
    const cpu = await createCpuBackend().randn([1024], { seed: 42 }).data();
    const got = await B.randn([1024], { seed: 42 }).data();
    let worst = 0;
    for (let i = 0; i < 1024; i++) worst = Math.max(worst, Math.abs(got[i]! - cpu[i]!));
    expect(worst).toBeLessThanOrEqual(1e-6);
  });

  it('randn matches float64 Box–Muller to 1e-6 on 2¹⁸ draws (accurate log and cos)', async () => {
    const r = rng(SEED + 1);
    const seed = Math.floor(r() * 2 ** 32);
    const offset = 1 + Math.floor(r() * 1000); // odd offsets straddle Philox blocks
    const n = 1 << 18;
    const w = philoxWords(seed, offset, 2 * n);
    const got = await B.randn([n], { seed, offset }).data();
    let worst = 0;
    let at = 0;
    for (let i = 0; i < n; i++) {
      const z = Math.sqrt(-2 * Math.log(U(w[2 * i]!))) * Math.cos(2 * Math.PI * U(w[2 * i + 1]!));
      const d = Math.abs(got[i]! - z);
      if (d > worst) [worst, at] = [d, i];
    }
    expect(worst, `seed ${seed} offset ${offset}, worst at ${at}`).toBeLessThanOrEqual(1e-6);
  });

  it('sampleCategorical uses rand word (offset + row) and the cumulative softmax', async () => {
    const r = rng(SEED + 2);
    const rows = 64;
    const len = 9;
    const logits = Array.from({ length: rows * len }, () => 2 * r() - 1);
    const seed = Math.floor(r() * 1e9);
    const got = await B.sampleCategorical(B.tensor(logits, [rows, len]), { seed, offset: 5 }).data();
    const words = philoxWords(seed, 5, rows);
    // The device sums float32 exponentials; this reference sums them in float64. They agree to ≲ 1e-6 of
    // the total, so a goal u·Σ that lies within 1e-5·Σ of a cumulative boundary may land on either side
    // of it there (about 64 rows × 8 boundaries × 2e-5 ≈ 1% of runs come within 1e-5, far fewer within
    // float32 rounding): for those rows any index whose float64 interval comes within the margin is
    // accepted; every other row must equal the float64 pick exactly.
    const bad: string[] = [];
    for (let i = 0; i < rows; i++) {
      const row = logits.slice(i * len, (i + 1) * len).map(Math.fround);
      const m = Math.max(...row);
      const e = row.map((v) => Math.exp(v - m));
      const s = e.reduce((a, b) => a + b, 0);
      const goal = U(words[i]!) * s;
      const cum: number[] = [];
      let c = 0;
      for (const v of e) {
        c += v;
        cum.push(c);
      }
      let k = 0;
      while (k < len - 1 && !(cum[k]! > goal)) k++;
      const margin = 1e-5 * s;
      const g = got[i]!;
      const near = cum.slice(0, len - 1).some((v) => Math.abs(v - goal) < margin);
      const ok = near
        ? g >= 0 && g < len && goal >= (g > 0 ? cum[g - 1]! : 0) - margin && goal < cum[g]! + margin
        : g === k;
      if (!ok) bad.push(`row ${i}: got ${g}, float64 pick ${k} (goal ${goal} of ${s})`);
    }
    expect(bad, `seed ${SEED}`).toEqual([]);
  });

  it('rejects bad random options like the CPU backend', () => {
    expect(() => B.randn([2], { seed: -1 })).toThrow(/randn: seed must be a non-negative safe integer/);
    expect(() => B.rand([2], { seed: 1, offset: 0.5 })).toThrow(/rand: offset must be/);
  });
});
