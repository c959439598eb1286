import {
  BINARY_OP_NAMES,
  type BinaryOp,
  COMPARE_OP_NAMES,
  REDUCE_OP_NAMES,
  RESIZE_MODES,
  type ReduceOp,
  type ResizeMode,
  UNARY_OP_NAMES,
  type UnaryOp,
} from './backend.js';
import {
  allocArray,
  DTYPES,
  type DType,
  dtypeOf,
  MAX_TENSOR_ELEMENTS,
  type Shape,
  sizeOf,
  type TypedArray,
} from './dtype.js';
import { fmtShape, TesseraError } from './errors.js';
import { Tensor } from './tensor.js';

/**
 * Shape and argument validation shared by every backend, so that all of them reject bad input with the
 * same TesseraError and compute the same output shapes.
 */

/** Numpy broadcast of two shapes; throws SHAPE_MISMATCH naming `op`. */
export function broadcastShapes(op: string, a: Shape, b: Shape): number[] {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new TesseraError(
        'SHAPE_MISMATCH',
        `${op}: shapes ${fmtShape(a)} and ${fmtShape(b)} do not broadcast (axis ${i}: ${da} vs ${db})`,
      );
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/** Normalises a possibly negative axis for a tensor of `rank`; throws INVALID_ARGUMENT if out of range. */
export function normAxis(op: string, axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(axis) || a < 0 || a >= Math.max(rank, 1)) {
    throw new TesseraError(
      'INVALID_ARGUMENT',
      `${op}: axis ${axis} is out of range for a tensor of rank ${rank}`,
    );
  }
  return a;
}

/** Normalised, sorted, unique axes (default: all). */
export function normAxes(op: string, axes: number | readonly number[] | undefined, rank: number): number[] {
  if (axes === undefined) return Array.from({ length: rank }, (_, i) => i);
  const list = typeof axes === 'number' ? [axes] : axes;
  const set = new Set(list.map((a) => normAxis(op, a, rank)));
  if (set.size !== list.length)
    throw new TesseraError('INVALID_ARGUMENT', `${op}: repeated axis in [${list.join(', ')}]`);
  return [...set].sort((x, y) => x - y);
}

/**
 * Checks that a shape is a list of non-negative integers holding at most {@link MAX_TENSOR_ELEMENTS}
 * elements (`OUT_OF_RANGE` beyond, before anything is allocated).
 */
export function checkShape(op: string, shape: Shape): void {
  if (!Array.isArray(shape) || shape.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new TesseraError(
      'INVALID_ARGUMENT',
      `${op}: shape must be non-negative integers, got ${describe(shape)}`,
    );
  }
  const size = sizeOf(shape);
  if (size > MAX_TENSOR_ELEMENTS) {
    throw new TesseraError(
      'OUT_OF_RANGE',
      `${op}: shape ${fmtShape(shape)} has ${size} elements; a tensor holds at most ${MAX_TENSOR_ELEMENTS} (2^30)`,
    );
  }
}

/** Checks a dtype name; throws INVALID_ARGUMENT naming the allowed ones. */
export function checkDtypeName(op: string, dtype: unknown): asserts dtype is DType {
  if (!DTYPES.includes(dtype as DType)) {
    throw new TesseraError(
      'INVALID_ARGUMENT',
      `${op}: dtype must be one of ${DTYPES.join(', ')}, got ${describe(dtype)}`,
    );
  }
}

/**
 * Checks the arguments of `Backend.fill`: a valid shape ({@link checkShape}), a known dtype, and a number
 * value (any float for float32, NaN and ±Infinity included; an integer in range for int32/uint32).
 */
export function checkFill(shape: Shape, value: number, dtype: DType): void {
  checkShape('fill', shape);
  checkDtypeName('fill', dtype);
  if (typeof value !== 'number') {
    throw new TesseraError('INVALID_ARGUMENT', `fill: value must be a number, got ${describe(value)}`);
  }
  if (dtype !== 'float32') {
    const [lo, hi] = dtype === 'int32' ? [-(2 ** 31), 2 ** 31 - 1] : [0, 2 ** 32 - 1];
    if (!Number.isInteger(value) || value < lo || value > hi) {
      throw new TesseraError(
        'INVALID_ARGUMENT',
        `fill: a ${dtype} value must be an integer in [${lo}, ${hi}], got ${value}`,
      );
    }
  }
}

