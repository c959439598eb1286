import type { ReduceOp } from '@tessera/core';
import { kernel, type WType } from './common.js';
import { MATH } from './math.js';

/**
 * Row kernels: one workgroup per row of a (outer, len, inner) view, rows = outer·inner, element k of
 * row r at (r / inner)·len·inner + r % inner + k·inner. Params: [rows, len, inner, ...].
 */

const ROW_PRELUDE = /* wgsl */ `
  let rows = P[0];
  let len = P[1];
  let inner = P[2];
  let valid = row < rows;
  let r = min(row, rows - 1u);
  let base = (r / inner) * len * inner + (r % inner);`;

/** Tree-reduces `acc` over the workgroup into sh[0] with `combine(a, b)`. */
function tree(sh: string, combine: (a: string, b: string) => string): string {
  return `${sh}[tid] = acc;
  workgroupBarrier();
  for (var s = WGS / 2u; s > 0u; s >>= 1u) {
    if (tid < s) { ${sh}[tid] = ${combine(`${sh}[tid]`, `${sh}[tid + s]`)}; }
    workgroupBarrier();
  }`;
}

const FMAX = (a: string, b: string) => `fmax(${a}, ${b})`;
const FSUM = (a: string, b: string) => `${a} + ${b}`;
const HELPERS = /* wgsl */ `
fn fmax(a: f32, b: f32) -> f32 { return select(max(a, b), m_nan(), m_isnan(a) || m_isnan(b)); }
fn fmin(a: f32, b: f32) -> f32 { return select(min(a, b), m_nan(), m_isnan(a) || m_isnan(b)); }
`;

/** Reduction of each row. Float ops read f32; sum/max/min/prod also run on i32/u32. */
/** One invocation per row instead of a workgroup (short rows). */
const SMALL_PRELUDE = /* wgsl */ `
  let rows = P[0];
  let len = P[1];
  let inner = P[2];
  if (i >= rows) { return; }
  let base = (i / inner) * len * inner + (i % inner);`;

/** Rows at most this long use the one-invocation-per-row kernels. */
export const SMALL_ROW = 32;

export function reduceSource(op: ReduceOp, t: WType, small = false): string {
  const f = t === 'f32';
  const zero = f ? '0.0' : t === 'i32' ? '0i' : '0u';
  const one = f ? '1.0' : t === 'i32' ? '1i' : '1u';
  let init = zero;
  let map = 'v';
  let combine: (a: string, b: string) => string = FSUM;
  let fin = 'x';
  switch (op) {
    case 'sum':
      break;
    case 'mean':
      fin = 'x / f32(len)';
      break;
    case 'sumsq':
      map = 'v * v';
      break;
    case 'prod':
      init = one;
      combine = (a, b) => `${a} * ${b}`;
      break;
    case 'max':
    case 'min': {
      init = 'X[base]';
      combine = f ? (a, b) => `f${op}(${a}, ${b})` : (a, b) => `${op}(${a}, ${b})`;
      break;
    }
    case 'logsumexp':
      break;
  }
  let body: string;
  if (small && op === 'logsumexp') {
    body = `${SMALL_PRELUDE}
  var m = -m_inf();
  for (var k = 0u; k < len; k++) { m = fmax(m, X[base + k * inner]); }
  var acc = 0.0;
  if (!m_isinf(m) || m > 0.0) { for (var k = 0u; k < len; k++) { acc += m_exp(X[base + k * inner] - m); } }
  O[i] = select(m + m_log(acc), m, m_isinf(m) && m < 0.0);`;
  } else if (small) {
    body = `${SMALL_PRELUDE}
  var acc: ${t} = ${init};
  for (var k = 0u; k < len; k++) { let v = X[base + k * inner]; acc = ${combine('acc', map)}; }
  let x = acc;
  O[i] = ${fin};`;
  } else if (op === 'logsumexp') {
    body = `${ROW_PRELUDE}
  var acc = -m_inf();
  for (var k = tid; k < len; k += WGS) { acc = fmax(acc, X[base + k * inner]); }
  ${tree('sh', FMAX)}
  let m = sh[0];
  workgroupBarrier();
  acc = 0.0;
  if (!m_isinf(m) || m > 0.0) { for (var k = tid; k < len; k += WGS) { acc += m_exp(X[base + k * inner] - m); } }
  ${tree('sh', FSUM)}
  if (tid == 0u && valid) { O[r] = select(m + m_log(sh[0]), m, m_isinf(m) && m < 0.0); }`;
  } else {
    body = `${ROW_PRELUDE}
  var acc: ${t} = ${init};
  for (var k = tid; k < len; k += WGS) { let v = X[base + k * inner]; acc = ${combine('acc', map)}; }
  ${tree('sh', combine)}
  if (tid == 0u && valid) { let x = sh[0]; O[r] = ${fin}; }`;
  }
  return kernel({
    inputs: [['X', t]],
    output: ['O', t],
    extra: `${MATH}${HELPERS}\nvar<workgroup> sh: array<${t}, WGS>;`,
    body,
  });
}

