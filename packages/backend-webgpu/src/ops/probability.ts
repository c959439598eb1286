import { type RandomOptions, type Shape, shapes, split64, type Tensor, TesseraError } from '@tessera/core';
import type { WebGPUBackend } from '../backend.js';
import { groupsFor, Params } from '../shaders/common.js';
import { MINP_SOURCE, SAMPLE_ROW_SOURCE, SAMPLE_SOURCE } from '../shaders/probability.js';
import { RAND_SOURCE, RANDN_SOURCE } from '../shaders/random.js';
import { SMALL_ROW } from '../shaders/reduce.js';
import {
  SHORT_ROW,
  SHORT_WG,
  TOPK_SHORT_SOURCE,
  TOPK_SOURCE,
  TOPP_SHORT_SOURCE,
  TOPP_SOURCE,
} from '../shaders/select.js';
import { reduce } from './reduce.js';

/** Validates a last-axis float32 filter input and returns its buffer and row length. */
function rows(B: WebGPUBackend, x: Tensor, op: string): { buf: GPUBuffer; len: number } {
  const buf = B.buf(x, op);
  shapes.checkDtype(op, x, ['float32']);
  const ax = shapes.normAxis(op, -1, x.rank);
  return { buf, len: x.shape[ax]! };
}

function copyOf(B: WebGPUBackend, x: Tensor, buf: GPUBuffer): Tensor {
  const out = B.make(x.shape, x.dtype);
  B.engine.copy(buf, 0, B.buf(out, 'copy'), 0, x.size * 4);
  return out;
}

export function topK(B: WebGPUBackend, logits: Tensor, k: number): Tensor {
  if (!Number.isInteger(k))
    throw new TesseraError('INVALID_ARGUMENT', `topK: k must be an integer, got ${k}`);
  const { buf, len } = rows(B, logits, 'topK');
  if (k <= 0 || k >= len) return copyOf(B, logits, buf);
  const out = B.make(logits.shape, 'float32');
  const rowCount = logits.size / len;
  const p = new Params().u(rowCount, len, k);
  // a thread per short row, a workgroup per long one
  if (len <= SHORT_ROW)
    return B.run('topKShort', () => TOPK_SHORT_SOURCE, [buf], out, p, groupsFor(rowCount, SHORT_WG));
  return B.run('topK', () => TOPK_SOURCE, [buf], out, p, rowCount);
}

export function topP(B: WebGPUBackend, logits: Tensor, p: number): Tensor {
  if (!(p >= 0)) throw new TesseraError('INVALID_ARGUMENT', `topP: p must be a number ≥ 0, got ${p}`);
  const { buf, len } = rows(B, logits, 'topP');
  if (p >= 1) return copyOf(B, logits, buf);
  const out = B.make(logits.shape, 'float32');
  if (out.size === 0) return out;
  const rowCount = logits.size / len;
  const params = new Params().u(rowCount, len).f(p);
  if (len <= SHORT_ROW)
    return B.run('topPShort', () => TOPP_SHORT_SOURCE, [buf], out, params, groupsFor(rowCount, SHORT_WG));
  return B.run('topP', () => TOPP_SOURCE, [buf], out, params, rowCount);
}

export function minP(B: WebGPUBackend, logits: Tensor, p: number): Tensor {
  if (!(p >= 0 && p <= 1)) throw new TesseraError('INVALID_ARGUMENT', `minP: p must be in [0, 1], got ${p}`);
  const { buf, len } = rows(B, logits, 'minP');
  if (logits.size === 0) return copyOf(B, logits, buf);
  const mx = reduce(B, 'max', logits, -1, false);
  const out = B.make(logits.shape, 'float32');
  B.run(
    'minP',
    () => MINP_SOURCE,
    [buf, B.buf(mx, 'minP')],
    out,
    new Params().u(out.size, len).f(Math.log(p)),
    groupsFor(out.size),
  );
  mx.dispose();
  return out;
}

export function sampleCategorical(B: WebGPUBackend, logits: Tensor, random: RandomOptions): Tensor {
  const buf = B.buf(logits, 'sampleCategorical');
  const { seed, offset, len, rows: n } = shapes.checkCategorical(logits, random);
  const out = B.make(logits.shape.slice(0, -1), 'int32');
  const p = new Params().u(n, len, ...split64(seed), ...split64(offset));
  // an invocation per short row, a workgroup per long one
  if (len <= SMALL_ROW) return B.run('sample', () => SAMPLE_SOURCE, [buf], out, p, groupsFor(n));
  return B.run('sampleRow', () => SAMPLE_ROW_SOURCE, [buf], out, p, n);
}

export function random(B: WebGPUBackend, shape: Shape, r: RandomOptions, kind: 'rand' | 'randn'): Tensor {
  shapes.checkShape(kind, shape);
  const { seed, offset } = shapes.checkRandom(kind, r);
  const out = B.make(shape, 'float32');
  const p = new Params().u(out.size, ...split64(seed), ...split64(offset));
  return B.run(kind, () => (kind === 'rand' ? RAND_SOURCE : RANDN_SOURCE), [], out, p, groupsFor(out.size));
}
