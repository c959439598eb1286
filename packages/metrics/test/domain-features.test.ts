import { philoxWords, TesseraError, wordsToNormal } from '@tessera/core';
import { DOMAIN_FEATURE_DIM, DOMAIN_FEATURE_SEED, domainFeatures } from '@tessera/metrics';
import { describe, expect, it } from 'vitest';
import { freshSeed, mulberry } from './helpers';

const seed = freshSeed();
const tag = `(TESSERA_TEST_SEED=${seed})`;

describe('domainFeatures', () => {
  it('is relu(W x + b) with W, b from the documented Philox stream', () => {
    const rand = mulberry(seed);
    const img = Float64Array.from({ length: 256 }, () => 2 * rand() - 1);
    const f = domainFeatures(img, [1, 1, 16, 16]);
    expect(f.length).toBe(DOMAIN_FEATURE_DIM);
    // Re-derive three features straight from the stream definition.
    for (const k of [0, 17 + Math.floor(rand() * 40), 63]) {
      const n = 64 * 256;
      const wWords = philoxWords(DOMAIN_FEATURE_SEED, 2 * k * 256, 512);
      const bWords = philoxWords(DOMAIN_FEATURE_SEED, 2 * (n + k), 2);
      let s = 0.5 * wordsToNormal(bWords[0]!, bWords[1]!);
      for (let p = 0; p < 256; p++) s += (wordsToNormal(wWords[2 * p]!, wWords[2 * p + 1]!) / 16) * img[p]!;
      expect(Math.abs(f[k]! - Math.max(0, s)), `feature ${k} ${tag}`).toBeLessThan(1e-12);
    }
  });

  it('averages channels and 2×2 blocks: an upscaled RGB copy has the same features', () => {
    const rand = mulberry(seed + 1);
    const data = Float32Array.from({ length: 3 * 256 }, () => 2 * rand() - 1);
    const f = domainFeatures(data, [3, 1, 16, 16]);
    const big = new Float32Array(3 * 3 * 32 * 32);
    for (let i = 0; i < 3; i++)
      for (let c = 0; c < 3; c++)
        for (let y = 0; y < 32; y++)
          for (let x = 0; x < 32; x++)
            big[((i * 3 + c) * 32 + y) * 32 + x] = data[i * 256 + (y >> 1) * 16 + (x >> 1)]!;
    const g = domainFeatures(big, [3, 3, 32, 32]);
    for (let i = 0; i < f.length; i++) expect(Math.abs(g[i]! - f[i]!), tag).toBeLessThan(1e-12);
    // Batching does not change a row.
    const one = domainFeatures(data.subarray(256, 512), [1, 1, 16, 16]);
    expect(Array.from(one)).toEqual(Array.from(f.subarray(64, 128)));
  });

  it('rejects bad shapes and values', () => {
    expect(() => domainFeatures(new Float32Array(100), [1, 1, 10, 10])).toThrow(/multiples of 16/);
    expect(() => domainFeatures(new Float32Array(255), [1, 1, 16, 16])).toThrow(TesseraError);
    expect(() => domainFeatures(new Float32Array(256).fill(Number.NaN), [1, 1, 16, 16])).toThrow(
      /non-finite/,
    );
  });
});
