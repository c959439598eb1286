import {
  type BinaryOp,
  type DType,
  fmtShape,
  type Shape,
  shapes,
  sizeOf,
  type Tensor,
  TesseraError,
  type UnaryOp,
} from '@tessera/core';
import type { WebGPUBackend } from '../backend.js';
import { bitsOf, broadcastStrides, groupsFor, Params, wtype } from '../shaders/common.js';
import {
  type Access,
  binarySource,
  castSource,
  clampSource,
  FILL_SOURCE,
  lincombSource,
  unarySource,
  whereSource,
} from '../shaders/elementwise.js';

const COMPARE = shapes.COMPARE_OPS;

export function fill(B: WebGPUBackend, shape: Shape, value: number, dtype: DType): Tensor {
  shapes.checkFill(shape, value, dtype);
  const out = B.make(shape, dtype);
  return B.run(
    'fill',
    () => FILL_SOURCE,
    [],
    out,
    new Params().u(out.size, bitsOf(value, dtype)),
    groupsFor(out.size),
  );
}

export function lincomb(B: WebGPUBackend, coefs: readonly number[], xs: readonly Tensor[]): Tensor {
  shapes.checkLincomb(B.name, coefs, xs);
  const bufs = xs.map((x, i) => B.buf(x, 'lincomb', `xs[${i}]`));
  const n = xs[0]!.size;
  const maxIn = Math.max(2, B.engine.maxBindings - 2);
  let acc: Tensor | undefined;
  let pos = 0;
  while (pos < bufs.length) {
    // after the first pass, the accumulator is input 0 with coefficient 1
    const take = Math.min(acc ? maxIn - 1 : maxIn, bufs.length - pos);
    const ins = acc ? [B.buf(acc, 'lincomb'), ...bufs.slice(pos, pos + take)] : bufs.slice(pos, pos + take);
    const cs = acc ? [1, ...coefs.slice(pos, pos + take)] : coefs.slice(pos, pos + take);
    const out = B.make(xs[0]!.shape, 'float32');
    const k = ins.length;
    B.run(`lincomb${k}`, () => lincombSource(k), ins, out, new Params().u(n).f(...cs), groupsFor(n));
    acc?.dispose();
    acc = out;
    pos += take;
  }
  return acc!;
}

export function unary(B: WebGPUBackend, op: UnaryOp, x: Tensor): Tensor {
  shapes.checkUnaryName(op);
  const buf = B.buf(x, op);
  shapes.checkUnaryDtype(op, x);
  const t = wtype(x.dtype);
  const out = B.make(x.shape, x.dtype);
  return B.run(
    `unary_${op}_${t}`,
    () => unarySource(op, t),
    [buf],
    out,
    new Params().u(x.size),
    groupsFor(x.size),
  );
}

interface Operand {
  buf?: GPUBuffer;
  shape: Shape;
  dtype: DType;
  value: number;
}

function operand(
  B: WebGPUBackend,
  op: string,
  v: Tensor | number,
  other: Tensor | number,
  name: string,
): Operand {
  if (typeof v === 'number') {
    const dtype: DType = typeof other === 'number' ? 'float32' : other.dtype;
    return { shape: [], dtype, value: v };
  }
  return { buf: B.buf(v, op, name), shape: v.shape, dtype: v.dtype, value: 0 };
}

function access(o: Operand, out: readonly number[]): Access {
  if (!o.buf) return 's';
  return o.shape.length === out.length && o.shape.every((d, i) => d === out[i]) ? 'c' : 'b';
}

export function binary(B: WebGPUBackend, op: BinaryOp, a: Tensor | number, b: Tensor | number): Tensor {
  shapes.checkBinaryName(op);
  const A = operand(B, op, a, b, 'a');
  const Bo = operand(B, op, b, a, 'b');
  if (A.dtype !== Bo.dtype) {
    throw new TesseraError(
      'DTYPE_MISMATCH',
      `${op}: operand dtypes differ: ${A.dtype} ${fmtShape(A.shape)} vs ${Bo.dtype} ${fmtShape(Bo.shape)}`,
    );
  }
  if ((op === 'pow' || op === 'atan2') && A.dtype !== 'float32') {
    throw new TesseraError('DTYPE_MISMATCH', `${op}: needs float32, got ${A.dtype}`);
  }
  const shape = shapes.broadcastShapes(op, A.shape, Bo.shape);
  const outDtype: DType = COMPARE.has(op) ? 'uint32' : A.dtype;
  const out = B.make(shape, outDtype);
  const t = wtype(A.dtype);
  const ma = access(A, shape);
  const mb = access(Bo, shape);
  const p = new Params().u(out.size, shape.length, bitsOf(A.value, A.dtype), bitsOf(Bo.value, Bo.dtype));
  p.list(shape);
  p.list(broadcastStrides(A.shape, shape));
  p.list(broadcastStrides(Bo.shape, shape));
  const ins = [A.buf, Bo.buf].filter((x): x is GPUBuffer => !!x);
  return B.run(
    `binary_${op}_${t}_${ma}${mb}`,
    () => binarySource(op, t, wtype(outDtype), ma, mb),
    ins,
    out,
    p,
    groupsFor(out.size),
  );
}

