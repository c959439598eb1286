import { allocArray, type Shape, sizeOf, stridesOf, type TypedArray } from '../../dtype.js';
import { fmtShape, TesseraError } from '../../errors.js';
import {
  broadcastShapes,
  checkDtype,
  concatShape,
  gatherShape,
  normAxis,
  resolvePerm,
  resolveReshape,
  resolveSlice,
  takeAlongShape,
} from '../../shape.js';
import type { Tensor } from '../../tensor.js';
import type { CpuContext } from '../context.js';
import { around, broadcastIndex, permute } from '../kernels.js';

/** CPU indexing and layout ops: gather, takeAlongAxis, concat, slice, reshape, transpose, broadcastTo. */

export function gather(c: CpuContext, x: Tensor, indices: Tensor, axis = 0): Tensor {
  const a = c.arr(x, 'gather');
  const idx = c.arr(indices, 'gather', 'indices');
  checkDtype('gather', indices, ['int32', 'uint32'], 'indices');
  const ax = normAxis('gather', axis, x.rank);
  const [outer, len, inner] = around(x.shape, ax);
  const shape = gatherShape(x.shape, indices.shape, ax);
  const out = allocArray(x.dtype, sizeOf(shape));
  const ni = idx.length;
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < ni; j++) {
      const src = Math.min(Math.max(idx[j]!, 0), len - 1);
      const from = (o * len + src) * inner;
      const to = (o * ni + j) * inner;
      for (let n = 0; n < inner; n++) out[to + n] = a[from + n]!;
    }
  }
  return c.make(out, shape, x.dtype);
}

export function takeAlongAxis(c: CpuContext, x: Tensor, indices: Tensor, axis: number): Tensor {
  const a = c.arr(x, 'takeAlongAxis');
  const idx = c.arr(indices, 'takeAlongAxis', 'indices');
  const { ax, shape } = takeAlongShape(x, indices, axis);
  const xs = stridesOf(x.shape);
  const ii = broadcastIndex(shape, indices.shape);
  const size = sizeOf(shape);
  const out = allocArray(x.dtype, size);
  const os = stridesOf(shape);
  for (let j = 0; j < size; j++) {
    let rem = j;
    let off = 0;
    for (let d = 0; d < shape.length; d++) {
      const c = Math.floor(rem / os[d]!);
      rem -= c * os[d]!;
      if (d === ax) {
        const k = Math.min(Math.max(idx[ii ? ii[j]! : j]!, 0), x.shape[ax]! - 1);
        off += k * xs[d]!;
      } else off += (x.shape[d] === 1 ? 0 : c) * xs[d]!;
    }
    out[j] = a[off]!;
  }
  return c.make(out, shape, x.dtype);
}

export function concat(c: CpuContext, xs: readonly Tensor[], axis: number): Tensor {
  for (const [i, t] of xs.entries()) c.arr(t, 'concat', `xs[${i}]`);
  const { shape, axis: ax } = concatShape('concat', xs, axis);
  const [outer, , inner] = around(shape, ax);
  const out = allocArray(xs[0]!.dtype, sizeOf(shape));
  let pos = 0;
  const total = shape[ax]!;
  for (const t of xs) {
    const a = t.storage as TypedArray;
    const len = t.shape[ax]!;
    for (let o = 0; o < outer; o++) {
      out.set(a.subarray(o * len * inner, (o + 1) * len * inner), (o * total + pos) * inner);
    }
    pos += len;
  }
  return c.make(out, shape, xs[0]!.dtype);
}

export function slice(c: CpuContext, x: Tensor, begin: readonly number[], size: readonly number[]): Tensor {
  const a = c.arr(x, 'slice');
  const shape = resolveSlice('slice', x.shape, begin, size);
  const n = sizeOf(shape);
  const out = allocArray(x.dtype, n);
  const r = shape.length;
  if (r === 0 || n === 0) {
    if (n) out[0] = a[0]!;
    return c.make(out, shape, x.dtype);
  }
  // copy runs along the last axis; an odometer over the outer axes gives each run's source offset
  const xs = stridesOf(x.shape);
  const run = shape[r - 1]!;
  const counter = new Array<number>(r - 1).fill(0);
  let off = 0;
  for (let d = 0; d < r; d++) off += begin[d]! * xs[d]!;
  for (let j = 0; j < n; j += run) {
    if (run >= 32) out.set(a.subarray(off, off + run), j);
    else for (let t = 0; t < run; t++) out[j + t] = a[off + t]!;
    for (let d = r - 2; d >= 0; d--) {
      counter[d]!++;
      off += xs[d]!;
      if (counter[d]! < shape[d]!) break;
      off -= xs[d]! * counter[d]!;
      counter[d] = 0;
    }
  }
  return c.make(out, shape, x.dtype);
}

export function reshape(c: CpuContext, x: Tensor, shape: Shape): Tensor {
  const a = c.arr(x, 'reshape');
  return c.make(a.slice(), resolveReshape('reshape', x.shape, shape), x.dtype);
}

export function transpose(c: CpuContext, x: Tensor, perm?: readonly number[]): Tensor {
  const a = c.arr(x, 'transpose');
  const p = resolvePerm('transpose', x.rank, perm);
  const out = allocArray(x.dtype, a.length);
  permute(a, x.shape, p, out);
  return c.make(
    out,
    p.map((i) => x.shape[i]!),
    x.dtype,
  );
}

export function broadcastTo(c: CpuContext, x: Tensor, shape: Shape): Tensor {
  const a = c.arr(x, 'broadcastTo');
  const target = broadcastShapes('broadcastTo', x.shape, shape);
  if (target.length !== shape.length || target.some((d, i) => d !== shape[i])) {
    throw new TesseraError(
      'SHAPE_MISMATCH',
      `broadcastTo: ${fmtShape(x.shape)} does not broadcast to ${fmtShape(shape)}`,
    );
  }
  const idx = broadcastIndex(target, x.shape);
  const out = allocArray(x.dtype, sizeOf(target));
  for (let i = 0; i < out.length; i++) out[i] = a[idx ? idx[i]! : i]!;
  return c.make(out, target, x.dtype);
}
