import { createCpuBackend } from '@tessera/core';
import { describe, expect, it } from 'vitest';
import { imageSeed, type JobConfig, runLocal, splitmix64 } from '../src/index.js';
import { freshSeed, readDir, tempDir } from './helpers.js';

describe('per-image seeds', () => {
  it('follow SplitMix64 (Rosetta Code vector for seed 1234567)', () => {
    // https://rosettacode.org/wiki/Pseudo-random_numbers/Splitmix64: the first five outputs for 1234567.
    const want = [
      6457827717110365317n,
      3203168211198807973n,
      9817491932198370423n,
      4593380528125082431n,
      16408922859458223821n,
    ];
    for (const [n, w] of want.entries()) {
      expect(splitmix64(1234567n, n)).toBe(w);
      expect(imageSeed(1234567, n)).toBe(Number(w >> 11n));
    }
  });
});

describe('runLocal', () => {
  it('gives the same PNG bytes and statistics whatever the shard size', async () => {
    const seed = freshSeed();
    const B = createCpuBackend();
    const base: JobConfig = {
      id: 'local',
      count: 24,
      seed,
      batchSize: 4,
      generator: { kind: 'diffusion', sampler: 'euler_ancestral', steps: 6 },
      output: 'imgs',
      reference: { count: 200, seed: 3 },
    };
    const dirA = tempDir('local-a');
    const dirB = tempDir('local-b');
    const live = B.memory().tensors;
    const a = await runLocal({ ...base, shardSize: 24 }, { backend: B, outputRoot: dirA });
    const b = await runLocal({ ...base, shardSize: 8 }, { backend: B, outputRoot: dirB });
    expect(B.memory().tensors, `seed ${seed}`).toBe(live);
    const fa = readDir(`${dirA}/imgs`);
    const fb = readDir(`${dirB}/imgs`);
    expect([...fa.keys()]).toEqual(Array.from({ length: 24 }, (_, i) => `${String(i).padStart(8, '0')}.png`));
    for (const [k, v] of fa) expect(v.equals(fb.get(k)!), `seed ${seed}, ${k}`).toBe(true);
    expect(a.images).toBe(24);
    expect(b.images).toBe(24);
    for (const [i, v] of a.stats.mean.entries())
      expect(Math.abs(v - b.stats.mean[i]!), `seed ${seed}`).toBeLessThan(1e-12);
    for (const [i, v] of a.stats.m2.entries())
      expect(Math.abs(v - b.stats.m2[i]!), `seed ${seed}`).toBeLessThan(1e-12);
  });
});

describe('runLocal: autoregressive decoders', () => {
  for (const decoder of ['raster', 'next-scale', 'masked'] as const) {
    it(`${decoder}: the same token images whatever the shard size`, async () => {
      const seed = freshSeed();
      const B = createCpuBackend();
      const base: JobConfig = {
        id: `ar-${decoder}`,
        count: 6,
        seed,
        batchSize: 2,
        generator: { kind: 'ar', decoder, temperature: 1, numIter: 4 },
        output: 'imgs',
        reference: { count: 50, seed: 3 },
      };
      const dirA = tempDir('ar-a');
      const dirB = tempDir('ar-b');
      const live = B.memory().tensors;
      const a = await runLocal({ ...base, shardSize: 6 }, { backend: B, outputRoot: dirA });
      const b = await runLocal({ ...base, shardSize: 2 }, { backend: B, outputRoot: dirB });
      expect(B.memory().tensors, `seed ${seed}`).toBe(live);
      const fa = readDir(`${dirA}/imgs`);
      const fb = readDir(`${dirB}/imgs`);
      expect(fa.size).toBe(6);
      for (const [k, v] of fa) expect(v.equals(fb.get(k)!), `seed ${seed}, ${k}`).toBe(true);
      expect(a.stats.mean, `seed ${seed}`).toEqual(b.stats.mean);
      expect(a.stats.count).toBe(6);
    });
  }
});
