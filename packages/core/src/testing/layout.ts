import { scope, TesseraError } from '@tessera/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Ctx, take, test, up } from './context.js';
import {
  broadcastShape,
  expectExact,
  mapBroadcast,
  permuteRef,
  size,
  strides,
  unravel,
} from './reference.js';

/** numpy.take reference. */
function takeRef(
  x: ArrayLike<number>,
  shape: number[],
  idx: ArrayLike<number>,
  idxShape: number[],
  axis: number,
): number[] {
  const outShape = [...shape.slice(0, axis), ...idxShape, ...shape.slice(axis + 1)];
  const st = strides(shape);
  const out: number[] = [];
  for (let o = 0; o < size(outShape); o++) {
    const oi = unravel(o, outShape);
    const ii = oi.slice(axis, axis + idxShape.length);
    const flatI = ii.reduce((a, v, d) => a * idxShape[d]! + v, 0);
    const src = Math.min(Math.max(idx[flatI]!, 0), shape[axis]! - 1);
    const xi = [...oi.slice(0, axis), src, ...oi.slice(axis + idxShape.length)];
    out.push(x[xi.reduce((a, v, d) => a + v * st[d]!, 0)]!);
  }
  return out;
}

/** Random broadcast-compatible pair of shapes (rank ≤ 4, extents ≤ 4). */
const shapePair = fc
  .array(fc.record({ d: fc.integer({ min: 1, max: 4 }), which: fc.integer({ min: 0, max: 3 }) }), {
    minLength: 0,
    maxLength: 4,
  })
  .chain((dims) =>
    fc
      .record({
        dropA: fc.integer({ min: 0, max: dims.length }),
        dropB: fc.integer({ min: 0, max: dims.length }),
      })
      .map(({ dropA, dropB }) => {
        // which: 0 both full, 1 a is 1, 2 b is 1, 3 both full
        const a = dims.map((x) => (x.which === 1 ? 1 : x.d)).slice(Math.min(dropA, dims.length));
        const b = dims.map((x) => (x.which === 2 ? 1 : x.d)).slice(Math.min(dropB, dims.length));
        return { a, b };
      }),
  );

const shapeAndPerm = fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 4 }).chain((shape) =>
  fc
    .shuffledSubarray(
      shape.map((_, i) => i),
      { minLength: shape.length, maxLength: shape.length },
    )
    .map((perm) => ({ shape, perm })),
);

