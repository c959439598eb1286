import { readFileSync } from 'node:fs';
import { inflateRawSync } from 'node:zlib';
import { TesseraError } from '@tessera/core';
import { crc32, frechetDistance, loadNpz, loadReferenceStats, parseNpy, readZip } from '@tessera/metrics';
import { describe, expect, it } from 'vitest';
import { freshSeed, mulberry } from './helpers';

// Fixtures written by test/fixtures/make_fixtures.py (numpy 1.24 np.savez / np.savez_compressed / np.save).
const fixture = (name: string) =>
  new Uint8Array(readFileSync(new URL(`./fixtures/${name}`, import.meta.url)));
const seed = freshSeed();
const tag = `(TESSERA_TEST_SEED=${seed})`;

const d = 6;
const mu = Array.from({ length: d }, (_, i) => i / 7 - 1);
const sigma = Array.from({ length: d * d }, (_, k) => {
  const i = Math.floor(k / d);
  const j = k % d;
  return 1 / (1 + i + j) + (i === j ? 1 : 0);
});

async function code(f: () => Promise<unknown>): Promise<string> {
  try {
    await f();
  } catch (e) {
    expect(e).toBeInstanceOf(TesseraError);
    return (e as TesseraError).code;
  }
  throw new Error('no error');
}

describe('.npz / .npy reading', () => {
  it("reads pytorch-fid's np.savez(mu=, sigma=) layout exactly", async () => {
    const s = await loadReferenceStats(fixture('stats-f8.npz'), { source: 'stats-f8.npz' });
    expect(s.dim).toBe(d);
    expect(Array.from(s.mu)).toEqual(mu);
    expect(Array.from(s.sigma)).toEqual(sigma);
  });

  it('reads np.savez_compressed float32 files through DecompressionStream and through node:zlib', async () => {
    const want = sigma.map((v) => Math.fround(v));
    const a = await loadReferenceStats(fixture('stats-f4-compressed.npz'));
    expect(Array.from(a.sigma)).toEqual(want);
    const b = await loadReferenceStats(fixture('stats-f4-compressed.npz'), {
      inflateRaw: async (x) => new Uint8Array(inflateRawSync(x)),
    });
    expect(Array.from(b.mu)).toEqual(mu.map((v) => Math.fround(v)));
  });

  it('FID against loaded statistics equals pytorch-fid (scipy sqrtm) on the same arrays', async () => {
    // make_fixtures.py: mu2 = cos(i), sigma2 = diag(1 + i/3) + 0.1 → 7.6577568488464
    const s = await loadReferenceStats(fixture('stats-f8.npz'));
    const mu2 = Array.from({ length: d }, (_, i) => Math.cos(i));
    const sigma2 = Array.from(
      { length: d * d },
      (_, k) => 0.1 + (k % (d + 1) === 0 ? 1 + k / (d + 1) / 3 : 0),
    );
    const v = frechetDistance(s, { mu: mu2, sigma: Float64Array.from(sigma2) });
    expect(Math.abs(v - 7.6577568488464) / 7.6577568488464).toBeLessThan(1e-9);
  });

  it('parses Fortran-order big-endian ints and float16', () => {
    const a = parseNpy(fixture('fortran-be.npy'));
    expect(a.descr).toBe('>i4');
    expect(a.shape).toEqual([3, 4]);
    expect(Array.from(a.data)).toEqual(Array.from({ length: 12 }, (_, i) => i));
    const h = parseNpy(fixture('f2.npy'));
    // float16 nearest values: 1e-7 is the subnormal 2·2⁻²⁴.
    expect(Array.from(h.data)).toEqual([0.5, -2, 65504, 2 * 2 ** -24]);
  });

  it('CRC-32 matches the published check value', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
  });

  it('corrupt or wrong files are TesseraErrors', async () => {
    const good = fixture('stats-f8.npz');
    const rand = mulberry(seed);
    // A flipped byte inside the stored data of an entry (past its local header) fails the CRC.
    const flipped = good.slice();
    const at = 100 + Math.floor(rand() * 40);
    flipped[at] = flipped[at]! ^ (1 + Math.floor(rand() * 255));
    expect(await code(() => loadReferenceStats(flipped)), `byte ${at} ${tag}`).toBe('CORRUPT_FILE');
    // Truncations anywhere are caught.
    const cut = 1 + Math.floor(rand() * (good.length - 2));
    expect(await code(() => readZip(good.subarray(0, cut))), `cut ${cut} ${tag}`).toBe('CORRUPT_FILE');
    expect(await code(() => readZip(new TextEncoder().encode('not a zip at all, not even close')))).toBe(
      'CORRUPT_FILE',
    );
    // Corrupt deflate stream.
    const comp = fixture('stats-f4-compressed.npz');
    const bad = comp.slice();
    for (let i = 60; i < 120; i++) bad[i] = 0xff;
    expect(await code(() => loadReferenceStats(bad))).toBe('CORRUPT_FILE');
    await expect(loadReferenceStats(fixture('wrong-keys.npz'))).rejects.toThrow(
      /'mu' and 'sigma', found \[mean, cov\]/,
    );
    expect(() => parseNpy(new Uint8Array(20))).toThrow(/NUMPY/);
    const npy = fixture('f2.npy');
    expect(() => parseNpy(npy.subarray(0, npy.length - 1))).toThrow(/data bytes/);
    const m = await loadNpz(good);
    expect([...m.keys()]).toEqual(['mu', 'sigma']);
  });
});
