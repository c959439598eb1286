import { describe, expect } from 'vitest';
import { type Ctx, take, test, up } from './context.js';
import { expectExact, mapBroadcast } from './reference.js';

/** Storage (tensor, fill, arange) and the value-selecting elementwise ops (clamp, cast, where). */
export function storageTests(ctx: Ctx): void {
  const { B } = ctx;

  describe('storage', () => {
    test('tensor round-trips every dtype exactly', async () => {
      const r = ctx.rng('roundtrip');
      const f = r.f32(37, -1e6, 1e6);
      f[0] = -0;
      f[1] = 1e-30;
      f[2] = 3.4e38;
      expectExact(await take(B.tensor(f, [37])), Array.from(f), 'float32');
      const i = r.i32(12, -2147483648, 2147483647);
      expectExact(await take(B.tensor(i, [3, 4])), Array.from(i), 'int32');
      const u = r.u32(10, 0, 4294967295);
      expectExact(await take(B.tensor(u, [2, 5])), Array.from(u), 'uint32');
      const t = B.tensor([1.5, -2, 7], [3], 'int32');
      expect(t.dtype).toBe('int32');
      expectExact(await take(t), [1, -2, 7], 'number[] as int32 (truncation)');
      const s = B.tensor([4.25], []);
      expect(s.shape).toEqual([]);
      expect(s.dtype).toBe('float32');
      expectExact(await take(s), [4.25], 'scalar');
    });

    test('fill and arange', async () => {
      const v = ctx.rng('fill').uniform(-10, 10);
      expectExact(await take(B.fill([2, 3], v)), new Array(6).fill(Math.fround(v)), 'fill float32');
      expectExact(await take(B.fill([4], -7, 'int32')), [-7, -7, -7, -7], 'fill int32');
      expectExact(await take(B.fill([3], 9, 'uint32')), [9, 9, 9], 'fill uint32');
      const a = B.arange(0, 5);
      expect([a.dtype, a.shape]).toEqual(['int32', [5]]);
      expectExact(await take(a), [0, 1, 2, 3, 4], 'arange(0, 5)');
      expectExact(await take(B.arange(2, 11, 3)), [2, 5, 8], 'arange(2, 11, 3)');
      expectExact(await take(B.arange(5, 0, -2)), [5, 3, 1], 'arange(5, 0, -2)');
      expectExact(await take(B.arange(0, 1, 0.25, 'float32')), [0, 0.25, 0.5, 0.75], 'arange float32');
      expectExact(await take(B.arange(1, 4, 1, 'uint32')), [1, 2, 3], 'arange uint32');
    });
  });

  describe('clamp, cast, where', () => {
    test('clamp float32 and int32, with open bounds', async () => {
      const r = ctx.rng('clamp');
      const x = r.f32(50, -5, 5);
      const lo = Math.fround(r.uniform(-3, -1));
      const hi = Math.fround(r.uniform(1, 3));
      const t = up(B, x, [5, 10]);
      expectExact(
        await take(B.clamp(t, lo, hi)),
        Array.from(x, (v) => Math.min(Math.max(v, lo), hi)),
        'clamp',
      );
      expectExact(
        await take(B.clamp(t, Number.NEGATIVE_INFINITY, hi)),
        Array.from(x, (v) => Math.min(v, hi)),
        'clamp(-∞, hi)',
      );
      expectExact(
        await take(B.clamp(t, lo, Number.POSITIVE_INFINITY)),
        Array.from(x, (v) => Math.max(v, lo)),
        'clamp(lo, ∞)',
      );
      const xi = r.i32(20, -50, 50);
      const ci = B.clamp(up(B, xi, [20], 'int32'), -10, 20);
      expect(ci.dtype).toBe('int32');
      expectExact(
        await take(ci),
        Array.from(xi, (v) => Math.min(Math.max(v, -10), 20)),
        'clamp int32',
      );
      t.dispose();
    });

    test('cast between every dtype pair (float → int truncates toward zero)', async () => {
      const r = ctx.rng('cast');
      const f = r.f32(30, -100, 100);
      f.set([-2.7, 2.7, -0.5, 0.5, 0]);
      const tf = up(B, f, [30]);
      expectExact(await take(B.cast(tf, 'int32')), Array.from(f, Math.trunc), 'float32 → int32');
      expectExact(await take(B.cast(tf, 'float32')), Array.from(f), 'float32 → float32');
      const fp = r.f32(20, 0, 1000);
      expectExact(
        await take(B.cast(up(B, fp, [20]), 'uint32')),
        Array.from(fp, Math.trunc),
        'float32 → uint32',
      );
      const i = r.i32(20, -16777216, 16777216);
      const ti = up(B, i, [4, 5], 'int32');
      const ci = B.cast(ti, 'float32');
      expect([ci.dtype, ci.shape]).toEqual(['float32', [4, 5]]);
      expectExact(await take(ci), Array.from(i), 'int32 → float32');
      const ip = r.i32(20, 0, 1 << 30);
      expectExact(await take(B.cast(up(B, ip, [20], 'int32'), 'uint32')), Array.from(ip), 'int32 → uint32');
      const u = r.u32(20, 0, 16777216);
      expectExact(await take(B.cast(up(B, u, [20], 'uint32'), 'float32')), Array.from(u), 'uint32 → float32');
      expectExact(await take(B.cast(up(B, u, [20], 'uint32'), 'int32')), Array.from(u), 'uint32 → int32');
      tf.dispose();
      ti.dispose();
    });

    test('where with broadcasting, scalars and every cond dtype', async () => {
      const r = ctx.rng('where');
      const c = r.u32(4, 0, 2);
      const a = r.f32(5, -5, 5);
      const s = Math.fround(r.uniform(-1, 1));
      const out = B.where(up(B, c, [4, 1], 'uint32'), up(B, a, [1, 5]), s);
      expect([out.shape, out.dtype]).toEqual([[4, 5], 'float32']);
      const want = mapBroadcast(
        [4, 5],
        [
          { data: c, shape: [4, 1] },
          { data: a, shape: [1, 5] },
        ],
        (cv, av) => (cv ? av : s),
      );
      expectExact(await take(out), Array.from(want), 'where broadcast');
      const cf = new Float32Array([0, 0.5, -2, 0, 1e-20, 3]);
      const x = r.f32(6);
      const y = r.f32(6);
      const wf = B.where(up(B, cf, [6]), up(B, x, [6]), up(B, y, [6]));
      expectExact(
        await take(wf),
        Array.from(cf, (v, i) => (v !== 0 ? x[i]! : y[i]!)),
        'float32 cond',
      );
      const ci = new Int32Array([-1, 0, 2, 0, 5, 0]);
      const xi = r.i32(6, -9, 9);
      const wi = B.where(up(B, ci, [6], 'int32'), up(B, xi, [6], 'int32'), -100);
      expect(wi.dtype).toBe('int32');
      expectExact(
        await take(wi),
        Array.from(ci, (v, i) => (v !== 0 ? xi[i]! : -100)),
        'int32 cond and values',
      );
    });
  });
}
