import { allocArray, fmtShape, type Shape, shapes, type Tensor, TesseraError } from '@tessera/core';
import type { OpContext } from '../context.js';
import { elemOf } from '../graph.js';
import * as layout from '../graphs/layout.js';

/** Indexing and layout ops of {@link OnnxBackend}. */

// ---- indexing and layout ----
export function gather(c: OpContext, x: Tensor, indices: Tensor, axis = 0): Tensor {
  c.slot(x, 'gather');
  c.slot(indices, 'gather', 'indices');
  shapes.checkDtype('gather', indices, ['int32', 'uint32'], 'indices');
  const ax = shapes.normAxis('gather', axis, x.rank);
  const shape = shapes.gatherShape(x.shape, indices.shape, ax);
  if (x.rank === 0)
    throw new TesseraError('SHAPE_MISMATCH', `gather: x must have rank ≥ 1, got ${fmtShape(x.shape)}`);
  const hi = c.engine.tensor('int64', BigInt64Array.of(BigInt(Math.max(x.shape[ax]! - 1, 0))), []);
  return c.op(
    `gather:${x.dtype}:${indices.dtype}:${ax}`,
    (g) => layout.gather(g, x.dtype, indices.dtype, ax),
    [x, indices, hi],
    shape,
    x.dtype,
  );
}

export function takeAlongAxis(c: OpContext, x: Tensor, indices: Tensor, axis: number): Tensor {
  c.slot(x, 'takeAlongAxis');
  c.slot(indices, 'takeAlongAxis', 'indices');
  const { ax, shape } = shapes.takeAlongShape(x, indices, axis);
  const xShape = shape.map((d, i) => (i === ax ? x.shape[ax]! : d));
  const hi = c.engine.tensor('int64', BigInt64Array.of(BigInt(Math.max(x.shape[ax]! - 1, 0))), []);
  return c.op(
    `takeAlongAxis:${x.dtype}:${indices.dtype}:${ax}`,
    (g) => layout.takeAlong(g, x.dtype, indices.dtype, ax),
    [x, indices, c.engine.i64(xShape), c.engine.i64(shape), hi],
    shape,
    x.dtype,
  );
}

export function concat(c: OpContext, xs: readonly Tensor[], axis: number): Tensor {
  for (const [i, t] of xs.entries()) c.slot(t, 'concat', `xs[${i}]`);
  const { shape, axis: ax } = shapes.concatShape('concat', xs, axis);
  const parts = xs.filter((t) => t.size > 0);
  const dt = xs[0]!.dtype;
  if (parts.length === 0) return c.host(allocArray(dt, 0), shape, dt);
  return c.op(
    `concat:${dt}:${parts.length}:${ax}`,
    (g) => {
      const ins = parts.map(() => g.input(elemOf(dt)));
      g.output(ins.length === 1 ? ins[0]! : g.op('Concat', ins, { axis: ax }), elemOf(dt));
    },
    parts,
    shape,
    dt,
  );
}

export function slice(c: OpContext, x: Tensor, begin: readonly number[], size: readonly number[]): Tensor {
  c.slot(x, 'slice');
  const shape = shapes.resolveSlice('slice', x.shape, begin, size);
  const dt = x.dtype;
  if (x.rank === 0)
    return c.op(`copy:${dt}`, (g) => g.output(g.input(elemOf(dt)), elemOf(dt)), [x], shape, dt);
  const ends = begin.map((b, i) => b + shape[i]!);
  return c.op(
    `slice:${dt}`,
    (g) => {
      g.output(
        g.op('Slice', [g.input(elemOf(dt)), g.input('int64', ['r']), g.input('int64', ['r'])]),
        elemOf(dt),
      );
    },
    [x, c.engine.i64(begin), c.engine.i64(ends)],
    shape,
    dt,
  );
}

export function reshape(c: OpContext, x: Tensor, shape: Shape): Tensor {
  c.slot(x, 'reshape');
  const out = shapes.resolveReshape('reshape', x.shape, shape);
  const dt = x.dtype;
  return c.op(
    `reshape:${dt}`,
    (g) => {
      g.output(g.op('Reshape', [g.input(elemOf(dt)), g.input('int64', ['r'])], { allowzero: 1 }), elemOf(dt));
    },
    [x, c.engine.i64(out)],
    out,
    dt,
  );
}

export function transpose(c: OpContext, x: Tensor, perm?: readonly number[]): Tensor {
  c.slot(x, 'transpose');
  const p = shapes.resolvePerm('transpose', x.rank, perm);
  const dt = x.dtype;
  return c.op(
    `transpose:${dt}:${p.join(',')}`,
    (g) => {
      g.output(g.op('Transpose', [g.input(elemOf(dt))], { perm: { ints: p } }), elemOf(dt));
    },
    [x],
    p.map((i) => x.shape[i]!),
    dt,
  );
}

export function broadcastTo(c: OpContext, x: Tensor, shape: Shape): Tensor {
  c.slot(x, 'broadcastTo');
  const target = shapes.broadcastShapes('broadcastTo', x.shape, shape);
  if (target.length !== shape.length || target.some((d, i) => d !== shape[i])) {
    throw new TesseraError(
      'SHAPE_MISMATCH',
      `broadcastTo: ${fmtShape(x.shape)} does not broadcast to ${fmtShape(shape)}`,
    );
  }
  const dt = x.dtype;
  return c.op(
    `expand:${dt}`,
    (g) => {
      g.output(g.op('Expand', [g.input(elemOf(dt)), g.input('int64', ['r'])]), elemOf(dt));
    },
    [x, c.engine.i64(target)],
    target,
    dt,
  );
}
