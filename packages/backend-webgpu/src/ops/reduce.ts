import { fmtShape, type ReduceOp, shapes, type Tensor, TesseraError } from '@tessera/core';
import type { WebGPUBackend } from '../backend.js';
import { groupsFor, Params, wtype } from '../shaders/common.js';
import {
  argSource,
  cumsumRowSource,
  cumsumSource,
  reduceSource,
  SMALL_ROW,
  softmaxSource,
} from '../shaders/reduce.js';
import { cast } from './elementwise.js';
import { transpose } from './layout.js';

/**
 * A (outer, len, inner) row view of `x` reduced over `axes`: contiguous axes are used in place,
 * others are first moved last by a transpose (returned in `temp` for disposal).
 */
export function rowView(
  B: WebGPUBackend,
  x: Tensor,
  axes: readonly number[],
): { src: Tensor; rows: number; len: number; inner: number; temp?: Tensor } {
  const len = axes.reduce((p, i) => p * x.shape[i]!, 1);
  const contiguous = axes.every((a, k) => k === 0 || a === axes[k - 1]! + 1);
  if (axes.length === 0 || contiguous) {
    const first = axes[0] ?? x.rank;
    const last = axes[axes.length - 1] ?? x.rank - 1;
    let outer = 1;
    let inner = 1;
    for (let i = 0; i < first; i++) outer *= x.shape[i]!;
    for (let i = last + 1; i < x.rank; i++) inner *= x.shape[i]!;
    if (axes.length === 0) return { src: x, rows: x.size, len: 1, inner: 1 };
    return { src: x, rows: outer * inner, len, inner };
  }
  const kept = x.shape.map((_, i) => i).filter((i) => !axes.includes(i));
  const temp = transpose(B, x, [...kept, ...axes]);
  const rows = kept.reduce((p, i) => p * x.shape[i]!, 1);
  return { src: temp, rows, len, inner: 1, temp };
}

export function reduce(
  B: WebGPUBackend,
  op: ReduceOp,
  x: Tensor,
  axes: number | readonly number[] | undefined,
  keepDims: boolean,
): Tensor {
  shapes.checkReduceName(op);
  B.buf(x, op);
  const ax = shapes.normAxes(op, axes, x.rank);
  const intOk = op === 'sum' || op === 'max' || op === 'min' || op === 'prod';
  const outDtype = x.dtype !== 'float32' && intOk ? x.dtype : 'float32';
  const len = ax.reduce((p, i) => p * x.shape[i]!, 1);
  if ((op === 'max' || op === 'min') && len === 0) {
    throw new TesseraError('INVALID_ARGUMENT', `${op}: cannot reduce an empty axis of ${fmtShape(x.shape)}`);
  }
  const f = outDtype !== x.dtype ? cast(B, x, 'float32') : undefined;
  const view = rowView(B, f ?? x, ax);
  const out = B.make(shapes.reducedShape(x.shape, ax, keepDims), outDtype);
  const t = wtype(outDtype);
  const p = new Params().u(view.rows, view.len, view.inner);
  const small = view.len <= SMALL_ROW;
  const key = `reduce_${op}_${t}${small ? '_s' : ''}`;
  const groups = small ? groupsFor(view.rows) : view.rows;
  B.run(key, () => reduceSource(op, t, small), [B.buf(view.src, op)], out, p, groups);
  view.temp?.dispose();
  f?.dispose();
  return out;
}

export function argExt(
  B: WebGPUBackend,
  x: Tensor,
  axis: number | undefined,
  keepDims: boolean,
  op: 'argmax' | 'argmin',
): Tensor {
  B.buf(x, op);
  const ax =
    axis === undefined ? shapes.normAxes(op, undefined, x.rank) : [shapes.normAxis(op, axis, x.rank)];
  const len = ax.reduce((p, i) => p * x.shape[i]!, 1);
  if (len === 0) throw new TesseraError('INVALID_ARGUMENT', `${op}: empty axis in ${fmtShape(x.shape)}`);
  const view = rowView(B, x, ax);
  const out = B.make(shapes.reducedShape(x.shape, ax, keepDims), 'int32');
  const t = wtype(x.dtype);
  const p = new Params().u(view.rows, view.len, view.inner);
  B.run(`${op}_${t}`, () => argSource(op, t), [B.buf(view.src, op)], out, p, view.rows);
  view.temp?.dispose();
  return out;
}

export function cumsum(
  B: WebGPUBackend,
  x: Tensor,
  axis: number,
  options: { exclusive?: boolean; reverse?: boolean },
): Tensor {
  const buf = B.buf(x, 'cumsum');
  const ax = shapes.normAxis('cumsum', axis, x.rank);
  const { rows, len, inner } = rowView(B, x, x.rank === 0 ? [] : [ax]);
  const out = B.make(x.shape, x.dtype);
  const t = wtype(x.dtype);
  const p = new Params().u(rows, len, inner, options.exclusive ? 1 : 0, options.reverse ? 1 : 0);
  // an invocation per short line, a workgroup per long one
  if (len <= SMALL_ROW) return B.run(`cumsum_${t}`, () => cumsumSource(t), [buf], out, p, groupsFor(rows));
  return B.run(`cumsumRow_${t}`, () => cumsumRowSource(t), [buf], out, p, rows);
}

/** Softmax or log-softmax along `axis` (float32). */
export function softmax(B: WebGPUBackend, x: Tensor, axis: number, log: boolean): Tensor {
  const op = log ? 'logSoftmax' : 'softmax';
  const buf = B.buf(x, op);
  shapes.checkDtype(op, x, ['float32']);
  const ax = shapes.normAxis(op, axis, x.rank);
  const { rows, len, inner } = rowView(B, x, x.rank === 0 ? [] : [ax]);
  const out = B.make(x.shape, 'float32');
  const p = new Params().u(rows, len, inner);
  const small = len <= SMALL_ROW;
  return B.run(
    `${op}${small ? '_s' : ''}`,
    () => softmaxSource(log, small),
    [buf],
    out,
    p,
    small ? groupsFor(rows) : rows,
  );
}
