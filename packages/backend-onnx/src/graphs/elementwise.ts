import { type BinaryOp, type DType, shapes, TesseraError, type UnaryOp } from '@tessera/core';
import type { GraphBuilder } from '../graph.js';
import { elemOf } from '../graph.js';

/**
 * Graph fragments for the elementwise ops. Integer ops run in int64 and cast back, which wraps
 * exactly like the CPU backend's 32-bit arithmetic (a static_cast from int64 keeps the low 32 bits).
 */

/** Unary ops that only take float32, and comparison ops (output uint32 0/1): core's lists. */
export const FLOAT_ONLY_UNARY = shapes.FLOAT_ONLY_UNARY;
export const COMPARE = shapes.COMPARE_OPS;

/** log1p in float32 without cancellation: log(u)·x/(u−1) with u = 1+x (Goldberg/Kahan), near 0. */
function log1p(g: GraphBuilder, x: string): string {
  const u = g.op('Add', [x, g.f(1)]);
  const lu = g.op('Log', [u]);
  const kahan = g.op('Div', [g.op('Mul', [lu, x]), g.op('Sub', [u, g.f(1)])]);
  const small = g.op('Less', [g.op('Abs', [x]), g.f(0.5)]);
  const exact = g.op('Equal', [u, g.f(1)]);
  return g.op('Where', [small, g.op('Where', [exact, x, kahan]), lu]);
}

/** expm1 in float32 without cancellation: (u−1)·x/log(u) with u = eˣ, near 0. */
function expm1(g: GraphBuilder, x: string): string {
  const u = g.op('Exp', [x]);
  const um1 = g.op('Sub', [u, g.f(1)]);
  const kahan = g.op('Div', [g.op('Mul', [um1, x]), g.op('Log', [u])]);
  const small = g.op('Less', [g.op('Abs', [x]), g.f(0.5)]);
  const exact = g.op('Equal', [u, g.f(1)]);
  return g.op('Where', [small, g.op('Where', [exact, x, kahan]), um1]);
}

/** Unary ops that are one ONNX node, for floats; `neg`, `abs` and `sign` also for integers. */
const UNARY_NODE: Partial<Record<UnaryOp, string>> = {
  neg: 'Neg',
  abs: 'Abs',
  sign: 'Sign',
  sqrt: 'Sqrt',
  reciprocal: 'Reciprocal',
  exp: 'Exp',
  log: 'Log',
  sin: 'Sin',
  cos: 'Cos',
  tanh: 'Tanh',
  sigmoid: 'Sigmoid',
  relu: 'Relu',
  erf: 'Erf',
  floor: 'Floor',
  ceil: 'Ceil',
  round: 'Round',
};

/**
 * sin or cos in float32 from exactly rounded ops: Cody–Waite reduction by π/2 (π/2 split in three
 * float32 parts) to |r| ≤ π/4, then the minimax polynomials of Cephes' sinf/cosf, and the quadrant
 * picks ±sin r or ±cos r. For providers whose native Sin/Cos are only as accurate as WebGPU promises
 * (2⁻¹¹ absolute; SwiftShader in Chromium is ~2e-4 off near ±1).
 */
