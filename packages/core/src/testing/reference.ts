/**
 * Float64 reference helpers of the conformance suite. Everything here is written from the mathematics
 * (or from the cited upstream formula), independently of any backend's code, and imports nothing but
 * `vitest`, so the suite can be loaded from any package through a relative path.
 */
import { expect } from 'vitest';

/** Seeded input generator (mulberry32): fresh inputs per run, reproducible from the printed seed. */
export class Rng {
  #s: number;
  constructor(seed: number) {
    this.#s = seed >>> 0 || 0x9e3779b9;
  }
  /** Uniform in [0, 1). */
  next(): number {
    this.#s = (this.#s + 0x6d2b79f5) >>> 0;
    let t = this.#s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }
  /** Integer in [lo, hi). */
  int(lo: number, hi: number): number {
    return lo + Math.floor((hi - lo) * this.next());
  }
  /** float32-representable values in [lo, hi). */
  f32(n: number, lo = -2, hi = 2): Float32Array {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = this.uniform(lo, hi);
    return a;
  }
  i32(n: number, lo: number, hi: number): Int32Array {
    const a = new Int32Array(n);
    for (let i = 0; i < n; i++) a[i] = this.int(lo, hi);
    return a;
  }
  u32(n: number, lo: number, hi: number): Uint32Array {
    const a = new Uint32Array(n);
    for (let i = 0; i < n; i++) a[i] = this.int(lo, hi);
    return a;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(0, xs.length)]!;
  }
}

/** Derives a per-test generator from the run seed and a test name (so tests do not depend on order). */
export function rngFor(seed: number, name: string): Rng {
  let h = seed >>> 0;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return new Rng(h);
}

// ---------------------------------------------------------------- shapes

export function size(shape: readonly number[]): number {
  return shape.reduce((a, d) => a * d, 1);
}

export function strides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

/** Multi-index of flat index `i` in `shape`. */
export function unravel(i: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = i % shape[d]!;
    i = Math.floor(i / shape[d]!);
  }
  return idx;
}

/** Flat index into `shape` of an output multi-index, numpy-broadcast (trailing alignment, size-1 axes repeat). */
export function broadcastFlat(outIdx: readonly number[], shape: readonly number[]): number {
  const st = strides(shape);
  let off = 0;
  for (let d = 0; d < shape.length; d++) {
    const o = outIdx[outIdx.length - shape.length + d]!;
    off += (shape[d] === 1 ? 0 : o) * st[d]!;
  }
  return off;
}

/** numpy broadcast of two shapes, or undefined when they do not broadcast. */
export function broadcastShape(a: readonly number[], b: readonly number[]): number[] | undefined {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) return undefined;
    out.push(da === 1 ? db : da);
  }
  return out;
}

/** Elementwise map over broadcast operands, in float64. */
export function mapBroadcast(
  outShape: readonly number[],
  operands: ReadonlyArray<{ data: ArrayLike<number>; shape: readonly number[] }>,
  f: (...v: number[]) => number,
): Float64Array {
  const out = new Float64Array(size(outShape));
  for (let i = 0; i < out.length; i++) {
    const idx = unravel(i, outShape);
    out[i] = f(...operands.map((o) => o.data[broadcastFlat(idx, o.shape)]!));
  }
  return out;
}

/** numpy.transpose of a row-major array. */
export function permuteRef(
  data: ArrayLike<number>,
  shape: readonly number[],
  perm: readonly number[],
): number[] {
  const outShape = perm.map((p) => shape[p]!);
  const st = strides(shape);
  const out: number[] = [];
  for (let i = 0; i < size(outShape); i++) {
    const idx = unravel(i, outShape);
    let off = 0;
    for (let d = 0; d < perm.length; d++) off += idx[d]! * st[perm[d]!]!;
    out.push(data[off]!);
  }
  return out;
}

// ---------------------------------------------------------------- math

/**
 * erf by composite Simpson integration of 2/√π·exp(−t²) on [0, |x|] (panels of width ≤ 0.004; error
 * below 1e-9 for |x| ≤ 6) — deliberately a different method from any series a backend may use.
 */
export function erfRef(x: number): number {
  const ax = Math.min(Math.abs(x), 6);
  const n = 2 * Math.max(1, Math.ceil(ax * 125));
  const h = ax / n;
  let s = 1 + Math.exp(-ax * ax);
  for (let i = 1; i < n; i++) s += (i % 2 ? 4 : 2) * Math.exp(-((i * h) ** 2));
  return Math.sign(x) * ((2 / Math.sqrt(Math.PI)) * (h / 3) * s);
}

/** Round half to even (IEEE roundTiesToEven, as WGSL `round` and numpy `rint`). */
export function roundHalfEvenRef(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d < 0.5) return f;
  if (d > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

/** Softmax of a row in float64 (entries of −∞ get probability 0). */
export function softmaxRef(row: readonly number[]): number[] {
  const m = Math.max(...row);
  const e = row.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

/** Rows of the last axis of a flat array. */
export function rows(data: ArrayLike<number>, len: number): number[][] {
  const out: number[][] = [];
  for (let r = 0; r < data.length / len; r++)
    out.push(Array.from({ length: len }, (_, k) => data[r * len + k]!));
  return out;
}

// ---------------------------------------------------------------- comparison

/** Per-element tolerance: |actual − expected| ≤ tol · max(1, scale_i) (scale defaults to |expected|). */
export function expectClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: number,
  what: string,
  scale?: ArrayLike<number>,
): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  const bad: string[] = [];
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    let ok: boolean;
    if (!Number.isFinite(e)) ok = Object.is(a, e) || (Number.isNaN(a) && Number.isNaN(e));
    else ok = Math.abs(a - e) <= tol * Math.max(1, scale ? scale[i]! : Math.abs(e));
    if (!ok && bad.length < 8) bad.push(`[${i}] got ${a}, expected ${e}`);
  }
  expect(bad, `${what} (tolerance ${tol})`).toEqual([]);
}

/** Exact equality of two numeric arrays, reported compactly. */
export function expectExact(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  const bad: string[] = [];
  for (let i = 0; i < expected.length; i++) {
    if (!Object.is(actual[i], expected[i]) && !(actual[i] === 0 && expected[i] === 0) && bad.length < 8) {
      bad.push(`[${i}] got ${actual[i]}, expected ${expected[i]}`);
    }
  }
  expect(bad, what).toEqual([]);
}