export function layoutTests(ctx: Ctx): void {
  const { B } = ctx;
  const runs = { seed: ctx.seed, numRuns: 25 };

  describe('indexing', () => {
    test('gather along every axis, 2-D indices, int data, uint32 indices, clamped out-of-range', async () => {
      const r = ctx.rng('gather');
      const shape = [4, 5, 3];
      const x = r.f32(60);
      const t = up(B, x, shape);
      for (const axis of [0, 1, 2, -1]) {
        const ax = axis < 0 ? axis + 3 : axis;
        const idx = r.i32(6, 0, shape[ax]!);
        const out = B.gather(t, up(B, idx, [2, 3], 'int32'), axis);
        const outShape = [...shape.slice(0, ax), 2, 3, ...shape.slice(ax + 1)];
        expect(out.shape).toEqual(outShape);
        expectExact(await take(out), takeRef(x, shape, idx, [2, 3], ax), `gather axis ${axis}`);
      }
      const xi = r.i32(20, -99, 99);
      const iu = r.u32(7, 0, 4);
      const gi = B.gather(up(B, xi, [4, 5], 'int32'), up(B, iu, [7], 'uint32'), 0);
      expect(gi.dtype).toBe('int32');
      expectExact(await take(gi), takeRef(xi, [4, 5], iu, [7], 0), 'gather int32 by uint32');
      const wild = new Int32Array([-3, 0, 4, 9]);
      const gw = B.gather(t, up(B, wild, [4], 'int32'), 1);
      expectExact(await take(gw), takeRef(x, shape, wild, [4], 1), 'out-of-range indices clamp');
    });

    test('takeAlongAxis, with broadcasting on the other axes', async () => {
      const r = ctx.rng('takeAlongAxis');
      const x = r.f32(15);
      const ref = (xShape: number[], idx: Int32Array, idxShape: number[], axis: number) => {
        const bx = xShape.map((d, i) => (i === axis ? idxShape[i]! : d));
        const outShape = broadcastShape(bx, idxShape)!;
        const xs = strides(xShape);
        return {
          outShape,
          values: Array.from(mapBroadcast(outShape, [{ data: idx, shape: idxShape }], (v) => v)).map(
            (k, o) => {
              const oi = unravel(o, outShape);
              const src = oi.map((v, d) => (d === axis ? k : xShape[d] === 1 ? 0 : v));
              return x[src.reduce((a, v, d) => a + v * xs[d]!, 0)]!;
            },
          ),
        };
      };
      for (const [idxShape, axis] of [
        [[3, 2], 1],
        [[2, 5], 0],
        [[1, 4], 1],
        [[3, 1], 0],
      ] as Array<[number[], number]>) {
        const idx = r.i32(size(idxShape), 0, [3, 5][axis]!);
        const { outShape, values } = ref([3, 5], idx, idxShape, axis);
        const out = B.takeAlongAxis(up(B, x, [3, 5]), up(B, idx, idxShape, 'int32'), axis);
        expect(out.shape).toEqual(outShape);
        expectExact(
          await take(out),
          values,
          `takeAlongAxis indices ${JSON.stringify(idxShape)} axis ${axis}`,
        );
      }
    });

    test('concat along each axis, int data, one input', async () => {
      const r = ctx.rng('concat');
      for (const axis of [0, 1, -1]) {
        const ax = axis < 0 ? axis + 3 : axis;
        const parts = [1, 3, 2].map((e) => {
          const shape = [2, 3, 4].map((d, i) => (i === ax ? e : d));
          return { shape, data: r.f32(size(shape)) };
        });
        const out = B.concat(
          parts.map((p) => up(B, p.data, p.shape)),
          axis,
        );
        const outShape = [2, 3, 4].map((d, i) => (i === ax ? 6 : d));
        expect(out.shape).toEqual(outShape);
        const want = Array.from({ length: size(outShape) }, (_, o) => {
          const idx = unravel(o, outShape);
          let k = idx[ax]!;
          for (const p of parts) {
            if (k < p.shape[ax]!) {
              idx[ax] = k;
              return p.data[idx.reduce((a, v, d) => a + v * strides(p.shape)[d]!, 0)]!;
            }
            k -= p.shape[ax]!;
          }
          throw new Error('unreachable');
        });
        expectExact(await take(out), want, `concat axis ${axis}`);
      }
      const a = r.i32(4, -9, 9);
      const b = r.i32(2, -9, 9);
      const ci = B.concat([up(B, a, [4], 'int32'), up(B, b, [2], 'int32')], 0);
      expect(ci.dtype).toBe('int32');
      expectExact(await take(ci), [...a, ...b], 'concat int32');
      const one = r.f32(6);
      expectExact(await take(B.concat([up(B, one, [2, 3])], 1)), Array.from(one), 'concat of one');
    });

    test('slice boxes, size −1 means to the end', async () => {
      const r = ctx.rng('slice');
      const shape = [4, 5, 6];
      const x = r.f32(120);
      const t = up(B, x, shape);
      for (let trial = 0; trial < 6; trial++) {
        const begin = shape.map((d) => r.int(0, d));
        const sz = shape.map((d, i) => (trial % 3 === 0 && i === 1 ? -1 : r.int(0, d - begin[i]! + 1)));
        const outShape = sz.map((s, i) => (s === -1 ? shape[i]! - begin[i]! : s));
        const out = B.slice(t, begin, sz);
        expect(out.shape).toEqual(outShape);
        const want = Array.from({ length: size(outShape) }, (_, o) => {
          const idx = unravel(o, outShape).map((v, d) => v + begin[d]!);
          return x[idx.reduce((a, v, d) => a + v * strides(shape)[d]!, 0)]!;
        });
        expectExact(await take(out), want, `slice begin ${begin} size ${sz}`);
      }
      const xi = r.i32(10, -5, 5);
      expectExact(
        await take(B.slice(up(B, xi, [10], 'int32'), [3], [4])),
        Array.from(xi.slice(3, 7)),
        'slice int32',
      );
    });
  });

  describe('layout', () => {
    test('reshape (with −1), transpose (default and given perm), broadcastTo', async () => {
      const r = ctx.rng('layout');
      const x = r.f32(24);
      const t = up(B, x, [2, 3, 4]);
      const rs = B.reshape(t, [4, -1]);
      expect(rs.shape).toEqual([4, 6]);
      expectExact(await take(rs), Array.from(x), 'reshape [4, -1]');
      const scalar = B.reshape(up(B, [5], [1]), []);
      expect(scalar.shape).toEqual([]);
      expectExact(await take(scalar), [5], 'reshape to rank 0');
      const tr = B.transpose(t);
      expect(tr.shape).toEqual([4, 3, 2]);
      expectExact(await take(tr), permuteRef(x, [2, 3, 4], [2, 1, 0]), 'transpose default');
      for (const perm of [
        [1, 0, 2],
        [2, 0, 1],
        [0, 2, 1],
      ]) {
        const out = B.transpose(t, perm);
        expect(out.shape).toEqual(perm.map((p) => [2, 3, 4][p]!));
        expectExact(await take(out), permuteRef(x, [2, 3, 4], perm), `transpose ${perm}`);
      }
      const xi = r.i32(6, -9, 9);
      expectExact(
        await take(B.transpose(up(B, xi, [2, 3], 'int32'))),
        permuteRef(xi, [2, 3], [1, 0]),
        'transpose int32',
      );
      const small = r.f32(3);
      const bt = B.broadcastTo(up(B, small, [3, 1]), [2, 3, 4]);
      expect(bt.shape).toEqual([2, 3, 4]);
      expectExact(
        await take(bt),
        Array.from(mapBroadcast([2, 3, 4], [{ data: small, shape: [3, 1] }], (v) => v)),
        'broadcastTo',
      );
      expectExact(await take(B.broadcastTo(up(B, [7], []), [2, 2])), [7, 7, 7, 7], 'broadcastTo from rank 0');
    });

    it('property: binary add/mul broadcast like numpy, and mismatches throw SHAPE_MISMATCH', async () => {
      await fc.assert(
        fc.asyncProperty(shapePair, fc.integer(), async ({ a, b }, s) =>
          scope(async () => {
            const r = ctx.rng(`bprop${s}`);
            const xa = r.f32(size(a));
            const xb = r.f32(size(b));
            const outShape = broadcastShape(a, b)!;
            const ta = up(B, xa, a);
            const tb = up(B, xb, b);
            const sum = B.binary('add', ta, tb);
            expect(sum.shape).toEqual(outShape);
            const ops = [
              { data: xa, shape: a },
              { data: xb, shape: b },
            ];
            expectExact(
              await take(sum),
              Array.from(mapBroadcast(outShape, ops, (p, q) => Math.fround(p + q))),
              'add',
            );
            const prod = B.binary('mul', tb, ta);
            expectExact(
              await take(prod),
              Array.from(mapBroadcast(outShape, ops, (p, q) => Math.fround(p * q))),
              'mul',
            );
            // make one axis incompatible: extents 2 vs 3 can never broadcast
            if (a.length > 0 && b.length > 0) {
              const bad = [...b];
              bad[bad.length - 1] = a[a.length - 1] === 2 ? 3 : 2;
              if (a[a.length - 1] !== 1) {
                const tbad = up(B, r.f32(size(bad)), bad);
                expect(() => B.binary('add', ta, tbad)).toThrow(TesseraError);
                tbad.dispose(); // made after an await: not the scope's
              }
            }
          }),
        ),
        runs,
      );
    });

    it('property: transpose by p then by p⁻¹, and reshape to flat and back, are the identity', async () => {
      await fc.assert(
        fc.asyncProperty(shapeAndPerm, fc.integer(), async ({ shape, perm }, s) =>
          scope(async () => {
            const x = ctx.rng(`tprop${s}`).f32(size(shape));
            const t = up(B, x, shape);
            const tp = B.transpose(t, perm);
            expect(tp.shape).toEqual(perm.map((p) => shape[p]!));
            const inv = perm.map((_, i) => perm.indexOf(i));
            expectExact(await tp.data(), permuteRef(x, shape, perm), 'transpose');
            expectExact(await take(B.transpose(tp, inv)), Array.from(x), 'transpose round trip');
            // Made after an await, so outside the scope (no scope spans an await): freed here.
            const flat = B.reshape(t, [-1]);
            expect(flat.shape).toEqual([size(shape)]);
            const back = B.reshape(flat, shape);
            flat.dispose();
            expect(back.shape).toEqual(shape);
            expectExact(await take(back), Array.from(x), 'reshape round trip');
          }),
        ),
        runs,
      );
    });
  });
}