/** Mode, threshold and stored value of one integer clamp bound (see clampSource). */
function intBound(bound: number, dtype: DType, low: boolean): [number, number, number] {
  const [lo, hi] = dtype === 'int32' ? [-(2 ** 31), 2 ** 31 - 1] : [0, 2 ** 32 - 1];
  const value = bitsOf(bound, dtype);
  if (low) {
    if (bound === Number.NEGATIVE_INFINITY || Math.ceil(bound) <= lo) return [0, 0, value];
    if (Math.ceil(bound) > hi) return [2, 0, value];
    return [1, bitsOf(Math.ceil(bound), dtype), value];
  }
  if (bound === Number.POSITIVE_INFINITY || Math.floor(bound) >= hi) return [0, 0, value];
  if (Math.floor(bound) < lo) return [2, 0, value];
  return [1, bitsOf(Math.floor(bound), dtype), value];
}

export function clamp(B: WebGPUBackend, x: Tensor, min: number, max: number): Tensor {
  const buf = B.buf(x, 'clamp');
  if (!(min <= max)) throw new TesseraError('INVALID_ARGUMENT', `clamp: min ${min} exceeds max ${max}`);
  const t = wtype(x.dtype);
  const out = B.make(x.shape, x.dtype);
  const p = new Params().u(x.size);
  if (t === 'f32') p.f(min, max);
  else p.u(...intBound(min, x.dtype, true), ...intBound(max, x.dtype, false));
  return B.run(`clamp_${t}`, () => clampSource(t), [buf], out, p, groupsFor(x.size));
}

export function cast(B: WebGPUBackend, x: Tensor, dtype: DType): Tensor {
  const buf = B.buf(x, 'cast');
  if (!['float32', 'int32', 'uint32'].includes(dtype)) {
    throw new TesseraError('DTYPE_MISMATCH', `cast: unknown dtype '${dtype}' (float32, int32, uint32)`);
  }
  const out = B.make(x.shape, dtype);
  if (dtype === x.dtype) {
    B.engine.copy(buf, 0, B.buf(out, 'cast'), 0, x.size * 4);
    return out;
  }
  const from = wtype(x.dtype);
  const to = wtype(dtype);
  return B.run(
    `cast_${from}_${to}`,
    () => castSource(from, to),
    [buf],
    out,
    new Params().u(x.size),
    groupsFor(x.size),
  );
}

export function where(B: WebGPUBackend, cond: Tensor, a: Tensor | number, b: Tensor | number): Tensor {
  const cbuf = B.buf(cond, 'where', 'cond');
  const A = operand(B, 'where', a, b, 'a');
  const Bo = operand(B, 'where', b, a, 'b');
  if (A.dtype !== Bo.dtype)
    throw new TesseraError('DTYPE_MISMATCH', `where: a is ${A.dtype}, b is ${Bo.dtype}`);
  const shape = shapes.broadcastShapes(
    'where',
    shapes.broadcastShapes('where', cond.shape, A.shape),
    Bo.shape,
  );
  const out = B.make(shape, A.dtype);
  const C: Operand = { buf: cbuf, shape: cond.shape, dtype: cond.dtype, value: 0 };
  const mc = access(C, shape);
  const ma = access(A, shape);
  const mb = access(Bo, shape);
  const p = new Params().u(sizeOf(shape), shape.length, bitsOf(A.value, A.dtype), bitsOf(Bo.value, Bo.dtype));
  p.list(shape);
  p.list(broadcastStrides(cond.shape, shape));
  p.list(broadcastStrides(A.shape, shape));
  p.list(broadcastStrides(Bo.shape, shape));
  const tc = wtype(cond.dtype);
  const t = wtype(A.dtype);
  const ins = [cbuf, A.buf, Bo.buf].filter((x): x is GPUBuffer => !!x);
  return B.run(
    `where_${tc}_${t}_${mc}${ma}${mb}`,
    () => whereSource(tc, t, mc, ma, mb),
    ins,
    out,
    p,
    groupsFor(out.size),
  );
}
