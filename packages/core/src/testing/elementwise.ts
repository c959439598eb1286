import type { BinaryOp, DType, UnaryOp } from '@tessera/core';
import { describe, expect } from 'vitest';
import { type Ctx, take, test, up } from './context.js';
import {
  broadcastShape,
  erfRef,
  expectClose,
  expectExact,
  mapBroadcast,
  roundHalfEvenRef,
  size,
} from './reference.js';

/** float64 definitions of the unary ops and the input range each is tested on. */
const UNARY_REF: Record<UnaryOp, { f: (x: number) => number; lo: number; hi: number }> = {
  neg: { f: (x) => -x, lo: -5, hi: 5 },
  abs: { f: (x) => (x < 0 ? -x : x), lo: -5, hi: 5 },
  sign: { f: (x) => (x > 0 ? 1 : x < 0 ? -1 : 0), lo: -3, hi: 3 },
  square: { f: (x) => x * x, lo: -5, hi: 5 },
  sqrt: { f: Math.sqrt, lo: 0, hi: 50 },
  rsqrt: { f: (x) => 1 / Math.sqrt(x), lo: 0.01, hi: 50 },
  reciprocal: { f: (x) => 1 / x, lo: 0.05, hi: 20 },
  exp: { f: Math.exp, lo: -20, hi: 20 },
  expm1: { f: Math.expm1, lo: -3, hi: 3 },
  log: { f: Math.log, lo: 0.001, hi: 100 },
  log1p: { f: Math.log1p, lo: -0.9, hi: 10 },
  sin: { f: Math.sin, lo: -6, hi: 6 },
  cos: { f: Math.cos, lo: -6, hi: 6 },
  tanh: { f: Math.tanh, lo: -20, hi: 20 },
  sigmoid: { f: (x) => 1 / (1 + Math.exp(-x)), lo: -30, hi: 30 },
  softplus: { f: (x) => Math.log(1 + Math.exp(x)), lo: -20, hi: 30 },
  relu: { f: (x) => Math.max(x, 0), lo: -3, hi: 3 },
  silu: { f: (x) => x / (1 + Math.exp(-x)), lo: -20, hi: 20 },
  // GELU in PyTorch's default (exact, erf) form: x·Φ(x)
  gelu: { f: (x) => 0.5 * x * (1 + erfRef(x / Math.SQRT2)), lo: -6, hi: 6 },
  erf: { f: erfRef, lo: -4, hi: 4 },
  floor: { f: Math.floor, lo: -10, hi: 10 },
  ceil: { f: Math.ceil, lo: -10, hi: 10 },
  round: { f: roundHalfEvenRef, lo: -10, hi: 10 },
};

/** Python semantics (floor division; modulo takes the divisor's sign). */
const pyFloorDiv = (a: number, b: number) => Math.floor(a / b);
const pyMod = (a: number, b: number) => a - Math.floor(a / b) * b;

const BINARY_REF: Record<BinaryOp, (a: number, b: number) => number> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  floorDiv: pyFloorDiv,
  mod: pyMod,
  pow: (a, b) => a ** b,
  max: Math.max,
  min: Math.min,
  atan2: Math.atan2,
  eq: (a, b) => +(a === b),
  ne: (a, b) => +(a !== b),
  lt: (a, b) => +(a < b),
  le: (a, b) => +(a <= b),
  gt: (a, b) => +(a > b),
  ge: (a, b) => +(a >= b),
};
const COMPARISONS: BinaryOp[] = ['eq', 'ne', 'lt', 'le', 'gt', 'ge'];

/** Float32 operands for `op` that keep the reference away from domain edges and rounding cliffs. */
function floatOperands(ctx: Ctx, op: BinaryOp, n: number): [Float32Array, Float32Array] {
  const r = ctx.rng(`binary-${op}`);
  const a = r.f32(n, -4, 4);
  const b = r.f32(n, -4, 4);
  for (let i = 0; i < n; i++) {
    if (op === 'pow') {
      a[i] = r.uniform(0.1, 4);
      b[i] = r.uniform(-2, 2.5);
    } else if (op === 'div' || op === 'floorDiv' || op === 'mod') {
      // |b| ≥ 0.25, and a/b at least 0.01 away from an integer so float32 and float64 floor agree
      do {
        a[i] = r.uniform(-6, 6);
        b[i] = r.pick([-1, 1]) * r.uniform(0.25, 3);
      } while (op !== 'div' && Math.abs(a[i]! / b[i]! - Math.round(a[i]! / b[i]!)) < 0.01);
    } else if (COMPARISONS.includes(op) || op === 'max' || op === 'min') {
      if (i % 3 === 0) b[i] = a[i]!; // ties
    }
  }
  return [a, b];
}

