import {
  fmtShape,
  type RandomOptions,
  type ResizeMode,
  type Shape,
  shapes,
  sizeOf,
  type Tensor,
  TesseraError,
} from '@tessera/core';
import type { OpContext } from '../context.js';
import { elemOf } from '../graph.js';
import * as layout from '../graphs/layout.js';
import * as prob from '../graphs/probability.js';
import * as host from '../host.js';

/** Softmax, logit filters, sampling, random draws and resize of {@link OnnxBackend}. */

// ---- probability ----
function rowOp(c: OpContext, op: string, x: Tensor, axis: number): number {
  c.slot(x, op);
  shapes.checkDtype(op, x, ['float32']);
  return shapes.normAxis(op, axis, x.rank);
}

export function softmax(c: OpContext, x: Tensor, axis = -1): Tensor {
  const ax = rowOp(c, 'softmax', x, axis);
  if (x.rank === 0) return c.fill([], 1);
  return c.op(
    `softmax:${ax}`,
    (g) => g.output(prob.softmax(g, g.input('float'), ax), 'float'),
    [x],
    x.shape,
    'float32',
  );
}

export function logSoftmax(c: OpContext, x: Tensor, axis = -1): Tensor {
  const ax = rowOp(c, 'logSoftmax', x, axis);
  if (x.rank === 0) return c.fill([], 0);
  return c.op(
    `logSoftmax:${ax}`,
    (g) => g.output(g.op('LogSoftmax', [g.input('float')], { axis: ax }), 'float'),
    [x],
    x.shape,
    'float32',
  );
}

function filter(c: OpContext, op: 'topK' | 'topP' | 'minP', logits: Tensor): void {
  c.slot(logits, op);
  shapes.checkDtype(op, logits, ['float32']);
  if (logits.rank < 1)
    throw new TesseraError('SHAPE_MISMATCH', `${op}: logits need rank ≥ 1, got ${fmtShape(logits.shape)}`);
}

function copy(c: OpContext, x: Tensor): Tensor {
  return c.op(
    `copy:${x.dtype}`,
    (g) => g.output(g.input(elemOf(x.dtype)), elemOf(x.dtype)),
    [x],
    x.shape,
    x.dtype,
  );
}

export function topK(c: OpContext, logits: Tensor, k: number): Tensor {
  if (!Number.isInteger(k))
    throw new TesseraError('INVALID_ARGUMENT', `topK: k must be an integer, got ${k}`);
  filter(c, 'topK', logits);
  if (k <= 0 || k >= logits.shape[logits.rank - 1]!) return copy(c, logits);
  return c.op('topK', prob.topK, [logits, c.engine.i64([k])], logits.shape, 'float32');
}

export function topP(c: OpContext, logits: Tensor, p: number): Tensor {
  if (!(p >= 0)) throw new TesseraError('INVALID_ARGUMENT', `topP: p must be a number ≥ 0, got ${p}`);
  filter(c, 'topP', logits);
  if (p >= 1) return copy(c, logits);
  const len = logits.shape[logits.rank - 1]!;
  return c.op(
    'topP',
    prob.topP,
    [logits, c.engine.i64([len]), c.engine.tensor('float32', Float32Array.of(p), [])],
    logits.shape,
    'float32',
  );
}

export function minP(c: OpContext, logits: Tensor, p: number): Tensor {
  if (!(p >= 0 && p <= 1)) throw new TesseraError('INVALID_ARGUMENT', `minP: p must be in [0, 1], got ${p}`);
  filter(c, 'minP', logits);
  return c.op(
    'minP',
    prob.minP,
    [logits, c.engine.tensor('float32', Float32Array.of(Math.log(p)), [])],
    logits.shape,
    'float32',
  );
}

export function sampleCategorical(c: OpContext, logits: Tensor, random: RandomOptions): Tensor {
  c.slot(logits, 'sampleCategorical');
  const { seed, offset } = shapes.checkCategorical(logits, random);
  const outShape = logits.shape.slice(0, -1);
  const u = c.engine.tensor('float32', host.uniforms(seed, offset, sizeOf(outShape)), [...outShape, 1]);
  return c.op('sampleCategorical', prob.sampleCategorical, [logits, u], outShape, 'int32');
}

export function rand(c: OpContext, shape: Shape, random: RandomOptions): Tensor {
  shapes.checkShape('rand', shape);
  const { seed, offset } = shapes.checkRandom('rand', random);
  return c.host(host.rand(seed, offset, sizeOf(shape)), shape, 'float32');
}

export function randn(c: OpContext, shape: Shape, random: RandomOptions): Tensor {
  shapes.checkShape('randn', shape);
  const { seed, offset } = shapes.checkRandom('randn', random);
  return c.host(host.randn(seed, offset, sizeOf(shape)), shape, 'float32');
}

// ---- images ----
export function resize(c: OpContext, x: Tensor, size: readonly [number, number], mode: ResizeMode): Tensor {
  c.slot(x, 'resize');
  const { H, W, h, w } = shapes.checkResize(x, size, mode);
  // separable resampling as two matmuls with PyTorch's taps: out = Ry · x · Rxᵀ
  const ry = c.engine.tensor('float32', host.resizeMatrix(H, h, mode), [h, H]);
  const rx = c.engine.tensor('float32', host.resizeMatrix(W, w, mode), [w, W]);
  return c.op('resize', layout.resize, [x, ry, rx], [...x.shape.slice(0, -2), h, w], 'float32');
}
