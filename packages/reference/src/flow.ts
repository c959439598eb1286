/**
 * Probability-flow ODE references: the exact solution for a Gaussian, and an adaptive float64
 * Dormand–Prince solver (in log σ) for mixtures or any host-side denoiser.
 *
 * The ODE (Karras et al. 2022, VE form): dx/dσ = (x − D(x, σ)) / σ. With t = log σ it reads
 * dx/dt = x − D(x, eᵗ), which is smooth and slow at small σ, so adaptive steps stay few.
 */
import { type Tensor, TesseraError, tidy } from '@tessera/core';
import {
  type CanonicalComponent,
  type CanonicalMixture,
  canonicalGaussian,
  canonicalMixture,
  type GaussianMixtureSpec,
  type GaussianSpec,
  mixturePosteriorMean64,
} from './spec.js';

function checkSigma(op: string, name: string, s: number): void {
  if (typeof s !== 'number' || !(s >= 0) || !Number.isFinite(s))
    throw new TesseraError('INVALID_ARGUMENT', `${op}: ${name} must be finite and ≥ 0, got ${s}`);
}

/** Canonical forms of specs seen before (a full covariance is eigen-decomposed once, not per call). */
const canonical = new WeakMap<object, CanonicalComponent>();

/** Per-direction flow factors √((λ + σ_to²)/(λ + σ_from²)); λ = 0 and σ_from = 0 would divide by zero. */
function factor(lambda: number, from: number, to: number): number {
  const den = lambda + from * from;
  if (den === 0)
    throw new TesseraError(
      'INVALID_ARGUMENT',
      'gaussianFlowSolution: sigmaFrom = 0 on a zero-variance direction is singular',
    );
  return Math.sqrt((lambda + to * to) / den);
}

/**
 * The exact probability-flow map of a Gaussian N(μ, Σ) from σ_from to σ_to: in Σ's eigenbasis every
 * coordinate of x − μ scales by √((λ + σ_to²)/(λ + σ_from²)). `x` is a Tensor `[N, ...dims]` (computed
 * with backend ops, returns a new Tensor) or a Float64Array of whole rows (float64, returns a new array).
 * A spec object is decomposed on first use and remembered (do not mutate it afterwards).
 */
export function gaussianFlowSolution(
  model: GaussianSpec | CanonicalComponent,
  x: Tensor,
  sigmaFrom: number,
  sigmaTo: number,
): Tensor;
export function gaussianFlowSolution(
  model: GaussianSpec | CanonicalComponent,
  x: Float64Array,
  sigmaFrom: number,
  sigmaTo: number,
): Float64Array;
export function gaussianFlowSolution(
  model: GaussianSpec | CanonicalComponent,
  x: Tensor | Float64Array,
  sigmaFrom: number,
  sigmaTo: number,
): Tensor | Float64Array {
  let c = 'kind' in model ? model : canonical.get(model);
  if (!c) {
    c = canonicalGaussian(model as GaussianSpec);
    canonical.set(model, c);
  }
  checkSigma('gaussianFlowSolution', 'sigmaFrom', sigmaFrom);
  checkSigma('gaussianFlowSolution', 'sigmaTo', sigmaTo);
  const d = c.mean.length;
  // out = μ + gRes·r + V diag(g − gRes) Vᵀ r   (diag kind: out = μ + g ⊙ r)
  const gRes = c.kind === 'spectral' ? factor(c.residual, sigmaFrom, sigmaTo) : 0;
  const g =
    c.kind === 'spectral'
      ? c.eigenvalues.map((l) => factor(l, sigmaFrom, sigmaTo) - gRes)
      : c.variances.map((l) => factor(l, sigmaFrom, sigmaTo));
  if (x instanceof Float64Array) {
    if (x.length % d !== 0)
      throw new TesseraError(
        'SHAPE_MISMATCH',
        `gaussianFlowSolution: x length ${x.length} is not a multiple of d = ${d}`,
      );
    const out = new Float64Array(x.length);
    for (let n = 0; n < x.length / d; n++) {
      const o = n * d;
      if (c.kind === 'diag') {
        for (let i = 0; i < d; i++) out[o + i] = c.mean[i]! + g[i]! * (x[o + i]! - c.mean[i]!);
        continue;
      }
      for (let i = 0; i < d; i++) out[o + i] = c.mean[i]! + gRes * (x[o + i]! - c.mean[i]!);
      for (let j = 0; j < c.rank; j++) {
        let p = 0;
        for (let i = 0; i < d; i++) p += c.basis[i * c.rank + j]! * (x[o + i]! - c.mean[i]!);
        p *= g[j]!;
        for (let i = 0; i < d; i++) out[o + i]! += p * c.basis[i * c.rank + j]!;
      }
    }
    return out;
  }
  const B = x.backend;
  const n = x.shape[0] ?? 0;
  if (x.rank < 2 || x.size !== n * d)
    throw new TesseraError(
      'SHAPE_MISMATCH',
      `gaussianFlowSolution: x must be [N, ...dims] with ${d} values per row, got [${x.shape.join(', ')}]`,
    );
  return tidy(() => {
    const mu = B.tensor(Float32Array.from(c.mean), [1, d]);
    const r = B.binary('sub', B.reshape(x, [n, d]), mu);
    let out: Tensor;
    if (c.kind === 'diag')
      out = B.binary('add', mu, B.binary('mul', r, B.tensor(Float32Array.from(g), [1, d])));
    else {
      const V = B.tensor(Float32Array.from(c.basis), [d, c.rank]);
      const proj = B.binary('mul', B.matmul(r, V), B.tensor(Float32Array.from(g), [1, c.rank]));
      out = B.lincomb([1, gRes, 1], [B.broadcastTo(mu, [n, d]), r, B.matmul(proj, V, { transposeB: true })]);
    }
    return B.reshape(out, x.shape);
  });
}