function sinCos(g: GraphBuilder, x: string, which: 'sin' | 'cos'): string {
  const k = g.op('Round', [g.op('Mul', [x, g.f(2 / Math.PI)])]);
  let r = g.op('Sub', [x, g.op('Mul', [k, g.f(1.5703125)])]);
  r = g.op('Sub', [r, g.op('Mul', [k, g.f(4.837512969970703e-4)])]);
  r = g.op('Sub', [r, g.op('Mul', [k, g.f(7.549789954891882e-8)])]);
  const r2 = g.op('Mul', [r, r]);
  const horner = (cs: number[]) =>
    cs.slice(1).reduce((acc, c) => g.op('Add', [g.op('Mul', [acc, r2]), g.f(c)]), g.f(cs[0]!));
  // sin r = r + r³·P(r²), cos r = 1 − r²/2 + r⁴·Q(r²)
  const sinR = g.op('Add', [
    r,
    g.op('Mul', [g.op('Mul', [r, r2]), horner([-1.9515295891e-4, 8.3321608736e-3, -1.6666654611e-1])]),
  ]);
  const cosR = g.op('Add', [
    g.op('Sub', [g.f(1), g.op('Mul', [r2, g.f(0.5)])]),
    g.op('Mul', [
      g.op('Mul', [r2, r2]),
      horner([2.443315711809948e-5, -1.388731625493765e-3, 4.166664568298827e-2]),
    ]),
  ]);
  // quadrant q = k mod 4 (sin: s, c, −s, −c; cos: c, −s, −c, s)
  const q = g.op('Sub', [k, g.op('Mul', [g.op('Floor', [g.op('Mul', [k, g.f(0.25)])]), g.f(4)])]);
  const odd = g.op('Equal', [
    g.op('Sub', [q, g.op('Mul', [g.op('Floor', [g.op('Mul', [q, g.f(0.5)])]), g.f(2)])]),
    g.f(1),
  ]);
  const base = which === 'sin' ? g.op('Where', [odd, cosR, sinR]) : g.op('Where', [odd, sinR, cosR]);
  const neg =
    which === 'sin'
      ? g.op('GreaterOrEqual', [q, g.f(2)])
      : g.op('And', [g.op('GreaterOrEqual', [q, g.f(1)]), g.op('LessOrEqual', [q, g.f(2)])]);
  const out = g.op('Where', [neg, g.op('Neg', [base]), base]);
  // ±∞ and NaN give NaN, as Math.sin does
  return g.op('Where', [g.op('IsInf', [x]), g.f(Number.NaN), out]);
}

/**
 * Float32 unary op on `x`. With `accurateTrig`, sin and cos are built from exactly rounded ops
 * ({@link sinCos}) instead of the provider's native Sin/Cos.
 */
export function unaryFloat(g: GraphBuilder, op: UnaryOp, x: string, accurateTrig = false): string {
  if (accurateTrig && (op === 'sin' || op === 'cos')) return sinCos(g, x, op);
  const node = UNARY_NODE[op];
  if (node) return g.op(node, [x]);
  switch (op) {
    case 'square':
      return g.op('Mul', [x, x]);
    case 'rsqrt':
      return g.op('Reciprocal', [g.op('Sqrt', [x])]);
    case 'expm1':
      return expm1(g, x);
    case 'log1p':
      return log1p(g, x);
    // softplus(x) = max(x, 0) + log1p(exp(−|x|)): no overflow, no cancellation
    case 'softplus':
      return g.op('Add', [g.op('Relu', [x]), log1p(g, g.op('Exp', [g.op('Neg', [g.op('Abs', [x])])]))]);
    case 'silu':
      return g.op('Mul', [x, g.op('Sigmoid', [x])]);
    case 'gelu': {
      const e = g.op('Erf', [g.op('Mul', [x, g.f(Math.SQRT1_2)])]);
      return g.op('Mul', [g.op('Mul', [x, g.f(0.5)]), g.op('Add', [e, g.f(1)])]);
    }
    default:
      throw new TesseraError('UNSUPPORTED', `unaryFloat: no ONNX lowering for '${op}'`);
  }
}

/** Integer unary op (`neg`, `abs`, `sign`, `square`) on an int64 value. */
export function unaryInt(g: GraphBuilder, op: UnaryOp, x: string): string {
  return op === 'square' ? g.op('Mul', [x, x]) : g.op(UNARY_NODE[op]!, [x]);
}

function atan2(g: GraphBuilder, y: string, x: string): string {
  const r = g.op('Atan', [g.op('Div', [y, x])]);
  const xNeg = g.op('Less', [x, g.f(0)]);
  const corr = g.op('Where', [
    xNeg,
    g.op('Where', [g.op('GreaterOrEqual', [y, g.f(0)]), g.f(Math.PI), g.f(-Math.PI)]),
    g.f(0),
  ]);
  const both0 = g.op('And', [g.op('Equal', [y, g.f(0)]), g.op('Equal', [x, g.f(0)])]);
  return g.op('Where', [both0, g.f(0), g.op('Add', [r, corr])]);
}

