import type { ResizeMode } from '@tessera/core';
import { describe, expect } from 'vitest';
import { type Ctx, take, test, up } from './context.js';
import { expectClose, size } from './reference.js';

/**
 * 1-D interpolation weights of PyTorch `F.interpolate(..., align_corners=False)`, in float64, written
 * from aten/src/ATen/native/UpSample.h:
 * - scale = in / out (`area_pixel_compute_scale`);
 * - nearest: src = min(floorf(dst · scale), in − 1) with scale and the product in float32
 *   (`nearest_neighbor_compute_source_index`, `compute_scales_value<float>`);
 * - bilinear: src = max(scale·(dst + 0.5) − 0.5, 0) (`area_pixel_compute_source_index`, cubic=false),
 *   taps floor(src) and min(floor(src) + 1, in − 1) with weights 1 − λ, λ;
 * - bicubic: src = scale·(dst + 0.5) − 0.5 (no clamp, cubic=true), taps floor(src) − 1 … + 2 clamped to
 *   the border (`upsample_get_value_bounded`), weights `cubic_convolution1/2` with A = −0.75;
 * - area = adaptive average pooling (aten/src/ATen/native/AdaptivePooling.h `start_index` = floor(o·in/out),
 *   `end_index` = ceil((o+1)·in/out)).
 * Returns a dense out × in matrix.
 */
export function interpMatrix(inSize: number, outSize: number, mode: ResizeMode): number[][] {
  const W = Array.from({ length: outSize }, () => new Array<number>(inSize).fill(0));
  const scale = inSize / outSize;
  const clampI = (i: number) => Math.min(Math.max(i, 0), inSize - 1);
  const A = -0.75;
  const cc1 = (x: number) => ((A + 2) * x - (A + 3)) * x * x + 1;
  const cc2 = (x: number) => ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
  for (let o = 0; o < outSize; o++) {
    const row = W[o]!;
    if (mode === 'nearest') {
      const s32 = Math.fround(inSize / outSize);
      row[Math.min(Math.floor(Math.fround(o * s32)), inSize - 1)]! += 1;
    } else if (mode === 'bilinear') {
      const src = Math.max(scale * (o + 0.5) - 0.5, 0);
      const i0 = Math.floor(src);
      const lambda = src - i0;
      row[clampI(i0)]! += 1 - lambda;
      row[clampI(i0 + 1)]! += lambda;
    } else if (mode === 'bicubic') {
      const src = scale * (o + 0.5) - 0.5;
      const i0 = Math.floor(src);
      const t = src - i0;
      const w = [cc2(t + 1), cc1(t), cc1(1 - t), cc2(2 - t)];
      for (let k = 0; k < 4; k++) row[clampI(i0 - 1 + k)]! += w[k]!;
    } else {
      const start = Math.floor((o * inSize) / outSize);
      const end = Math.ceil(((o + 1) * inSize) / outSize);
      for (let i = start; i < end; i++) row[i]! += 1 / (end - start);
    }
  }
  return W;
}

/** Separable 2-D resize of the last two axes, in float64: out = Wy · X · Wxᵀ per plane. */
export function resizeRef(x: ArrayLike<number>, shape: number[], h: number, w: number, mode: ResizeMode) {
  const H = shape.at(-2)!;
  const Wd = shape.at(-1)!;
  const Wy = interpMatrix(H, h, mode);
  const Wx = interpMatrix(Wd, w, mode);
  const planes = size(shape) / (H * Wd);
  const out = new Float64Array(planes * h * w);
  const scale = new Float64Array(out.length);
  for (let p = 0; p < planes; p++) {
    for (let i = 0; i < h; i++) {
      for (let j = 0; j < w; j++) {
        let s = 0;
        let a = 0;
        for (let y = 0; y < H; y++) {
          const wy = Wy[i]![y]!;
          if (wy === 0) continue;
          for (let xx = 0; xx < Wd; xx++) {
            const v = wy * Wx[j]![xx]! * x[(p * H + y) * Wd + xx]!;
            s += v;
            a += Math.abs(v);
          }
        }
        out[(p * h + i) * w + j] = s;
        scale[(p * h + i) * w + j] = a;
      }
    }
  }
  return { out, scale };
}

const MODES: ResizeMode[] = ['nearest', 'bilinear', 'bicubic', 'area'];
const CASES: Array<[number[], [number, number]]> = [
  [
    [2, 3, 16, 16],
    [13, 13],
  ],
  [
    [2, 3, 13, 13],
    [16, 16],
  ],
  [
    [1, 2, 5, 5],
    [7, 7],
  ],
  [
    [1, 2, 8, 6],
    [4, 9],
  ],
  [
    [2, 1, 7, 5],
    [3, 2],
  ],
  [
    [1, 1, 6, 6],
    [6, 6],
  ],
  [
    [1, 2, 4, 4],
    [8, 8],
  ],
  [
    [1, 1, 3, 5],
    [1, 1],
  ],
  [
    [9, 7],
    [4, 10],
  ],
  [
    [3, 10, 3],
    [5, 6],
  ],
];

export function resizeTests(ctx: Ctx): void {
  const { B, tol } = ctx;
  describe('resize (PyTorch interpolate, align_corners=False)', () => {
    for (const mode of MODES) {
      test(`${mode}: up, down, non-integer ratios, identity, ranks 2–4`, async () => {
        const r = ctx.rng(`resize-${mode}`);
        for (const [shape, [h, w]] of CASES) {
          const x = r.f32(size(shape), -1, 1);
          const out = B.resize(up(B, x, shape), [h, w], mode);
          expect(out.shape).toEqual([...shape.slice(0, -2), h, w]);
          const ref = resizeRef(x, shape, h, w, mode);
          expectClose(await take(out), ref.out, tol, `${mode} ${shape} → [${h}, ${w}]`, ref.scale);
        }
      });
    }

    test('closed forms: constants stay constant; area by an integer factor is the block mean', async () => {
      const c = Math.fround(ctx.rng('resize-const').uniform(-3, 3));
      for (const mode of MODES) {
        const out = B.resize(B.fill([1, 2, 7, 5], c), [11, 3], mode);
        expectClose(await take(out), new Array(66).fill(c), ctx.tol, `${mode} of a constant`);
      }
      const x = ctx.rng('resize-block').f32(36, -1, 1);
      const want = [];
      for (let i = 0; i < 3; i++) {
        for (let j = 0; j < 2; j++) {
          let s = 0;
          for (let y = 0; y < 2; y++) for (let z = 0; z < 3; z++) s += x[(2 * i + y) * 6 + 3 * j + z]!;
          want.push(s / 6);
        }
      }
      expectClose(await take(B.resize(up(B, x, [6, 6]), [3, 2], 'area')), want, tol, 'area 6×6 → 3×2');
    });
  });
}
