import {
  type DType,
  fmtShape,
  type MatmulOptions,
  type ReduceOp,
  shapes,
  sizeOf,
  type Tensor,
  TesseraError,
} from '@tessera/core';
import type { OpContext } from '../context.js';
import { load, store } from '../graphs/elementwise.js';
import * as layout from '../graphs/layout.js';

/** Reductions, arg-extrema, cumsum and matmul of {@link OnnxBackend}. */

// ---- reductions ----
export function reduce(
  c: OpContext,
  op: ReduceOp,
  x: Tensor,
  axes?: number | readonly number[],
  keepDims = false,
): Tensor {
  shapes.checkReduceName(op);
  c.slot(x, op);
  const ax = shapes.normAxes(op, axes, x.rank);
  const len = ax.reduce((p, i) => p * x.shape[i]!, 1);
  if ((op === 'max' || op === 'min') && len === 0) {
    throw new TesseraError('INVALID_ARGUMENT', `${op}: cannot reduce an empty axis of ${fmtShape(x.shape)}`);
  }
  const intOk = op === 'sum' || op === 'max' || op === 'min' || op === 'prod';
  const outDt: DType = x.dtype !== 'float32' && intOk ? x.dtype : 'float32';
  const shape = shapes.reducedShape(x.shape, ax, keepDims);
  if (len === 0 && sizeOf(shape) > 0)
    return c.fill(
      shape,
      op === 'prod' ? 1 : op === 'mean' ? Number.NaN : op === 'logsumexp' ? -Infinity : 0,
      outDt,
    );
  return c.op(
    `reduce:${op}:${x.dtype}:${ax.join(',')}:${keepDims}`,
    (g) => layout.reduce(g, op, x.dtype, outDt, ax, keepDims),
    [x],
    shape,
    outDt,
  );
}

function argExt(
  c: OpContext,
  x: Tensor,
  axis: number | undefined,
  keepDims: boolean,
  op: 'argmax' | 'argmin',
): Tensor {
  c.slot(x, op);
  const flat = axis === undefined;
  const ax = flat ? shapes.normAxes(op, undefined, x.rank) : [shapes.normAxis(op, axis, x.rank)];
  const len = ax.reduce((p, i) => p * x.shape[i]!, 1);
  if (len === 0) throw new TesseraError('INVALID_ARGUMENT', `${op}: empty axis in ${fmtShape(x.shape)}`);
  const shape = shapes.reducedShape(x.shape, ax, keepDims);
  const dt = x.dtype;
  if (flat) {
    return c.op(
      `${op}:flat:${dt}`,
      (g) => layout.argFlat(g, op, dt),
      [x, c.engine.i64(shape)],
      shape,
      'int32',
    );
  }
  return c.op(
    `${op}:${dt}:${ax[0]}:${keepDims}`,
    (g) => layout.argAxis(g, op, dt, ax[0]!, keepDims),
    [x],
    shape,
    'int32',
  );
}

export function argmax(c: OpContext, x: Tensor, axis?: number, keepDims = false): Tensor {
  return argExt(c, x, axis, keepDims, 'argmax');
}

export function argmin(c: OpContext, x: Tensor, axis?: number, keepDims = false): Tensor {
  return argExt(c, x, axis, keepDims, 'argmin');
}

export function cumsum(
  c: OpContext,
  x: Tensor,
  axis: number,
  options: { exclusive?: boolean; reverse?: boolean } = {},
): Tensor {
  c.slot(x, 'cumsum');
  const ax = shapes.normAxis('cumsum', axis, x.rank);
  const ex = options.exclusive ? 1 : 0;
  const rev = options.reverse ? 1 : 0;
  const dt = x.dtype;
  if (x.rank === 0) return c.op(`cumsum0:${dt}:${ex}`, (g) => layout.cumsum0(g, dt, ex), [x], [], dt);
  return c.op(
    `cumsum:${dt}:${ex}:${rev}`,
    (g) => {
      const v = load(g, dt);
      store(g, g.op('CumSum', [v, g.input('int64', [])], { exclusive: ex, reverse: rev }), dt);
    },
    [x, c.engine.tensor('int64', BigInt64Array.of(BigInt(ax)), [])],
    x.shape,
    dt,
  );
}

// ---- linear algebra ----
export function matmul(c: OpContext, a: Tensor, b: Tensor, options: MatmulOptions = {}): Tensor {
  c.slot(a, 'matmul', 'a');
  c.slot(b, 'matmul', 'b');
  shapes.checkDtype('matmul', a, ['float32'], 'a');
  shapes.checkDtype('matmul', b, ['float32'], 'b');
  const ta = !!options.transposeA;
  const tb = !!options.transposeB;
  const { shape } = shapes.matmulShape(a.shape, b.shape, ta, tb);
  return c.op(
    `matmul:${a.rank}:${b.rank}:${ta}:${tb}`,
    (g) => layout.matmul(g, a.rank, b.rank, ta, tb),
    [a, b],
    shape,
    'float32',
  );
}
