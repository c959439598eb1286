import { kernel } from './common.js';
import { MATH } from './math.js';

/**
 * Row-wise selection kernels over the last axis, sized to the row. Values map to order-preserving u32
 * keys. Short rows (≤ {@link SHORT_ROW} tokens) get one thread each, which compares every pair of the
 * row (no barriers at all). Long rows get one workgroup each, which finds the threshold key by a radix
 * descent over the key's eight 4-bit digits: per level one pass over the row builds a 16-bin histogram
 * (counts by workgroup atomics, masses by a 16-wide tree reduction) and one thread picks the digit;
 * once the chosen bucket holds a single key, one more pass fetches it and the descent stops.
 * Params: [rows, len, k or p].
 */
const WG = 64;
/** Workgroup size of the long-row top-p kernel (its 16-bin mass tree needs 16·WG floats of workgroup memory). */
const WG_P = 64;
/** Rows up to this length take the thread-per-row kernels (a row's keep flags fit one u32 mask). */
export const SHORT_ROW = 32;
/** Workgroup size of the thread-per-row kernels. */
export const SHORT_WG = 64;

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

/** Tree reduction of `acc` into `sh`[0], loaded as a workgroup-uniform value (then a barrier). */
function reduceInto(sh: string, acc: string, op: (a: string, b: string) => string, out: string): string {
  return `${sh}[tid] = ${acc};
    workgroupBarrier();
    for (var s = WGS / 2u; s > 0u; s >>= 1u) {
      if (tid < s) { ${sh}[tid] = ${op(`${sh}[tid]`, `${sh}[tid + s]`)}; }
      workgroupBarrier();
    }
    let ${out} = workgroupUniformLoad(&${sh}[0]);
    workgroupBarrier();`;
}
const ADD = (a: string, b: string) => `${a} + ${b}`;

const FMAX = /* wgsl */ `
fn fmax(a: f32, b: f32) -> f32 { return select(max(a, b), m_nan(), m_isnan(a) || m_isnan(b)); }`;

/** Thread per row: keeps x_q when fewer than k keys of its row exceed its own. Params: [rows, len, k]. */
export const TOPK_SHORT_SOURCE = kernel({
  inputs: [['X', 'f32']],
  output: ['O', 'f32'],
  wg: SHORT_WG,
  extra: MATH + HEAD,
  body: `
  let rows = P[0];
  let len = P[1];
  let k = P[2];
  if (i >= rows) { return; }
  let base = i * len;
  var keep = 0u;
  for (var q = 0u; q < len; q++) {
    let kq = okey(X[base + q]);
    var above = 0u;
    for (var j = 0u; j < len; j++) { if (okey(X[base + j]) > kq) { above++; } }
    if (above < k) { keep |= 1u << q; }
  }
  for (var q = 0u; q < len; q++) {
    O[base + q] = select(-m_inf(), X[base + q], (keep & (1u << q)) != 0u);
  }`,
});

/**
 * Thread per row nucleus filter: with e = exp(x − max) (kept in O as scratch) and s = Σe, keeps token q
 * when the mass of the tokens before it in (key descending, index ascending) order is below p·s, or is
 * zero (the first token always). Params: [rows, len, p].
 */
export const TOPP_SHORT_SOURCE = kernel({
  inputs: [['X', 'f32']],
  output: ['O', 'f32'],
  wg: SHORT_WG,
  extra: MATH + HEAD + FMAX,
  body: `
  let rows = P[0];
  let len = P[1];
  if (i >= rows) { return; }
  let base = i * len;
  var m = -m_inf();
  for (var q = 0u; q < len; q++) { m = fmax(m, X[base + q]); }
  var s = 0.0;
  for (var q = 0u; q < len; q++) {
    let e = m_exp(X[base + q] - m);
    O[base + q] = e;
    s += e;
  }
  let ps = pf(2u) * s;
  var keep = 0u;
  for (var q = 0u; q < len; q++) {
    let kq = okey(X[base + q]);
    var before = 0.0;
    for (var j = 0u; j < len; j++) {
      let kj = okey(X[base + j]);
      if (kj > kq || (kj == kq && j < q)) { before += O[base + j]; }
    }
    if (before < ps || before == 0.0) { keep |= 1u << q; }
  }
  for (var q = 0u; q < len; q++) {
    O[base + q] = select(-m_inf(), X[base + q], (keep & (1u << q)) != 0u);
  }`,
});

// Radix descent helpers: level L (0..7) looks at digit (key >> 28 − 4L) & 15 of the keys whose higher
// digits equal \`prefix\`.
const RADIX = /* wgsl */ `
var<workgroup> cnt: array<atomic<u32>, 16>;
var<workgroup> pick: vec3<u32>;
var<workgroup> found: atomic<u32>;
var<workgroup> foundKey: u32;
fn digitShift(level: u32) -> u32 { return 28u - 4u * level; }
// mask of the digits above level's digit (none at level 0)
fn highMask(level: u32) -> u32 { return select(0xffffffffu << (32u - 4u * level), 0u, level == 0u); }`;

/**
 * Once the chosen bucket holds a single key (after \`level\`, with its digits in \`prefix\`), one pass
 * fetches that key and the descent stops: \`prefix\` becomes the full key (workgroup-uniform).
 */
function fetchSingle(): string {
  return `if (tid == 0u) { atomicStore(&found, 0u); }
      workgroupBarrier();
      let fm = highMask(level + 1u);
      for (var q = tid; q < len; q += WGS) {
        let kk = okey(X[base + q]);
        if ((kk & fm) == prefix) { atomicMax(&found, kk); }
      }
      workgroupBarrier();
      if (tid == 0u) { foundKey = atomicLoad(&found); }
      prefix = workgroupUniformLoad(&foundKey);`;
}

