import { TesseraError } from '@tessera/core';

/** Pillow's bicubic kernel (a = −0.5), support 2. */
function bicubic(x: number): number {
  const a = -0.5;
  const t = Math.abs(x);
  if (t < 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
  if (t < 2) return (((t - 5) * t + 8) * t - 4) * a;
  return 0;
}

/** Pillow's precompute_coeffs: per output index, the first input index and normalised weights. */
function coefficients(
  inSize: number,
  outSize: number,
): { start: Int32Array; size: Int32Array; k: Float64Array; ksize: number } {
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1);
  const support = 2 * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const size = new Int32Array(outSize);
  const k = new Float64Array(outSize * ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const ss = 1 / filterscale;
    // C's (int) truncates toward zero.
    const xmin = Math.max(0, Math.trunc(center - support + 0.5));
    const xmax = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const w = bicubic((x + xmin - center + 0.5) * ss);
      k[xx * ksize + x] = w;
      ww += w;
    }
    if (ww !== 0) for (let x = 0; x < xmax; x++) k[xx * ksize + x] = k[xx * ksize + x]! / ww;
    start[xx] = xmin;
    size[xx] = xmax;
  }
  return { start, size, k, ksize };
}

/**
 * Resizes one float plane (`h×w`, row-major) to `oh×ow` exactly as Pillow's `Image.resize(…,
 * Image.BICUBIC)` does for mode 'F' images — clean-fid's "clean" resize: an antialiased separable
 * bicubic (a = −0.5) whose support widens with the downscale factor, horizontal pass first, float64
 * accumulation, float32 storage after each pass.
 */
export function resizePilBicubic(
  src: ArrayLike<number>,
  h: number,
  w: number,
  oh: number,
  ow: number,
): Float32Array {
  for (const [name, v] of [
    ['h', h],
    ['w', w],
    ['oh', oh],
    ['ow', ow],
  ] as const) {
    if (!Number.isInteger(v) || v < 1) {
      throw new TesseraError(
        'INVALID_ARGUMENT',
        `resizePilBicubic: ${name} should be a positive integer, got ${v}`,
      );
    }
  }
  if (src.length !== h * w) {
    throw new TesseraError(
      'SHAPE_MISMATCH',
      `resizePilBicubic: ${h}×${w} needs ${h * w} values, got ${src.length}`,
    );
  }
  let cur: ArrayLike<number> = src;
  let cw = w;
  if (ow !== w) {
    const c = coefficients(w, ow);
    const out = new Float32Array(h * ow);
    for (let y = 0; y < h; y++) {
      for (let xx = 0; xx < ow; xx++) {
        let ss = 0;
        const s0 = c.start[xx]!;
        for (let x = 0; x < c.size[xx]!; x++) ss += cur[y * w + s0 + x]! * c.k[xx * c.ksize + x]!;
        out[y * ow + xx] = ss;
      }
    }
    cur = out;
    cw = ow;
  }
  if (oh !== h) {
    const c = coefficients(h, oh);
    const out = new Float32Array(oh * cw);
    for (let yy = 0; yy < oh; yy++) {
      const s0 = c.start[yy]!;
      for (let x = 0; x < cw; x++) {
        let ss = 0;
        for (let y = 0; y < c.size[yy]!; y++) ss += cur[(s0 + y) * cw + x]! * c.k[yy * c.ksize + y]!;
        out[yy * cw + x] = ss;
      }
    }
    cur = out;
  }
  return cur instanceof Float32Array && cur !== src ? cur : Float32Array.from(cur);
}
