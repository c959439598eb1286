import type { DType, ReduceOp } from '@tessera/core';
import { describe, expect } from 'vitest';
import { type Ctx, take, test, up } from './context.js';
import {
  broadcastFlat,
  broadcastShape,
  expectClose,
  expectExact,
  size,
  strides,
  unravel,
} from './reference.js';

/** Normalised, sorted axes (default all). */
function axesOf(axes: number | number[] | undefined, rank: number): number[] {
  if (axes === undefined) return Array.from({ length: rank }, (_, i) => i);
  return (typeof axes === 'number' ? [axes] : axes).map((a) => (a < 0 ? a + rank : a)).sort((a, b) => a - b);
}

/** Groups the elements of `x` by their position outside `axes`: one list per output element. */
function groups(
  x: ArrayLike<number>,
  shape: number[],
  axes: number[],
): { outShape: number[]; lists: number[][] } {
  const kept = shape.map((_, i) => i).filter((i) => !axes.includes(i));
  const outShape = kept.map((i) => shape[i]!);
  const lists: number[][] = Array.from({ length: size(outShape) }, () => []);
  const os = strides(outShape);
  for (let i = 0; i < x.length; i++) {
    const idx = unravel(i, shape);
    let o = 0;
    kept.forEach((d, k) => {
      o += idx[d]! * os[k]!;
    });
    lists[o]!.push(x[i]!);
  }
  return { outShape, lists };
}

const REDUCE_REF: Record<ReduceOp, (v: number[]) => number> = {
  sum: (v) => v.reduce((a, b) => a + b, 0),
  mean: (v) => v.reduce((a, b) => a + b, 0) / v.length,
  max: (v) => Math.max(...v),
  min: (v) => Math.min(...v),
  sumsq: (v) => v.reduce((a, b) => a + b * b, 0),
  prod: (v) => v.reduce((a, b) => a * b, 1),
  logsumexp: (v) => {
    const m = Math.max(...v);
    return m + Math.log(v.reduce((a, b) => a + Math.exp(b - m), 0));
  },
};
/** The magnitude a float32 reduction's rounding error scales with. */
const REDUCE_SCALE: Record<ReduceOp, (v: number[]) => number> = {
  sum: (v) => v.reduce((a, b) => a + Math.abs(b), 0),
  mean: (v) => v.reduce((a, b) => a + Math.abs(b), 0) / v.length,
  max: (v) => Math.max(...v.map(Math.abs)),
  min: (v) => Math.max(...v.map(Math.abs)),
  sumsq: (v) => v.reduce((a, b) => a + b * b, 0),
  prod: (v) => Math.abs(v.reduce((a, b) => a * b, 1)),
  logsumexp: (v) => Math.max(...v.map(Math.abs)),
};

const AXES: Array<number | number[] | undefined> = [undefined, 0, 1, -1, [0, 2], [-1, 0], [0, 1, 2]];

