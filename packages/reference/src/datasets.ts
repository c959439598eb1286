/**
 * Procedural image data sets made in code: digits from the built-in bitmap font and coloured shapes,
 * anti-aliased, values in [-1, 1], NCHW layout. Image n draws its parameters from words
 * [n·16, n·16 + 16) of the Philox stream of `seed`, so a seed reproduces a data set exactly and the first
 * k images do not depend on `count`.
 */
import { philoxWords, TesseraError, wordToUniform } from '@tessera/core';
import { DIGIT_STROKES, GLYPH_COLS, GLYPH_ROWS, type Segment } from './font.js';

/** Images with labels. */
export interface ImageDataset {
  /** `N·C·H·W` values in [-1, 1], NCHW order. */
  data: Float32Array;
  /** `[N, C, H, W]`. */
  shape: [number, number, number, number];
  /** Class of each image: the digit, or the shape kind (0 circle, 1 square, 2 triangle). */
  labels: Int32Array;
}

const WORDS = 16;

function checkCount(op: string, count: number, size: number): void {
  if (!Number.isInteger(count) || count < 1)
    throw new TesseraError('INVALID_ARGUMENT', `${op}: count must be a positive integer, got ${count}`);
  if (!Number.isInteger(size) || size < 8 || size > 256)
    throw new TesseraError('INVALID_ARGUMENT', `${op}: size must be an integer in [8, 256], got ${size}`);
}

function uniforms(seed: number, n: number): (lo: number, hi: number) => number {
  const words = philoxWords(seed, n * WORDS, WORDS);
  let i = 0;
  return (lo, hi) => lo + (hi - lo) * wordToUniform(words[i++]!);
}

/**
 * Renders segments of half-width `half` into an S×S image (−1 background, +1 ink), anti-aliased by
 * clamp(half − distance + ½, 0, 1) (the box-filtered coverage of a straight edge). Each segment only
 * visits the pixels of its bounding box.
 */
function rasterStrokes(img: Float32Array, S: number, segs: readonly Segment[], half: number): void {
  const dist = new Float64Array(S * S).fill(Number.POSITIVE_INFINITY);
  const reach = half + 1;
  for (const [x0, y0, x1, y1] of segs) {
    const dx = x1 - x0;
    const dy = y1 - y0;
    const len2 = dx * dx + dy * dy;
    const xa = Math.max(0, Math.floor(Math.min(x0, x1) - reach));
    const xb = Math.min(S - 1, Math.ceil(Math.max(x0, x1) + reach));
    const ya = Math.max(0, Math.floor(Math.min(y0, y1) - reach));
    const yb = Math.min(S - 1, Math.ceil(Math.max(y0, y1) + reach));
    for (let y = ya; y <= yb; y++) {
      const py = y + 0.5;
      for (let x = xa; x <= xb; x++) {
        const px = x + 0.5;
        let t = len2 > 0 ? ((px - x0) * dx + (py - y0) * dy) / len2 : 0;
        t = Math.min(1, Math.max(0, t));
        const ex = px - x0 - t * dx;
        const ey = py - y0 - t * dy;
        const dd = ex * ex + ey * ey;
        if (dd < dist[y * S + x]!) dist[y * S + x] = dd;
      }
    }
  }
  for (let i = 0; i < S * S; i++) {
    const cover = Math.min(1, Math.max(0, half - Math.sqrt(dist[i]!) + 0.5));
    img[i] = 2 * cover - 1;
  }
}

/** Options of {@link digitsDataset}. */
export interface DigitsOptions {
  /** Number of images. */
  count: number;
  /** Side in pixels (16–32 typical). Default 16. */
  size?: number;
  /** Philox seed. Default 0. */
  seed?: number;
  /** Digits to draw from (uniformly). Default 0–9. */
  digits?: readonly number[];
  /** Stroke width range in pixels at 16 px (scaled with size). Default [1.1, 2.0]. */
  strokeWidth?: readonly [number, number];
  /** Glyph height range as a fraction of the image side. Default [0.6, 0.8]. */
  scale?: readonly [number, number];
  /** Largest shift of the glyph centre, as a fraction of the side. Default 0.08. */
  jitter?: number;
  /** Largest italic shear (x shift per unit of y). Default 0.15. */
  shear?: number;
}

/**
 * Digits 0–9 drawn from the built-in 5×7 font as strokes, with random shift, scale, aspect, shear and
 * stroke width; anti-aliased by pixel coverage; ink +1 on a −1 background. Shape `[N, 1, size, size]`.
 */
