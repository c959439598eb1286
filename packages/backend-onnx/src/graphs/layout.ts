import type { DType, ReduceOp } from '@tessera/core';
import { elemOf, type GraphBuilder } from '../graph.js';
import { load, store } from './elementwise.js';

/** Graph builders for reductions, linear algebra and indexing. Inputs are declared in feed order. */

/** Σ c[i]·x_i with the coefficients as input 0 (float32 [n]) and the tensors as inputs 1…n. */
export function lincomb(g: GraphBuilder, n: number, precise = false): void {
  if (!precise) {
    const c = g.input('float', [n]);
    const terms: string[] = [];
    for (let i = 0; i < n; i++) {
      const x = g.input('float');
      terms.push(g.op('Mul', [x, g.op('Gather', [c, g.i64([i], true)], { axis: 0 })]));
    }
    g.output(n === 1 ? terms[0]! : g.op('Sum', terms), 'float');
    return;
  }
  // Float64 arithmetic like the CPU backend: each coefficient arrives as a float32 pair (hi, lo) with
  // hi + lo equal to it to about 2⁻⁴⁸, products and sum are taken in double and rounded once.
  const c = g.cast(g.input('float', [2, n]), 'double');
  const coef = g.op('ReduceSum', [c, g.i64([0])], { keepdims: 0 });
  const terms: string[] = [];
  for (let i = 0; i < n; i++) {
    const x = g.cast(g.input('float'), 'double');
    terms.push(g.op('Mul', [x, g.op('Gather', [coef, g.i64([i], true)], { axis: 0 })]));
  }
  g.output(g.cast(n === 1 ? terms[0]! : g.op('Sum', terms), 'float'), 'float');
}

const REDUCE_NODE: Record<ReduceOp, string> = {
  sum: 'ReduceSum',
  mean: 'ReduceMean',
  max: 'ReduceMax',
  min: 'ReduceMin',
  sumsq: 'ReduceSumSquare',
  prod: 'ReduceProd',
  logsumexp: 'ReduceLogSumExp',
};

/** A reduction over the (normalised, non-empty or empty) axes `ax`. */
export function reduce(
  g: GraphBuilder,
  op: ReduceOp,
  dt: DType,
  outDt: DType,
  ax: readonly number[],
  keepDims: boolean,
): void {
  let x = g.input(elemOf(dt));
  const intOut = outDt !== 'float32';
  if (intOut) x = g.cast(x, 'int64');
  else if (dt !== 'float32') x = g.cast(x, 'float');
  let r: string;
  if (ax.length === 0) {
    r = op === 'sumsq' ? g.op('Mul', [x, x]) : g.op('Identity', [x]);
  } else if (op === 'logsumexp') {
    // max-shifted, with rows of −∞ giving −∞ (not NaN)
    const axes = g.i64(ax);
    const m = g.op('ReduceMax', [x, axes], { keepdims: 1 });
    const ms = g.op('Where', [g.op('IsInf', [m]), g.f(0), m]);
    const s = g.op('ReduceSum', [g.op('Exp', [g.op('Sub', [x, ms])]), axes], { keepdims: 1 });
    r = g.op('Add', [g.op('Log', [s]), ms]);
    if (!keepDims) r = g.op('Squeeze', [r, axes]);
  } else {
    r = g.op(REDUCE_NODE[op], [x, g.i64(ax)], { keepdims: keepDims ? 1 : 0 });
  }
  g.output(intOut ? g.cast(r, elemOf(outDt)) : r, elemOf(outDt));
}

/**
 * The ArgMax/ArgMin input: float32 and int32 as they are; uint32 widened to int64 (exact, and ArgMax
 * kernels for uint32 are rare). (A cast to double, used before, has no kernel in onnxruntime-web's
 * WebGPU build: its session creation failed.)
 */
function argInput(g: GraphBuilder, dt: DType): string {
  const x = g.input(elemOf(dt));
  return dt === 'uint32' ? g.cast(x, 'int64') : x;
}

/** argmax/argmin along one axis. */
export function argAxis(
  g: GraphBuilder,
  op: 'argmax' | 'argmin',
  dt: DType,
  axis: number,
  keepDims: boolean,
): void {
  const r = g.op(op === 'argmax' ? 'ArgMax' : 'ArgMin', [argInput(g, dt)], {
    axis,
    keepdims: keepDims ? 1 : 0,
  });
  g.output(g.cast(r, 'int32'), 'int32');
}

/** argmax/argmin over all elements; input 1 is the output shape (int64). */
export function argFlat(g: GraphBuilder, op: 'argmax' | 'argmin', dt: DType): void {
  const flat = g.op('Reshape', [argInput(g, dt), g.i64([-1])]);
  const r = g.op(op === 'argmax' ? 'ArgMax' : 'ArgMin', [flat], { axis: 0, keepdims: 0 });
  g.output(g.cast(g.op('Reshape', [r, g.input('int64', ['r'])]), 'int32'), 'int32');
}

/** cumsum of a scalar. */
export function cumsum0(g: GraphBuilder, dt: DType, exclusive: number): void {
  const x = load(g, dt);
  store(g, exclusive ? g.op('Sub', [x, x]) : g.op('Identity', [x]), dt);
}

function swapLast(rank: number): number[] {
  const p = Array.from({ length: rank }, (_, i) => i);
  [p[rank - 2], p[rank - 1]] = [p[rank - 1]!, p[rank - 2]!];
  return p;
}

/** Batched matmul with optional transposes of the last two axes. */
export function matmul(g: GraphBuilder, ra: number, rb: number, ta: boolean, tb: boolean): void {
  let a = g.input('float');
  let b = g.input('float');
  if (ta) a = g.op('Transpose', [a], { perm: { ints: swapLast(ra) } });
  if (tb) b = g.op('Transpose', [b], { perm: { ints: swapLast(rb) } });
  g.output(g.op('MatMul', [a, b]), 'float');
}

/** numpy.take with clamped indices; inputs x, indices, hi (int64 scalar). */
export function gather(g: GraphBuilder, dt: DType, idt: DType, axis: number): void {
  const x = g.input(elemOf(dt));
  const idx = g.cast(g.input(elemOf(idt)), 'int64');
  const hi = g.input('int64', []);
  const i = g.op('Min', [g.op('Max', [idx, g.i64([0], true)]), hi]);
  g.output(g.op('Gather', [x, i], { axis }), elemOf(dt));
}

/** numpy.take_along_axis; inputs x, indices, x's expanded shape, output shape, hi. */
export function takeAlong(g: GraphBuilder, dt: DType, idt: DType, axis: number): void {
  const x = g.input(elemOf(dt));
  const idx = g.cast(g.input(elemOf(idt)), 'int64');
  const xs = g.input('int64', ['r']);
  const os = g.input('int64', ['r']);
  const hi = g.input('int64', []);
  const i = g.op('Expand', [g.op('Min', [g.op('Max', [idx, g.i64([0], true)]), hi]), os]);
  g.output(g.op('GatherElements', [g.op('Expand', [x, xs]), i], { axis }), elemOf(dt));
}

/** Separable resize: inputs x [..., H, W], Ry [h, H], Rx [w, W]; out = Ry · x · Rxᵀ. */
export function resize(g: GraphBuilder): void {
  const x = g.input('float');
  const ry = g.input('float', ['h', 'H']);
  const rx = g.input('float', ['w', 'W']);
  const rows = g.op('MatMul', [ry, x]);
  g.output(g.op('MatMul', [rows, g.op('Transpose', [rx], { perm: { ints: [1, 0] } })]), 'float');
}