/** A host-side float64 denoiser of whole rows: (x, σ) → E[x₀ | x]. */
export type HostDenoiser = (x: Float64Array, sigma: number) => Float64Array;

/** Options of {@link referenceOdeSolve}. */
export interface ReferenceOdeOptions {
  /** Relative tolerance per step. Default 1e-10. */
  rtol?: number;
  /** Absolute tolerance per step. Default 1e-10. */
  atol?: number;
  /** Step limit per segment (guards against a stiff or broken denoiser). Default 100000. */
  maxSteps?: number;
}

// Dormand–Prince 5(4) tableau (Dormand & Prince 1980).
const A = [
  [],
  [1 / 5],
  [3 / 40, 9 / 40],
  [44 / 45, -56 / 15, 32 / 9],
  [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729],
  [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656],
  [35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84],
];
const C = [0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1, 1];
const B5 = [35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0];
const B4 = [5179 / 57600, 0, 7571 / 16695, 393 / 640, -92097 / 339200, 187 / 2100, 1 / 40];

function toHost(model: GaussianMixtureSpec | CanonicalMixture | HostDenoiser): HostDenoiser {
  if (typeof model === 'function') return model;
  const m = 'components' in model ? model : canonicalMixture(model);
  return (x, s) => mixturePosteriorMean64(m, x, s);
}

/** Integrates one row in t = log σ from σa to σb (both > 0). */
function integrate(
  D: HostDenoiser,
  x: Float64Array,
  ta: number,
  tb: number,
  o: Required<ReferenceOdeOptions>,
): Float64Array {
  const n = x.length;
  const f = (t: number, y: Float64Array): Float64Array => {
    const den = D(y, Math.exp(t));
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) out[i] = y[i]! - den[i]!;
    return out;
  };
  let t = ta;
  let y = x;
  const dir = Math.sign(tb - ta);
  let h = dir * Math.min(Math.abs(tb - ta), 0.05);
  let k1 = f(t, y);
  for (let step = 0; step < o.maxSteps; step++) {
    if (dir * (tb - t) <= 1e-15) return y;
    if (dir * (t + h - tb) > 0) h = tb - t;
    const ks: Float64Array[] = [k1];
    let yNew = y;
    for (let s = 1; s < 7; s++) {
      const ys = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        let acc = 0;
        for (let j = 0; j < s; j++) acc += A[s]![j]! * ks[j]![i]!;
        ys[i] = y[i]! + h * acc;
      }
      if (s === 6) yNew = ys;
      ks.push(f(t + C[s]! * h, ys));
    }
    let err = 0;
    for (let i = 0; i < n; i++) {
      let e = 0;
      for (let j = 0; j < 7; j++) e += (B5[j]! - B4[j]!) * ks[j]![i]!;
      const sc = o.atol + o.rtol * Math.max(Math.abs(y[i]!), Math.abs(yNew[i]!));
      err += ((h * e) / sc) ** 2;
    }
    err = Math.sqrt(err / n);
    if (err <= 1) {
      t += h;
      y = yNew;
      k1 = ks[6]!; // first-same-as-last
    }
    h *= Math.min(5, Math.max(0.2, 0.9 * (err > 0 ? err ** -0.2 : 5)));
  }
  throw new TesseraError(
    'OUT_OF_RANGE',
    `referenceOdeSolve: no convergence within ${o.maxSteps} steps (tolerances too tight for this model?)`,
  );
}

