import { kernel } from './common.js';
import { MATH } from './math.js';

/**
 * Philox4x32-10 in WGSL (same constants and round structure as core's philox.ts). The 32×32→64-bit
 * products are assembled from 16-bit halves, so every device produces the CPU's words exactly.
 */
export const PHILOX = /* wgsl */ `
fn mulhilo(a: u32, b: u32) -> vec2<u32> {
  let aL = a & 0xffffu;
  let aH = a >> 16u;
  let bL = b & 0xffffu;
  let bH = b >> 16u;
  let ll = aL * bL;
  let lh = aL * bH;
  let hl = aH * bL;
  let mid = (ll >> 16u) + (lh & 0xffffu) + (hl & 0xffffu);
  let hi = aH * bH + (lh >> 16u) + (hl >> 16u) + (mid >> 16u);
  return vec2<u32>(hi, a * b);
}
fn philox(c: vec4<u32>, k: vec2<u32>) -> vec4<u32> {
  var x = c;
  var key = k;
  for (var r = 0u; r < 10u; r++) {
    if (r > 0u) { key = key + vec2<u32>(0x9e3779b9u, 0xbb67ae85u); }
    let p0 = mulhilo(0xd2511f53u, x.x);
    let p1 = mulhilo(0xcd9e8d57u, x.z);
    x = vec4<u32>(p1.x ^ x.y ^ key.x, p1.y, p0.x ^ x.w ^ key.y, p0.y);
  }
  return x;
}
// 64-bit word index (lo, hi) plus d
fn add64(lo: u32, hi: u32, d: u32) -> vec2<u32> {
  let s = lo + d;
  return vec2<u32>(s, hi + select(0u, 1u, s < lo));
}
// the Philox block holding word j
fn block_of(j: vec2<u32>, key: vec2<u32>) -> vec4<u32> {
  return philox(vec4<u32>((j.x >> 2u) | (j.y << 30u), j.y >> 2u, 0u, 0u), key);
}
fn word_at(j: vec2<u32>, key: vec2<u32>) -> u32 {
  let b = block_of(j, key);
  return b[j.x & 3u];
}
// ((w >>> 9) + 0.5) · 2⁻²³, exact
fn unif(w: u32) -> f32 { return (f32(w >> 9u) + 0.5) * 1.1920928955078125e-7; }
`;

/** Uniform (0, 1). Params: [n, seedLo, seedHi, offsetLo, offsetHi]. */
export const RAND_SOURCE = kernel({
  inputs: [],
  output: ['O', 'f32'],
  extra: PHILOX,
  body: `if (i >= P[0]) { return; }
  let key = vec2<u32>(P[1], P[2]);
  O[i] = unif(word_at(add64(P[3], P[4], i), key));`,
});

/** Standard normals by Box–Muller from words offset+2i, offset+2i+1. Params as {@link RAND_SOURCE}. */
export const RANDN_SOURCE = kernel({
  inputs: [],
  output: ['O', 'f32'],
  extra: PHILOX + MATH,
  body: `if (i >= P[0]) { return; }
  let key = vec2<u32>(P[1], P[2]);
  let j = add64(P[3], P[4], 2u * i);
  let b = block_of(j, key);
  let lane = j.x & 3u;
  let w1 = b[lane];
  var w2 = 0u;
  if (lane < 3u) { w2 = b[lane + 1u]; } else { w2 = block_of(add64(j.x, j.y, 1u), key).x; }
  O[i] = sqrt(-2.0 * m_log(unif(w1))) * m_cos2pi(unif(w2));`,
});
