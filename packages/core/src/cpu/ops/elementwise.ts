import type { BinaryOp, UnaryOp } from '../../backend.js';
import { allocArray, type DType, type Shape, sizeOf, type TypedArray } from '../../dtype.js';
import { fmtShape, TesseraError } from '../../errors.js';
import { broadcastShapes, COMPARE_OPS, checkBinaryName, checkLincomb, checkUnaryDtype } from '../../shape.js';
import type { Tensor } from '../../tensor.js';
import type { CpuContext } from '../context.js';
import { broadcastIndex, erf } from '../kernels.js';
import { lincombInto } from '../lincomb.js';

/** CPU elementwise ops: lincomb, unary, binary (with broadcasting), clamp, cast, where. */

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

export function lincomb(c: CpuContext, coefs: readonly number[], xs: readonly Tensor[]): Tensor {
  checkLincomb(c.name, coefs, xs);
  const arrs = xs.map((x) => x.storage as Float32Array);
  const out = c.pool.take(xs[0]!.size);
  lincombInto(out, coefs, arrs as Float32Array[]);
  return c.make(out, xs[0]!.shape, 'float32');
}

export function unary(c: CpuContext, op: UnaryOp, x: Tensor): Tensor {
  const f = Object.hasOwn(UNARY, op) ? UNARY[op] : undefined;
  if (!f) throw new TesseraError('UNKNOWN_NAME', `unary: unknown op '${op}'`);
  const a = c.arr(x, op);
  checkUnaryDtype(op, x);
  const out = x.dtype === 'float32' ? c.pool.take(a.length) : allocArray(x.dtype, a.length);
  // integer squares wrap modulo 2³² (exactly, unlike a float64 product above 2⁵³)
  const g = x.dtype !== 'float32' && op === 'square' ? (v: number) => Math.imul(v, v) : f;
  for (let i = 0; i < a.length; i++) out[i] = g(a[i]!);
  return c.make(out, x.shape, x.dtype);
}

function operand(
  c: CpuContext,
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
  return { arr: c.arr(v, op, name), shape: v.shape, dtype: v.dtype };
}

/**
 * add/sub/mul/div of float32 operands that are each either full-size or one element, as direct loops
 * (no per-element function call); false for anything else.
 */
function arithmetic(
  op: BinaryOp,
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  as: boolean,
  bs: boolean,
  out: Float32Array,
): boolean {
  const n = out.length;
  if ((!as && a.length !== n) || (!bs && b.length !== n)) return false;
  const [a0, b0] = [a[0]!, b[0]!];
  switch (op) {
    case 'add':
      if (bs) for (let i = 0; i < n; i++) out[i] = (as ? a0 : a[i]!) + b0;
      else if (as) for (let i = 0; i < n; i++) out[i] = a0 + b[i]!;
      else for (let i = 0; i < n; i++) out[i] = a[i]! + b[i]!;
      return true;
    case 'sub':
      if (bs) for (let i = 0; i < n; i++) out[i] = (as ? a0 : a[i]!) - b0;
      else if (as) for (let i = 0; i < n; i++) out[i] = a0 - b[i]!;
      else for (let i = 0; i < n; i++) out[i] = a[i]! - b[i]!;
      return true;
    case 'mul':
      if (bs) for (let i = 0; i < n; i++) out[i] = (as ? a0 : a[i]!) * b0;
      else if (as) for (let i = 0; i < n; i++) out[i] = a0 * b[i]!;
      else for (let i = 0; i < n; i++) out[i] = a[i]! * b[i]!;
      return true;
    case 'div':
      if (bs) for (let i = 0; i < n; i++) out[i] = (as ? a0 : a[i]!) / b0;
      else if (as) for (let i = 0; i < n; i++) out[i] = a0 / b[i]!;
      else for (let i = 0; i < n; i++) out[i] = a[i]! / b[i]!;
      return true;
    default:
      return false;
  }
}

export function binary(c: CpuContext, op: BinaryOp, a: Tensor | number, b: Tensor | number): Tensor {
  checkBinaryName(op);
  const A = operand(c, op, a, b, 'a');
  const B = operand(c, op, b, a, 'b');
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
  const size = sizeOf(shape);
  const out = outDtype === 'float32' ? c.pool.take(size) : allocArray(outDtype, size);
  // a one-element operand (a number, or a tensor of one value) needs no broadcast index array
  const [as, bs] = [A.arr.length === 1, B.arr.length === 1];
  if (outDtype === 'float32' && arithmetic(op, A.arr, B.arr, as, bs, out as Float32Array)) {
    return c.make(out, shape, outDtype);
  }
  const ia = as ? null : broadcastIndex(shape, A.shape);
  const ib = bs ? null : broadcastIndex(shape, B.shape);
  if (as && !ib) {
    const av = A.arr[0]!;
    for (let i = 0; i < out.length; i++) out[i] = f(av, B.arr[bs ? 0 : i]!);
  } else if (bs && !ia) {
    const bv = B.arr[0]!;
    for (let i = 0; i < out.length; i++) out[i] = f(A.arr[i]!, bv);
  } else {
    for (let i = 0; i < out.length; i++)
      out[i] = f(A.arr[as ? 0 : ia ? ia[i]! : i]!, B.arr[bs ? 0 : ib ? ib[i]! : i]!);
  }
  return c.make(out, shape, outDtype);
}

export function clamp(c: CpuContext, x: Tensor, min: number, max: number): Tensor {
  const a = c.arr(x, 'clamp');
  if (!(min <= max)) throw new TesseraError('INVALID_ARGUMENT', `clamp: min ${min} exceeds max ${max}`);
  const out = allocArray(x.dtype, a.length);
  for (let i = 0; i < a.length; i++) out[i] = Math.min(Math.max(a[i]!, min), max);
  return c.make(out, x.shape, x.dtype);
}

export function cast(c: CpuContext, x: Tensor, dtype: DType): Tensor {
  const a = c.arr(x, 'cast');
  const out = allocArray(dtype, a.length);
  if (dtype === 'float32') out.set(a);
  else for (let i = 0; i < a.length; i++) out[i] = Math.trunc(a[i]!);
  return c.make(out, x.shape, dtype);
}

export function where(c: CpuContext, cond: Tensor, a: Tensor | number, b: Tensor | number): Tensor {
  const C = c.arr(cond, 'where', 'cond');
  const A = operand(c, 'where', a, b, 'a');
  const B = operand(c, 'where', b, a, 'b');
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
  return c.make(out, shape, A.dtype);
}
