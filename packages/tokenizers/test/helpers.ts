// Float64 references and procedural data shared by the tokenizer tests. Nothing here calls the code
// under test: the resampling formulas are PyTorch's, written out from their published definitions.
import { philoxWords, wordsToNormal, wordToUniform } from '@tessera/core';

/** A fresh seed per run (override with TESSERA_SEED); tests print it in failure messages. */
export function freshSeed(salt = 0): number {
  const base = process.env.TESSERA_SEED ? Number(process.env.TESSERA_SEED) : Date.now() % 1_000_000_007;
  return (base + salt * 7919) % 2 ** 31;
}

/** n standard normals (float64) from the Philox stream of `seed`. */
export function normals(seed: number, n: number, offset = 0): Float64Array {
  const w = philoxWords(seed, offset, 2 * n);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = wordsToNormal(w[2 * i]!, w[2 * i + 1]!);
  return out;
}

/** n uniforms in (0, 1) from the Philox stream of `seed`. */
export function uniforms(seed: number, n: number, offset = 0): Float64Array {
  const w = philoxWords(seed, offset, n);
  return Float64Array.from(w, wordToUniform);
}

/** Gaussian blobs: `n` rows of dimension `dim` around `k` centres (spread `sigma`), and the centres. */
export function blobs(seed: number, k: number, dim: number, n: number, sigma: number, sep = 4) {
  const centres = normals(seed, k * dim).map((v) => v * sep);
  const noise = normals(seed + 1, n * dim);
  const pick = uniforms(seed + 2, n);
  const data = new Float32Array(n * dim);
  const label = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = Math.min(k - 1, Math.floor(pick[i]! * k));
    label[i] = c;
    for (let d = 0; d < dim; d++) data[i * dim + d] = centres[c * dim + d]! + sigma * noise[i * dim + d]!;
  }
  return { data, centres, label };
}

/** Squared distance of row i of `a` and row j of `b` (dimension `dim`), float64. */
export function dist2(a: ArrayLike<number>, i: number, b: ArrayLike<number>, j: number, dim: number): number {
  let s = 0;
  for (let d = 0; d < dim; d++) {
    const e = a[i * dim + d]! - b[j * dim + d]!;
    s += e * e;
  }
  return s;
}

/** Float64 brute-force nearest code per row (first index on ties) and its squared distance. */
export function bruteNearest(
  z: ArrayLike<number>,
  codes: ArrayLike<number>,
  dim: number,
): { idx: Int32Array; d: Float64Array } {
  const n = z.length / dim;
  const k = codes.length / dim;
  const idx = new Int32Array(n);
  const d = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    let bd = Number.POSITIVE_INFINITY;
    for (let j = 0; j < k; j++) {
      const e = dist2(z, i, codes, j, dim);
      if (e < bd) {
        bd = e;
        best = j;
      }
    }
    idx[i] = best;
    d[i] = bd;
  }
  return { idx, d };
}

/** Rows divided by their L2 norm (float64). */
export function normalizeRows(x: ArrayLike<number>, dim: number): Float64Array {
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length / dim; i++) {
    let s = 0;
    for (let d = 0; d < dim; d++) s += x[i * dim + d]! ** 2;
    const n = Math.max(Math.sqrt(s), 1e-12);
    for (let d = 0; d < dim; d++) out[i * dim + d] = x[i * dim + d]! / n;
  }
  return out;
}

// ---- PyTorch interpolate, align_corners=False, as published ----

/**
 * Adaptive average pooling windows (aten/src/ATen/native/AdaptiveAveragePooling.cpp `start_index` /
 * `end_index`): start = ⌊i·in/out⌋, end = ⌈(i+1)·in/out⌉, the weights 1/(end − start).
 * `F.interpolate(mode='area')` is `adaptive_avg_pool2d`.
 */
function areaMatrix(inS: number, outS: number): Float64Array {
  const m = new Float64Array(outS * inS);
  for (let i = 0; i < outS; i++) {
    const start = Math.floor((i * inS) / outS);
    const end = Math.floor(((i + 1) * inS + outS - 1) / outS);
    for (let k = start; k < end; k++) m[i * inS + k] = 1 / (end - start);
  }
  return m;
}

/** Keys' cubic convolution with A = −0.75 (aten/src/ATen/native/UpSample.h `cubic_convolution1/2`). */
function cubicConv1(x: number, A: number): number {
  return ((A + 2) * x - (A + 3)) * x * x + 1;
}
function cubicConv2(x: number, A: number): number {
  return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
}

/**
 * Bicubic resampling matrix (UpSample.h `area_pixel_compute_source_index` with cubic=true: src =
 * (dst + 0.5)·in/out − 0.5, no clamping; `get_cubic_upsample_coefficients`; taps x₀−1 … x₀+2 clamped to
 * [0, in−1] by `upsample_get_value_bounded`).
 */
function bicubicMatrix(inS: number, outS: number): Float64Array {
  const A = -0.75;
  const m = new Float64Array(outS * inS);
  for (let i = 0; i < outS; i++) {
    const src = (i + 0.5) * (inS / outS) - 0.5;
    const x0 = Math.floor(src);
    const t = src - x0;
    const w = [cubicConv2(t + 1, A), cubicConv1(t, A), cubicConv1(1 - t, A), cubicConv2(2 - t, A)];
    for (let k = 0; k < 4; k++) {
      const j = Math.min(Math.max(x0 - 1 + k, 0), inS - 1);
      m[i * inS + j] = m[i * inS + j]! + w[k]!;
    }
  }
  return m;
}

/** Float64 reference of `F.interpolate(x, size=(h, w), mode, align_corners=False)` on `planes` maps. */
export function resizeRef(
  x: ArrayLike<number>,
  planes: number,
  H: number,
  W: number,
  h: number,
  w: number,
  mode: 'area' | 'bicubic',
): Float64Array {
  const my = mode === 'area' ? areaMatrix(H, h) : bicubicMatrix(H, h);
  const mx = mode === 'area' ? areaMatrix(W, w) : bicubicMatrix(W, w);
  const out = new Float64Array(planes * h * w);
  for (let p = 0; p < planes; p++) {
    for (let i = 0; i < h; i++) {
      for (let j = 0; j < w; j++) {
        let s = 0;
        for (let y = 0; y < H; y++) {
          const wy = my[i * H + y]!;
          if (wy === 0) continue;
          for (let xx = 0; xx < W; xx++) s += wy * mx[j * W + xx]! * x[p * H * W + y * W + xx]!;
        }
        out[p * h * w + i * w + j] = s;
      }
    }
  }
  return out;
}

/** Largest |a − b|. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}
