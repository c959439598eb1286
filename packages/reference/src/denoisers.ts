/**
 * Exact denoisers D(x, σ) = E[x₀ | x₀ + σε = x] (k-diffusion convention) of Gaussians, Gaussian mixtures
 * and finite data sets, evaluated with backend ops on whatever backend `x` lives on. Parameters are
 * uploaded once per backend and reused; no host readback happens.
 */
import { type Backend, fmtShape, isTensor, keep, type Tensor, TesseraError, tidy } from '@tessera/core';
import { gaussianFlowSolution } from './flow.js';
import { evaluatePlan, planMixture, uploadPlan } from './mixture-eval.js';
import {
  type CanonicalComponent,
  type CanonicalMixture,
  canonicalGaussian,
  canonicalMixture,
  type GaussianMixtureSpec,
  type GaussianSpec,
} from './spec.js';

/** A reference denoiser: `(x [N, ...dims], σ) → x₀ estimate` of x's shape (a new tensor the caller owns). */
export interface ReferenceDenoiser {
  /** σ is one number for all rows or one per row (length N). */
  (x: Tensor, sigma: number | ArrayLike<number>): Tensor;
  /** Flattened data dimension d (the product of x's dims after the batch axis). */
  readonly dim: number;
  /** Frees the parameters uploaded to every backend used so far. */
  dispose(): void;
  /** The canonical mixture behind a Gaussian or mixture denoiser (for exporters); absent for the empirical one. */
  readonly model?: CanonicalMixture;
  /**
   * Always true: σ may be one value per row, and row i of a batched call equals the call on row i alone
   * (the marker `@tessera/diffusion`'s `RowDenoiser` and the parallel samplers check).
   */
  readonly perRowSigma: true;
}

/** Reshapes x to [N, d] and validates σ; returns per-row σ² (length 1 or N). */
export function prepare(
  op: string,
  x: Tensor,
  sigma: number | ArrayLike<number>,
  d: number,
): { n: number; s2: Float64Array } {
  if (!x || typeof x !== 'object' || !('shape' in x))
    throw new TesseraError('INVALID_ARGUMENT', `${op}: x must be a Tensor`);
  if (x.dtype !== 'float32')
    throw new TesseraError('DTYPE_MISMATCH', `${op}: x must be float32, got ${x.dtype}`);
  const n = x.shape[0] ?? 0;
  const rest = x.shape.slice(1).reduce((a, b) => a * b, 1);
  if (x.rank < 2 || rest !== d) {
    throw new TesseraError(
      'SHAPE_MISMATCH',
      `${op}: x must be [N, ...dims] with ${d} values per row, got ${fmtShape(x.shape)}`,
    );
  }
  if (isTensor(sigma)) {
    throw new TesseraError(
      'INVALID_ARGUMENT',
      `${op}: sigma must be a number or an array with one value per row (${n}), got a tensor ${fmtShape(sigma.shape)} (reference denoisers are synchronous: read it first)`,
    );
  }
  const list = typeof sigma === 'number' ? [sigma] : Array.from(sigma ?? []);
  if (typeof sigma !== 'number' && list.length !== n) {
    throw new TesseraError(
      'SHAPE_MISMATCH',
      `${op}: sigma must be a number or one value per row (${n}), got ${list.length} values`,
    );
  }
  for (const s of list) {
    if (typeof s !== 'number' || !(s >= 0) || !Number.isFinite(s))
      throw new TesseraError('INVALID_ARGUMENT', `${op}: sigma must be finite and ≥ 0, got ${s}`);
  }
  const same = list.every((s) => s === list[0]);
  const vals = same ? [list[0]!] : list;
  return { n, s2: Float64Array.from(vals, (s) => Math.max(s * s, 1e-20)) };
}

type Params = Record<string, Tensor>;

/** Per-backend parameter cache whose tensors survive every scope. */
export function paramCache(build: (B: Backend) => Params): { get(B: Backend): Params; dispose(): void } {
  const cache = new Map<Backend, Params>();
  return {
    get(B) {
      let p = cache.get(B);
      if (!p) {
        p = build(B);
        for (const t of Object.values(p)) keep(t);
        cache.set(B, p);
      }
      return p;
    },
    dispose() {
      for (const p of cache.values()) for (const t of Object.values(p)) t.dispose();
      cache.clear();
    },
  };
}

function makeDenoiser(op: string, model: CanonicalMixture): ReferenceDenoiser {
  const d = model.dim;
  const plan = planMixture(model);
  const params = paramCache((B) => uploadPlan(B, plan));
  const fn = (x: Tensor, sigma: number | ArrayLike<number>): Tensor => {
    const { n, s2 } = prepare(op, x, sigma, d);
    const B = x.backend;
    const p = params.get(B);
    return tidy(() => B.reshape(evaluatePlan(B, plan, p, B.reshape(x, [n, d]), n, s2), x.shape));
  };
  return Object.assign(fn, { dim: d, model, perRowSigma: true as const, dispose: () => params.dispose() });
}

