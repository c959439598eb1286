import { lit } from './common.js';

/**
 * Accurate float32 math in WGSL. WGSL's built-in exp/log/sin/cos only promise loose error bounds (e.g.
 * sin/cos 2⁻¹¹ absolute), so these are written out: Cody–Waite range reduction plus Taylor polynomials
 * truncated where the next term is below 10⁻⁸ relative, and Kahan's tricks for expm1/log1p. They keep
 * Philox normals within 10⁻⁶ of the CPU's float64 Box–Muller.
 */

const TWO_PI = 2 * Math.PI;
function fact(n: number): number {
  let f = 1;
  for (let i = 2; i <= n; i++) f *= i;
  return f;
}
// cos(2πt) = Σ (−1)^k (2π)^{2k}/(2k)! t^{2k};  sin(2πt) = Σ (−1)^k (2π)^{2k+1}/(2k+1)! t^{2k+1}
const C = [1, 2, 3, 4, 5, 6].map((k) => lit(TWO_PI ** (2 * k) / fact(2 * k)));
const S = [0, 1, 2, 3, 4, 5].map((k) => lit(TWO_PI ** (2 * k + 1) / fact(2 * k + 1)));
// π/2 in three parts, the first two with 12 significant bits so that k·part is exact for |k| < 2¹¹.
const PIO2 = [1.5703125, 4.837512969970703e-4, 7.549790126404332e-8].map(lit);
// ln 2 in two parts (the first with 12 significant bits).
const LN2_HI = '0.693115234';
const LN2_LO = lit(3.194618329871446e-5);
// erf series coefficients (−1)ⁿ/(n!(2n+1)), n ≤ 12, in Horner form
const ERF_SERIES = (() => {
  let p = lit(1 / (fact(12) * 25));
  for (let n = 11; n >= 0; n--) p = `${lit((n % 2 ? -1 : 1) / (fact(n) * (2 * n + 1)))} + z * (${p})`;
  return p;
})();
// atan(u) = Σ (−1)ⁿ u^{2n+1}/(2n+1) for |u| ≤ tan(π/8): Horner in z = u² up to n = 11
const ATAN = (() => {
  let p = lit(-1 / 23);
  for (let n = 10; n >= 0; n--) p = `${lit((n % 2 ? -1 : 1) / (2 * n + 1))} + z * (${p})`;
  return p;
})();

