/**
 * Probabilistic-PCA components (covariance W Wᵀ + σ²I) for the EM fit: one weighted EM step for W and σ²
 * (Tipping & Bishop 1999): W̃ = SW(σ²I + M⁻¹WᵀSW)⁻¹, σ̃² = tr(S − SWM⁻¹W̃ᵀ)/d with M = WᵀW + σ²I,
 * plus the row helpers the E-step shares. Products go through Wᵀr, O(N d q) per component.
 */
import { TesseraError } from '@tessera/core';
import { spdInverse } from './linalg.js';

/** The parameters of one component while fitting. */
export interface Comp {
  mean: Float64Array;
  vars?: Float64Array; // diag
  W?: Float64Array; // d×q
  s2?: number; // isotropic noise
  psi?: Float64Array; // factor analysis: diagonal noise
}

/** `d×q` → `q×d`. */
export function transpose(W: Float64Array, d: number, q: number): Float64Array {
  const t = new Float64Array(d * q);
  for (let i = 0; i < d; i++) for (let a = 0; a < q; a++) t[a * d + i] = W[i * q + a]!;
  return t;
}

/** r = x_n − μ; returns ‖r‖². */
export function centre(x: Float64Array, n: number, d: number, mean: Float64Array, r: Float64Array): number {
  let rr = 0;
  const o = n * d;
  for (let i = 0; i < d; i++) {
    const v = x[o + i]! - mean[i]!;
    r[i] = v;
    rr += v * v;
  }
  return rr;
}

/** p = Wᵀ r with Wt = Wᵀ (q×d). */
export function project(Wt: Float64Array, r: Float64Array, d: number, q: number, p: Float64Array): void {
  for (let a = 0; a < q; a++) {
    let s = 0;
    const o = a * d;
    for (let i = 0; i < d; i++) s += Wt[o + i]! * r[i]!;
    p[a] = s;
  }
}

/** One PPCA EM step for W, σ² given weighted data (weights r, total nk) around `mean`. */
export function ppcaStep(
  x: Float64Array,
  N: number,
  d: number,
  r: Float64Array,
  K: number,
  k: number,
  nk: number,
  c: Comp,
  floor: number,
): void {
  const W = c.W!;
  const q = W.length / d;
  const s2 = c.s2!;
  // SW = (1/nk) Σ r_n (x_n − μ)((x_n − μ)ᵀ W), trS = (1/nk) Σ r_n ‖x_n − μ‖²
  const Wt = transpose(W, d, q);
  const SWt = new Float64Array(d * q); // (SW)ᵀ, q×d
  const p = new Float64Array(q);
  const res = new Float64Array(d);
  let trS = 0;
  for (let n = 0; n < N; n++) {
    const rn = r[n * K + k]!;
    if (rn < 1e-12) continue;
    trS += rn * centre(x, n, d, c.mean, res);
    project(Wt, res, d, q, p);
    for (let a = 0; a < q; a++) {
      const f = rn * p[a]!;
      const o = a * d;
      for (let i = 0; i < d; i++) SWt[o + i]! += f * res[i]!;
    }
  }
  const SW = transpose(SWt, q, d);
  for (let i = 0; i < d * q; i++) SW[i]! /= nk;
  trS /= nk;
  const M = new Float64Array(q * q);
  for (let i = 0; i < d; i++)
    for (let a = 0; a < q; a++) for (let b = 0; b < q; b++) M[a * q + b]! += W[i * q + a]! * W[i * q + b]!;
  for (let a = 0; a < q; a++) M[a * q + a]! += s2;
  const Mi = spdInverse(M, q).inverse;
  // T = σ²I + M⁻¹ WᵀSW
  const WSW = new Float64Array(q * q);
  for (let i = 0; i < d; i++)
    for (let a = 0; a < q; a++) for (let b = 0; b < q; b++) WSW[a * q + b]! += W[i * q + a]! * SW[i * q + b]!;
  const T = new Float64Array(q * q);
  for (let a = 0; a < q; a++) {
    for (let b = 0; b < q; b++) {
      let s = a === b ? s2 : 0;
      for (let e = 0; e < q; e++) s += Mi[a * q + e]! * WSW[e * q + b]!;
      T[a * q + b] = s;
    }
  }
  const Ti = invertGeneral(T, q);
  const Wn = new Float64Array(d * q);
  for (let i = 0; i < d; i++)
    for (let a = 0; a < q; a++) for (let b = 0; b < q; b++) Wn[i * q + b]! += SW[i * q + a]! * Ti[a * q + b]!;
  // tr(SW M⁻¹ W̃ᵀ)
  let tr = 0;
  for (let i = 0; i < d; i++)
    for (let a = 0; a < q; a++)
      for (let b = 0; b < q; b++) tr += SW[i * q + a]! * Mi[a * q + b]! * Wn[i * q + b]!;
  c.W = Wn;
  c.s2 = Math.max(floor, (trS - tr) / d);
}

/** Inverse of a small general matrix by Gauss–Jordan with partial pivoting. */
function invertGeneral(a: Float64Array, n: number): Float64Array {
  const m = Float64Array.from(a);
  const inv = new Float64Array(n * n);
  for (let i = 0; i < n; i++) inv[i * n + i] = 1;
  for (let col = 0; col < n; col++) {
    let piv = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(m[r * n + col]!) > Math.abs(m[piv * n + col]!)) piv = r;
    if (m[piv * n + col] === 0)
      throw new TesseraError('INVALID_ARGUMENT', 'fitGaussianMixture: singular matrix in the PPCA update');
    for (let j = 0; j < n; j++) {
      [m[col * n + j], m[piv * n + j]] = [m[piv * n + j]!, m[col * n + j]!];
      [inv[col * n + j], inv[piv * n + j]] = [inv[piv * n + j]!, inv[col * n + j]!];
    }
    const pv = m[col * n + col]!;
    for (let j = 0; j < n; j++) {
      m[col * n + j]! /= pv;
      inv[col * n + j]! /= pv;
    }
    for (let r = 0; r < n; r++) {
      if (r === col) continue;
      const f = m[r * n + col]!;
      if (f === 0) continue;
      for (let j = 0; j < n; j++) {
        m[r * n + j]! -= f * m[col * n + j]!;
        inv[r * n + j]! -= f * inv[col * n + j]!;
      }
    }
  }
  return inv;
}
