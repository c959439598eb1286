import { TesseraError } from '@tessera/core';

/**
 * The beta distribution's CDF (regularized incomplete beta I_x(a, b)) and its inverse (the quantile,
 * scipy's `beta.ppf`), in float64. Accurate to about 1e-14 relative for the parameters schedules use.
 */

const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

/** log Γ(x) for x > 0 (Lanczos, g = 7). */
export function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x);
  const z = x - 1;
  let s = LANCZOS[0]!;
  for (let i = 1; i < 9; i++) s += LANCZOS[i]! / (z + i);
  const t = z + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(s);
}

/** log B(a, b). */
export function logBeta(a: number, b: number): number {
  return logGamma(a) + logGamma(b) - logGamma(a + b);
}

/** Continued fraction of I_x(a, b) (modified Lentz), valid for x < (a + 1)/(a + b + 2). */
function betaContinuedFraction(x: number, a: number, b: number): number {
  const tiny = 1e-300;
  const qab = a + b;
  const qap = a + 1;
  const qam = a - 1;
  let c = 1;
  let d = 1 - (qab * x) / qap;
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 1000; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (qab + m) * x) / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-16) break;
  }
  return h;
}

function checkShape(op: string, a: number, b: number): void {
  if (!(a > 0 && b > 0 && Number.isFinite(a) && Number.isFinite(b))) {
    throw new TesseraError(
      'INVALID_ARGUMENT',
      `${op}: shape parameters must be finite and positive, got a=${a}, b=${b}`,
    );
  }
}

/** Regularized incomplete beta function I_x(a, b) = P(X ≤ x) for X ~ Beta(a, b). */
export function betaCdf(x: number, a: number, b: number): number {
  checkShape('betaCdf', a, b);
  if (Number.isNaN(x)) return Number.NaN;
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const lnFront = a * Math.log(x) + b * Math.log1p(-x) - logBeta(a, b);
  if (x < (a + 1) / (a + b + 2)) return (Math.exp(lnFront) * betaContinuedFraction(x, a, b)) / a;
  return 1 - (Math.exp(lnFront) * betaContinuedFraction(1 - x, b, a)) / b;
}

/**
 * Quantile of Beta(a, b): the x with I_x(a, b) = p (scipy `stats.beta.ppf(p, a, b)`). Safeguarded
 * Newton iteration on a shrinking bracket; ppf(0) = 0 and ppf(1) = 1.
 */
export function betaPpf(p: number, a: number, b: number): number {
  checkShape('betaPpf', a, b);
  if (!(p >= 0 && p <= 1)) throw new TesseraError('OUT_OF_RANGE', `betaPpf: p must be in [0, 1], got ${p}`);
  if (p === 0) return 0;
  if (p === 1) return 1;
  // Work on the smaller tail for accuracy: ppf(p; a, b) = 1 − ppf(1 − p; b, a).
  if (p > 0.5) return 1 - ppfLowerTail(1 - p, b, a);
  return ppfLowerTail(p, a, b);
}

function ppfLowerTail(p: number, a: number, b: number): number {
  const lnB = logBeta(a, b);
  // Start from the small-x asymptote I_x ≈ x^a / (a B(a, b)), clamped into (0, 1).
  let x = Math.exp((Math.log(p) + Math.log(a) + lnB) / a);
  if (!(x > 0 && x < 1)) x = 0.5;
  let lo = 0;
  let hi = 1;
  for (let it = 0; it < 200; it++) {
    const f = betaCdf(x, a, b) - p;
    if (f === 0) return x;
    if (f < 0) lo = x;
    else hi = x;
    const logPdf = (a - 1) * Math.log(x) + (b - 1) * Math.log1p(-x) - lnB;
    let next = x - f / Math.exp(logPdf);
    if (!(next > lo && next < hi)) next = 0.5 * (lo + hi);
    if (Math.abs(next - x) <= 1e-16 * Math.max(x, 1e-300) || hi - lo <= 2e-16 * hi) return next;
    x = next;
  }
  return x;
}