/** Binary ops that are one ONNX node for floats and integers alike (`max`/`min`: integers only). */
const BINARY_NODE: Partial<Record<BinaryOp, string>> = {
  add: 'Add',
  sub: 'Sub',
  mul: 'Mul',
  eq: 'Equal',
  lt: 'Less',
  le: 'LessOrEqual',
  gt: 'Greater',
  ge: 'GreaterOrEqual',
};

/** Float32 binary op (comparisons return bool). */
export function binaryFloat(g: GraphBuilder, op: BinaryOp, a: string, b: string): string {
  const node = BINARY_NODE[op];
  if (node) return g.op(node, [a, b]);
  switch (op) {
    case 'ne':
      return g.op('Not', [g.op('Equal', [a, b])]);
    case 'div':
      return g.op('Div', [a, b]);
    case 'floorDiv':
      return g.op('Floor', [g.op('Div', [a, b])]);
    case 'mod':
      return g.op('Sub', [a, g.op('Mul', [g.op('Floor', [g.op('Div', [a, b])]), b])]);
    case 'pow':
      return g.op('Pow', [a, b]);
    case 'max':
    case 'min': {
      // NaN in either operand gives NaN, as on the CPU backend
      const nan = g.op('Or', [g.op('IsNaN', [a]), g.op('IsNaN', [b])]);
      return g.op('Where', [nan, g.f(Number.NaN), g.op(op === 'max' ? 'Max' : 'Min', [a, b])]);
    }
    case 'atan2':
      return atan2(g, a, b);
    default:
      throw new TesseraError('UNSUPPORTED', `binaryFloat: no ONNX lowering for '${op}'`);
  }
}

/** Integer binary op on int64 values (division by zero gives 0, as on the CPU backend). */
export function binaryInt(g: GraphBuilder, op: BinaryOp, a: string, b: string): string {
  const node = BINARY_NODE[op];
  if (node) return g.op(node, [a, b]);
  switch (op) {
    case 'ne':
      return g.op('Not', [g.op('Equal', [a, b])]);
    case 'max':
      return g.op('Max', [a, b]);
    case 'min':
      return g.op('Min', [a, b]);
    case 'div':
    case 'floorDiv':
    case 'mod': {
      const zero = g.i64([0], true);
      const one = g.i64([1], true);
      const bz = g.op('Equal', [b, zero]);
      const bs = g.op('Where', [bz, one, b]);
      let q = g.op('Div', [a, bs]); // truncates toward zero
      if (op !== 'div') {
        const r = g.op('Sub', [a, g.op('Mul', [q, bs])]);
        const fix = g.op('And', [
          g.op('Not', [g.op('Equal', [r, zero])]),
          g.op('Xor', [g.op('Less', [r, zero]), g.op('Less', [bs, zero])]),
        ]);
        q = g.op('Sub', [q, g.op('Cast', [fix], { to: 7 })]);
      }
      const v = op === 'mod' ? g.op('Sub', [a, g.op('Mul', [q, bs])]) : q;
      return g.op('Where', [bz, zero, v]);
    }
    default:
      throw new TesseraError('UNSUPPORTED', `binaryInt: no ONNX lowering for '${op}'`);
  }
}

/** Reads an input of `dtype` into the working type (int64 for integers). */
export function load(g: GraphBuilder, dtype: DType): string {
  const x = g.input(elemOf(dtype));
  return dtype === 'float32' ? x : g.cast(x, 'int64');
}

/** Writes a working value back as `dtype`. */
export function store(g: GraphBuilder, v: string, dtype: DType): void {
  g.output(dtype === 'float32' ? v : g.cast(v, elemOf(dtype)), elemOf(dtype));
}