/** A short description of an unexpected value for error messages. */
function describe(v: unknown): string {
  if (typeof v === 'string') return `'${v.length > 40 ? `${v.slice(0, 40)}…` : v}'`;
  if (v === null || typeof v !== 'object') return String(v);
  try {
    const j = JSON.stringify(v);
    return j.length > 80 ? `${j.slice(0, 80)}…` : j;
  } catch {
    return Object.prototype.toString.call(v);
  }
}

/** Throws unless `t` is a live Tensor of `backend`. */
export function checkTensor(
  op: string,
  t: unknown,
  backendName: string,
  name = 'input',
): asserts t is Tensor {
  if (!(t instanceof Tensor))
    throw new TesseraError('INVALID_ARGUMENT', `${op}: ${name} must be a Tensor, got ${typeof t}`);
  if (t.isDisposed)
    throw new TesseraError('DISPOSED', `${op}: ${name} tensor #${t.id} ${fmtShape(t.shape)} was disposed`);
  if (t.backend.name !== backendName) {
    throw new TesseraError(
      'BACKEND_MISMATCH',
      `${op}: ${name} lives on backend '${t.backend.name}', expected '${backendName}'`,
    );
  }
}

/** Throws DTYPE_MISMATCH unless `t.dtype` is one of `allowed`. */
export function checkDtype(op: string, t: Tensor, allowed: readonly DType[], name = 'input'): void {
  if (!allowed.includes(t.dtype)) {
    throw new TesseraError(
      'DTYPE_MISMATCH',
      `${op}: ${name} must be ${allowed.join(' or ')}, got ${t.dtype} ${fmtShape(t.shape)}`,
    );
  }
}

/** Output shape of a reduction. */
export function reducedShape(shape: Shape, axes: readonly number[], keepDims: boolean): number[] {
  const out: number[] = [];
  shape.forEach((d, i) => {
    if (axes.includes(i)) {
      if (keepDims) out.push(1);
    } else out.push(d);
  });
  return out;
}

/** Resolves a reshape target (one -1 allowed) against `size`. */
export function resolveReshape(op: string, from: Shape, to: Shape): number[] {
  const size = sizeOf(from);
  const minus = to.filter((d) => d === -1).length;
  if (minus > 1 || to.some((d) => !Number.isInteger(d) || d < -1)) {
    throw new TesseraError('INVALID_ARGUMENT', `${op}: invalid target shape ${fmtShape(to)}`);
  }
  const known = to.reduce((a, d) => (d === -1 ? a : a * d), 1);
  const out = to.map((d) => (d === -1 ? (known === 0 ? 0 : size / known) : d));
  if (sizeOf(out) !== size || out.some((d) => !Number.isInteger(d))) {
    throw new TesseraError(
      'SHAPE_MISMATCH',
      `${op}: cannot reshape ${fmtShape(from)} (${size} elements) to ${fmtShape(to)}`,
    );
  }
  return out;
}

/** Validates a permutation; default reverses the axes. */
export function resolvePerm(op: string, rank: number, perm?: readonly number[]): number[] {
  const p = perm
    ? perm.map((a) => normAxis(op, a, rank))
    : Array.from({ length: rank }, (_, i) => rank - 1 - i);
  if (p.length !== rank || new Set(p).size !== rank) {
    throw new TesseraError(
      'INVALID_ARGUMENT',
      `${op}: permutation [${perm?.join(', ')}] is not a permutation of ${rank} axes`,
    );
  }
  return p;
}

