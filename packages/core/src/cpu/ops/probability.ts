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

/**
 * Applies `filter(a, base, len, out)` to each row of the last axis of a float32 tensor, writing one
 * float32 output (the logit filters: no per-row arrays, so no garbage per row).
 */
function filterRows(
  c: CpuContext,
  x: Tensor,
  op: string,
  filter: (a: ArrayLike<number>, base: number, len: number, out: Float32Array) => void,
): Tensor {
  const a = c.arr(x, op);
  checkDtype(op, x, ['float32']);
  const ax = normAxis(op, -1, x.rank);
  const len = x.shape[ax] ?? 1;
  const out = new Float32Array(a.length);
  const rows = len === 0 ? 0 : a.length / len;
  for (let r = 0; r < rows; r++) filter(a, r * len, len, out);
  return c.make(out, x.shape, 'float32');
}

/** Rows up to this length are sorted by insertion (cheaper than a comparator sort call). */
const SHORT = 32;

/** Sorts v[0, n) ascending with NaN last, the order of `Float64Array.prototype.sort`. */
function insertionSort(v: Float64Array, n: number): void {
  for (let i = 1; i < n; i++) {
    const x = v[i]!;
    let j = i - 1;
    // move the larger ones up; NaN is larger than everything but NaN
    while (j >= 0 && (v[j]! > x || (Number.isNaN(v[j]!) && !Number.isNaN(x)))) {
      v[j + 1] = v[j]!;
      j--;
    }
    v[j + 1] = x;
  }
}

function copyRow(a: ArrayLike<number>, base: number, len: number, out: Float32Array): void {
  for (let i = 0; i < len; i++) out[base + i] = a[base + i]!;
}

export function topK(c: CpuContext, logits: Tensor, k: number): Tensor {
  if (!Number.isInteger(k))
    throw new TesseraError('INVALID_ARGUMENT', `topK: k must be an integer, got ${k}`);
  let sorted = new Float64Array(0);
  return filterRows(c, logits, 'topK', (a, base, len, out) => {
    if (k <= 0 || k >= len) return copyRow(a, base, len, out);
    if (sorted.length !== len) sorted = new Float64Array(len);
    for (let i = 0; i < len; i++) sorted[i] = a[base + i]!;
    // ascending with NaN last (NaN counts as the largest, as on WebGPU): an insertion sort for short
    // rows, the typed-array sort (same order) for long ones
    if (len <= SHORT) insertionSort(sorted, len);
    else sorted.sort();
    const kth = sorted[len - k]!;
    for (let i = 0; i < len; i++) {
      const v = a[base + i]!;
      out[base + i] = v >= kth ? v : Number.NEGATIVE_INFINITY;
    }
  });
}

export function topP(c: CpuContext, logits: Tensor, p: number): Tensor {
  if (!(p >= 0)) throw new TesseraError('INVALID_ARGUMENT', `topP: p must be a number ≥ 0, got ${p}`);
  let probs = new Float64Array(0);
  let order = new Int32Array(0);
  const byProb = (i: number, j: number) => probs[j]! - probs[i]! || i - j;
  return filterRows(c, logits, 'topP', (a, base, len, out) => {
    if (p >= 1) return copyRow(a, base, len, out);
    if (probs.length !== len) [probs, order] = [new Float64Array(len), new Int32Array(len)];
    softmaxInto(a, base, len, probs);
    for (let i = 0; i < len; i++) order[i] = i;
    if (len <= SHORT) {
      // insertion sort by (probability descending, index ascending), as byProb orders
      for (let i = 1; i < len; i++) {
        const o = order[i]!;
        let j = i - 1;
        while (j >= 0 && byProb(order[j]!, o) > 0) {
          order[j + 1] = order[j]!;
          j--;
        }
        order[j + 1] = o;
      }
    } else order.sort(byProb);
    out.fill(Number.NEGATIVE_INFINITY, base, base + len);
    let cum = 0;
    for (let t = 0; t < len; t++) {
      if (cum >= p && cum > 0) break;
      const i = order[t]!;
      out[base + i] = a[base + i]!;
      cum += probs[i]!;
    }
  });
}

export function minP(c: CpuContext, logits: Tensor, p: number): Tensor {
  if (!(p >= 0 && p <= 1)) throw new TesseraError('INVALID_ARGUMENT', `minP: p must be in [0, 1], got ${p}`);
  return filterRows(c, logits, 'minP', (a, base, len, out) => {
    let m = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < len; i++) m = Math.max(m, a[base + i]!);
    const cut = m + Math.log(p);
    for (let i = 0; i < len; i++) {
      const v = a[base + i]!;
      out[base + i] = v >= cut ? v : Number.NEGATIVE_INFINITY;
    }
  });
}

/** sampleCategorical's exp row, reused across calls (the op is synchronous, so one is enough). */
let scratch = new Float64Array(0);

export function sampleCategorical(c: CpuContext, logits: Tensor, random: RandomOptions): Tensor {
  const a = c.arr(logits, 'sampleCategorical');
  const { seed, offset, len, rows } = checkCategorical(logits, random);
  const words = philoxWords(seed, offset, rows);
  const out = new Int32Array(rows);
  // three streaming passes per row: the max, exp(x − max) into a reused scratch row with its sum,
  // and the inverse-CDF search over the scratch (exp once per element, no per-row allocation)
  if (scratch.length < len) scratch = new Float64Array(len);
  const e = scratch;
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

/** softmax of a[base, base + len) into `out` (float64; all zero when every value is −∞). */
function softmaxInto(a: ArrayLike<number>, base: number, len: number, out: Float64Array): void {
  let m = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < len; i++) m = Math.max(m, a[base + i]!);
  if (m === Number.NEGATIVE_INFINITY) {
    out.fill(0, 0, len);
    return;
  }
  let s = 0;
  for (let i = 0; i < len; i++) {
    out[i] = Math.exp(a[base + i]! - m);
    s += out[i]!;
  }
  for (let i = 0; i < len; i++) out[i]! /= s;
}

function softmaxRow(row: ArrayLike<number>): Float64Array {
  const out = new Float64Array(row.length);
  softmaxInto(row, 0, row.length, out);
  return out;
}