/**
 * Workgroup per row: the k-th largest key by radix descent (at each level, the highest digit whose
 * bucket brings the count of keys above or in it to k), then keeps keys ≥ it. Params: [rows, len, k].
 */
export const TOPK_SOURCE = kernel({
  inputs: [['X', 'f32']],
  output: ['O', 'f32'],
  wg: WG,
  extra: MATH + HEAD + RADIX,
  body: `${PRELUDE}
  let k = P[2];
  var prefix = 0u;
  var above = 0u;
  for (var level = 0u; level < 8u; level++) {
    let sh = digitShift(level);
    let hm = highMask(level);
    if (tid < 16u) { atomicStore(&cnt[tid], 0u); }
    workgroupBarrier();
    for (var q = tid; q < len; q += WGS) {
      let kk = okey(X[base + q]);
      if ((kk & hm) == prefix) { atomicAdd(&cnt[(kk >> sh) & 15u], 1u); }
    }
    workgroupBarrier();
    if (tid == 0u) {
      var a = above;
      var d = 15u;
      loop {
        let c = atomicLoad(&cnt[d]);
        if (a + c >= k || d == 0u) { break; }
        a += c;
        d--;
      }
      pick = vec3<u32>(d, a, atomicLoad(&cnt[d]));
    }
    let pk = workgroupUniformLoad(&pick);
    prefix |= pk.x << sh;
    above = pk.y;
    if (pk.z == 1u && level < 7u) {
      ${fetchSingle()}
      break;
    }
  }
  if (valid) {
    for (var q = tid; q < len; q += WGS) {
      let v = X[base + q];
      O[base + q] = select(-m_inf(), v, okey(v) >= prefix);
    }
  }`,
});

/**
 * Workgroup per row nucleus filter. With e = exp(x − max) (kept in O as scratch) and s = Σe, a radix
 * descent finds the smallest present key κ whose mass above, G(κ) = Σ_{key > κ} e, is below p·s (the
 * largest key when none is, p = 0): at each level the lowest non-empty digit whose mass above stays below
 * p·s. The tokens above κ are kept, and of those tied at κ (in index order) as many as keep the running
 * mass below p·s (the first token overall always). Params: [rows, len, p].
 */
export const TOPP_SOURCE = kernel({
  inputs: [['X', 'f32']],
  output: ['O', 'f32'],
  wg: WG_P,
  extra: `${MATH + HEAD + RADIX + FMAX}
var<workgroup> mass: array<f32, ${16 * WG_P}>;
var<workgroup> gsum: f32;`,
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
  var prefix = 0u;
  var gs = 0.0;
  var nt = 0u;
  for (var level = 0u; level < 8u; level++) {
    let sh = digitShift(level);
    let hm = highMask(level);
    if (tid < 16u) { atomicStore(&cnt[tid], 0u); }
    var part: array<f32, 16>;
    for (var d = 0u; d < 16u; d++) { part[d] = 0.0; }
    workgroupBarrier();
    for (var q = tid; q < len; q += WGS) {
      let kk = okey(X[base + q]);
      if ((kk & hm) == prefix) {
        let d = (kk >> sh) & 15u;
        atomicAdd(&cnt[d], 1u);
        if (valid) { part[d] += O[base + q]; }
      }
    }
    for (var d = 0u; d < 16u; d++) { mass[d * WGS + tid] = part[d]; }
    workgroupBarrier();
    for (var s = WGS / 2u; s > 0u; s >>= 1u) {
      if (tid < s) {
        for (var d = 0u; d < 16u; d++) { mass[d * WGS + tid] += mass[d * WGS + tid + s]; }
      }
      workgroupBarrier();
    }
    if (tid == 0u) {
      // the lowest non-empty digit whose mass above is below p·s; else the highest non-empty one
      var a = gs;
      var best = 16u;
      var bestA = gs;
      var top = 16u;
      for (var j = 0u; j < 16u; j++) {
        let d = 15u - j;
        let c = atomicLoad(&cnt[d]);
        if (c == 0u) { continue; }
        if (top == 16u) { top = d; }
        if (a < ps) { best = d; bestA = a; } else { break; }
        a += mass[d * WGS];
      }
      if (best == 16u) { best = top; bestA = gs; }
      pick = vec3<u32>(best, atomicLoad(&cnt[best]), 0u);
      gsum = bestA;
    }
    let pk = workgroupUniformLoad(&pick);
    gs = workgroupUniformLoad(&gsum);
    prefix |= pk.x << sh;
    nt = pk.y;
    if (nt == 1u && level < 7u) {
      ${fetchSingle()}
      break;
    }
  }
  let ks = prefix;
  // the tied tokens' common e, from the key itself
  let vb = select(~ks, ks & 0x7fffffffu, (ks >> 31u) == 1u);
  let es = m_exp(bitcast<f32>(vb) - m);
  // how many tied tokens (in index order) start below the mass p·s
  var keepTies = 0u;
  if (ps > gs) {
    if (es > 0.0) { keepTies = u32(min(f32(nt), ceil((ps - gs) / es))); } else { keepTies = nt; }
  }
  if (gs == 0.0) { keepTies = max(keepTies, 1u); }
  if (keepTies == 0u || keepTies >= nt) {
    // every tie kept or none: no ranks needed
    if (valid) {
      for (var q = tid; q < len; q += WGS) {
        let v = X[base + q];
        let kk = okey(v);
        O[base + q] = select(-m_inf(), v, kk > ks || (kk == ks && keepTies > 0u));
      }
    }
    return;
  }
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