export function digitsDataset(options: DigitsOptions): ImageDataset {
  const { count } = options;
  const S = options.size ?? 16;
  checkCount('digitsDataset', count, S);
  const digits = options.digits ?? [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  if (!digits.length || digits.some((d) => !Number.isInteger(d) || d < 0 || d > 9)) {
    throw new TesseraError(
      'INVALID_ARGUMENT',
      `digitsDataset: digits must be integers in 0–9, got [${digits.join(', ')}]`,
    );
  }
  const [wLo, wHi] = options.strokeWidth ?? [1.1, 2.0];
  const [sLo, sHi] = options.scale ?? [0.6, 0.8];
  const jitter = options.jitter ?? 0.08;
  const shear = options.shear ?? 0.15;
  const seed = options.seed ?? 0;
  const data = new Float32Array(count * S * S);
  const labels = new Int32Array(count);
  for (let n = 0; n < count; n++) {
    const u = uniforms(seed, n);
    const label = digits[Math.min(digits.length - 1, Math.floor(u(0, digits.length)))]!;
    labels[n] = label;
    const gh = S * u(sLo, sHi);
    const gw = gh * (GLYPH_COLS / GLYPH_ROWS) * u(0.85, 1.1);
    const cx = S / 2 + S * u(-jitter, jitter);
    const cy = S / 2 + S * u(-jitter, jitter);
    const sh = u(-shear, shear);
    const half = (u(wLo, wHi) * S) / 16 / 2;
    // glyph units → pixels (the stroke path runs between cell centres, inset by half a cell)
    const sx = gw / GLYPH_COLS;
    const sy = gh / GLYPH_ROWS;
    const segs = DIGIT_STROKES[label]!.map(([x0, y0, x1, y1]): Segment => {
      const map = (x: number, y: number): [number, number] => {
        const py = cy + (y - GLYPH_ROWS / 2) * sy;
        return [cx + (x - GLYPH_COLS / 2) * sx - sh * (py - cy), py];
      };
      return [...map(x0, y0), ...map(x1, y1)];
    });
    const img = data.subarray(n * S * S, (n + 1) * S * S);
    rasterStrokes(img, S, segs, half);
  }
  return { data, shape: [count, 1, S, S], labels };
}

/** Options of {@link shapesDataset}. */
export interface ShapesOptions {
  /** Number of images. */
  count: number;
  /** Side in pixels. Default 32. */
  size?: number;
  /** Philox seed. Default 0. */
  seed?: number;
  /** Shape kinds to draw from: 0 circle, 1 square, 2 triangle. Default all. */
  kinds?: readonly number[];
}

/** Signed distance (negative inside) from p to the shape, in pixels. */
function shapeDistance(
  kind: number,
  px: number,
  py: number,
  cx: number,
  cy: number,
  r: number,
  angle: number,
): number {
  const dx = px - cx;
  const dy = py - cy;
  if (kind === 0) return Math.hypot(dx, dy) - r;
  const c = Math.cos(angle);
  const s = Math.sin(angle);
  const lx = c * dx + s * dy;
  const ly = -s * dx + c * dy;
  if (kind === 1) return Math.max(Math.abs(lx), Math.abs(ly)) - r * 0.85;
  // equilateral triangle with circumradius r: max over the three edge normals
  let d = Number.NEGATIVE_INFINITY;
  for (let k = 0; k < 3; k++) {
    const a = -Math.PI / 2 + (k * 2 * Math.PI) / 3 + Math.PI;
    d = Math.max(d, lx * Math.cos(a) + ly * Math.sin(a) - r / 2);
  }
  return d;
}

/**
 * One coloured shape per image (circle, square or triangle) with random colour, size, position and
 * rotation on a dark background; anti-aliased. Shape `[N, 3, size, size]`, values in [-1, 1].
 */
export function shapesDataset(options: ShapesOptions): ImageDataset {
  const { count } = options;
  const S = options.size ?? 32;
  checkCount('shapesDataset', count, S);
  const kinds = options.kinds ?? [0, 1, 2];
  if (!kinds.length || kinds.some((k) => !Number.isInteger(k) || k < 0 || k > 2)) {
    throw new TesseraError(
      'INVALID_ARGUMENT',
      `shapesDataset: kinds must be integers in 0–2, got [${kinds.join(', ')}]`,
    );
  }
  const seed = options.seed ?? 0;
  const data = new Float32Array(count * 3 * S * S);
  const labels = new Int32Array(count);
  const plane = S * S;
  for (let n = 0; n < count; n++) {
    const u = uniforms(seed, n);
    const kind = kinds[Math.min(kinds.length - 1, Math.floor(u(0, kinds.length)))]!;
    labels[n] = kind;
    const r = S * u(0.18, 0.32);
    const cx = u(r, S - r);
    const cy = u(r, S - r);
    const angle = u(0, 2 * Math.PI);
    // a saturated colour: hue around the wheel, one channel boosted
    const hue = u(0, 6);
    const rgb = [0, 1, 2].map((ch) => Math.min(1, Math.max(0, Math.abs(((hue + ch * 2) % 6) - 3) - 1)));
    const light = u(0.6, 1);
    const bg = [u(-1, -0.7), u(-1, -0.7), u(-1, -0.7)];
    const base = n * 3 * plane;
    for (let y = 0; y < S; y++) {
      for (let x = 0; x < S; x++) {
        const cover = Math.min(1, Math.max(0, 0.5 - shapeDistance(kind, x + 0.5, y + 0.5, cx, cy, r, angle)));
        for (let ch = 0; ch < 3; ch++) {
          const fg = 2 * rgb[ch]! * light - 1;
          data[base + ch * plane + y * S + x] = bg[ch]! + cover * (fg - bg[ch]!);
        }
      }
    }
  }
  return { data, shape: [count, 3, S, S], labels };
}