/** A Gaussian's denoiser, with its exact probability-flow map. */
export interface GaussianDenoiser extends ReferenceDenoiser {
  /** The canonical (eigen) form of the Gaussian. */
  readonly gaussian: CanonicalComponent;
  /** The exact probability-flow map from σ_from to σ_to (see {@link gaussianFlowSolution}). */
  flow(x: Tensor, sigmaFrom: number, sigmaTo: number): Tensor;
}

/**
 * The exact denoiser of a Gaussian N(μ, Σ): D(x, σ) = μ + Σ(Σ + σ²I)⁻¹(x − μ), evaluated as
 * μ + V diag(λ/(λ+σ²)) Vᵀ(x − μ) from an eigen-decomposition made once in float64.
 *
 * @example
 * const D = gaussianDenoiser({ mean: [0, 1], cov: [1, 0.5, 0.5, 2] });
 * const x0 = D(tensor([0.3, -0.2], [1, 2]), 0.5);
 */
export function gaussianDenoiser(spec: GaussianSpec): GaussianDenoiser {
  const c = canonicalGaussian(spec);
  const D = makeDenoiser('gaussianDenoiser', {
    dim: c.mean.length,
    weights: Float64Array.of(1),
    components: [c],
  });
  return Object.assign(D, {
    gaussian: c,
    flow: (x: Tensor, sigmaFrom: number, sigmaTo: number) => gaussianFlowSolution(c, x, sigmaFrom, sigmaTo),
  });
}

/**
 * The exact denoiser of a Gaussian mixture: Σ_k r_k(x, σ) D_k(x, σ), with responsibilities
 * r_k ∝ w_k N(x; μ_k, Σ_k + σ²I) by a softmax over the components (log-sum-exp stable).
 */
export function gaussianMixtureDenoiser(spec: GaussianMixtureSpec | CanonicalMixture): ReferenceDenoiser {
  const model = 'components' in spec ? spec : canonicalMixture(spec);
  return makeDenoiser('gaussianMixtureDenoiser', model);
}

/** A finite data set: `data` holds `shape[0]` rows of `shape[1]·shape[2]·…` values. */
export interface Dataset {
  data: ArrayLike<number>;
  shape: readonly number[];
}

/**
 * The optimal denoiser of the empirical distribution of a finite data set:
 * D(x, σ) = Σ_i softmax_i(−‖x − x_i‖² / 2σ²) x_i (the data are centred on their mean first for accuracy).
 */
export function empiricalDenoiser(dataset: Dataset): ReferenceDenoiser {
  const shape = dataset?.shape;
  if (!shape || shape.length < 2 || !dataset.data) {
    throw new TesseraError(
      'INVALID_ARGUMENT',
      'empiricalDenoiser: expected { data, shape: [M, ...dims] } with at least one dim',
    );
  }
  const M = shape[0]!;
  const d = shape.slice(1).reduce((a, b) => a * b, 1);
  if (M < 1 || dataset.data.length !== M * d) {
    throw new TesseraError(
      'SHAPE_MISMATCH',
      `empiricalDenoiser: data length ${dataset.data.length} does not match shape ${fmtShape(shape)}`,
    );
  }
  const mean = new Float64Array(d);
  for (let m = 0; m < M; m++) for (let i = 0; i < d; i++) mean[i]! += dataset.data[m * d + i]! / M;
  const centred = new Float32Array(M * d);
  const half = new Float32Array(M);
  for (let m = 0; m < M; m++) {
    let s = 0;
    for (let i = 0; i < d; i++) {
      const v = dataset.data[m * d + i]! - mean[i]!;
      centred[m * d + i] = v;
      s += v * v;
    }
    half[m] = s / 2;
  }
  const params = paramCache((B) => ({
    data: B.tensor(centred, [M, d]),
    half: B.tensor(half, [1, M]),
    mean: B.tensor(Float32Array.from(mean), [1, d]),
  }));
  const fn = (x: Tensor, sigma: number | ArrayLike<number>): Tensor => {
    const { n, s2 } = prepare('empiricalDenoiser', x, sigma, d);
    const B = x.backend;
    const p = params.get(B);
    return tidy(() => {
      const xc = B.binary('sub', B.reshape(x, [n, d]), p.mean!);
      const dots = B.binary('sub', B.matmul(xc, p.data!, { transposeB: true }), p.half!); // [N,M]
      const logits = B.binary('div', dots, B.tensor(Float32Array.from(s2), [s2.length, 1]));
      const w = B.softmax(logits, 1);
      return B.reshape(B.binary('add', B.matmul(w, p.data!), p.mean!), x.shape);
    });
  };
  return Object.assign(fn, { dim: d, perRowSigma: true as const, dispose: () => params.dispose() });
}
