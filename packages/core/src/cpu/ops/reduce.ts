import type { ReduceOp } from '../../backend.js';
import { allocArray, type DType } from '../../dtype.js';
import { fmtShape, TesseraError } from '../../errors.js';
import { checkReduceName, checkTensor, normAxes, normAxis, reducedShape } from '../../shape.js';
import type { Tensor } from '../../tensor.js';
import type { CpuContext } from '../context.js';
import { around, permute } from '../kernels.js';

/** CPU reductions: reduce, argmax/argmin, cumsum. */

/**
 * Moves `axes` last and returns rows of length = product of those extents: the tensor's own array
 * when they are already the trailing axes in order (no copy), else a permuted copy.
 */
function rowsOf(
  c: CpuContext,
  x: Tensor,
  axes: readonly number[],
  op: string,
): { rows: ArrayLike<number>; count: number; len: number } {
  const a = c.arr(x, op);
  const keptAxes = x.shape.map((_, i) => i).filter((i) => !axes.includes(i));
  const perm = [...keptAxes, ...axes];
  const len = axes.reduce((p, i) => p * x.shape[i]!, 1);
  const count = len === 0 ? keptAxes.reduce((p, i) => p * x.shape[i]!, 1) : a.length / len;
  if (perm.every((p, i) => p === i)) return { rows: a, count, len };
  const rows = new Float64Array(a.length);
  permute(a, x.shape, perm, rows);
  return { rows, count, len };
}

export function reduce(
  c: CpuContext,
  op: ReduceOp,
  x: Tensor,
  axes?: number | readonly number[],
  keepDims = false,
): Tensor {
  checkReduceName(op);
  checkTensor(op, x, c.name);
  const ax = normAxes(op, axes, x.rank);
  const { rows, count, len } = rowsOf(c, x, ax, op);
  const intOk = op === 'sum' || op === 'max' || op === 'min' || op === 'prod';
  const outDtype: DType = x.dtype !== 'float32' && intOk ? x.dtype : 'float32';
  if ((op === 'max' || op === 'min') && len === 0) {
    throw new TesseraError('INVALID_ARGUMENT', `${op}: cannot reduce an empty axis of ${fmtShape(x.shape)}`);
  }
  const out = allocArray(outDtype, count);
  for (let r = 0; r < count; r++) {
    const base = r * len;
    let v: number;
    switch (op) {
      case 'sum':
      case 'mean': {
        let s = 0;
        for (let i = 0; i < len; i++) s += rows[base + i]!;
        v = op === 'mean' ? s / len : s;
        break;
      }
      case 'sumsq': {
        let s = 0;
        for (let i = 0; i < len; i++) {
          const e = rows[base + i]!;
          s += e * e;
        }
        v = s;
        break;
      }
      case 'prod': {
        let s = 1;
        for (let i = 0; i < len; i++) s *= rows[base + i]!;
        v = s;
        break;
      }
      case 'max':
      case 'min': {
        let s = rows[base]!;
        for (let i = 1; i < len; i++) {
          const e = rows[base + i]!;
          if (Number.isNaN(e)) {
            s = e;
            break;
          }
          if (op === 'max' ? e > s : e < s) s = e;
        }
        v = s;
        break;
      }
      case 'logsumexp': {
        let m = Number.NEGATIVE_INFINITY;
        for (let i = 0; i < len; i++) m = Math.max(m, rows[base + i]!);
        if (m === Number.NEGATIVE_INFINITY) {
          v = m;
          break;
        }
        let s = 0;
        for (let i = 0; i < len; i++) s += Math.exp(rows[base + i]! - m);
        v = m + Math.log(s);
        break;
      }
      default:
        throw new TesseraError('UNKNOWN_NAME', `reduce: unknown op '${op as string}'`);
    }
    out[r] = v;
  }
  return c.make(out, reducedShape(x.shape, ax, keepDims), outDtype);
}

function argExt(
  c: CpuContext,
  x: Tensor,
  axis: number | undefined,
  keepDims: boolean,
  op: 'argmax' | 'argmin',
): Tensor {
  checkTensor(op, x, c.name);
  const flat = axis === undefined;
  const ax = flat ? normAxes(op, undefined, x.rank) : [normAxis(op, axis, x.rank)];
  const { rows, count, len } = rowsOf(c, x, ax, op);
  if (len === 0) throw new TesseraError('INVALID_ARGUMENT', `${op}: empty axis in ${fmtShape(x.shape)}`);
  const out = new Int32Array(count);
  // the first NaN wins; otherwise the first extreme (one comparison per element on the common path)
  const sign = op === 'argmax' ? -1 : 1;
  for (let r = 0; r < count; r++) {
    const base = r * len;
    let best = 0;
    let bv = sign * rows[base]!;
    if (!Number.isNaN(bv)) {
      for (let i = 1; i < len; i++) {
        const e = sign * rows[base + i]!;
        if (e < bv) {
          bv = e;
          best = i;
        } else if (Number.isNaN(e)) {
          best = i;
          break;
        }
      }
    }
    out[r] = best;
  }
  return c.make(out, reducedShape(x.shape, ax, keepDims), 'int32');
}

export function argmax(c: CpuContext, x: Tensor, axis?: number, keepDims = false): Tensor {
  return argExt(c, x, axis, keepDims, 'argmax');
}

export function argmin(c: CpuContext, x: Tensor, axis?: number, keepDims = false): Tensor {
  return argExt(c, x, axis, keepDims, 'argmin');
}

export function cumsum(
  c: CpuContext,
  x: Tensor,
  axis: number,
  options: { exclusive?: boolean; reverse?: boolean } = {},
): Tensor {
  const a = c.arr(x, 'cumsum');
  const ax = normAxis('cumsum', axis, x.rank);
  const [outer, len, inner] = around(x.shape, ax);
  const out = allocArray(x.dtype, a.length);
  for (let o = 0; o < outer; o++) {
    for (let n = 0; n < inner; n++) {
      let s = 0;
      for (let k = 0; k < len; k++) {
        const i = options.reverse ? len - 1 - k : k;
        const idx = (o * len + i) * inner + n;
        if (options.exclusive) {
          out[idx] = s;
          s += a[idx]!;
        } else {
          s += a[idx]!;
          out[idx] = s;
        }
      }
    }
  }
  return c.make(out, x.shape, x.dtype);
}
