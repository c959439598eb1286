import { fmtShape, type Shape, shapes, stridesOf, type Tensor, TesseraError } from '@tessera/core';
import type { WebGPUBackend } from '../backend.js';
import { broadcastStrides, groupsFor, Params, wtype } from '../shaders/common.js';
import { CONCAT_SOURCE, gatherSource, STRIDED_COPY, takeAlongSource } from '../shaders/layout.js';

/** Copies `x` through strides into a new tensor of `shape` (transpose, slice, broadcast). */
export function stridedCopy(
  B: WebGPUBackend,
  buf: GPUBuffer,
  x: Tensor,
  shape: Shape,
  strides: readonly number[],
  base = 0,
): Tensor {
  const out = B.make(shape, x.dtype);
  const p = new Params().u(out.size, shape.length, base, 0);
  p.list(shape);
  p.list(strides);
  return B.run('strided_copy', () => STRIDED_COPY, [buf], out, p, groupsFor(out.size));
}

export function transpose(B: WebGPUBackend, x: Tensor, perm?: readonly number[]): Tensor {
  const buf = B.buf(x, 'transpose');
  const p = shapes.resolvePerm('transpose', x.rank, perm);
  const s = stridesOf(x.shape);
  return stridedCopy(
    B,
    buf,
    x,
    p.map((i) => x.shape[i]!),
    p.map((i) => s[i]!),
  );
}

export function slice(
  B: WebGPUBackend,
  x: Tensor,
  begin: readonly number[],
  size: readonly number[],
): Tensor {
  const buf = B.buf(x, 'slice');
  const shape = shapes.resolveSlice('slice', x.shape, begin, size);
  const s = stridesOf(x.shape);
  const base = begin.reduce((acc, b, i) => acc + b * s[i]!, 0);
  return stridedCopy(B, buf, x, shape, s, base);
}

export function broadcastTo(B: WebGPUBackend, x: Tensor, shape: Shape): Tensor {
  const buf = B.buf(x, 'broadcastTo');
  const target = shapes.broadcastShapes('broadcastTo', x.shape, shape);
  if (target.length !== shape.length || target.some((d, i) => d !== shape[i])) {
    throw new TesseraError(
      'SHAPE_MISMATCH',
      `broadcastTo: ${fmtShape(x.shape)} does not broadcast to ${fmtShape(shape)}`,
    );
  }
  return stridedCopy(B, buf, x, target, broadcastStrides(x.shape, target));
}

function around(shape: Shape, axis: number): [number, number, number] {
  let outer = 1;
  let inner = 1;
  for (let i = 0; i < axis; i++) outer *= shape[i]!;
  for (let i = axis + 1; i < shape.length; i++) inner *= shape[i]!;
  return [outer, shape[axis] ?? 1, inner];
}

export function gather(B: WebGPUBackend, x: Tensor, indices: Tensor, axis: number): Tensor {
  const xb = B.buf(x, 'gather');
  const ib = B.buf(indices, 'gather', 'indices');
  shapes.checkDtype('gather', indices, ['int32', 'uint32'], 'indices');
  const ax = shapes.normAxis('gather', axis, x.rank);
  const [, len, inner] = around(x.shape, ax);
  const shape = shapes.gatherShape(x.shape, indices.shape, ax);
  const out = B.make(shape, x.dtype);
  if (len === 0 && out.size > 0) {
    throw new TesseraError(
      'OUT_OF_RANGE',
      `gather: cannot take indices from an empty axis ${ax} of ${fmtShape(x.shape)}`,
    );
  }
  const ti = wtype(indices.dtype);
  const p = new Params().u(out.size, indices.size, len, inner);
  return B.run(`gather_${ti}`, () => gatherSource(ti), [xb, ib], out, p, groupsFor(out.size));
}

export function takeAlongAxis(B: WebGPUBackend, x: Tensor, indices: Tensor, axis: number): Tensor {
  const xb = B.buf(x, 'takeAlongAxis');
  const ib = B.buf(indices, 'takeAlongAxis', 'indices');
  const { ax, shape } = shapes.takeAlongShape(x, indices, axis);
  const xs = stridesOf(x.shape).map((s, d) => (d !== ax && x.shape[d] === 1 ? 0 : s));
  const out = B.make(shape, x.dtype);
  const p = new Params().u(out.size, shape.length, ax, x.shape[ax]!);
  p.list(shape);
  p.list(xs);
  p.list(broadcastStrides(indices.shape, shape));
  const ti = wtype(indices.dtype);
  return B.run(`take_along_${ti}`, () => takeAlongSource(ti), [xb, ib], out, p, groupsFor(out.size));
}

export function concat(B: WebGPUBackend, xs: readonly Tensor[], axis: number): Tensor {
  const bufs = xs.map((t, i) => B.buf(t, 'concat', `xs[${i}]`));
  const { shape, axis: ax } = shapes.concatShape('concat', xs, axis);
  const [, , inner] = around(shape, ax);
  const out = B.make(shape, xs[0]!.dtype);
  const total = shape[ax]! * inner;
  let pos = 0;
  xs.forEach((t, k) => {
    const lenInner = t.shape[ax]! * inner;
    if (t.size > 0) {
      const p = new Params().u(t.size, lenInner, total, pos);
      B.run('concat', () => CONCAT_SOURCE, [bufs[k]!], out, p, groupsFor(t.size));
    }
    pos += lenInner;
  });
  return out;
}
