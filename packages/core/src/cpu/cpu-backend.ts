import type {
  Backend,
  BinaryOp,
  MatmulOptions,
  MemoryInfo,
  RandomOptions,
  ReduceOp,
  ResizeMode,
  UnaryOp,
} from '../backend.js';
import { allocArray, type DType, type Shape, sizeOf, stridesOf, type TypedArray } from '../dtype.js';
import { fmtShape, TesseraError } from '../errors.js';
import { philoxWords, wordToUniform } from '../philox.js';
import {
  broadcastShapes,
  COMPARE_OPS,
  checkBinaryName,
  checkCategorical,
  checkDtype,
  checkFill,
  checkRandom,
  checkResize,
  checkShape,
  checkTensor,
  checkUnaryDtype,
  concatShape,
  gatherShape,
  hostArray,
  matmulShape,
  normAxes,
  normAxis,
  reducedShape,
  resolvePerm,
  resolveReshape,
  resolveSlice,
  takeAlongShape,
} from '../shape.js';
import { Tensor } from '../tensor.js';
import { around, broadcastIndex, erf, permute, resizeTaps } from './kernels.js';

const REDUCE_OPS = new Set<string>(['sum', 'mean', 'max', 'min', 'sumsq', 'prod', 'logsumexp']);

function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

const UNARY: Record<UnaryOp, (x: number) => number> = {
  neg: (x) => -x,
  abs: Math.abs,
  sign: Math.sign,
  square: (x) => x * x,
  sqrt: Math.sqrt,
  rsqrt: (x) => 1 / Math.sqrt(x),
  reciprocal: (x) => 1 / x,
  exp: Math.exp,
  expm1: Math.expm1,
  log: Math.log,
  log1p: Math.log1p,
  sin: Math.sin,
  cos: Math.cos,
  tanh: Math.tanh,
  sigmoid: (x) => 1 / (1 + Math.exp(-x)),
  softplus: (x) => (x > 20 ? x : Math.log1p(Math.exp(x))),
  relu: (x) => Math.max(x, 0),
  silu: (x) => x / (1 + Math.exp(-x)),
  gelu: (x) => 0.5 * x * (1 + erf(x / Math.SQRT2)),
  erf,
  floor: Math.floor,
  ceil: Math.ceil,
  round: roundHalfEven,
};

function floatBinary(op: BinaryOp): (a: number, b: number) => number {
  switch (op) {
    case 'add':
      return (a, b) => a + b;
    case 'sub':
      return (a, b) => a - b;
    case 'mul':
      return (a, b) => a * b;
    case 'div':
      return (a, b) => a / b;
    case 'floorDiv':
      return (a, b) => Math.floor(a / b);
    case 'mod':
      return (a, b) => a - Math.floor(a / b) * b;
    case 'pow':
      return (a, b) => a ** b;
    case 'max':
      return (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? Number.NaN : Math.max(a, b));
    case 'min':
      return (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? Number.NaN : Math.min(a, b));
    case 'atan2':
      return Math.atan2;
    case 'eq':
      return (a, b) => (a === b ? 1 : 0);
    case 'ne':
      return (a, b) => (a !== b ? 1 : 0);
    case 'lt':
      return (a, b) => (a < b ? 1 : 0);
    case 'le':
      return (a, b) => (a <= b ? 1 : 0);
    case 'gt':
      return (a, b) => (a > b ? 1 : 0);
    case 'ge':
      return (a, b) => (a >= b ? 1 : 0);
  }
}

function intBinary(op: BinaryOp, dtype: DType): (a: number, b: number) => number {
  const wrap = dtype === 'int32' ? (x: number) => x | 0 : (x: number) => x >>> 0;
  switch (op) {
    case 'add':
      return (a, b) => wrap(a + b);
    case 'sub':
      return (a, b) => wrap(a - b);
    case 'mul':
      return (a, b) => wrap(Math.imul(a, b));
    case 'div':
      return (a, b) => (b === 0 ? 0 : wrap(Math.trunc(a / b)));
    case 'floorDiv':
      return (a, b) => (b === 0 ? 0 : wrap(Math.floor(a / b)));
    case 'mod':
      return (a, b) => (b === 0 ? 0 : wrap(a - Math.floor(a / b) * b));
    case 'max':
      return Math.max;
    case 'min':
      return Math.min;
    default:
      return floatBinary(op);
  }
}