export const MATH = /* wgsl */ `
fn m_nan() -> f32 { var b = 0x7fc00000u; return bitcast<f32>(b); }
fn m_inf() -> f32 { var b = 0x7f800000u; return bitcast<f32>(b); }
fn m_isnan(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }
fn m_isinf(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) == 0x7f800000u; }
fn m_ldexp(x: f32, k: i32) -> f32 { let h = k / 2; return ldexp(ldexp(x, h), k - h); }

fn m_exp(x: f32) -> f32 {
  if (m_isnan(x)) { return x; }
  if (x > 88.7228394) { return m_inf(); }
  if (x < -103.972084) { return 0.0; }
  let k = round(x * 1.44269502);
  let r = (x - k * ${LN2_HI}) - k * ${LN2_LO};
  let p = 1.0 + r * (1.0 + r * (0.5 + r * (${lit(1 / 6)} + r * (${lit(1 / 24)} + r * (${lit(1 / 120)} + r * (${lit(1 / 720)} + r * ${lit(1 / 5040)}))))));
  return m_ldexp(p, i32(k));
}

fn m_log(x: f32) -> f32 {
  if (m_isnan(x) || x < 0.0) { return m_nan(); }
  if (x == 0.0) { return -m_inf(); }
  if (m_isinf(x)) { return x; }
  let fe = frexp(x);
  var m = fe.fract;
  var e = fe.exp;
  if (m < 0.707106769) { m = m * 2.0; e = e - 1; }
  let f = m - 1.0;
  let s = f / (2.0 + f);
  let z = s * s;
  // log(1+f) = 2 atanh(s) = f − hfsq + s·(hfsq + R), R = z(2/3 + 2z/5 + 2z²/7 + 2z³/9)
  let R = z * (${lit(2 / 3)} + z * (0.4 + z * (${lit(2 / 7)} + z * ${lit(2 / 9)})));
  let hfsq = 0.5 * f * f;
  let k = f32(e);
  return k * ${LN2_HI} + (f - (hfsq - (s * (hfsq + R) + k * ${LN2_LO})));
}

// log(1+f) for f in [√½ − 1, √2 − 1]: 2 atanh(f/(2+f)) as in m_log, with f exact
fn m_log1p_small(f: f32) -> f32 {
  let s = f / (2.0 + f);
  let z = s * s;
  let R = z * (${lit(2 / 3)} + z * (0.4 + z * (${lit(2 / 7)} + z * ${lit(2 / 9)})));
  let hfsq = 0.5 * f * f;
  return f - (hfsq - s * (hfsq + R));
}
// (Kahan's log(u)·x/(u−1) is not used: compilers may fold (1+x)−1 into x.)
fn m_log1p(x: f32) -> f32 {
  if (x > -0.292893231 && x < 0.414213538) { return m_log1p_small(x); }
  return m_log(1.0 + x);
}

fn m_expm1(x: f32) -> f32 {
  if (x > 88.0) { return m_exp(x); }
  let u = m_exp(x);
  if (u == 1.0) { return x; }
  let um1 = u - 1.0;
  if (um1 == -1.0) { return -1.0; }
  return um1 * x / m_log(u);
}

fn m_tanh(x: f32) -> f32 {
  if (m_isnan(x)) { return x; }
  let e = m_expm1(2.0 * min(abs(x), 20.0));
  let t = e / (e + 2.0);
  return select(t, -t, x < 0.0);
}

// sin and cos of r, |r| ≤ π/4
fn m_sin_poly(r: f32) -> f32 {
  let z = r * r;
  return r + r * z * (${lit(-1 / 6)} + z * (${lit(1 / 120)} + z * (${lit(-1 / 5040)} + z * ${lit(1 / 362880)})));
}
fn m_cos_poly(r: f32) -> f32 {
  let z = r * r;
  return 1.0 - 0.5 * z + z * z * (${lit(1 / 24)} + z * (${lit(-1 / 720)} + z * (${lit(1 / 40320)} + z * ${lit(-1 / 3628800)})));
}
// (sin x, cos x) with Cody–Waite reduction by π/2
fn m_sincos(x: f32) -> vec2<f32> {
  if (m_isnan(x) || m_isinf(x)) { return vec2<f32>(m_nan(), m_nan()); }
  let k = round(x * 0.636619747);
  let r = ((x - k * ${PIO2[0]}) - k * ${PIO2[1]}) - k * ${PIO2[2]};
  let s = m_sin_poly(r);
  let c = m_cos_poly(r);
  let q = i32(k) & 3;
  if (q == 0) { return vec2<f32>(s, c); }
  if (q == 1) { return vec2<f32>(c, -s); }
  if (q == 2) { return vec2<f32>(-s, -c); }
  return vec2<f32>(-c, s);
}

// cos(2πu) for u in [0, 1]: reduced in turns (exact), polynomial in t = u − q/4 with |t| ≤ 1/8
fn m_cos2pi(u: f32) -> f32 {
  let q = round(4.0 * u);
  let t = u - q * 0.25;
  let z = t * t;
  let c = 1.0 - z * (${C[0]} - z * (${C[1]} - z * (${C[2]} - z * (${C[3]} - z * (${C[4]} - z * ${C[5]})))));
  let s = t * (${S[0]} - z * (${S[1]} - z * (${S[2]} - z * (${S[3]} - z * (${S[4]} - z * ${S[5]})))));
  let qi = i32(q) & 3;
  if (qi == 0) { return c; }
  if (qi == 1) { return -s; }
  if (qi == 2) { return -c; }
  return s;
}

fn m_erf(x: f32) -> f32 {
  if (m_isnan(x)) { return x; }
  let a = abs(x);
  var r = 1.0;
  if (a < 0.8) {
    // Maclaurin series 2/√π · x · Σ (−x²)ⁿ / (n! (2n+1)), Horner in z = x²
    let z = a * a;
    r = ${lit(2 / Math.sqrt(Math.PI))} * a * (${ERF_SERIES});
  } else if (a < 10.0) {
    // erfc by its continued fraction, evaluated backwards
    var f = a;
    for (var n = 100u; n >= 1u; n--) { f = a + (f32(n) * 0.5) / f; }
    r = 1.0 - m_exp(-a * a) / (${lit(Math.sqrt(Math.PI))} * f);
  }
  return select(r, -r, x < 0.0);
}

fn m_signbit(x: f32) -> bool { return (bitcast<u32>(x) >> 31u) == 1u; }
// atan(t) for t in [0, 1]
fn m_atan_unit(t: f32) -> f32 {
  var u = t;
  var off = 0.0;
  if (t > 0.414213562) { u = (t - 1.0) / (t + 1.0); off = ${lit(Math.PI / 4)}; }
  let z = u * u;
  return off + u * (${ATAN});
}
fn m_atan2(y: f32, x: f32) -> f32 {
  if (m_isnan(x) || m_isnan(y)) { return m_nan(); }
  let ay = abs(y);
  let ax = abs(x);
  var r = 0.0;
  if (m_isinf(ax) && m_isinf(ay)) { r = ${lit(Math.PI / 4)}; }
  else if (ay <= ax) { if (ax > 0.0) { r = m_atan_unit(ay / ax); } }
  else { r = ${lit(Math.PI / 2)} - m_atan_unit(ax / ay); }
  if (m_signbit(x)) { r = ${lit(Math.PI)} - r; }
  return select(r, -r, m_signbit(y));
}

fn m_pow(a: f32, b: f32) -> f32 {
  if (b == 0.0) { return 1.0; }
  if (m_isnan(a) || m_isnan(b)) { return m_nan(); }
  if (b == 1.0) { return a; }
  if (b == 2.0) { return a * a; }
  let bint = !m_isinf(b) && floor(b) == b;
  if (a < 0.0 && !bint && !m_isinf(b)) { return m_nan(); }
  if (abs(a) == 1.0 && m_isinf(b)) { return m_nan(); }
  var r = m_exp(b * m_log(abs(a)));
  let odd = bint && abs(b) < 16777216.0 && fract(b * 0.5) != 0.0;
  if (a < 0.0 && odd) { r = -r; }
  return r;
}
`;
