import { kernel } from './common.js';
import { MATH } from './math.js';
import { PHILOX } from './random.js';

/** min-p filter and categorical sampling over rows of the last axis. */

/** Keeps v ≥ rowMax + log p. Params: [n, len, log p]. */
export const MINP_SOURCE = kernel({
  inputs: [
    ['X', 'f32'],
    ['Mx', 'f32'],
  ],
  output: ['O', 'f32'],
  extra: MATH,
  body: `if (i >= P[0]) { return; }
  let v = X[i];
  O[i] = select(-m_inf(), v, v >= Mx[i / P[1]] + pf(2u));`,
});

/**
 * One draw per row (one invocation per row): u = rand word (offset + row); the first index whose
 * running sum of exp(v − max) exceeds u·total. Params: [rows, len, seedLo, seedHi, offLo, offHi].
 */
export const SAMPLE_SOURCE = kernel({
  inputs: [['X', 'f32']],
  output: ['O', 'i32'],
  extra: PHILOX + MATH,
  body: `if (i >= P[0]) { return; }
  let len = P[1];
  let base = i * len;
  var m = -m_inf();
  for (var k = 0u; k < len; k++) { let v = X[base + k]; if (v > m || m_isnan(v)) { m = v; } }
  var pick = -1i;
  if (!(m_isinf(m) && m < 0.0)) {
    var total = 0.0;
    for (var k = 0u; k < len; k++) { total += m_exp(X[base + k] - m); }
    let u = unif(word_at(add64(P[4], P[5], i), vec2<u32>(P[2], P[3])));
    let goal = u * total;
    var cum = 0.0;
    for (var k = 0u; k < len; k++) {
      let e = m_exp(X[base + k] - m);
      if (e > 0.0) { pick = i32(k); }
      cum += e;
      if (cum > goal && e > 0.0) { break; }
    }
  }
  O[i] = max(pick, 0i);`,
});

/** Workgroup size of the row-parallel sampler. */
export const SAMPLE_WG = 64;

/**
 * One draw per row, a workgroup per row (long rows): thread t owns the contiguous segment
 * [t·⌈len/WGS⌉, …) of its row. Passes: the max (segment maxima, tree); Σ exp(v − max) per segment and a
 * workgroup scan of the segment sums (so each thread knows the mass before its segment, and the last
 * total); then only segments whose running sum passes u·total search for the first index whose running
 * sum exceeds it (minimum over threads). If rounding leaves none, the last index with e > 0, as the
 * one-invocation kernel does. Params: [rows, len, seedLo, seedHi, offLo, offHi].
 */
export const SAMPLE_ROW_SOURCE = kernel({
  inputs: [['X', 'f32']],
  output: ['O', 'i32'],
  wg: SAMPLE_WG,
  extra: `${PHILOX + MATH}
var<workgroup> sh: array<f32, WGS>;
var<workgroup> first: atomic<u32>;
var<workgroup> lastPos: atomic<i32>;`,
  body: `
  let rows = P[0];
  let len = P[1];
  let valid = row < rows;
  let r = min(row, rows - 1u);
  let base = r * len;
  let seg = (len + WGS - 1u) / WGS;
  let b0 = min(tid * seg, len);
  let b1 = min(b0 + seg, len);
  var mx = -m_inf();
  for (var k = b0; k < b1; k++) { let v = X[base + k]; if (v > mx || m_isnan(v)) { mx = v; } }
  sh[tid] = mx;
  workgroupBarrier();
  for (var s = WGS / 2u; s > 0u; s >>= 1u) {
    if (tid < s) {
      let a = sh[tid];
      let b = sh[tid + s];
      sh[tid] = select(max(a, b), m_nan(), m_isnan(a) || m_isnan(b));
    }
    workgroupBarrier();
  }
  let m = workgroupUniformLoad(&sh[0]);
  var part = 0.0;
  for (var k = b0; k < b1; k++) { part += m_exp(X[base + k] - m); }
  sh[tid] = part;
  if (tid == 0u) {
    atomicStore(&first, 0xffffffffu);
    atomicStore(&lastPos, -1i);
  }
  workgroupBarrier();
  for (var off = 1u; off < WGS; off <<= 1u) {
    var t = 0.0;
    if (tid >= off) { t = sh[tid - off]; }
    workgroupBarrier();
    sh[tid] += t;
    workgroupBarrier();
  }
  let incl = sh[tid];
  let total = workgroupUniformLoad(&sh[WGS - 1u]);
  let live = !(m_isinf(m) && m < 0.0);
  let goal = unif(word_at(add64(P[4], P[5], r), vec2<u32>(P[2], P[3]))) * total;
  if (live && incl > goal) {
    var c = incl - part;
    for (var k = b0; k < b1; k++) {
      let e = m_exp(X[base + k] - m);
      c += e;
      if (c > goal && e > 0.0) {
        atomicMin(&first, k);
        break;
      }
    }
  }
  workgroupBarrier();
  let hit = atomicLoad(&first);
  if (live && hit == 0xffffffffu) {
    for (var k = b1; k > b0; k--) {
      if (m_exp(X[base + k - 1u] - m) > 0.0) {
        atomicMax(&lastPos, i32(k - 1u));
        break;
      }
    }
  }
  workgroupBarrier();
  if (tid == 0u && valid) {
    O[r] = select(max(atomicLoad(&lastPos), 0i), i32(hit), hit != 0xffffffffu);
  }`,
});
