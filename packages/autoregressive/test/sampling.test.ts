import { filterLogits, gumbelSoftmax, RngStream, sampleLogits, varGumbelTau } from '@tessera/autoregressive';
import { philoxWords, wordToUniform } from '@tessera/core';
import { describe, expect, it } from 'vitest';
import { testBackends } from '../../../test-utils/backends';
import { draw64, filter64, freshSeed, mulberry, rows, softmax64 } from './helpers';

const seed = freshSeed();
const note = `(seed ${seed})`;

function randomLogits(n: number, V: number, r: () => number): number[] {
  return Array.from({ length: n * V }, () => (r() - 0.5) * 8);
}

describe.each(await testBackends())('sampling on %s', (_name, B) => {
  const configs = [
    { temperature: 0.7 },
    { topK: 3 },
    { topP: 0.6 },
    { minP: 0.2 },
    { temperature: 1.3, topK: 5, topP: 0.9, minP: 0.05 },
    { topK: 0, topP: 0 }, // VAR's "off"
    { topK: 0, topP: 1 }, // LlamaGen's "off"
  ];

  it.each(configs)('filterLogits matches a float64 re-derivation %o', async (cfg) => {
    const r = mulberry(seed);
    const n = 6;
    const V = 11;
    const x = randomLogits(n, V, r);
    const got = rows(await filterLogits(B.tensor(x, [n, V]), cfg).data(), V);
    rows(x, V).forEach((row, i) => {
      const want = filter64(row, cfg);
      want.forEach((w, j) => {
        if (w === Number.NEGATIVE_INFINITY) expect(got[i]![j], note).toBe(Number.NEGATIVE_INFINITY);
        else expect(got[i]![j], note).toBeCloseTo(w, 4);
      });
    });
  });

  it('both off conventions keep every logit', async () => {
    const r = mulberry(seed + 1);
    const x = randomLogits(3, 7, r);
    for (const cfg of [
      { topK: 0, topP: 0 },
      { topK: 0, topP: 1 },
    ]) {
      const got = await filterLogits(B.tensor(x, [3, 7]), cfg).data();
      for (const [i, v] of Array.from(got).entries()) expect(v, note).toBeCloseTo(x[i]!, 5);
    }
  });

  it('sampleLogits draws the inverse-CDF token of core Philox words, advancing the offset by rows', async () => {
    const r = mulberry(seed + 2);
    const n = 40;
    const V = 9;
    const x = randomLogits(n, V, r);
    const cfg = { temperature: 0.9, topK: 6, topP: 0.85 };
    const rng = new RngStream(seed, 17);
    const got = await sampleLogits(B.tensor(x, [n, V]), cfg, rng).data();
    expect(rng.offset).toBe(17 + n);
    let checked = 0;
    rows(x, V).forEach((row, i) => {
      const { index, margin } = draw64(softmax64(filter64(row, cfg)), seed, 17 + i);
      if (margin < 1e-5) return; // float32 vs float64 boundary
      expect(got[i], `${note} row ${i}`).toBe(index);
      checked++;
    });
    expect(checked).toBeGreaterThan(n - 3);
  });

  it('temperature 0 is argmax, and top-k 1 gives the same tokens', async () => {
    const r = mulberry(seed + 3);
    const x = randomLogits(20, 8, r);
    const t = B.tensor(x, [20, 8]);
    const g = await sampleLogits(t, { temperature: 0 }, new RngStream(seed)).data();
    const k1 = await sampleLogits(t, { topK: 1 }, new RngStream(seed)).data();
    rows(x, 8).forEach((row, i) => {
      const am = row.indexOf(Math.max(...row));
      expect(g[i], note).toBe(am);
      expect(k1[i], note).toBe(am);
    });
  });

  it('gumbelSoftmax matches softmax((logits + g)/tau) with g = -log(-log u) from Philox words', async () => {
    const r = mulberry(seed + 4);
    const n = 4;
    const V = 6;
    const x = randomLogits(n, V, r);
    const tau = varGumbelTau(0.5);
    expect(tau).toBeCloseTo(0.27 * (1 - 0.5 * 0.95), 12); // VAR var.py: max(0.27*(1-ratio*0.95), 0.005)
    expect(varGumbelTau(1)).toBeCloseTo(Math.max(0.27 * 0.05, 0.005), 12);
    const got = rows(await gumbelSoftmax(B.tensor(x, [n, V]), tau, new RngStream(seed, 5)).data(), V);
    const words = philoxWords(seed, 5, n * V);
    rows(x, V).forEach((row, i) => {
      const z = row.map((v, j) => (v - Math.log(-Math.log(wordToUniform(words[i * V + j]!)))) / tau);
      for (const [j, w] of softmax64(z).entries()) expect(got[i]![j]!, note).toBeCloseTo(w, 3);
    });
  });

  it('rejects bad options with TesseraError', () => {
    const t = B.tensor([1, 2, 3], [1, 3]);
    expect(() => filterLogits(t, { temperature: -1 })).toThrow(/temperature/);
    expect(() => filterLogits(t, { topK: 1.5 })).toThrow(/topK/);
    expect(() => filterLogits(t, { minP: 2 })).toThrow(/minP/);
    expect(() => new RngStream(-1)).toThrow(/seed/);
  });
});
