import type { ResizeMode } from '../backend.js';
import { type Shape, stridesOf } from '../dtype.js';

/** Float64 reference kernels shared by the CPU backend (plain arrays in, plain arrays out). */

/** For each output element, the flat index into an input of shape `inShape` broadcast to `outShape`. */
export function broadcastIndex(outShape: Shape, inShape: Shape): Int32Array | null {
  const n = outShape.length;
  const same = inShape.length === n && inShape.every((d, i) => d === outShape[i]);
  if (same) return null;
  const inStrides = stridesOf(inShape);
  const eff = new Array<number>(n).fill(0);
  for (let i = 0; i < inShape.length; i++) {
    const oi = n - inShape.length + i;
    eff[oi] = inShape[i] === 1 ? 0 : inStrides[i]!;
  }
  let size = 1;
  for (const d of outShape) size *= d;
  const idx = new Int32Array(size);
  const counter = new Array<number>(n).fill(0);
  let off = 0;
  for (let j = 0; j < size; j++) {
    idx[j] = off;
    for (let a = n - 1; a >= 0; a--) {
      counter[a]!++;
      off += eff[a]!;
      if (counter[a]! < outShape[a]!) break;
      off -= eff[a]! * counter[a]!;
      counter[a] = 0;
    }
  }
  return idx;
}

/** Permutes the axes of a row-major array. */
export function permute<T extends { length: number; [i: number]: number }>(
  src: ArrayLike<number>,
  shape: Shape,
  perm: readonly number[],
  out: T,
): T {
  const n = shape.length;
  const inStrides = stridesOf(shape);
  const outShape = perm.map((p) => shape[p]!);
  const eff = perm.map((p) => inStrides[p]!);
  const size = out.length;
  const counter = new Array<number>(n).fill(0);
  let off = 0;
  for (let j = 0; j < size; j++) {
    out[j] = src[off]!;
    for (let a = n - 1; a >= 0; a--) {
      counter[a]!++;
      off += eff[a]!;
      if (counter[a]! < outShape[a]!) break;
      off -= eff[a]! * counter[a]!;
      counter[a] = 0;
    }
  }
  return out;
}

/** Splits a shape around `axis` into (outer, len, inner) extents. */
export function around(shape: Shape, axis: number): [number, number, number] {
  let outer = 1;
  let inner = 1;
  for (let i = 0; i < axis; i++) outer *= shape[i]!;
  for (let i = axis + 1; i < shape.length; i++) inner *= shape[i]!;
  return [outer, shape[axis] ?? 1, inner];
}

/** PyTorch's cubic convolution weight with A = -0.75. */
export function cubicWeight(x: number, A = -0.75): number {
  const ax = Math.abs(x);
  if (ax <= 1) return ((A + 2) * ax - (A + 3)) * ax * ax + 1;
  if (ax < 2) return ((A * ax - 5 * A) * ax + 8 * A) * ax - 4 * A;
  return 0;
}

/**
 * The 1-D resampling matrix of PyTorch `interpolate` (align_corners=False) from `inSize` to `outSize`,
 * as a list of (source index, weight) taps per output index.
 */
export function resizeTaps(
  inSize: number,
  outSize: number,
  mode: ResizeMode,
): Array<Array<[number, number]>> {
  const scale = inSize / outSize;
  const taps: Array<Array<[number, number]>> = [];
  for (let o = 0; o < outSize; o++) {
    if (mode === 'nearest') {
      const f32scale = Math.fround(scale);
      taps.push([[Math.min(Math.floor(Math.fround(o * f32scale)), inSize - 1), 1]]);
    } else if (mode === 'bilinear') {
      const src = Math.max((o + 0.5) * scale - 0.5, 0);
      const i0 = Math.floor(src);
      const i1 = Math.min(i0 + 1, inSize - 1);
      const l = src - i0;
      taps.push(
        i1 === i0
          ? [[i0, 1]]
          : [
              [i0, 1 - l],
              [i1, l],
            ],
      );
    } else if (mode === 'bicubic') {
      const src = (o + 0.5) * scale - 0.5;
      const i = Math.floor(src);
      const t = src - i;
      const w = [cubicWeight(t + 1), cubicWeight(t), cubicWeight(1 - t), cubicWeight(2 - t)];
      const row: Array<[number, number]> = [];
      for (let k = 0; k < 4; k++) row.push([Math.min(Math.max(i - 1 + k, 0), inSize - 1), w[k]!]);
      taps.push(row);
    } else {
      const start = Math.floor((o * inSize) / outSize);
      const end = Math.ceil(((o + 1) * inSize) / outSize);
      const row: Array<[number, number]> = [];
      for (let k = start; k < end; k++) row.push([k, 1 / (end - start)]);
      taps.push(row);
    }
  }
  return taps;
}

/** Error function (Abramowitz–Stegun 7.1.26 is too coarse; uses a series / continued fraction to ~1e-15). */
export function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 2.5) {
    // Maclaurin series: erf(x) = 2/√π Σ (-1)^n x^(2n+1) / (n! (2n+1))
    let term = ax;
    let sum = ax;
    const x2 = ax * ax;
    for (let n = 1; n < 60; n++) {
      term *= -x2 / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  // continued fraction for erfc (Lentz), accurate for x ≥ 2.5
  let f = ax;
  let C = ax;
  let D = 0;
  for (let n = 1; n < 200; n++) {
    const an = n / 2;
    D = ax + an * D;
    D = D === 0 ? 1e-300 : 1 / D;
    C = ax + an / C;
    if (C === 0) C = 1e-300;
    const delta = C * D;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
  return Math.sign(x) * (1 - erfc);
}
