import { inflateSync } from 'node:zlib';
import { TesseraError } from '@tessera/core';
import { crc32, DIGIT_GLYPHS, digitsDataset, encodePng, imageGrid, shapesDataset } from '@tessera/reference';
import { describe, expect, it } from 'vitest';
import { freshSeed, rng } from './helpers';

const seed = freshSeed() % 1_000_000;
const ctx = `seed ${seed}`;

/** Bitwise CRC-32 (reflected polynomial 0xEDB88320), no table: independent of the package's. */
function crcBitwise(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

/** Minimal PNG decoder (8-bit, filter types 0–4) written for the test. */
function decodePng(png: Uint8Array): { width: number; height: number; channels: number; pixels: Uint8Array } {
  expect(Array.from(png.subarray(0, 8))).toEqual([137, 80, 78, 71, 13, 10, 26, 10]);
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  let o = 8;
  let width = 0;
  let height = 0;
  let channels = 0;
  const idat: Uint8Array[] = [];
  for (;;) {
    const len = view.getUint32(o);
    const type = String.fromCharCode(...png.subarray(o + 4, o + 8));
    const body = png.subarray(o + 8, o + 8 + len);
    expect(view.getUint32(o + 8 + len), `CRC of ${type}`).toBe(crcBitwise(png.subarray(o + 4, o + 8 + len)));
    if (type === 'IHDR') {
      width = view.getUint32(o + 8);
      height = view.getUint32(o + 12);
      expect(body[8]).toBe(8);
      channels = { 0: 1, 2: 3, 6: 4 }[body[9]!]!;
    } else if (type === 'IDAT') idat.push(body);
    o += 12 + len;
    if (type === 'IEND') break;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const pixels = new Uint8Array(stride * height);
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)]!;
    for (let i = 0; i < stride; i++) {
      const v = raw[y * (stride + 1) + 1 + i]!;
      const a = i >= channels ? pixels[y * stride + i - channels]! : 0;
      const b = y > 0 ? pixels[(y - 1) * stride + i]! : 0;
      pixels[y * stride + i] = (v + (f === 1 ? a : f === 2 ? b : f === 3 ? (a + b) >> 1 : 0)) & 0xff;
      expect(f === 0 || f === 1 || f === 2 || f === 3).toBe(true);
    }
  }
  return { width, height, channels, pixels };
}

describe('PNG encoder', () => {
  it('CRC-32 check value', () => {
    // the standard check value of CRC-32/ISO-HDLC for "123456789"
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
  });

  it.each([1, 3, 4])('round-trips random %i-channel pixels through inflate', (channels) => {
    const u = rng(seed + channels);
    const w = 1 + Math.floor(u() * 40);
    const h = 1 + Math.floor(u() * 30);
    const px = Uint8Array.from({ length: w * h * channels }, () => Math.floor(u() * 256));
    const out = decodePng(encodePng(px, w, h));
    expect([out.width, out.height, out.channels], ctx).toEqual([w, h, channels]);
    expect(Array.from(out.pixels), ctx).toEqual(Array.from(px));
  });

  it('rejects a pixel count that fits no channel layout', () => {
    expect(() => encodePng(new Uint8Array(10), 3, 3)).toThrow(TesseraError);
    expect(() => encodePng(new Uint8Array(9), 0, 3)).toThrow(/positive integers/);
  });

  it('imageGrid maps [-1, 1] to 0–255 and tiles row-major', () => {
    const data = new Float32Array(2 * 1 * 2 * 2);
    data.set([-1, 1, 0, 0.5], 0);
    data.set([1, 1, -1, -1], 4);
    const g = imageGrid(data, [2, 1, 2, 2], { cols: 2, pad: 1, background: 7 });
    expect([g.width, g.height]).toEqual([7, 4]);
    expect(Array.from(g.pixels.subarray(7 + 1, 7 + 3))).toEqual([0, 255]); // row 1, tile 0
    expect(Array.from(g.pixels.subarray(14 + 1, 14 + 3))).toEqual([128, 191]); // 0 → 127.5, 0.5 → 191.25
    expect(Array.from(g.pixels.subarray(7 + 4, 7 + 6))).toEqual([255, 255]); // tile 1
    expect(g.pixels[0]).toBe(7);
    const big = imageGrid(data, [2, 1, 2, 2], { cols: 1, pad: 0, scale: 3 });
    expect([big.width, big.height]).toEqual([6, 12]);
    // row 4 of the scaled grid is source row 1 of image 0: values 0, 0.5 each repeated 3 times
    expect(Array.from(big.pixels.subarray(4 * 6, 5 * 6))).toEqual([128, 128, 128, 191, 191, 191]);
  });
});