/** Resolves slice begin/size (size -1 = to the end); throws OUT_OF_RANGE if the box leaves the tensor. */
export function resolveSlice(
  op: string,
  shape: Shape,
  begin: readonly number[],
  size: readonly number[],
): number[] {
  if (begin.length !== shape.length || size.length !== shape.length) {
    throw new TesseraError(
      'INVALID_ARGUMENT',
      `${op}: begin [${begin.join(', ')}] and size [${size.join(', ')}] need ${shape.length} entries for shape ${fmtShape(shape)}`,
    );
  }
  return shape.map((d, i) => {
    const b = begin[i]!;
    const s = size[i] === -1 ? d - b : size[i]!;
    if (!Number.isInteger(b) || !Number.isInteger(s) || b < 0 || s < 0 || b + s > d) {
      throw new TesseraError(
        'OUT_OF_RANGE',
        `${op}: box begin [${begin.join(', ')}] size [${size.join(', ')}] leaves shape ${fmtShape(shape)} on axis ${i}`,
      );
    }
    return s;
  });
}

/** Output shape of concat; validates ranks, dtypes and the other extents. */
export function concatShape(
  op: string,
  xs: readonly Tensor[],
  axis: number,
): { shape: number[]; axis: number } {
  if (xs.length === 0) throw new TesseraError('INVALID_ARGUMENT', `${op}: needs at least one tensor`);
  const first = xs[0]!;
  const ax = normAxis(op, axis, first.rank);
  const shape = [...first.shape];
  shape[ax] = 0;
  for (const t of xs) {
    if (t.dtype !== first.dtype) {
      throw new TesseraError(
        'DTYPE_MISMATCH',
        `${op}: cannot join ${t.dtype} ${fmtShape(t.shape)} with ${first.dtype} ${fmtShape(first.shape)}`,
      );
    }
    if (t.rank !== first.rank || t.shape.some((d, i) => i !== ax && d !== first.shape[i])) {
      throw new TesseraError(
        'SHAPE_MISMATCH',
        `${op}: cannot join ${fmtShape(t.shape)} ${t.dtype} with ${fmtShape(first.shape)} ${first.dtype} along axis ${ax}`,
      );
    }
    shape[ax]! += t.shape[ax]!;
  }
  return { shape, axis: ax };
}

/** Output shape and batch broadcast of matmul. */
export function matmulShape(
  a: Shape,
  b: Shape,
  ta: boolean,
  tb: boolean,
): { shape: number[]; batch: number[]; m: number; k: number; n: number } {
  if (a.length < 2 || b.length < 2) {
    throw new TesseraError(
      'SHAPE_MISMATCH',
      `matmul: operands need rank ≥ 2, got ${fmtShape(a)} and ${fmtShape(b)}`,
    );
  }
  const m = ta ? a[a.length - 1]! : a[a.length - 2]!;
  const k = ta ? a[a.length - 2]! : a[a.length - 1]!;
  const k2 = tb ? b[b.length - 1]! : b[b.length - 2]!;
  const n = tb ? b[b.length - 2]! : b[b.length - 1]!;
  if (k !== k2) {
    throw new TesseraError(
      'SHAPE_MISMATCH',
      `matmul: inner extents differ: ${fmtShape(a)}${ta ? 'ᵀ' : ''} × ${fmtShape(b)}${tb ? 'ᵀ' : ''} (${k} vs ${k2})`,
    );
  }
  const batch = broadcastShapes('matmul', a.slice(0, -2), b.slice(0, -2));
  return { shape: [...batch, m, n], batch, m, k, n };
}

/** Output shape of gather (numpy.take). */
export function gatherShape(x: Shape, indices: Shape, axis: number): number[] {
  return [...x.slice(0, axis), ...indices, ...x.slice(axis + 1)];
}

/**
 * Checks `takeAlongAxis(x, indices, axis)` (indices int32/uint32 of x's rank) and returns the axis and
 * the output shape: x and indices broadcast against each other on every axis but `axis`.
 */
export function takeAlongShape(x: Tensor, indices: Tensor, axis: number): { ax: number; shape: number[] } {
  checkDtype('takeAlongAxis', indices, ['int32', 'uint32'], 'indices');
  if (indices.rank !== x.rank) {
    throw new TesseraError(
      'SHAPE_MISMATCH',
      `takeAlongAxis: indices ${fmtShape(indices.shape)} must have the rank of x ${fmtShape(x.shape)}`,
    );
  }
  const ax = normAxis('takeAlongAxis', axis, x.rank);
  const bx = x.shape.map((d, i) => (i === ax ? indices.shape[i]! : d));
  return { ax, shape: broadcastShapes('takeAlongAxis', bx, indices.shape) };
}

