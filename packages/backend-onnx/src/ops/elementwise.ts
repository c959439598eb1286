import {
  allocArray,
  type BinaryOp,
  type DType,
  fmtShape,
  type Shape,
  shapes,
  type Tensor,
  TesseraError,
  type TypedArray,
  type UnaryOp,
} from '@tessera/core';
import type { OpContext } from '../context.js';
import type { Feed } from '../engine.js';
import { elemOf } from '../graph.js';
import { binaryFloat, binaryInt, COMPARE, load, store, unaryFloat, unaryInt } from '../graphs/elementwise.js';
import * as layout from '../graphs/layout.js';
import * as host from '../host.js';
import { ORT_TYPE } from '../runtime.js';

/** Elementwise ops of {@link OnnxBackend}: lincomb, unary, binary, clamp, cast, where. */

/** A scalar operand of `binary`/`where`, stored in `dtype` like the CPU backend does. */
function scalarArray(v: number, dtype: DType): TypedArray {
  const a = allocArray(dtype, 1);
  a[0] = v;
  return a;
}

export function lincomb(c: OpContext, coefs: readonly number[], xs: readonly Tensor[]): Tensor {
  shapes.checkLincomb(c.name, coefs, xs);
  for (const [i, x] of xs.entries()) c.slot(x, 'lincomb', `xs[${i}]`);
  const n = xs.length;
  // one graph per term count: the coefficients are an input, so every coefficient set reuses it
  // CPU-side providers compute in float64 (as the CPU backend does); the WebGPU provider in float32
  if (c.engine.gpuResident) {
    const cs = c.engine.tensor('float32', Float32Array.from(coefs), [n]);
    return c.op(`lincomb:${n}`, (g) => layout.lincomb(g, n), [cs, ...xs], xs[0]!.shape, 'float32');
  }
  const hi = Float32Array.from(coefs);
  const lo = Float32Array.from(coefs, (v, i) => (Number.isFinite(hi[i]!) ? v - hi[i]! : 0));
  const pair = new Float32Array(2 * n);
  pair.set(hi);
  pair.set(lo, n);
  const cs = c.engine.tensor('float32', pair, [2, n]);
  return c.op(`lincomb64:${n}`, (g) => layout.lincomb(g, n, true), [cs, ...xs], xs[0]!.shape, 'float32');
}

export function unary(c: OpContext, op: UnaryOp, x: Tensor): Tensor {
  c.slot(x, op);
  shapes.checkUnaryName(op);
  shapes.checkUnaryDtype(op, x);
  const dt = x.dtype;
  return c.op(
    `unary:${op}:${dt}`,
    (g) => {
      const v = load(g, dt);
      // the WebGPU provider's native Sin/Cos may be only 2⁻¹¹-accurate: build them from exact ops there
      const trig = c.engine.gpuResident;
      store(g, dt === 'float32' ? unaryFloat(g, op, v, trig) : unaryInt(g, op, v), dt);
    },
    [x],
    x.shape,
    dt,
  );
}

function operand(
  c: OpContext,
  op: string,
  v: Tensor | number,
  other: Tensor | number,
  name: string,
): { feed: Tensor | Feed; shape: Shape; dtype: DType } {
  if (typeof v === 'number') {
    const dt: DType = typeof other === 'number' ? 'float32' : other.dtype;
    return { feed: c.engine.tensor(ORT_TYPE[dt], scalarArray(v, dt), []), shape: [], dtype: dt };
  }
  c.slot(v, op, name);
  return { feed: v, shape: v.shape, dtype: v.dtype };
}

