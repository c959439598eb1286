/**
 * Exact denoisers D(x, σ) = E[x₀ | x₀ + σε = x] (k-diffusion convention) of Gaussians, Gaussian mixtures
 * and finite data sets, evaluated with backend ops on whatever backend `x` lives on. Parameters are
 * uploaded once per backend and reused; no host readback happens.
 */
import { type Backend, fmtShape, keep, type Tensor, TesseraError, tidy } from '@tessera/core';
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
}

/** Reshapes x to [N, d] and validates σ; returns per-row σ² (length 1 or N). */
export function prepare(
  op: string,
  x: Tensor,
  sigma: number | ArrayLike<number>,
  d: number,
): { n: number; s2: Float32Array } {
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
  return { n, s2: Float32Array.from(vals, (s) => Math.max(s * s, 1e-20)) };
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

function f32(a: ArrayLike<number>): Float32Array {
  return Float32Array.from(a);
}

interface Groups {
  spectral: Array<Extract<CanonicalComponent, { kind: 'spectral' }>>;
  spectralW: number[];
  diag: Array<Extract<CanonicalComponent, { kind: 'diag' }>>;
  diagW: number[];
}

function uploadGroups(B: Backend, g: Groups, d: number): Params {
  const p: Params = {};
  if (g.spectral.length) {
    const K = g.spectral.length;
    const R = Math.max(1, ...g.spectral.map((c) => c.rank));
    const means = new Float32Array(K * d);
    const basis = new Float32Array(K * d * R);
    const lam = new Float32Array(K * R);
    const res = new Float32Array(K);
    const cpl = new Float32Array(K);
    g.spectral.forEach((c, k) => {
      means.set(c.mean, k * d);
      for (let i = 0; i < d; i++)
        for (let j = 0; j < c.rank; j++) basis[(k * d + i) * R + j] = c.basis[i * c.rank + j]!;
      for (let j = 0; j < R; j++) lam[k * R + j] = j < c.rank ? c.eigenvalues[j]! : c.residual;
      res[k] = c.residual;
      cpl[k] = d - R;
    });
    p.sMeans = B.tensor(means, [K, 1, d]);
    p.sBasis = B.tensor(basis, [K, d, R]);
    p.sLam = B.tensor(lam, [K, 1, R]);
    p.sRes = B.tensor(res, [K, 1, 1]);
    p.sCpl = B.tensor(cpl, [K, 1, 1]);
    p.sLogW = B.tensor(f32(g.spectralW.map(Math.log)), [K, 1, 1]);
  }
  if (g.diag.length) {
    const K = g.diag.length;
    const means = new Float32Array(K * d);
    const vars = new Float32Array(K * d);
    g.diag.forEach((c, k) => {
      means.set(c.mean, k * d);
      vars.set(c.variances, k * d);
    });
    p.dMeans = B.tensor(means, [K, 1, d]);
    p.dVars = B.tensor(vars, [K, 1, d]);
    p.dLogW = B.tensor(f32(g.diagW.map(Math.log)), [K, 1, 1]);
  }
  return p;
}

/**
 * Logits [K, N, 1] (log w_k + log N(x; μ_k, Σ_k + σ²I) up to a shared constant) and corrections
 * [K, N, d] = σ²(Σ_k + σ²I)⁻¹(x − μ_k), so that D_k = x − correction_k.
 */
function evalGroups(B: Backend, p: Params, x3: Tensor, s2: Tensor): { logits: Tensor[]; corr: Tensor[] } {
  const logits: Tensor[] = [];
  const corr: Tensor[] = [];
  if (p.sMeans) {
    const r = B.binary('sub', x3, p.sMeans); // [K,N,d]
    const proj = B.matmul(r, p.sBasis!); // [K,N,R]
    const c = B.unary('reciprocal', B.binary('add', p.sRes!, s2)); // [K,S,1]
    const lamS = B.binary('add', p.sLam!, s2); // [K,S,R]
    const e = B.binary('sub', B.unary('reciprocal', lamS), c); // [K,S,R]
    const quad = B.binary(
      'add',
      B.binary('mul', B.reduce('sumsq', r, 2, true), c),
      B.reduce('sum', B.binary('mul', B.unary('square', proj), e), 2, true),
    );
    const logDet = B.binary(
      'add',
      B.reduce('sum', B.unary('log', lamS), 2, true),
      B.binary('mul', p.sCpl!, B.unary('log', B.binary('add', p.sRes!, s2))),
    );
    logits.push(B.binary('sub', p.sLogW!, B.binary('mul', B.binary('add', quad, logDet), 0.5)));
    const back = B.matmul(B.binary('mul', proj, B.binary('mul', e, s2)), p.sBasis!, { transposeB: true });
    corr.push(B.binary('add', B.binary('mul', r, B.binary('mul', c, s2)), back));
  }
  if (p.dMeans) {
    const r = B.binary('sub', x3, p.dMeans);
    const v = B.binary('add', p.dVars!, s2); // [K,S,d]
    const inv = B.unary('reciprocal', v);
    const quad = B.reduce('sum', B.binary('mul', B.unary('square', r), inv), 2, true);
    const logDet = B.reduce('sum', B.unary('log', v), 2, true);
    logits.push(B.binary('sub', p.dLogW!, B.binary('mul', B.binary('add', quad, logDet), 0.5)));
    corr.push(B.binary('mul', r, B.binary('mul', inv, s2)));
  }
  return { logits, corr };
}

function makeDenoiser(op: string, model: CanonicalMixture): ReferenceDenoiser {
  const d = model.dim;
  const groups: Groups = { spectral: [], spectralW: [], diag: [], diagW: [] };
  model.components.forEach((c, k) => {
    if (c.kind === 'spectral') {
      groups.spectral.push(c);
      groups.spectralW.push(model.weights[k]!);
    } else {
      groups.diag.push(c);
      groups.diagW.push(model.weights[k]!);
    }
  });
  const params = paramCache((B) => uploadGroups(B, groups, d));
  const K = model.components.length;
  const fn = (x: Tensor, sigma: number | ArrayLike<number>): Tensor => {
    const { n, s2 } = prepare(op, x, sigma, d);
    const B = x.backend;
    const p = params.get(B);
    return tidy(() => {
      const x3 = B.reshape(x, [1, n, d]);
      const s2t = B.tensor(s2, [1, s2.length, 1]);
      const { logits, corr } = evalGroups(B, p, x3, s2t);
      let total: Tensor;
      if (K === 1) total = B.reshape(corr[0]!, [n, d]);
      else {
        const rho = B.softmax(logits.length > 1 ? B.concat(logits, 0) : logits[0]!, 0);
        const c = corr.length > 1 ? B.concat(corr, 0) : corr[0]!;
        total = B.reduce('sum', B.binary('mul', rho, c), 0);
      }
      return B.reshape(B.binary('sub', B.reshape(x, [n, d]), total), x.shape);
    });
  };
  return Object.assign(fn, { dim: d, dispose: () => params.dispose() });
}

/**
 * The exact denoiser of a Gaussian N(μ, Σ): D(x, σ) = μ + Σ(Σ + σ²I)⁻¹(x − μ), evaluated as
 * μ + V diag(λ/(λ+σ²)) Vᵀ(x − μ) from an eigen-decomposition made once in float64.
 *
 * @example
 * const D = gaussianDenoiser({ mean: [0, 1], cov: [1, 0.5, 0.5, 2] });
 * const x0 = D(tensor([0.3, -0.2], [1, 2]), 0.5);
 */
export function gaussianDenoiser(spec: GaussianSpec): ReferenceDenoiser {
  const c = canonicalGaussian(spec);
  return makeDenoiser('gaussianDenoiser', {
    dim: c.mean.length,
    weights: Float64Array.of(1),
    components: [c],
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
    mean: B.tensor(f32(mean), [1, d]),
  }));
  const fn = (x: Tensor, sigma: number | ArrayLike<number>): Tensor => {
    const { n, s2 } = prepare('empiricalDenoiser', x, sigma, d);
    const B = x.backend;
    const p = params.get(B);
    return tidy(() => {
      const xc = B.binary('sub', B.reshape(x, [n, d]), p.mean!);
      const dots = B.binary('sub', B.matmul(xc, p.data!, { transposeB: true }), p.half!); // [N,M]
      const logits = B.binary('div', dots, B.tensor(s2, [s2.length, 1]));
      const w = B.softmax(logits, 1);
      return B.reshape(B.binary('add', B.matmul(w, p.data!), p.mean!), x.shape);
    });
  };
  return Object.assign(fn, { dim: d, dispose: () => params.dispose() });
}