export function reduceTests(ctx: Ctx): void {
  const { B, tol } = ctx;

  describe('reduce', () => {
    for (const op of Object.keys(REDUCE_REF) as ReduceOp[]) {
      test(`${op} float32 over axis subsets, keepDims`, async () => {
        const r = ctx.rng(`reduce-${op}`);
        const shape = [r.int(2, 5), r.int(2, 6), r.int(2, 7)];
        const x = op === 'prod' ? r.f32(size(shape), 0.7, 1.3) : r.f32(size(shape), -3, 3);
        if (op === 'prod') for (let i = 0; i < x.length; i += 3) x[i] = -x[i]!;
        const t = up(B, x, shape);
        for (const axes of AXES) {
          for (const keepDims of [false, true]) {
            const ax = axesOf(axes, 3);
            const { outShape, lists } = groups(x, shape, ax);
            const out = B.reduce(op, t, axes, keepDims);
            const wantShape = keepDims ? shape.map((d, i) => (ax.includes(i) ? 1 : d)) : outShape;
            const what = `${op} axes=${JSON.stringify(axes)} keepDims=${keepDims}`;
            expect(out.shape, what).toEqual(wantShape);
            expect(out.dtype).toBe('float32');
            expectClose(await take(out), lists.map(REDUCE_REF[op]), tol, what, lists.map(REDUCE_SCALE[op]));
          }
        }
      });
    }

    const intCases: Array<[ReduceOp, DType]> = [
      ['sum', 'int32'],
      ['max', 'int32'],
      ['min', 'int32'],
      ['prod', 'int32'],
      ['sum', 'uint32'],
      ['max', 'uint32'],
      ['min', 'uint32'],
    ];
    for (const [op, dtype] of intCases) {
      test(`${op} ${dtype} keeps the dtype`, async () => {
        const r = ctx.rng(`reduce-${op}-${dtype}`);
        const shape = [3, 4, 5];
        const lo = op === 'prod' ? (dtype === 'int32' ? -3 : 0) : dtype === 'int32' ? -1000 : 0;
        const hi = op === 'prod' ? 4 : 1000;
        const x = dtype === 'int32' ? r.i32(60, lo, hi) : r.u32(60, lo, hi);
        const t = up(B, x, shape, dtype);
        for (const axes of [-1, [0, 2], 1] as Array<number | number[]>) {
          if (op === 'prod' && Array.isArray(axes)) continue; // keep products within 32 bits
          const { lists } = groups(x, shape, axesOf(axes, 3));
          const out = B.reduce(op, t, axes);
          expect(out.dtype).toBe(dtype);
          expectExact(
            await take(out),
            lists.map(REDUCE_REF[op]),
            `${op} ${dtype} axes=${JSON.stringify(axes)}`,
          );
        }
      });
    }

    test('mean of int32 is float32', async () => {
      const x = ctx.rng('reduce-mean-int').i32(12, -100, 100);
      const out = B.reduce('mean', up(B, x, [3, 4], 'int32'), 1);
      expect(out.dtype).toBe('float32');
      const { lists } = groups(x, [3, 4], [1]);
      expectClose(await take(out), lists.map(REDUCE_REF.mean), tol, 'mean int32');
    });
  });

  describe('argmax / argmin', () => {
    for (const op of ['argmax', 'argmin'] as const) {
      test(`${op}: axes, keepDims, ties pick the first`, async () => {
        const r = ctx.rng(op);
        const shape = [4, 5, 6];
        // few distinct values, so ties are common
        const x = Float32Array.from({ length: 120 }, () => r.int(-3, 4) * 0.5);
        const t = up(B, x, shape);
        const best = (v: number[]) => {
          let k = 0;
          for (let i = 1; i < v.length; i++) if (op === 'argmax' ? v[i]! > v[k]! : v[i]! < v[k]!) k = i;
          return k;
        };
        for (const axis of [0, 1, 2, -1, -3]) {
          for (const keepDims of [false, true]) {
            const ax = axis < 0 ? axis + 3 : axis;
            const { lists } = groups(x, shape, [ax]);
            const out = B[op](t, axis, keepDims);
            expect([out.dtype, out.shape]).toEqual([
              'int32',
              keepDims ? shape.map((d, i) => (i === ax ? 1 : d)) : shape.filter((_, i) => i !== ax),
            ]);
            expectExact(await take(out), lists.map(best), `${op} axis ${axis}`);
          }
        }
        const flat = B[op](t);
        expect(flat.shape).toEqual([]);
        expectExact(await take(flat), [best(Array.from(x))], `${op} over all elements`);
        const xi = r.i32(30, -5, 5);
        const oi = B[op](up(B, xi, [5, 6], 'int32'), 1);
        expectExact(await take(oi), groups(xi, [5, 6], [1]).lists.map(best), `${op} int32`);
      });
    }
  });

  describe('cumsum', () => {
    for (const dtype of ['float32', 'int32'] as const) {
      test(`${dtype}: every axis, exclusive and reverse`, async () => {
        const r = ctx.rng(`cumsum-${dtype}`);
        const shape = [3, 5, 4];
        const x = dtype === 'float32' ? r.f32(60, -3, 3) : r.i32(60, -100, 100);
        const t = up(B, x, shape, dtype);
        for (const axis of [0, 1, -1]) {
          for (const exclusive of [false, true]) {
            for (const reverse of [false, true]) {
              const ax = axis < 0 ? axis + 3 : axis;
              const st = strides(shape)[ax]!;
              const want = new Float64Array(60);
              const scale = new Float64Array(60);
              for (let i = 0; i < 60; i++) {
                const k = unravel(i, shape)[ax]!;
                for (let j = 0; j < shape[ax]!; j++) {
                  const inc = reverse ? j > k || (!exclusive && j === k) : j < k || (!exclusive && j === k);
                  if (inc) {
                    want[i]! += x[i + (j - k) * st]!;
                    scale[i]! += Math.abs(x[i + (j - k) * st]!);
                  }
                }
              }
              const out = B.cumsum(t, axis, { exclusive, reverse });
              expect([out.dtype, out.shape]).toEqual([dtype, shape]);
              const what = `cumsum axis ${axis} exclusive=${exclusive} reverse=${reverse}`;
              if (dtype === 'int32') expectExact(await take(out), Array.from(want), what);
              else expectClose(await take(out), want, tol, what, scale);
            }
          }
        }
      });
    }
  });

  describe('matmul', () => {
    const cases: Array<{ a: number[]; b: number[]; ta?: boolean; tb?: boolean }> = [
      { a: [5, 7], b: [7, 3] },
      { a: [7, 5], b: [7, 3], ta: true },
      { a: [5, 7], b: [3, 7], tb: true },
      { a: [7, 5], b: [3, 7], ta: true, tb: true },
      { a: [2, 1, 4, 6], b: [3, 6, 5] },
      { a: [3, 6, 4], b: [1, 5, 6], ta: true, tb: true },
      { a: [1, 1], b: [1, 9] },
      { a: [33, 65], b: [65, 17] },
    ];
    for (const c of cases) {
      const name = `${JSON.stringify(c.a)}${c.ta ? 'ᵀ' : ''} × ${JSON.stringify(c.b)}${c.tb ? 'ᵀ' : ''}`;
      test(name, async () => {
        const r = ctx.rng(`matmul${name}`);
        const a = r.f32(size(c.a), -2, 2);
        const b = r.f32(size(c.b), -2, 2);
        const m = c.ta ? c.a.at(-1)! : c.a.at(-2)!;
        const k = c.ta ? c.a.at(-2)! : c.a.at(-1)!;
        const n = c.tb ? c.b.at(-2)! : c.b.at(-1)!;
        const batch = broadcastShape(c.a.slice(0, -2), c.b.slice(0, -2))!;
        const outShape = [...batch, m, n];
        const want = new Float64Array(size(outShape));
        const scale = new Float64Array(want.length);
        const aBatch = c.a.slice(0, -2);
        const bBatch = c.b.slice(0, -2);
        for (let o = 0; o < want.length; o++) {
          const idx = unravel(o, outShape);
          const bi = idx.slice(0, -2);
          const [i, j] = idx.slice(-2) as [number, number];
          const ao = broadcastFlat(bi, aBatch) * m * k;
          const bo = broadcastFlat(bi, bBatch) * k * n;
          for (let p = 0; p < k; p++) {
            const av = a[ao + (c.ta ? p * m + i : i * k + p)]!;
            const bv = b[bo + (c.tb ? j * k + p : p * n + j)]!;
            want[o]! += av * bv;
            scale[o]! += Math.abs(av * bv);
          }
        }
        const out = B.matmul(up(B, a, c.a), up(B, b, c.b), { transposeA: c.ta, transposeB: c.tb });
        expect(out.shape).toEqual(outShape);
        expectClose(await take(out), want, tol, `matmul ${name}`, scale);
      });
    }
  });
}