/**
 * The CPU reference backend: plain typed arrays, float64 arithmetic rounded to float32 on store. No
 * dependencies; the default backend and the reference every other backend is tested against.
 */
export class CpuBackend implements Backend {
  readonly name: string = 'cpu';
  #tensors = 0;
  #bytes = 0;

  // ---- storage ----
  #make(data: TypedArray, shape: Shape, dtype: DType): Tensor {
    this.#tensors++;
    this.#bytes += data.byteLength;
    return new Tensor(this, data, shape, dtype);
  }

  #arr(t: Tensor, op: string, name = 'input'): TypedArray {
    checkTensor(op, t, this.name, name);
    return t.storage as TypedArray;
  }

  tensor(data: TypedArray | readonly number[], shape: Shape, dtype?: DType): Tensor {
    const { arr, dtype: dt } = hostArray(data, shape, dtype);
    return this.#make(arr, shape, dt);
  }

  fill(shape: Shape, value: number, dtype: DType = 'float32'): Tensor {
    checkFill(shape, value, dtype);
    const out = allocArray(dtype, sizeOf(shape));
    out.fill(value);
    return this.#make(out, shape, dtype);
  }

  arange(start: number, stop: number, step = 1, dtype: DType = 'int32'): Tensor {
    if (step === 0 || !Number.isFinite(start) || !Number.isFinite(stop)) {
      throw new TesseraError(
        'INVALID_ARGUMENT',
        `arange: need finite start/stop and non-zero step, got ${start}, ${stop}, ${step}`,
      );
    }
    const n = Math.max(0, Math.ceil((stop - start) / step));
    const out = allocArray(dtype, n);
    for (let i = 0; i < n; i++) out[i] = start + i * step;
    return this.#make(out, [n], dtype);
  }

  async read(t: Tensor): Promise<TypedArray> {
    return this.#arr(t, 'read').slice();
  }

  release(storage: unknown): void {
    this.#tensors--;
    this.#bytes -= (storage as TypedArray).byteLength;
  }

  memory(): MemoryInfo {
    return { tensors: this.#tensors, bytes: this.#bytes, buffers: this.#tensors };
  }

  async sync(): Promise<void> {}

  // ---- elementwise ----
  lincomb(coefs: readonly number[], xs: readonly Tensor[]): Tensor {
    if (coefs.length !== xs.length || xs.length === 0) {
      throw new TesseraError(
        'INVALID_ARGUMENT',
        `lincomb: need one coefficient per tensor, got ${coefs.length} coefficients and ${xs.length} tensors`,
      );
    }
    const arrs = xs.map((x, i) => {
      const a = this.#arr(x, 'lincomb', `xs[${i}]`);
      checkDtype('lincomb', x, ['float32'], `xs[${i}]`);
      if (x.shape.length !== xs[0]!.shape.length || x.shape.some((d, j) => d !== xs[0]!.shape[j])) {
        throw new TesseraError(
          'SHAPE_MISMATCH',
          `lincomb: xs[${i}] has shape ${fmtShape(x.shape)}, expected ${fmtShape(xs[0]!.shape)}`,
        );
      }
      return a;
    });
    const n = xs[0]!.size;
    const out = new Float32Array(n);
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let i = 0; i < arrs.length; i++) s += coefs[i]! * arrs[i]![j]!;
      out[j] = s;
    }
    return this.#make(out, xs[0]!.shape, 'float32');
  }

  unary(op: UnaryOp, x: Tensor): Tensor {
    const f = Object.hasOwn(UNARY, op) ? UNARY[op] : undefined;
    if (!f) throw new TesseraError('UNKNOWN_NAME', `unary: unknown op '${op}'`);
    const a = this.#arr(x, op);
    checkUnaryDtype(op, x);
    const out = allocArray(x.dtype, a.length);
    // integer squares wrap modulo 2³² (exactly, unlike a float64 product above 2⁵³)
    const g = x.dtype !== 'float32' && op === 'square' ? (v: number) => Math.imul(v, v) : f;
    for (let i = 0; i < a.length; i++) out[i] = g(a[i]!);
    return this.#make(out, x.shape, x.dtype);
  }

  #operand(
    op: string,
    v: Tensor | number,
    other: Tensor | number,
    name: string,
  ): { arr: TypedArray; shape: Shape; dtype: DType } {
    if (typeof v === 'number') {
      const dt = typeof other === 'number' ? 'float32' : other.dtype;
      const arr = allocArray(dt, 1);
      arr[0] = v;
      return { arr, shape: [], dtype: dt };
    }
    return { arr: this.#arr(v, op, name), shape: v.shape, dtype: v.dtype };
  }

  binary(op: BinaryOp, a: Tensor | number, b: Tensor | number): Tensor {
    checkBinaryName(op);
    const A = this.#operand(op, a, b, 'a');
    const B = this.#operand(op, b, a, 'b');
    if (A.dtype !== B.dtype) {
      throw new TesseraError(
        'DTYPE_MISMATCH',
        `${op}: operand dtypes differ: ${A.dtype} ${fmtShape(A.shape)} vs ${B.dtype} ${fmtShape(B.shape)}`,
      );
    }
    if ((op === 'pow' || op === 'atan2') && A.dtype !== 'float32') {
      throw new TesseraError('DTYPE_MISMATCH', `${op}: needs float32, got ${A.dtype}`);
    }
    const shape = broadcastShapes(op, A.shape, B.shape);
    const f = A.dtype === 'float32' ? floatBinary(op) : intBinary(op, A.dtype);
    const outDtype: DType = COMPARE_OPS.has(op) ? 'uint32' : A.dtype;
    const out = allocArray(outDtype, sizeOf(shape));
    const ia = broadcastIndex(shape, A.shape);
    const ib = broadcastIndex(shape, B.shape);
    for (let i = 0; i < out.length; i++) out[i] = f(A.arr[ia ? ia[i]! : i]!, B.arr[ib ? ib[i]! : i]!);
    return this.#make(out, shape, outDtype);
  }

  clamp(x: Tensor, min: number, max: number): Tensor {
    const a = this.#arr(x, 'clamp');
    if (!(min <= max)) throw new TesseraError('INVALID_ARGUMENT', `clamp: min ${min} exceeds max ${max}`);
    const out = allocArray(x.dtype, a.length);
    for (let i = 0; i < a.length; i++) out[i] = Math.min(Math.max(a[i]!, min), max);
    return this.#make(out, x.shape, x.dtype);
  }

  cast(x: Tensor, dtype: DType): Tensor {
    const a = this.#arr(x, 'cast');
    const out = allocArray(dtype, a.length);
    if (dtype === 'float32') out.set(a);
    else for (let i = 0; i < a.length; i++) out[i] = Math.trunc(a[i]!);
    return this.#make(out, x.shape, dtype);
  }

  where(cond: Tensor, a: Tensor | number, b: Tensor | number): Tensor {
    const C = this.#arr(cond, 'where', 'cond');
    const A = this.#operand('where', a, b, 'a');
    const B = this.#operand('where', b, a, 'b');
    if (A.dtype !== B.dtype)
      throw new TesseraError('DTYPE_MISMATCH', `where: a is ${A.dtype}, b is ${B.dtype}`);
    const shape = broadcastShapes('where', broadcastShapes('where', cond.shape, A.shape), B.shape);
    const out = allocArray(A.dtype, sizeOf(shape));
    const ic = broadcastIndex(shape, cond.shape);
    const ia = broadcastIndex(shape, A.shape);
    const ib = broadcastIndex(shape, B.shape);
    for (let i = 0; i < out.length; i++) {
      out[i] = C[ic ? ic[i]! : i] ? A.arr[ia ? ia[i]! : i]! : B.arr[ib ? ib[i]! : i]!;
    }
    return this.#make(out, shape, A.dtype);
  }

  // ---- reductions ----
  /**
   * Moves `axes` last and returns rows of length = product of those extents: the tensor's own array
   * when they are already the trailing axes in order (no copy), else a permuted copy.
   */
  #rows(
    x: Tensor,
    axes: readonly number[],
    op: string,
  ): { rows: ArrayLike<number>; count: number; len: number } {
    const a = this.#arr(x, op);
    const keptAxes = x.shape.map((_, i) => i).filter((i) => !axes.includes(i));
    const perm = [...keptAxes, ...axes];
    const len = axes.reduce((p, i) => p * x.shape[i]!, 1);
    const count = len === 0 ? keptAxes.reduce((p, i) => p * x.shape[i]!, 1) : a.length / len;
    if (perm.every((p, i) => p === i)) return { rows: a, count, len };
    const rows = new Float64Array(a.length);
    permute(a, x.shape, perm, rows);
    return { rows, count, len };
  }

  reduce(op: ReduceOp, x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
    if (!REDUCE_OPS.has(op)) throw new TesseraError('UNKNOWN_NAME', `reduce: unknown op '${op}'`);
    checkTensor(op, x, this.name);
    const ax = normAxes(op, axes, x.rank);
    const { rows, count, len } = this.#rows(x, ax, op);
    const intOk = op === 'sum' || op === 'max' || op === 'min' || op === 'prod';
    const outDtype: DType = x.dtype !== 'float32' && intOk ? x.dtype : 'float32';
    if ((op === 'max' || op === 'min') && len === 0) {
      throw new TesseraError(
        'INVALID_ARGUMENT',
        `${op}: cannot reduce an empty axis of ${fmtShape(x.shape)}`,
      );
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
    return this.#make(out, reducedShape(x.shape, ax, keepDims), outDtype);
  }

  #argExt(x: Tensor, axis: number | undefined, keepDims: boolean, op: 'argmax' | 'argmin'): Tensor {
    checkTensor(op, x, this.name);
    const flat = axis === undefined;
    const ax = flat ? normAxes(op, undefined, x.rank) : [normAxis(op, axis, x.rank)];
    const { rows, count, len } = this.#rows(x, ax, op);
    if (len === 0) throw new TesseraError('INVALID_ARGUMENT', `${op}: empty axis in ${fmtShape(x.shape)}`);
    const out = new Int32Array(count);
    for (let r = 0; r < count; r++) {
      let best = 0;
      let bv = rows[r * len]!;
      for (let i = 1; i < len; i++) {
        const e = rows[r * len + i]!;
        if (Number.isNaN(bv)) break;
        if (Number.isNaN(e) || (op === 'argmax' ? e > bv : e < bv)) {
          bv = e;
          best = i;
        }
      }
      out[r] = best;
    }
    return this.#make(out, reducedShape(x.shape, ax, keepDims), 'int32');
  }

  argmax(x: Tensor, axis?: number, keepDims = false): Tensor {
    return this.#argExt(x, axis, keepDims, 'argmax');
  }

  argmin(x: Tensor, axis?: number, keepDims = false): Tensor {
    return this.#argExt(x, axis, keepDims, 'argmin');
  }

  cumsum(x: Tensor, axis: number, options: { exclusive?: boolean; reverse?: boolean } = {}): Tensor {
    const a = this.#arr(x, 'cumsum');
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
    return this.#make(out, x.shape, x.dtype);
  }

  // ---- linear algebra ----
  matmul(a: Tensor, b: Tensor, options: MatmulOptions = {}): Tensor {
    const A = this.#arr(a, 'matmul', 'a');
    const B = this.#arr(b, 'matmul', 'b');
    checkDtype('matmul', a, ['float32'], 'a');
    checkDtype('matmul', b, ['float32'], 'b');
    const ta = !!options.transposeA;
    const tb = !!options.transposeB;
    const { shape, batch, m, k, n } = matmulShape(a.shape, b.shape, ta, tb);
    const nb = sizeOf(batch);
    const ia = broadcastIndex(batch, a.shape.slice(0, -2));
    const ib = broadcastIndex(batch, b.shape.slice(0, -2));
    const out = new Float32Array(nb * m * n);
    const [sam, sak] = ta ? [1, m] : [k, 1];
    const [sbk, sbn] = tb ? [1, k] : [n, 1];
    const row = new Float64Array(n);
    for (let bi = 0; bi < nb; bi++) {
      const ao = (ia ? ia[bi]! : bi) * m * k;
      const bo = (ib ? ib[bi]! : bi) * k * n;
      for (let i = 0; i < m; i++) {
        row.fill(0);
        for (let p = 0; p < k; p++) {
          const av = A[ao + i * sam + p * sak]!;
          const bb = bo + p * sbk;
          for (let j = 0; j < n; j++) row[j]! += av * B[bb + j * sbn]!;
        }
        out.set(row, (bi * m + i) * n);
      }
    }
    return this.#make(out, shape, 'float32');
  }

  // ---- indexing and layout ----
  gather(x: Tensor, indices: Tensor, axis = 0): Tensor {
    const a = this.#arr(x, 'gather');
    const idx = this.#arr(indices, 'gather', 'indices');
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
    return this.#make(out, shape, x.dtype);
  }

  takeAlongAxis(x: Tensor, indices: Tensor, axis: number): Tensor {
    const a = this.#arr(x, 'takeAlongAxis');
    const idx = this.#arr(indices, 'takeAlongAxis', 'indices');
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
    return this.#make(out, shape, x.dtype);
  }

  concat(xs: readonly Tensor[], axis: number): Tensor {
    for (const [i, t] of xs.entries()) this.#arr(t, 'concat', `xs[${i}]`);
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
    return this.#make(out, shape, xs[0]!.dtype);
  }

  slice(x: Tensor, begin: readonly number[], size: readonly number[]): Tensor {
    const a = this.#arr(x, 'slice');
    const shape = resolveSlice('slice', x.shape, begin, size);
    const n = sizeOf(shape);
    const out = allocArray(x.dtype, n);
    const xs = stridesOf(x.shape);
    const os = stridesOf(shape);
    for (let j = 0; j < n; j++) {
      let rem = j;
      let off = 0;
      for (let d = 0; d < shape.length; d++) {
        const c = Math.floor(rem / os[d]!);
        rem -= c * os[d]!;
        off += (c + begin[d]!) * xs[d]!;
      }
      out[j] = a[off]!;
    }
    return this.#make(out, shape, x.dtype);
  }

  reshape(x: Tensor, shape: Shape): Tensor {
    const a = this.#arr(x, 'reshape');
    return this.#make(a.slice(), resolveReshape('reshape', x.shape, shape), x.dtype);
  }

  transpose(x: Tensor, perm?: readonly number[]): Tensor {
    const a = this.#arr(x, 'transpose');
    const p = resolvePerm('transpose', x.rank, perm);
    const out = allocArray(x.dtype, a.length);
    permute(a, x.shape, p, out);
    return this.#make(
      out,
      p.map((i) => x.shape[i]!),
      x.dtype,
    );
  }

  broadcastTo(x: Tensor, shape: Shape): Tensor {
    const a = this.#arr(x, 'broadcastTo');
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
    return this.#make(out, target, x.dtype);
  }

  // ---- probability ----
  /** Applies `f` to each row along `axis` (float64 row in, values out). */
  #alongAxis(x: Tensor, axis: number, op: string, f: (row: Float64Array) => ArrayLike<number>): Tensor {
    const a = this.#arr(x, op);
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
    return this.#make(out, x.shape, 'float32');
  }

  softmax(x: Tensor, axis = -1): Tensor {
    return this.#alongAxis(x, axis, 'softmax', softmaxRow);
  }

  logSoftmax(x: Tensor, axis = -1): Tensor {
    return this.#alongAxis(x, axis, 'logSoftmax', (row) => {
      let m = Number.NEGATIVE_INFINITY;
      for (const v of row) m = Math.max(m, v);
      let s = 0;
      for (const v of row) s += Math.exp(v - m);
      const l = m + Math.log(s);
      return row.map((v) => v - l);
    });
  }

  topK(logits: Tensor, k: number): Tensor {
    if (!Number.isInteger(k))
      throw new TesseraError('INVALID_ARGUMENT', `topK: k must be an integer, got ${k}`);
    return this.#alongAxis(logits, -1, 'topK', (row) => {
      if (k <= 0 || k >= row.length) return row;
      const kth = [...row].sort((p, q) => q - p)[k - 1]!;
      return row.map((v) => (v >= kth ? v : Number.NEGATIVE_INFINITY));
    });
  }

  topP(logits: Tensor, p: number): Tensor {
    if (!(p >= 0)) throw new TesseraError('INVALID_ARGUMENT', `topP: p must be a number ≥ 0, got ${p}`);
    return this.#alongAxis(logits, -1, 'topP', (row) => {
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

  minP(logits: Tensor, p: number): Tensor {
    if (!(p >= 0 && p <= 1))
      throw new TesseraError('INVALID_ARGUMENT', `minP: p must be in [0, 1], got ${p}`);
    return this.#alongAxis(logits, -1, 'minP', (row) => {
      let m = Number.NEGATIVE_INFINITY;
      for (const v of row) m = Math.max(m, v);
      const cut = m + Math.log(p);
      return row.map((v) => (v >= cut ? v : Number.NEGATIVE_INFINITY));
    });
  }

  sampleCategorical(logits: Tensor, random: RandomOptions): Tensor {
    const a = this.#arr(logits, 'sampleCategorical');
    const { seed, offset, len, rows } = checkCategorical(logits, random);
    const words = philoxWords(seed, offset, rows);
    const out = new Int32Array(rows);
    const row = new Float64Array(len);
    for (let r = 0; r < rows; r++) {
      for (let k = 0; k < len; k++) row[k] = a[r * len + k]!;
      const probs = softmaxRow(row);
      let total = 0;
      for (const q of probs) total += q;
      const target = wordToUniform(words[r]!) * total;
      let cum = 0;
      let pick = -1;
      for (let k = 0; k < len; k++) {
        if (probs[k]! > 0) pick = k;
        cum += probs[k]!;
        if (cum > target && probs[k]! > 0) break;
      }
      out[r] = Math.max(pick, 0);
    }
    return this.#make(out, logits.shape.slice(0, -1), 'int32');
  }

  rand(shape: Shape, random: RandomOptions): Tensor {
    checkShape('rand', shape);
    const { seed, offset } = checkRandom('rand', random);
    const n = sizeOf(shape);
    const words = philoxWords(seed, offset, n);
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = wordToUniform(words[i]!);
    return this.#make(out, shape, 'float32');
  }

  randn(shape: Shape, random: RandomOptions): Tensor {
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
    return this.#make(out, shape, 'float32');
  }

  // ---- images ----
  resize(x: Tensor, size: readonly [number, number], mode: ResizeMode): Tensor {
    const a = this.#arr(x, 'resize');
    const { H, W, h, w } = checkResize(x, size, mode);
    const planes = x.size / (H * W) || 0;
    const ty = resizeTaps(H, h, mode);
    const tx = resizeTaps(W, w, mode);
    const out = new Float32Array(planes * h * w);
    for (let p = 0; p < planes; p++) {
      const base = p * H * W;
      for (let i = 0; i < h; i++) {
        for (let j = 0; j < w; j++) {
          let s = 0;
          for (const [yi, wy] of ty[i]!) {
            for (const [xi, wx] of tx[j]!) s += wy * wx * a[base + yi * W + xi]!;
          }
          out[(p * h + i) * w + j] = s;
        }
      }
    }
    return this.#make(out, [...x.shape.slice(0, -2), h, w], 'float32');
  }
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

/** Creates a CPU backend instance. */
export function createCpuBackend(): CpuBackend {
  return new CpuBackend();
}