/**
 * States of the probability-flow ODE at every σ of `sigmas`, starting from `x` at `sigmas[0]`,
 * in float64 to about the tolerances (default 1e-10). `x` holds whole rows of length d (each row is
 * integrated on its own). A final σ of 0 is reached by integrating to 10⁻⁸·σ and applying D there.
 * `model` is a mixture (exact posterior mean) or any host-side float64 denoiser.
 */
export function referenceOdeTrajectory(
  model: GaussianMixtureSpec | CanonicalMixture | HostDenoiser,
  x: ArrayLike<number>,
  sigmas: ArrayLike<number>,
  options: ReferenceOdeOptions & { dim?: number } = {},
): Float64Array[] {
  const D = toHost(model);
  const dim =
    options.dim ??
    (typeof model === 'function'
      ? x.length
      : 'components' in model
        ? model.dim
        : canonicalMixture(model).dim);
  if (x.length % dim !== 0 || x.length === 0)
    throw new TesseraError(
      'SHAPE_MISMATCH',
      `referenceOdeSolve: x length ${x.length} is not a positive multiple of d = ${dim}`,
    );
  if (sigmas.length < 1)
    throw new TesseraError('INVALID_ARGUMENT', 'referenceOdeSolve: sigmas must not be empty');
  for (let i = 0; i < sigmas.length; i++) {
    checkSigma('referenceOdeSolve', `sigmas[${i}]`, sigmas[i]!);
    if (i + 1 < sigmas.length - 1 && sigmas[i + 1]! === 0)
      throw new TesseraError('INVALID_ARGUMENT', 'referenceOdeSolve: σ = 0 may only be the last entry');
  }
  if (sigmas[0] === 0 && sigmas.length > 1)
    throw new TesseraError('INVALID_ARGUMENT', 'referenceOdeSolve: cannot start at σ = 0');
  const o = {
    rtol: options.rtol ?? 1e-10,
    atol: options.atol ?? 1e-10,
    maxSteps: options.maxSteps ?? 100000,
  };
  const rows = x.length / dim;
  const states: Float64Array[] = [Float64Array.from(x)];
  let cur = Float64Array.from(x);
  for (let k = 1; k < sigmas.length; k++) {
    const a = sigmas[k - 1]!;
    const b = sigmas[k]!;
    const next = new Float64Array(cur.length);
    for (let r = 0; r < rows; r++) {
      const row = cur.slice(r * dim, (r + 1) * dim);
      let y: Float64Array;
      if (b > 0) y = integrate(D, row, Math.log(a), Math.log(b), o);
      else {
        const eps = a * 1e-8;
        y = D(integrate(D, row, Math.log(a), Math.log(eps), o), eps);
      }
      next.set(y, r * dim);
    }
    states.push(next);
    cur = next;
  }
  return states;
}

/** The state at the last σ of `sigmas` (see {@link referenceOdeTrajectory}). */
export function referenceOdeSolve(
  model: GaussianMixtureSpec | CanonicalMixture | HostDenoiser,
  x: ArrayLike<number>,
  sigmas: ArrayLike<number>,
  options: ReferenceOdeOptions & { dim?: number } = {},
): Float64Array {
  const states = referenceOdeTrajectory(model, x, sigmas, options);
  return states[states.length - 1]!;
}