/**
 * Checks `sampleCategorical(logits, random)` (float32 logits with a non-empty last axis) and returns the
 * seed, offset, row length and row count.
 */
export function checkCategorical(
  logits: Tensor,
  random: { seed: number; offset?: number } | undefined,
): { seed: number; offset: number; len: number; rows: number } {
  checkDtype('sampleCategorical', logits, ['float32']);
  const { seed, offset } = checkRandom('sampleCategorical', random);
  if (logits.rank < 1 || logits.shape[logits.rank - 1] === 0) {
    throw new TesseraError(
      'SHAPE_MISMATCH',
      `sampleCategorical: logits need a non-empty last axis, got ${fmtShape(logits.shape)}`,
    );
  }
  const len = logits.shape[logits.rank - 1]!;
  return { seed, offset, len, rows: logits.size / len };
}

/** Checks the RandomOptions of a random op. */
export function checkRandom(
  op: string,
  r: { seed: number; offset?: number } | undefined,
): { seed: number; offset: number } {
  const seed = r?.seed;
  const offset = r?.offset ?? 0;
  if (typeof seed !== 'number' || !Number.isSafeInteger(seed) || seed < 0) {
    throw new TesseraError(
      'INVALID_ARGUMENT',
      `${op}: seed must be a non-negative safe integer, got ${String(seed)}`,
    );
  }
  if (!Number.isSafeInteger(offset) || offset < 0) {
    throw new TesseraError(
      'INVALID_ARGUMENT',
      `${op}: offset must be a non-negative safe integer, got ${String(offset)}`,
    );
  }
  return { seed, offset };
}

/** Unary ops that take float32 only (the rest also take int32/uint32). */
export const FLOAT_ONLY_UNARY: ReadonlySet<UnaryOp> = new Set<UnaryOp>(
  UNARY_OP_NAMES.filter((op) => op !== 'neg' && op !== 'abs' && op !== 'sign' && op !== 'square'),
);
/** Every unary op name. */
export const UNARY_OPS: ReadonlySet<string> = new Set<string>(UNARY_OP_NAMES);
/** Comparison ops: their output is uint32 0/1. */
export const COMPARE_OPS: ReadonlySet<BinaryOp> = new Set<BinaryOp>(COMPARE_OP_NAMES);
/** Every binary op name. */
export const BINARY_OPS: ReadonlySet<string> = new Set<string>(BINARY_OP_NAMES);
/** Every reduction name. */
export const REDUCE_OPS: ReadonlySet<string> = new Set<string>(REDUCE_OP_NAMES);

/** Throws UNKNOWN_NAME for an unknown reduction name. */
export function checkReduceName(op: string): asserts op is ReduceOp {
  if (!REDUCE_OPS.has(op)) throw new TesseraError('UNKNOWN_NAME', `reduce: unknown op '${op}'`);
}

/**
 * Validates `lincomb(coefs, xs)`: one coefficient per tensor, at least one tensor, every
 * tensor live, on `backendName`, float32, and of one shape. The single copy of these checks and
 * their messages for every backend.
 */
export function checkLincomb(backendName: string, coefs: readonly number[], xs: readonly Tensor[]): void {
  if (coefs.length !== xs.length || xs.length === 0) {
    throw new TesseraError(
      'INVALID_ARGUMENT',
      `lincomb: need one coefficient per tensor, got ${coefs.length} coefficients and ${xs.length} tensors`,
    );
  }
  const first = xs[0]!;
  xs.forEach((x, i) => {
    checkTensor('lincomb', x, backendName, `xs[${i}]`);
    checkDtype('lincomb', x, ['float32'], `xs[${i}]`);
    if (x.shape.length !== first.shape.length || x.shape.some((d, j) => d !== first.shape[j])) {
      throw new TesseraError(
        'SHAPE_MISMATCH',
        `lincomb: xs[${i}] has shape ${fmtShape(x.shape)}, expected ${fmtShape(first.shape)}`,
      );
    }
  });
}