export function binary(c: OpContext, op: BinaryOp, a: Tensor | number, b: Tensor | number): Tensor {
  const A = operand(c, op, a, b, 'a');
  const B = operand(c, op, b, a, 'b');
  if (A.dtype !== B.dtype) {
    throw new TesseraError(
      'DTYPE_MISMATCH',
      `${op}: operand dtypes differ: ${A.dtype} ${fmtShape(A.shape)} vs ${B.dtype} ${fmtShape(B.shape)}`,
    );
  }
  if ((op === 'pow' || op === 'atan2') && A.dtype !== 'float32') {
    throw new TesseraError('DTYPE_MISMATCH', `${op}: needs float32, got ${A.dtype}`);
  }
  shapes.checkBinaryName(op);
  const shape = shapes.broadcastShapes(op, A.shape, B.shape);
  const dt = A.dtype;
  const outDt: DType = COMPARE.has(op) ? 'uint32' : dt;
  return c.op(
    `binary:${op}:${dt}`,
    (g) => {
      const x = load(g, dt);
      const y = load(g, dt);
      const v = dt === 'float32' ? binaryFloat(g, op, x, y) : binaryInt(g, op, x, y);
      if (COMPARE.has(op)) g.output(g.cast(v, 'uint32'), 'uint32');
      else store(g, v, dt);
    },
    [A.feed, B.feed],
    shape,
    outDt,
  );
}

export function clamp(c: OpContext, x: Tensor, min: number, max: number): Tensor {
  c.slot(x, 'clamp');
  if (!(min <= max)) throw new TesseraError('INVALID_ARGUMENT', `clamp: min ${min} exceeds max ${max}`);
  const dt = x.dtype;
  const [lo, hi] = host.clampBounds(min, max, dt);
  const bound = (v: number) =>
    dt === 'float32'
      ? c.engine.tensor('float32', Float32Array.of(v), [])
      : c.engine.tensor('int64', BigInt64Array.of(BigInt(v)), []);
  return c.op(
    `clamp:${dt}`,
    (g) => {
      const v = load(g, dt);
      const w = dt === 'float32' ? 'float' : 'int64';
      const l = g.input(w);
      const h = g.input(w);
      store(g, g.op('Min', [g.op('Max', [v, l]), h]), dt);
    },
    [x, bound(lo), bound(hi)],
    x.shape,
    dt,
  );
}

export function cast(c: OpContext, x: Tensor, dtype: DType): Tensor {
  c.slot(x, 'cast');
  if (!(dtype in ORT_TYPE)) throw new TesseraError('INVALID_ARGUMENT', `cast: unknown dtype '${dtype}'`);
  const from = x.dtype;
  return c.op(
    `cast:${from}:${dtype}`,
    (g) => {
      let v = g.input(elemOf(from));
      // float → int truncates toward zero; going through int64 makes uint32 wrap like the CPU backend
      if (from === 'float32' && dtype !== 'float32') v = g.cast(v, 'int64');
      g.output(g.cast(v, elemOf(dtype)), elemOf(dtype));
    },
    [x],
    x.shape,
    dtype,
  );
}

export function where(c: OpContext, cond: Tensor, a: Tensor | number, b: Tensor | number): Tensor {
  c.slot(cond, 'where', 'cond');
  const A = operand(c, 'where', a, b, 'a');
  const B = operand(c, 'where', b, a, 'b');
  if (A.dtype !== B.dtype)
    throw new TesseraError('DTYPE_MISMATCH', `where: a is ${A.dtype}, b is ${B.dtype}`);
  const shape = shapes.broadcastShapes(
    'where',
    shapes.broadcastShapes('where', cond.shape, A.shape),
    B.shape,
  );
  const cdt = cond.dtype;
  const dt = A.dtype;
  return c.op(
    `where:${cdt}:${dt}`,
    (g) => {
      const cv = g.input(elemOf(cdt));
      // non-zero and not NaN is true (NaN is falsy on the CPU backend)
      let m = g.op('Not', [g.op('Equal', [cv, cdt === 'float32' ? g.f(0) : g.const(elemOf(cdt), [0])])]);
      if (cdt === 'float32') m = g.op('And', [m, g.op('Not', [g.op('IsNaN', [cv])])]);
      const x = load(g, dt);
      const y = load(g, dt);
      store(g, g.op('Where', [m, x, y]), dt);
    },
    [cond, A.feed, B.feed],
    shape,
    dt,
  );
}
