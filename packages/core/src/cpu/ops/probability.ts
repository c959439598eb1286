import type { RandomOptions } from '../../backend.js';
import { type Shape, sizeOf } from '../../dtype.js';
import { TesseraError } from '../../errors.js';
import { philoxWords, wordToUniform } from '../../philox.js';
import { checkCategorical, checkDtype, checkRandom, checkShape, normAxis } from '../../shape.js';
import type { Tensor } from '../../tensor.js';
import type { CpuContext } from '../context.js';
import { around } from '../kernels.js';

/** CPU probability ops: softmax, logSoftmax, logit filters, sampleCategorical, rand, randn. */

/** Applies `f` to each row along `axis` (float64 row in, values out). */
function alongAxis(
  c: CpuContext,
  x: Tensor,
  axis: number,
  op: string,
  f: (row: Float64Array) => ArrayLike<number>,
): Tensor {
  const a = c.arr(x, op);
  checkDtype(op, x, ['float32']);
  const ax = normAxis(op, axis, x.rank);
  const [outer, len, inner] = around(x.shape, ax);
  const out = new Float32Array(a.length);
  const row = new Float64Array(len);
  for (let o = 0; o < outer; o++) {
    for (let n = 0; n < inner; n++) {
      for (let k = 0; k < len; k++) row[k] = a[(o * len + k) * inner + n]!;
      const r = f(row);
      for (let k = 0; k < len; k++) out[(o * len + k) * inner + n] = r[k]!;
    }
  }
  return c.make(out, x.shape, 'float32');
}

export function softmax(c: CpuContext, x: Tensor, axis = -1): Tensor {
  return alongAxis(c, x, axis, 'softmax', softmaxRow);
}

export function logSoftmax(c: CpuContext, x: Tensor, axis = -1): Tensor {
  return alongAxis(c, x, axis, 'logSoftmax', (row) => {
    let m = Number.NEGATIVE_INFINITY;
    for (const v of row) m = Math.max(m, v);
    let s = 0;
    for (const v of row) s += Math.exp(v - m);
    const l = m + Math.log(s);
    return row.map((v) => v - l);
  });
}

export function topK(c: CpuContext, logits: Tensor, k: number): Tensor {
  if (!Number.isInteger(k))
    throw new TesseraError('INVALID_ARGUMENT', `topK: k must be an integer, got ${k}`);
  return alongAxis(c, logits, -1, 'topK', (row) => {
    if (k <= 0 || k >= row.length) return row;
    // a numeric typed-array sort (ascending, NaN last: NaN counts as the largest, as on WebGPU)
    const kth = Float64Array.from(row).sort()[row.length - k]!;
    return row.map((v) => (v >= kth ? v : Number.NEGATIVE_INFINITY));
  });
}

export function topP(c: CpuContext, logits: Tensor, p: number): Tensor {
  if (!(p >= 0)) throw new TesseraError('INVALID_ARGUMENT', `topP: p must be a number ≥ 0, got ${p}`);
  return alongAxis(c, logits, -1, 'topP', (row) => {
    if (p >= 1) return row;
    const probs = softmaxRow(row);
    const order = Array.from(row.keys()).sort((i, j) => probs[j]! - probs[i]! || i - j);
    const out = new Float64Array(row.length).fill(Number.NEGATIVE_INFINITY);
    let cum = 0;
    for (const i of order) {
      if (cum >= p && cum > 0) break;
      out[i] = row[i]!;
      cum += probs[i]!;
    }
    return out;
  });
}

export function minP(c: CpuContext, logits: Tensor, p: number): Tensor {
  if (!(p >= 0 && p <= 1)) throw new TesseraError('INVALID_ARGUMENT', `minP: p must be in [0, 1], got ${p}`);
  return alongAxis(c, logits, -1, 'minP', (row) => {
    let m = Number.NEGATIVE_INFINITY;
    for (const v of row) m = Math.max(m, v);
    const cut = m + Math.log(p);
    return row.map((v) => (v >= cut ? v : Number.NEGATIVE_INFINITY));
  });
}

export function sampleCategorical(c: CpuContext, logits: Tensor, random: RandomOptions): Tensor {
  const a = c.arr(logits, 'sampleCategorical');
  const { seed, offset, len, rows } = checkCategorical(logits, random);
  const words = philoxWords(seed, offset, rows);
  const out = new Int32Array(rows);
  // three streaming passes per row: the max, exp(x − max) into a reused scratch row with its sum,
  // and the inverse-CDF search over the scratch (exp once per element, no per-row allocation)
  const e = new Float64Array(len);
  for (let r = 0; r < rows; r++) {
    const base = r * len;
    let m = Number.NEGATIVE_INFINITY;
    for (let k = 0; k < len; k++) m = Math.max(m, a[base + k]!);
    if (m === Number.NEGATIVE_INFINITY) {
      out[r] = 0;
      continue;
    }
    let total = 0;
    for (let k = 0; k < len; k++) {
      const v = Math.exp(a[base + k]! - m);
      e[k] = v;
      total += v;
    }
    const target = wordToUniform(words[r]!) * total;
    let cum = 0;
    let pick = -1;
    for (let k = 0; k < len; k++) {
      const q = e[k]!;
      if (q > 0) pick = k;
      cum += q;
      if (cum > target && q > 0) break;
    }
    out[r] = Math.max(pick, 0);
  }
  return c.make(out, logits.shape.slice(0, -1), 'int32');
}

export function rand(c: CpuContext, shape: Shape, random: RandomOptions): Tensor {
  checkShape('rand', shape);
  const { seed, offset } = checkRandom('rand', random);
  const n = sizeOf(shape);
  const words = philoxWords(seed, offset, n);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = wordToUniform(words[i]!);
  return c.make(out, shape, 'float32');
}

export function randn(c: CpuContext, shape: Shape, random: RandomOptions): Tensor {
  checkShape('randn', shape);
  const { seed, offset } = checkRandom('randn', random);
  const n = sizeOf(shape);
  const words = philoxWords(seed, offset, 2 * n);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u1 = wordToUniform(words[2 * i]!);
    const u2 = wordToUniform(words[2 * i + 1]!);
    out[i] = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }
  return c.make(out, shape, 'float32');
}

function softmaxRow(row: ArrayLike<number>): Float64Array {
  let m = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < row.length; i++) m = Math.max(m, row[i]!);
  const out = new Float64Array(row.length);
  if (m === Number.NEGATIVE_INFINITY) return out;
  let s = 0;
  for (let i = 0; i < row.length; i++) {
    out[i] = Math.exp(row[i]! - m);
    s += out[i]!;
  }
  for (let i = 0; i < row.length; i++) out[i]! /= s;
  return out;
}