/** Throws UNKNOWN_NAME for an unknown unary op name. */
export function checkUnaryName(op: string): void {
  if (!UNARY_OPS.has(op)) throw new TesseraError('UNKNOWN_NAME', `unary: unknown op '${op}'`);
}

/** Throws DTYPE_MISMATCH when a float-only unary op gets an integer tensor. */
export function checkUnaryDtype(op: UnaryOp, x: Tensor): void {
  if (x.dtype !== 'float32' && FLOAT_ONLY_UNARY.has(op)) {
    throw new TesseraError('DTYPE_MISMATCH', `${op}: needs float32, got ${x.dtype} ${fmtShape(x.shape)}`);
  }
}

/** Throws UNKNOWN_NAME for an unknown binary op name. */
export function checkBinaryName(op: string): void {
  if (!BINARY_OPS.has(op)) throw new TesseraError('UNKNOWN_NAME', `binary: unknown op '${op}'`);
}

/**
 * Validates a resize (float32 input of rank ≥ 2, a known mode, a positive integer size) and returns
 * the input extents `H, W`, the output extents `h, w` and the output shape.
 */
export function checkResize(
  x: Tensor,
  size: readonly [number, number],
  mode: ResizeMode,
): { H: number; W: number; h: number; w: number; shape: number[] } {
  checkDtype('resize', x, ['float32']);
  if (x.rank < 2)
    throw new TesseraError(
      'SHAPE_MISMATCH',
      `resize: needs rank ≥ 2 ([N, C, H, W]), got ${fmtShape(x.shape)}`,
    );
  if (!(RESIZE_MODES as readonly string[]).includes(mode)) {
    throw new TesseraError(
      'UNKNOWN_NAME',
      `resize: unknown mode '${mode}' (nearest, bilinear, bicubic, area)`,
    );
  }
  const [h, w] = size;
  if (!Number.isInteger(h) || !Number.isInteger(w) || h < 1 || w < 1) {
    throw new TesseraError(
      'INVALID_ARGUMENT',
      `resize: size must be two positive integers, got [${size.join(', ')}]`,
    );
  }
  const H = x.shape[x.rank - 2]!;
  const W = x.shape[x.rank - 1]!;
  return { H, W, h, w, shape: [...x.shape.slice(0, -2), h, w] };
}

/**
 * Validates host data for `Backend.tensor` and copies it into a fresh typed array of the tensor's dtype
 * (the array's own dtype, else float32, unless `dtype` is given).
 */
export function hostArray(
  data: TypedArray | readonly number[],
  shape: Shape,
  dtype?: DType,
): { arr: TypedArray; dtype: DType } {
  checkShape('tensor', shape);
  const dt = dtype ?? dtypeOf(data) ?? 'float32';
  checkDtypeName('tensor', dt);
  const typed = dtypeOf(data) !== undefined || ArrayBuffer.isView(data);
  if (!typed && !Array.isArray(data)) {
    throw new TesseraError(
      'INVALID_ARGUMENT',
      `tensor: data must be an array of numbers or a typed array, got ${describe(data)}`,
    );
  }
  if (!typed) {
    const bad = (data as readonly unknown[]).findIndex((v) => typeof v !== 'number');
    if (bad >= 0) {
      throw new TesseraError(
        'INVALID_ARGUMENT',
        `tensor: data must be numbers, got ${describe((data as readonly unknown[])[bad])} at index ${bad}`,
      );
    }
  }
  const size = sizeOf(shape);
  if (data.length !== size) {
    throw new TesseraError(
      'SHAPE_MISMATCH',
      `tensor: ${data.length} values do not fill shape ${fmtShape(shape)} (${size} elements)`,
    );
  }
  const arr = allocArray(dt, size);
  arr.set(data as ArrayLike<number>);
  return { arr, dtype: dt };
}
