import { PixelTokenizer } from '@tessera/tokenizers';
import { describe, expect, it } from 'vitest';
import { testBackends } from '../../../test-utils/backends.ts';
import { bruteNearest, freshSeed, normals, uniforms } from './helpers.ts';

const backends = await testBackends();

describe.each(backends)('PixelTokenizer on %s', (_name, B) => {
  it('uint8 levels: k/255 ↦ k, random pixels round to the nearest level, decode is within half a level', async () => {
    const seed = freshSeed(51);
    const tok = new PixelTokenizer();
    expect(tok.vocabSize).toBe(256);
    const exact = Float32Array.from({ length: 256 }, (_, k) => k / 255);
    expect(Array.from(await tok.encode(B.tensor(exact, [1, 1, 16, 16])).data())).toEqual(
      Array.from({ length: 256 }, (_, k) => k),
    );
    const n = 2 * 3 * 8 * 8;
    const x = Float32Array.from(uniforms(seed, n), (u) => 1.2 * u - 0.1); // includes out-of-range values
    const t = tok.encode(B.tensor(x, [2, 3, 8, 8]));
    expect(t.shape).toEqual([2, 3, 8, 8]);
    const got = await t.data();
    const back = await tok.decode(t).data();
    for (let i = 0; i < n; i++) {
      const want = Math.min(255, Math.max(0, Math.round(x[i]! * 255)));
      if (Math.abs(((x[i]! * 255) % 1) - 0.5) > 1e-3) expect(got[i], `seed ${seed}`).toBe(want);
      expect(back[i]).toBeCloseTo(got[i]! / 255, 6);
      if (x[i]! >= 0 && x[i]! <= 1) expect(Math.abs(back[i]! - x[i]!)).toBeLessThanOrEqual(0.5 / 255 + 1e-6);
    }
  });

  it('levels and a [-1, 1] range: 4 levels at −1, −1/3, 1/3, 1', async () => {
    const tok = new PixelTokenizer({ levels: 4, range: [-1, 1] });
    const t = tok.encode(B.tensor([-1, -0.4, -0.2, 0.2, 0.4, 1], [1, 1, 1, 6]));
    expect(Array.from(await t.data())).toEqual([0, 1, 1, 2, 2, 3]);
    const d = await tok.decode(t).data();
    [-1, -1 / 3, -1 / 3, 1 / 3, 1 / 3, 1].forEach((v, i) => {
      expect(d[i]).toBeCloseTo(v, 6);
    });
  });

  it('k-means palette recovers four colours and tokens are nearest palette entries', async () => {
    const seed = freshSeed(52);
    const colours = [0.9, 0.1, 0.1, 0.1, 0.8, 0.2, 0.1, 0.2, 0.9, 0.95, 0.95, 0.3];
    const [H, W] = [16, 16];
    const u = uniforms(seed, H * W);
    const noise = normals(seed + 1, 3 * H * W);
    const img = new Float32Array(3 * H * W);
    for (let p = 0; p < H * W; p++) {
      const c = Math.floor(u[p]! * 4);
      for (let ch = 0; ch < 3; ch++)
        img[ch * H * W + p] = colours[c * 3 + ch]! + 0.02 * noise[ch * H * W + p]!;
    }
    const tok = PixelTokenizer.fitPalette(B.tensor(img, [1, 3, H, W]), 4, { seed });
    const pal = await tok.palette!.data();
    // every true colour has a palette entry within the noise level
    const m = bruteNearest(Float32Array.from(colours), pal, 3);
    for (const d of m.d) expect(d, `seed ${seed}`).toBeLessThan(0.01);
    const tokens = tok.encode(B.tensor(img, [1, 3, H, W]));
    expect(tokens.shape).toEqual([1, H, W]);
    const rows = new Float32Array(H * W * 3);
    for (let p = 0; p < H * W; p++) for (let ch = 0; ch < 3; ch++) rows[p * 3 + ch] = img[ch * H * W + p]!;
    expect(Array.from(await tokens.data())).toEqual(Array.from(bruteNearest(rows, pal, 3).idx));
    const dec = tok.decode(tokens);
    expect(dec.shape).toEqual([1, 3, H, W]);
    tok.dispose();
  });
});
