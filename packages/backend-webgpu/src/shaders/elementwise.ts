import type { BinaryOp, UnaryOp } from '@tessera/core';
import { kernel, type WType } from './common.js';
import { MATH } from './math.js';

/** How a kernel reads an operand: `s` a scalar in params, `c` contiguous, `b` broadcast through strides. */
export type Access = 's' | 'c' | 'b';

const FLOAT_UNARY: Record<UnaryOp, string> = {
  neg: '-x',
  abs: 'abs(x)',
  sign: 'select(select(select(x, 1.0, x > 0.0), -1.0, x < 0.0), x, m_isnan(x))',
  square: 'x * x',
  sqrt: 'select(sqrt(x), m_nan(), x < 0.0)',
  rsqrt: 'select(1.0 / sqrt(x), m_nan(), x < 0.0)',
  reciprocal: '1.0 / x',
  exp: 'm_exp(x)',
  expm1: 'm_expm1(x)',
  log: 'm_log(x)',
  log1p: 'm_log1p(x)',
  sin: 'm_sincos(x).x',
  cos: 'm_sincos(x).y',
  tanh: 'm_tanh(x)',
  sigmoid: '1.0 / (1.0 + m_exp(-x))',
  softplus: 'select(m_log1p(m_exp(x)), x, x > 20.0)',
  relu: 'select(0.0, x, x > 0.0 || m_isnan(x))',
  silu: 'x / (1.0 + m_exp(-x))',
  gelu: '0.5 * x * (1.0 + m_erf(x * 0.707106781))',
  erf: 'm_erf(x)',
  floor: 'floor(x)',
  ceil: 'ceil(x)',
  round: 'round(x)',
};

function intUnary(op: UnaryOp, t: WType): string {
  switch (op) {
    case 'neg':
      return t === 'u32' ? '0u - x' : '-x';
    case 'abs':
      return t === 'u32' ? 'x' : 'abs(x)';
    case 'sign':
      return t === 'u32' ? 'select(0u, 1u, x > 0u)' : 'sign(x)';
    case 'square':
      return 'x * x';
    default:
      throw new Error(`no integer kernel for ${op}`);
  }
}

/** Elementwise unary kernel. Params: [n]. */
export function unarySource(op: UnaryOp, t: WType): string {
  const expr = t === 'f32' ? FLOAT_UNARY[op] : intUnary(op, t);
  return kernel({
    inputs: [['X', t]],
    output: ['O', t],
    extra: t === 'f32' ? MATH : '',
    body: `if (i >= P[0]) { return; }
  let x = X[i];
  O[i] = ${expr};`,
  });
}

function floatBinary(op: BinaryOp): string {
  switch (op) {
    case 'add':
      return 'a + b';
    case 'sub':
      return 'a - b';
    case 'mul':
      return 'a * b';
    case 'div':
      return 'a / b';
    case 'floorDiv':
      return 'floor(a / b)';
    case 'mod':
      return 'a - floor(a / b) * b';
    case 'pow':
      return 'm_pow(a, b)';
    case 'max':
      return 'select(max(a, b), m_nan(), m_isnan(a) || m_isnan(b))';
    case 'min':
      return 'select(min(a, b), m_nan(), m_isnan(a) || m_isnan(b))';
    case 'atan2':
      return 'm_atan2(a, b)';
    default:
      return compare(op);
  }
}

function compare(op: BinaryOp): string {
  const sym = { eq: '==', ne: '!=', lt: '<', le: '<=', gt: '>', ge: '>=' }[op as 'eq'];
  return `select(0u, 1u, a ${sym} b)`;
}

function intBinary(op: BinaryOp, t: WType): string {
  const zero = t === 'u32' ? '0u' : '0i';
  switch (op) {
    case 'add':
      return 'a + b';
    case 'sub':
      return 'a - b';
    case 'mul':
      return 'a * b';
    case 'div':
      return `select(a / b, ${zero}, b == ${zero})`;
    case 'floorDiv':
      return t === 'u32' ? 'select(a / b, 0u, b == 0u)' : 'i_floordiv(a, b)';
    case 'mod':
      return t === 'u32' ? 'select(a % b, 0u, b == 0u)' : 'i_mod(a, b)';
    case 'max':
      return 'max(a, b)';
    case 'min':
      return 'min(a, b)';
    default:
      return compare(op);
  }
}

const INT_HELPERS = /* wgsl */ `
fn i_floordiv(a: i32, b: i32) -> i32 {
  if (b == 0i) { return 0i; }
  let q = a / b;
  return select(q, q - 1i, (a % b != 0i) && ((a < 0i) != (b < 0i)));
}
fn i_mod(a: i32, b: i32) -> i32 {
  if (b == 0i) { return 0i; }
  let r = a % b;
  return select(r, r + b, r != 0i && ((r < 0i) != (b < 0i)));
}
`;

/** Loads operand `name` (binding array `arr`) at output index `i`. */
export function load(arr: string, access: Access, t: WType, scalarWord: string, strideAt: string): string {
  if (access === 's') return `bitcast<${t}>(P[${scalarWord}])`;
  if (access === 'c') return `${arr}[i]`;
  return `${arr}[strided(i, P[1], 4u, ${strideAt})]`;
}

/**
 * Binary kernel with broadcasting. Params: [n, rank, scalarA, scalarB, shape(rank), stridesA(rank),
 * stridesB(rank)].
 */