/** Index of the first largest (smallest) value per row; NaN counts as the extreme, first one wins. */
export function argSource(op: 'argmax' | 'argmin', t: WType): string {
  const cmp = op === 'argmax' ? '>' : '<';
  const nan = t === 'f32' ? 'm_isnan' : 'no_nan';
  return kernel({
    inputs: [['X', t]],
    output: ['O', 'i32'],
    extra: `${MATH}
fn no_nan(x: ${t}) -> bool { return false; }
// true when (vb, ib) should replace (va, ia); index 0xffffffff means "none yet"
fn take(va: ${t}, ia: u32, vb: ${t}, ib: u32) -> bool {
  if (ib == 0xffffffffu) { return false; }
  if (ia == 0xffffffffu) { return true; }
  let na = ${nan}(va);
  let nb = ${nan}(vb);
  if (na || nb) { return nb && (!na || ib < ia); }
  return vb ${cmp} va || (vb == va && ib < ia);
}
var<workgroup> sv: array<${t}, WGS>;
var<workgroup> si: array<u32, WGS>;`,
    body: `${ROW_PRELUDE}
  var bv = X[base];
  var bi = 0xffffffffu;
  for (var k = tid; k < len; k += WGS) {
    let v = X[base + k * inner];
    if (take(bv, bi, v, k)) { bv = v; bi = k; }
  }
  sv[tid] = bv;
  si[tid] = bi;
  workgroupBarrier();
  for (var s = WGS / 2u; s > 0u; s >>= 1u) {
    if (tid < s && take(sv[tid], si[tid], sv[tid + s], si[tid + s])) { sv[tid] = sv[tid + s]; si[tid] = si[tid + s]; }
    workgroupBarrier();
  }
  if (tid == 0u && valid) { O[r] = i32(si[0]); }`,
  });
}

/** Softmax (or log-softmax) of each row. */
export function softmaxSource(log: boolean, small = false): string {
  const write = log ? 'X[idx] - m - ls' : 'select(m_exp(X[idx] - m) / ssum, 0.0, m_isinf(m) && m < 0.0)';
  if (small) {
    return kernel({
      inputs: [['X', 'f32']],
      output: ['O', 'f32'],
      extra: `${MATH}${HELPERS}`,
      body: `${SMALL_PRELUDE}
  var m = -m_inf();
  for (var k = 0u; k < len; k++) { m = fmax(m, X[base + k * inner]); }
  var ssum = 0.0;
  for (var k = 0u; k < len; k++) { ssum += m_exp(X[base + k * inner] - m); }
  let ls = m_log(ssum);
  for (var k = 0u; k < len; k++) {
    let idx = base + k * inner;
    O[idx] = ${write};
  }`,
    });
  }
  return kernel({
    inputs: [['X', 'f32']],
    output: ['O', 'f32'],
    extra: `${MATH}${HELPERS}\nvar<workgroup> sh: array<f32, WGS>;`,
    body: `${ROW_PRELUDE}
  var acc = -m_inf();
  for (var k = tid; k < len; k += WGS) { acc = fmax(acc, X[base + k * inner]); }
  ${tree('sh', FMAX)}
  let m = sh[0];
  workgroupBarrier();
  acc = 0.0;
  for (var k = tid; k < len; k += WGS) { acc += m_exp(X[base + k * inner] - m); }
  ${tree('sh', FSUM)}
  let ssum = sh[0];
  let ls = m_log(ssum);
  if (valid) {
    for (var k = tid; k < len; k += WGS) {
      let idx = base + k * inner;
      O[idx] = ${write};
    }
  }`,
  });
}

/** Cumulative sum along a line (one invocation per line). Params: [lines, len, inner, exclusive, reverse]. */
export function cumsumSource(t: WType): string {
  const zero = t === 'f32' ? '0.0' : t === 'i32' ? '0i' : '0u';
  return kernel({
    inputs: [['X', t]],
    output: ['O', t],
    body: `if (i >= P[0]) { return; }
  let len = P[1];
  let inner = P[2];
  let base = (i / inner) * len * inner + (i % inner);
  var s: ${t} = ${zero};
  for (var q = 0u; q < len; q++) {
    let k = select(q, len - 1u - q, P[4] == 1u);
    let idx = base + k * inner;
    let v = X[idx];
    if (P[3] == 1u) { O[idx] = s; s += v; } else { s += v; O[idx] = s; }
  }`,
  });
}

/** Workgroup size of the row-parallel cumsum. */
export const CUMSUM_WG = 64;

/**
 * Cumulative sum along long lines, a workgroup per line: thread t owns the contiguous segment
 * [t·⌈len/WGS⌉, …) of the line in scan order, sums it, an exclusive workgroup scan of the segment sums
 * gives each thread its starting value, and each thread writes its segment's running sums.
 * Params: [lines, len, inner, exclusive, reverse].
 */
export function cumsumRowSource(t: WType): string {
  const zero = t === 'f32' ? '0.0' : t === 'i32' ? '0i' : '0u';
  return kernel({
    inputs: [['X', t]],
    output: ['O', t],
    wg: CUMSUM_WG,
    extra: `var<workgroup> sh: array<${t}, WGS>;`,
    body: `${ROW_PRELUDE}
  let rev = P[4] == 1u;
  let excl = P[3] == 1u;
  let seg = (len + WGS - 1u) / WGS;
  let q0 = min(tid * seg, len);
  let q1 = min(q0 + seg, len);
  var part: ${t} = ${zero};
  for (var q = q0; q < q1; q++) { part += X[base + select(q, len - 1u - q, rev) * inner]; }
  sh[tid] = part;
  workgroupBarrier();
  for (var off = 1u; off < WGS; off <<= 1u) {
    var v: ${t} = ${zero};
    if (tid >= off) { v = sh[tid - off]; }
    workgroupBarrier();
    sh[tid] += v;
    workgroupBarrier();
  }
  var s: ${t} = ${zero};
  if (tid > 0u) { s = sh[tid - 1u]; }
  if (valid) {
    for (var q = q0; q < q1; q++) {
      let idx = base + select(q, len - 1u - q, rev) * inner;
      let v = X[idx];
      if (excl) { O[idx] = s; s += v; } else { s += v; O[idx] = s; }
    }
  }`,
  });
}