describe('procedural datasets', () => {
  it('digits: a seed reproduces the set exactly, prefixes agree, values in [-1, 1]', () => {
    const a = digitsDataset({ count: 30, size: 16, seed });
    const b = digitsDataset({ count: 30, size: 16, seed });
    const c = digitsDataset({ count: 12, size: 16, seed });
    const other = digitsDataset({ count: 30, size: 16, seed: seed + 1 });
    expect(a.shape).toEqual([30, 1, 16, 16]);
    expect(a.data).toEqual(b.data);
    expect(a.labels).toEqual(b.labels);
    expect(Array.from(c.data)).toEqual(Array.from(a.data.subarray(0, 12 * 256)));
    expect(a.data).not.toEqual(other.data);
    let min = 1;
    let max = -1;
    for (const v of a.data) {
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
    expect(min).toBe(-1);
    expect(max).toBe(1);
    // anti-aliased: some values strictly between
    expect(a.data.some((v) => v > -0.9 && v < 0.9)).toBe(true);
  });

  it('digits: each class mean matches its own glyph best (nearest-neighbour rendering of the bitmap)', () => {
    const S = 28;
    const ds = digitsDataset({ count: 400, size: S, seed, jitter: 0.02, shear: 0, scale: [0.7, 0.7] });
    const labelsSeen = new Set(ds.labels);
    expect(labelsSeen.size, ctx).toBe(10);
    // the glyph box: height 0.7·S, width 0.7·S·5/7 (aspect varies ±), centred
    const template = (g: number) => {
      const t = new Float64Array(S * S);
      const gh = 0.7 * S;
      const gw = (gh * 5) / 7;
      for (let y = 0; y < S; y++) {
        for (let x = 0; x < S; x++) {
          const gy = Math.floor(((y + 0.5 - (S - gh) / 2) / gh) * 7);
          const gx = Math.floor(((x + 0.5 - (S - gw) / 2) / gw) * 5);
          t[y * S + x] = gy >= 0 && gy < 7 && gx >= 0 && gx < 5 && DIGIT_GLYPHS[g]![gy]![gx] === '#' ? 1 : -1;
        }
      }
      return t;
    };
    const templates = Array.from({ length: 10 }, (_, g) => template(g));
    for (let digit = 0; digit < 10; digit++) {
      const mean = new Float64Array(S * S);
      let n = 0;
      ds.labels.forEach((l, i) => {
        if (l !== digit) return;
        n++;
        for (let p = 0; p < S * S; p++) mean[p]! += ds.data[i * S * S + p]!;
      });
      const dist = templates.map((t) => t.reduce((a, v, p) => a + (v - mean[p]! / n) ** 2, 0));
      expect(dist.indexOf(Math.min(...dist)), `${ctx} digit ${digit}`).toBe(digit);
    }
  });

  it('shapes: RGB images, a single colour over a dark background, deterministic', () => {
    const a = shapesDataset({ count: 20, size: 24, seed });
    const b = shapesDataset({ count: 20, size: 24, seed });
    expect(a.shape).toEqual([20, 3, 24, 24]);
    expect(a.data).toEqual(b.data);
    expect(a.data.reduce((m, v) => Math.max(m, Math.abs(v)), 0)).toBeLessThanOrEqual(1);
    expect(new Set(a.labels).size).toBeGreaterThan(1);
    // Bounds from the documented draws, for every seed: the background is one colour per channel in
    // [−1, −0.7], so an uncovered corner has luminance (sum of channels) ≤ −2.1; a rotated square can reach
    // one corner (coverage up to 0.35 at r = 0.18·S, centre (r, r), angle 0; about 3e-7 of images), never two
    // (that needs r ≥ 9.2 > 0.32·24), so the darkest corner is background. The shape has a fully covered pixel
    // (inradius ≥ 2.16 px) of colour 2·light·rgb − 1 with light ≥ 0.6 and a saturated hue (channels sum ≥ 1),
    // luminance ≥ 2·0.6 − 3 = −1.8: at least 0.3 above the darkest corner (1e-5 covers float32 rounding).
    // Typical images are far brighter: a 0.5 margin failed 14 of 200,000 images (7e-5 each, 1.4e-3 per run of
    // 20 when required of every image); here at most 2 of 20 may miss it (P ≈ C(20,3)·(7e-5)³ ≈ 4e-10).
    const plane = 24 * 24;
    let dim = 0;
    for (let n = 0; n < 20; n++) {
      const lum = (p: number) =>
        a.data[n * 3 * plane + p]! +
        a.data[n * 3 * plane + plane + p]! +
        a.data[n * 3 * plane + 2 * plane + p]!;
      let best = Number.NEGATIVE_INFINITY;
      for (let p = 0; p < plane; p++) best = Math.max(best, lum(p));
      const corner = Math.min(lum(0), lum(23), lum(plane - 24), lum(plane - 1));
      expect(corner, `${ctx} image ${n}`).toBeLessThanOrEqual(-2.1 + 1e-6);
      expect(best, `${ctx} image ${n}`).toBeGreaterThan(corner + 0.3 - 1e-5);
      if (!(best > corner + 0.5)) dim++;
    }
    expect(dim, `${ctx}: images whose brightest pixel is within 0.5 of the background`).toBeLessThanOrEqual(
      2,
    );
  });

  it('rejects bad options', () => {
    expect(() => digitsDataset({ count: 0 })).toThrow(TesseraError);
    expect(() => digitsDataset({ count: 2, digits: [11] })).toThrow(/0–9/);
    expect(() => shapesDataset({ count: 2, size: 4 })).toThrow(/size/);
  });
});