export function binarySource(op: BinaryOp, t: WType, out: WType, ma: Access, mb: Access): string {
  const inputs: Array<[string, WType]> = [];
  if (ma !== 's') inputs.push(['A', t]);
  if (mb !== 's') inputs.push(['B', t]);
  const expr = t === 'f32' ? floatBinary(op) : intBinary(op, t);
  return kernel({
    inputs,
    output: ['O', out],
    extra: t === 'f32' ? MATH : INT_HELPERS,
    body: `if (i >= P[0]) { return; }
  let r = P[1];
  let a = ${load('A', ma, t, '2u', '4u + r')};
  let b = ${load('B', mb, t, '3u', '4u + 2u * r')};
  O[i] = ${expr};`,
  });
}

/**
 * `where` with broadcasting over cond, a and b. Params: [n, rank, scalarA, scalarB, shape, stridesC,
 * stridesA, stridesB].
 */
export function whereSource(tc: WType, t: WType, mc: Access, ma: Access, mb: Access): string {
  const inputs: Array<[string, WType]> = [['C', tc]];
  if (ma !== 's') inputs.push(['A', t]);
  if (mb !== 's') inputs.push(['B', t]);
  const truthy = tc === 'f32' ? 'c != 0.0 && !m_isnan(c)' : `c != 0${tc === 'u32' ? 'u' : 'i'}`;
  return kernel({
    inputs,
    output: ['O', t],
    extra: MATH,
    body: `if (i >= P[0]) { return; }
  let r = P[1];
  let c = ${load('C', mc, tc, '0u', '4u + r')};
  if (${truthy}) { O[i] = ${load('A', ma, t, '2u', '4u + 2u * r')}; }
  else { O[i] = ${load('B', mb, t, '3u', '4u + 3u * r')}; }`,
  });
}

/** Σ coef·x over `k` inputs. Params: [n, coef₀, …]. */
export function lincombSource(k: number): string {
  const inputs = Array.from({ length: k }, (_, j) => [`X${j}`, 'f32'] as const);
  const terms = inputs.map(([name], j) => `pf(${j + 1}u) * ${name}[i]`).join(' + ');
  return kernel({ inputs, output: ['O', 'f32'], body: `if (i >= P[0]) { return; }\n  O[i] = ${terms};` });
}

/** Writes one 32-bit pattern everywhere. Params: [n, bits]. */
export const FILL_SOURCE = kernel({
  inputs: [],
  output: ['O', 'u32'],
  body: 'if (i >= P[0]) { return; }\n  O[i] = P[1];',
});

/**
 * Clamp. Float params: [n, lo, hi]. Integer params: [n, loMode, loThreshold, loValue, hiMode,
 * hiThreshold, hiValue] (mode 0 never, 1 compare, 2 always), reproducing JS Math.min/max + store.
 */
export function clampSource(t: WType): string {
  const body =
    t === 'f32'
      ? `var r = X[i];
  if (r < pf(1u)) { r = pf(1u); }
  if (r > pf(2u)) { r = pf(2u); }
  O[i] = r;`
      : `let x = X[i];
  var r = x;
  let lo = bitcast<${t}>(P[2]);
  let hi = bitcast<${t}>(P[5]);
  if (P[1] == 2u || (P[1] == 1u && x < lo)) { r = bitcast<${t}>(P[3]); }
  else if (P[4] == 2u || (P[4] == 1u && x > hi)) { r = bitcast<${t}>(P[6]); }
  O[i] = r;`;
  return kernel({ inputs: [['X', t]], output: ['O', t], body: `if (i >= P[0]) { return; }\n  ${body}` });
}

const CAST_HELPERS = /* wgsl */ `
// uint32 → nearest float32, ties to even
fn u2f(v: u32) -> f32 {
  if (v < 16777216u) { return f32(v); }
  let sh = firstLeadingBit(v) - 23u;
  var m = v >> sh;
  let rem = v & ((1u << sh) - 1u);
  let half = 1u << (sh - 1u);
  if (rem > half || (rem == half && (m & 1u) == 1u)) { m += 1u; }
  return ldexp(f32(m), i32(sh));
}
// float32 → integer truncated toward zero, modulo 2³² (JS ToInt32 / ToUint32; NaN and ±∞ give 0)
fn f2bits(x: f32) -> u32 {
  let b = bitcast<u32>(x);
  let e = i32((b >> 23u) & 0xffu);
  if (e == 255 || e == 0) { return 0u; }
  let E = e - 150;
  let mant = (b & 0x7fffffu) | 0x800000u;
  var v = 0u;
  if (E >= 0) { v = select(0u, mant << u32(E), E < 32); } else { v = select(0u, mant >> u32(-E), -E < 32); }
  return select(v, 0u - v, (b >> 31u) == 1u);
}
`;

/** dtype conversion (float→int truncates, modulo 2³², as the CPU's typed arrays do). Params: [n]. */
export function castSource(from: WType, to: WType): string {
  let expr: string;
  if (from === 'f32') expr = to === 'i32' ? 'bitcast<i32>(f2bits(x))' : 'f2bits(x)';
  else if (to === 'f32')
    expr = from === 'u32' ? 'u2f(x)' : 'select(u2f(u32(x)), -u2f(0u - bitcast<u32>(x)), x < 0i)';
  else expr = `bitcast<${to}>(x)`;
  return kernel({
    inputs: [['X', from]],
    output: ['O', to],
    extra: CAST_HELPERS,
    body: `if (i >= P[0]) { return; }\n  let x = X[i];\n  O[i] = ${expr};`,
  });
}
