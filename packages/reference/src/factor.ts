/**
 * Factor-analysis components (covariance W Wᵀ + diag(ψ), low rank plus a general diagonal) for the EM
 * fit: log densities by the Woodbury identity and the matrix determinant lemma, and one weighted EM
 * step for W and ψ (Ghahramani & Hinton 1996, "The EM algorithm for mixtures of factor analyzers"):
 *   G = (I + WᵀΨ⁻¹W)⁻¹, β = G WᵀΨ⁻¹, W̃ = Sβᵀ (I − βW + βSβᵀ)⁻¹, ψ̃ = diag(S − W̃ βS).
 * All products go through p_n = β r_n, so the cost is O(N d q) per component.
 */
import { spdInverse } from './linalg.js';

/** G = (I + WᵀΨ⁻¹W)⁻¹ and log det(I + WᵀΨ⁻¹W). */
function core(W: Float64Array, psi: Float64Array, d: number, q: number): { G: Float64Array; logDet: number } {
  const m = new Float64Array(q * q);
  for (let i = 0; i < d; i++) {
    const ip = 1 / psi[i]!;
    for (let a = 0; a < q; a++)
      for (let b = 0; b < q; b++) m[a * q + b]! += W[i * q + a]! * W[i * q + b]! * ip;
  }
  for (let a = 0; a < q; a++) m[a * q + a]! += 1;
  const { inverse, logDet } = spdInverse(m, q);
  return { G: inverse, logDet };
}

/** βᵀ as `q×d` rows: β = G WᵀΨ⁻¹. */
function betaRows(W: Float64Array, psi: Float64Array, G: Float64Array, d: number, q: number): Float64Array {
  const beta = new Float64Array(q * d);
  for (let i = 0; i < d; i++) {
    const ip = 1 / psi[i]!;
    for (let a = 0; a < q; a++) {
      let s = 0;
      for (let b = 0; b < q; b++) s += G[a * q + b]! * W[i * q + b]!;
      beta[a * d + i] = s * ip;
    }
  }
  return beta;
}

/** Writes log N(x_n; μ, WWᵀ + diag ψ) into `out[n·stride + k]`. */
export function factorLogDensities(
  x: Float64Array,
  N: number,
  d: number,
  mean: Float64Array,
  W: Float64Array,
  psi: Float64Array,
  out: Float64Array,
  stride: number,
  k: number,
): void {
  const q = W.length / d;
  const { G, logDet: ldCore } = core(W, psi, d, q);
  let logDet = ldCore;
  for (let i = 0; i < d; i++) logDet += Math.log(psi[i]!);
  const LOG2PI = Math.log(2 * Math.PI);
  const u = new Float64Array(q);
  for (let n = 0; n < N; n++) {
    u.fill(0);
    let quad = 0;
    for (let i = 0; i < d; i++) {
      const r = x[n * d + i]! - mean[i]!;
      const rp = r / psi[i]!;
      quad += r * rp;
      for (let a = 0; a < q; a++) u[a]! += W[i * q + a]! * rp;
    }
    for (let a = 0; a < q; a++) for (let b = 0; b < q; b++) quad -= u[a]! * G[a * q + b]! * u[b]!;
    out[n * stride + k] = -0.5 * (quad + logDet + d * LOG2PI);
  }
}

/** One weighted EM step for (W, ψ) around a fixed mean; weights `resp[n·K + k]` summing to `nk`. */
export function factorStep(
  x: Float64Array,
  N: number,
  d: number,
  resp: Float64Array,
  K: number,
  k: number,
  nk: number,
  mean: Float64Array,
  W: Float64Array,
  psi: Float64Array,
  floor: number,
): { W: Float64Array; psi: Float64Array } {
  const q = W.length / d;
  const { G } = core(W, psi, d, q);
  const beta = betaRows(W, psi, G, d, q);
  const SBt = new Float64Array(d * q); // S βᵀ
  const BSBt = new Float64Array(q * q); // β S βᵀ
  const diagS = new Float64Array(d);
  const r = new Float64Array(d);
  const p = new Float64Array(q);
  for (let n = 0; n < N; n++) {
    const w = resp[n * K + k]!;
    if (w < 1e-12) continue;
    for (let i = 0; i < d; i++) {
      r[i] = x[n * d + i]! - mean[i]!;
      diagS[i]! += w * r[i]! * r[i]!;
    }
    for (let a = 0; a < q; a++) {
      let s = 0;
      for (let i = 0; i < d; i++) s += beta[a * d + i]! * r[i]!;
      p[a] = s;
    }
    for (let i = 0; i < d; i++) for (let a = 0; a < q; a++) SBt[i * q + a]! += w * r[i]! * p[a]!;
    for (let a = 0; a < q; a++) for (let b = 0; b < q; b++) BSBt[a * q + b]! += w * p[a]! * p[b]!;
  }
  for (let i = 0; i < d * q; i++) SBt[i]! /= nk;
  for (let i = 0; i < q * q; i++) BSBt[i]! /= nk;
  // E[zzᵀ] averaged: I − βW + βSβᵀ (symmetric positive definite)
  const Ezz = new Float64Array(q * q);
  for (let a = 0; a < q; a++) {
    for (let b = 0; b < q; b++) {
      let bw = 0;
      for (let i = 0; i < d; i++) bw += beta[a * d + i]! * W[i * q + b]!;
      Ezz[a * q + b] = (a === b ? 1 : 0) - bw + BSBt[a * q + b]!;
    }
  }
  for (let a = 0; a < q; a++) {
    for (let b = 0; b < a; b++) {
      const m = 0.5 * (Ezz[a * q + b]! + Ezz[b * q + a]!);
      Ezz[a * q + b] = m;
      Ezz[b * q + a] = m;
    }
  }
  const Ei = spdInverse(Ezz, q).inverse;
  const Wn = new Float64Array(d * q);
  for (let i = 0; i < d; i++)
    for (let a = 0; a < q; a++)
      for (let b = 0; b < q; b++) Wn[i * q + b]! += SBt[i * q + a]! * Ei[a * q + b]!;
  const psiN = new Float64Array(d);
  for (let i = 0; i < d; i++) {
    let s = 0;
    for (let a = 0; a < q; a++) s += Wn[i * q + a]! * SBt[i * q + a]!;
    psiN[i] = Math.max(floor, diagS[i]! / nk - s);
  }
  return { W: Wn, psi: psiN };
}
