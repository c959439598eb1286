import type { BinaryOp, ReduceOp, ResizeMode, UnaryOp } from '@tessera/core';
import { scope, TesseraError } from '@tessera/core';
import { describe, expect, it } from 'vitest';
import { type Ctx, expectTesseraError, take, test, up } from './context.js';
import { expectClose } from './reference.js';

export function lifecycleTests(ctx: Ctx): void {
  const { B, tol } = ctx;

  describe('errors', () => {
    test('shape mismatches name the op and the shapes', () => {
      const a = B.fill([2, 3], 1);
      const b = B.fill([3, 2], 1);
      expectTesseraError(() => B.lincomb([1, 1], [a, b]), 'SHAPE_MISMATCH', ['lincomb', '[3, 2]', '[2, 3]']);
      expectTesseraError(() => B.binary('add', a, B.fill([4], 1)), 'SHAPE_MISMATCH', [
        'add',
        '[2, 3]',
        '[4]',
      ]);
      expectTesseraError(() => B.matmul(a, a), 'SHAPE_MISMATCH', ['matmul', '[2, 3]']);
      expectTesseraError(() => B.reshape(a, [4, 2]), 'SHAPE_MISMATCH', ['reshape', '[2, 3]']);
      expectTesseraError(() => B.concat([a, B.fill([3, 3], 1)], 1), 'SHAPE_MISMATCH', ['concat', '[3, 3]']);
      expectTesseraError(() => B.broadcastTo(a, [4, 3]), 'SHAPE_MISMATCH', ['broadcastTo']);
      expectTesseraError(() => B.slice(a, [1, 0], [2, 3]), 'OUT_OF_RANGE', ['slice']);
      expectTesseraError(() => B.tensor(new Float32Array(5), [2, 3]), 'SHAPE_MISMATCH', ['tensor', '[2, 3]']);
    });

    test('dtype mismatches name the op and the dtypes', () => {
      const f = B.fill([3], 1);
      const i = B.fill([3], 1, 'int32');
      expectTesseraError(() => B.binary('mul', f, i), 'DTYPE_MISMATCH', ['mul', 'float32', 'int32']);
      expectTesseraError(() => B.lincomb([1], [i]), 'DTYPE_MISMATCH', ['lincomb', 'int32']);
      expectTesseraError(() => B.unary('exp', i), 'DTYPE_MISMATCH', ['exp', 'int32']);
      expectTesseraError(() => B.matmul(B.fill([2, 2], 1, 'int32'), B.fill([2, 2], 1)), 'DTYPE_MISMATCH', [
        'matmul',
      ]);
      expectTesseraError(() => B.gather(f, B.fill([1], 0)), 'DTYPE_MISMATCH', ['gather', 'float32']);
      expectTesseraError(() => B.concat([f, i], 0), 'DTYPE_MISMATCH', ['concat', 'float32', 'int32']);
    });

    test('invalid arguments', () => {
      const f = B.fill([2, 3], 1);
      expectTesseraError(() => B.rand([3], { seed: -1 }), 'INVALID_ARGUMENT', ['rand', 'seed']);
      expectTesseraError(() => B.randn([3], { seed: 1.5 }), 'INVALID_ARGUMENT', ['randn', 'seed']);
      expectTesseraError(() => B.reduce('sum', f, 2), 'INVALID_ARGUMENT', ['sum', 'axis 2']);
      expectTesseraError(() => B.softmax(f, -3), 'INVALID_ARGUMENT', ['softmax', 'axis -3']);
      expectTesseraError(() => B.transpose(f, [0, 0]), 'INVALID_ARGUMENT', ['transpose']);
      expectTesseraError(() => B.lincomb([1, 2], [f]), 'INVALID_ARGUMENT', ['lincomb']);
      expectTesseraError(() => B.resize(f, [0, 2], 'bilinear'), 'INVALID_ARGUMENT', ['resize']);
    });

    test('unknown op and mode names throw a TesseraError naming them', () => {
      const f = B.fill([2, 2], 1);
      const bad = (fn: () => unknown, name: string) => {
        expect(fn).toThrow(TesseraError);
        expect(fn).toThrow(name);
      };
      bad(() => B.unary('cube' as UnaryOp, f), 'cube');
      bad(() => B.binary('hypot' as BinaryOp, f, f), 'hypot');
      bad(() => B.reduce('median' as ReduceOp, f), 'median');
      bad(() => B.resize(f, [3, 3], 'lanczos' as ResizeMode), 'lanczos');
    });

    test('a disposed tensor throws DISPOSED naming the op; data() rejects', async () => {
      const t = B.fill([2, 2], 1);
      const live = B.fill([2, 2], 2);
      t.dispose();
      expect(t.isDisposed).toBe(true);
      expectTesseraError(() => B.unary('exp', t), 'DISPOSED', ['exp']);
      expectTesseraError(() => B.lincomb([1, 1], [live, t]), 'DISPOSED', ['lincomb']);
      expectTesseraError(() => B.matmul(live, t), 'DISPOSED', ['matmul']);
      expectTesseraError(() => B.reduce('sum', t), 'DISPOSED', ['sum']);
      expectTesseraError(() => B.binary('add', 1, t), 'DISPOSED', ['add']);
      await expect(t.data()).rejects.toBeInstanceOf(TesseraError);
      t.dispose(); // twice is harmless
    });

    it('failed calls allocate nothing and leave the backend usable', async () => {
      const a = B.fill([2, 3], 1);
      const bad = B.fill([4], 1);
      const before = B.memory();
      for (let k = 0; k < 20; k++) {
        expect(() => B.binary('add', a, bad)).toThrow(TesseraError);
        expect(() => B.matmul(a, bad)).toThrow(TesseraError);
      }
      expect(B.memory().tensors).toBe(before.tensors);
      const x = ctx.rng('after-error').f32(6);
      const t = up(B, x, [2, 3]);
      expectClose(
        await take(B.lincomb([2, -1], [t, a])),
        Array.from(x, (v) => 2 * v - 1),
        tol,
        'after errors',
      );
      for (const u of [t, a, bad]) u.dispose();
    });
  });

  describe('memory', () => {
    it('memory() counts live tensors and bytes', async () => {
      const m0 = B.memory();
      const t = B.fill([10, 10], 1);
      const m1 = B.memory();
      expect(m1.tensors).toBe(m0.tensors + 1);
      expect(m1.bytes).toBeGreaterThanOrEqual(m0.bytes + 400);
      t.dispose();
      expect(B.memory().tensors).toBe(m0.tensors);
    });

    it('1,000 lincomb + randn steps inside scopes leave tensors and buffers where they started', async () => {
      const step = (x: ReturnType<Backend['fill']>, i: number) =>
        scope(() => {
          const noise = B.randn([256], { seed: 7, offset: 512 * i });
          const mixed = B.lincomb([0.9, 0.1], [x, noise]);
          return B.lincomb([1, 0.5, -0.5], [mixed, noise, noise]); // the scope frees noise and mixed
        });
      let x = B.fill([256], 1);
      // warm-up steps let a pooling backend reach its steady state (buffers in flight, batched submits)
      for (let i = 0; i < WARMUP; i++) {
        const next = step(x, i);
        x.dispose();
        x = next;
      }
      await x.data(); // a readback too, so that staging buffers are part of the steady state
      await B.sync();
      const start = B.memory();
      for (let i = WARMUP; i < WARMUP + 1000; i++) {
        const next = step(x, i);
        x.dispose();
        x = next;
      }
      const values = await x.data();
      await B.sync();
      const end = B.memory();
      expect(values.every(Number.isFinite)).toBe(true);
      expect({ tensors: end.tensors, buffers: end.buffers }).toEqual({
        tensors: start.tensors,
        buffers: start.buffers,
      });
      x.dispose();
    });
  });
}

type Backend = Ctx['B'];
const WARMUP = 100;