export function elementwiseTests(ctx: Ctx): void {
  const { B, tol } = ctx;

  describe('lincomb', () => {
    for (const terms of [1, 2, 3, 5]) {
      test(`${terms} terms`, async () => {
        const r = ctx.rng(`lincomb${terms}`);
        const shape = [r.int(1, 5), r.int(1, 40)];
        const n = size(shape);
        const xs = Array.from({ length: terms }, () => r.f32(n, -3, 3));
        const c = xs.map(() => r.uniform(-2, 2));
        const want = Array.from({ length: n }, (_, j) => xs.reduce((s, x, i) => s + c[i]! * x[j]!, 0));
        const scale = Array.from({ length: n }, (_, j) =>
          xs.reduce((s, x, i) => s + Math.abs(c[i]! * x[j]!), 0),
        );
        const ts = xs.map((x) => up(B, x, shape));
        const out = B.lincomb(c, ts);
        expect(out.shape).toEqual(shape);
        expectClose(await take(out), want, tol, `lincomb of ${terms}`, scale);
        for (const t of ts) t.dispose();
      });
    }
  });

  describe('unary', () => {
    for (const op of Object.keys(UNARY_REF) as UnaryOp[]) {
      test(`${op} float32`, async () => {
        const { f, lo, hi } = UNARY_REF[op];
        const r = ctx.rng(`unary-${op}`);
        const x = r.f32(97, lo, hi);
        if (op === 'round') x.set([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5, 0, -3.7, 4.2]);
        if (op === 'floor' || op === 'ceil' || op === 'sign') x.set([-2, -1.5, 0, 1, 2.5, -0.25]);
        const t = up(B, x, [97]);
        const out = B.unary(op, t);
        expect(out.dtype).toBe('float32');
        expectClose(await take(out), Array.from(x, f), tol, `${op}`);
        t.dispose();
      });
    }
    const intCases: Array<[UnaryOp, DType]> = [
      ['neg', 'int32'],
      ['abs', 'int32'],
      ['square', 'int32'],
      ['sign', 'int32'],
      ['abs', 'uint32'],
      ['square', 'uint32'],
      ['sign', 'uint32'],
    ];
    for (const [op, dtype] of intCases) {
      test(`${op} ${dtype}`, async () => {
        const r = ctx.rng(`unary-${op}-${dtype}`);
        const x = dtype === 'int32' ? r.i32(40, -3000, 3000) : r.u32(40, 0, 3000);
        x[0] = 0;
        const out = B.unary(op, up(B, x, [40], dtype));
        expect(out.dtype).toBe(dtype);
        expectExact(await take(out), Array.from(x, UNARY_REF[op].f), `${op} ${dtype}`);
      });
    }
  });

  describe('binary', () => {
    for (const op of Object.keys(BINARY_REF) as BinaryOp[]) {
      test(`${op} float32, same shape and broadcast`, async () => {
        const isCmp = COMPARISONS.includes(op);
        const [a, b] = floatOperands(ctx, op, 60);
        // same shape
        const ta = up(B, a, [6, 10]);
        const tb = up(B, b, [6, 10]);
        const same = B.binary(op, ta, tb);
        expect([same.dtype, same.shape]).toEqual([isCmp ? 'uint32' : 'float32', [6, 10]]);
        const want = Array.from(a, (v, i) => BINARY_REF[op](v, b[i]!));
        if (isCmp) expectExact(await take(same), want, op);
        else expectClose(await take(same), want, tol, op);
        // broadcast [3, 1, 5] with [4, 1] → [3, 4, 5] (operands reuse the prepared values)
        const sa = [3, 1, 5];
        const sb = [4, 1];
        const xa = a.slice(0, 15);
        const xb = b.slice(0, 4);
        if (op === 'floorDiv' || op === 'mod') {
          // every broadcast pair's quotient must stay 0.01 away from an integer
          const r = ctx.rng(`binary-${op}-bcast`);
          const far = (v: number) => Array.from(xb).every((d) => Math.abs(v / d - Math.round(v / d)) >= 0.01);
          for (let i = 0; i < xa.length; i++) while (!far(xa[i]!)) xa[i] = r.uniform(-6, 6);
        }
        const ba = up(B, xa, sa);
        const bb = up(B, xb, sb);
        const outShape = broadcastShape(sa, sb)!;
        const ref = mapBroadcast(
          outShape,
          [
            { data: xa, shape: sa },
            { data: xb, shape: sb },
          ],
          BINARY_REF[op],
        );
        const bc = B.binary(op, ba, bb);
        expect(bc.shape).toEqual(outShape);
        if (isCmp) expectExact(await take(bc), Array.from(ref), `${op} broadcast`);
        else expectClose(await take(bc), ref, tol, `${op} broadcast`);
        for (const t of [ta, tb, ba, bb]) t.dispose();
      });
    }

    test('scalar operands (numbers and rank-0 tensors) on either side', async () => {
      const r = ctx.rng('binary-scalar');
      const x = r.f32(24, 0.5, 3);
      const s = Math.fround(r.uniform(0.5, 2));
      const t = up(B, x, [2, 3, 4]);
      expectClose(
        await take(B.binary('sub', s, t)),
        Array.from(x, (v) => s - v),
        tol,
        'number − tensor',
      );
      expectClose(
        await take(B.binary('div', t, s)),
        Array.from(x, (v) => v / s),
        tol,
        'tensor / number',
      );
      expectClose(
        await take(B.binary('pow', t, 2)),
        Array.from(x, (v) => v * v),
        tol,
        'tensor ** 2',
      );
      const r0 = up(B, [s], []);
      expectClose(
        await take(B.binary('mul', r0, t)),
        Array.from(x, (v) => s * v),
        tol,
        'rank-0 × tensor',
      );
      expectExact(
        await take(B.binary('gt', t, s)),
        Array.from(x, (v) => +(v > s)),
        'tensor > number',
      );
      const xi = r.i32(10, -50, 50);
      const ti = up(B, xi, [10], 'int32');
      const sum = B.binary('add', ti, 7);
      expect(sum.dtype).toBe('int32');
      expectExact(
        await take(sum),
        Array.from(xi, (v) => v + 7),
        'int32 + 7',
      );
      expectExact(
        await take(B.binary('mul', -3, ti)),
        Array.from(xi, (v) => -3 * v),
        '−3 × int32',
      );
      for (const u of [t, r0, ti]) u.dispose();
    });

    for (const dtype of ['int32', 'uint32'] as const) {
      const ops: BinaryOp[] = ['add', 'sub', 'mul', 'div', 'floorDiv', 'mod', 'max', 'min', ...COMPARISONS];
      for (const op of ops) {
        test(`${op} ${dtype}`, async () => {
          const r = ctx.rng(`binary-${op}-${dtype}`);
          const n = 48;
          const signed = dtype === 'int32';
          const a = signed ? r.i32(n, -1000, 1000) : r.u32(n, 0, 2000);
          const b = signed ? r.i32(n, -40, 40) : r.u32(n, 1, 40);
          for (let i = 0; i < n; i++) {
            if (b[i] === 0) b[i] = 7;
            if (op === 'sub' && !signed && a[i]! < b[i]!) a[i] = b[i]! + a[i]!;
            if (i % 4 === 0 && (COMPARISONS.includes(op) || op === 'max' || op === 'min')) a[i] = b[i]!;
          }
          // integer division truncates toward zero (C, WGSL); floorDiv/mod follow Python
          const f = op === 'div' ? (x: number, y: number) => Math.trunc(x / y) : BINARY_REF[op];
          const out = B.binary(op, up(B, a, [6, 8], dtype), up(B, b, [6, 8], dtype));
          expect(out.dtype).toBe(COMPARISONS.includes(op) ? 'uint32' : dtype);
          expectExact(
            await take(out),
            Array.from(a, (v, i) => f(v, b[i]!)),
            `${op} ${dtype}`,
          );
        });
      }
    }

    test('int32 broadcasting keeps the dtype', async () => {
      const r = ctx.rng('binary-int-bcast');
      const a = r.i32(6, -100, 100);
      const b = r.i32(4, -100, 100);
      const out = B.binary('sub', up(B, a, [6, 1], 'int32'), up(B, b, [1, 4], 'int32'));
      expect([out.dtype, out.shape]).toEqual(['int32', [6, 4]]);
      const want = mapBroadcast(
        [6, 4],
        [
          { data: a, shape: [6, 1] },
          { data: b, shape: [1, 4] },
        ],
        (x, y) => x - y,
      );
      expectExact(await take(out), Array.from(want), 'int32 broadcast sub');
    });
  });
}
