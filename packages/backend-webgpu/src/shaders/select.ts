import { kernel } from './common.js';
import { MATH } from './math.js';

/**
 * Row-wise selection kernels (one 256-thread workgroup per row of the last axis), O(len) per row:
 * values map to order-preserving u32 keys, and a 32-step bisection over the key space, each step one
 * workgroup reduction, finds the threshold key. Params: [rows, len, k or p].
 */
const WG = 256;

const HEAD = /* wgsl */ `
var<workgroup> shu: array<u32, WGS>;
var<workgroup> shf: array<f32, WGS>;
// order-preserving key of a float (−0 folded onto +0)
fn okey(v: f32) -> u32 {
  let b = select(bitcast<u32>(v), 0u, v == 0.0);
  return select(b | 0x80000000u, ~b, (b >> 31u) == 1u);
}`;

const PRELUDE = /* wgsl */ `
  let rows = P[0];
  let len = P[1];
  let valid = row < rows;
  let base = min(row, rows - 1u) * len;`;

/** Tree reduction of `acc` into `sh`[0], readable by all threads afterwards (then a barrier). */
function reduceInto(sh: string, acc: string, op: (a: string, b: string) => string, out: string): string {
  return `${sh}[tid] = ${acc};
    workgroupBarrier();
    for (var s = WGS / 2u; s > 0u; s >>= 1u) {
      if (tid < s) { ${sh}[tid] = ${op(`${sh}[tid]`, `${sh}[tid + s]`)}; }
      workgroupBarrier();
    }
    let ${out} = ${sh}[0];
    workgroupBarrier();`;
}
const ADD = (a: string, b: string) => `${a} + ${b}`;

/** Keeps values whose key is at least the k-th largest key. Params: [rows, len, k]. */
export const TOPK_SOURCE = kernel({
  inputs: [['X', 'f32']],
  output: ['O', 'f32'],
  wg: WG,
  extra: MATH + HEAD,
  body: `${PRELUDE}
  let k = P[2];
  var lo = 0u;
  var hi = 0xffffffffu;
  for (var it = 0u; it < 32u; it++) {
    let mid = lo + (hi - lo) / 2u;
    var c = 0u;
    for (var q = tid; q < len; q += WGS) { if (okey(X[base + q]) > mid) { c++; } }
    ${reduceInto('shu', 'c', ADD, 'above')}
    if (above < k) { hi = mid; } else { lo = mid + 1u; }
  }
  if (valid) {
    for (var q = tid; q < len; q += WGS) {
      let v = X[base + q];
      O[base + q] = select(-m_inf(), v, okey(v) >= lo);
    }
  }`,
});

/**
 * Nucleus filter. With e = exp(x − max) (kept in O as scratch) and s = Σe, finds the smallest key κ
 * whose mass above, G(κ) = Σ_{key > κ} e, is below p·s; the tokens above the threshold key are kept,
 * and of the tokens tied at it (in index order) as many as keep the running mass below p·s (the first
 * token overall always). Params: [rows, len, p].
 */
export const TOPP_SOURCE = kernel({
  inputs: [['X', 'f32']],
  output: ['O', 'f32'],
  wg: WG,
  extra: `${MATH + HEAD}
fn fmax(a: f32, b: f32) -> f32 { return select(max(a, b), m_nan(), m_isnan(a) || m_isnan(b)); }`,
  body: `${PRELUDE}
  var mx = -m_inf();
  for (var q = tid; q < len; q += WGS) { mx = fmax(mx, X[base + q]); }
  ${reduceInto('shf', 'mx', (a, b) => `fmax(${a}, ${b})`, 'm')}
  var se = 0.0;
  for (var q = tid; q < len; q += WGS) {
    let e = m_exp(X[base + q] - m);
    if (valid) { O[base + q] = e; }
    se += e;
  }
  ${reduceInto('shf', 'se', ADD, 'total')}
  let ps = pf(2u) * total;
  var lo = 0u;
  var hi = 0xffffffffu;
  for (var it = 0u; it < 32u; it++) {
    let mid = lo + (hi - lo) / 2u;
    var g = 0.0;
    for (var q = tid; q < len; q += WGS) { if (okey(X[base + q]) > mid) { g += O[base + q]; } }
    ${reduceInto('shf', 'g', ADD, 'above')}
    if (above < ps) { hi = mid; } else { lo = mid + 1u; }
  }
  // threshold: the smallest present key ≥ lo, or the largest key when none is (p = 0)
  var kmin = 0xffffffffu;
  var kmax = 0u;
  var nge = 0u;
  for (var q = tid; q < len; q += WGS) {
    let kk = okey(X[base + q]);
    if (kk >= lo) { kmin = min(kmin, kk); nge++; }
    kmax = max(kmax, kk);
  }
  ${reduceInto('shu', 'kmin', (a, b) => `min(${a}, ${b})`, 'k1')}
  ${reduceInto('shu', 'kmax', (a, b) => `max(${a}, ${b})`, 'k2')}
  ${reduceInto('shu', 'nge', ADD, 'n1')}
  let ks = select(k2, k1, n1 > 0u);
  var g = 0.0;
  var ties = 0u;
  var et = 0.0;
  for (var q = tid; q < len; q += WGS) {
    let kk = okey(X[base + q]);
    if (kk > ks) { g += O[base + q]; }
    if (kk == ks) { ties++; et = O[base + q]; }
  }
  ${reduceInto('shf', 'g', ADD, 'gs')}
  ${reduceInto('shu', 'ties', ADD, 'nt')}
  ${reduceInto('shf', 'et', (a, b) => `max(${a}, ${b})`, 'es')}
  // how many tied tokens (in index order) start below the mass p·s
  var keepTies = 0u;
  if (ps > gs) {
    if (es > 0.0) { keepTies = u32(min(f32(nt), ceil((ps - gs) / es))); } else { keepTies = nt; }
  }
  if (gs == 0.0) { keepTies = max(keepTies, 1u); }
  var rank0 = 0u;
  let chunks = (len + WGS - 1u) / WGS;
  for (var c = 0u; c < chunks; c++) {
    let q = c * WGS + tid;
    var flag = 0u;
    if (q < len && okey(X[base + q]) == ks) { flag = 1u; }
    shu[tid] = flag;
    workgroupBarrier();
    for (var off = 1u; off < WGS; off <<= 1u) {
      var t = 0u;
      if (tid >= off) { t = shu[tid - off]; }
      workgroupBarrier();
      shu[tid] += t;
      workgroupBarrier();
    }
    let incl = shu[tid];
    let tot = shu[WGS - 1u];
    workgroupBarrier();
    if (valid && q < len) {
      let v = X[base + q];
      let kk = okey(v);
      var keep = kk > ks;
      if (kk == ks) { keep = rank0 + incl - 1u < keepTies; }
      O[base + q] = select(-m_inf(), v, keep);
    }
    rank0 += tot;
  }`,
});
