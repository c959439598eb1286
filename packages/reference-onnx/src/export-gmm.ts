import { GraphBuilder } from '@tessera/backend-onnx';
import { TesseraError } from '@tessera/core';

/**
 * ONNX export of the exact Gaussian-mixture denoiser: for x = x₀ + σε with x₀ ~ Σₖ wₖ N(μₖ, Σₖ),
 * D(x, σ) = E[x₀ | x] = Σₖ rₖ(x) (x − σ²(Σₖ + σ²I)⁻¹(x − μₖ)), with responsibilities
 * rₖ ∝ wₖ N(x; μₖ, Σₖ + σ²I). Covariances are diagonal, or "spectral"
 * Σ = V diag(λ) Vᵀ + s(I − VVᵀ) with orthonormal V (the canonical form of @tessera/reference, so
 * `canonicalMixture(spec)` can be passed as is). A Gaussian is a mixture of one; the empirical
 * denoiser is the mixture of its data points with zero variance and equal weights.
 */

/** A component with per-coordinate variances. */
export interface DiagComponent {
  kind: 'diag';
  mean: ArrayLike<number>;
  variances: ArrayLike<number>;
}

/** A component with covariance V diag(λ) Vᵀ + s (I − V Vᵀ). */
export interface SpectralComponent {
  kind: 'spectral';
  mean: ArrayLike<number>;
  /** `d×rank` row-major, orthonormal columns. */
  basis: ArrayLike<number>;
  rank: number;
  eigenvalues: ArrayLike<number>;
  residual: number;
}

/** Mixture parameters (weights are normalised here). */
export interface MixtureParams {
  weights: ArrayLike<number>;
  components: ReadonlyArray<DiagComponent | SpectralComponent>;
}

/** Options of {@link exportGaussianMixtureDenoiser}. */
export interface ExportDenoiserOptions {
  /** Name of the `[N, d]` sample input. Default `x`. */
  inputName?: string;
  /** Name of the σ input (a scalar, `[1]` or `[N]`). Default `sigma`. */
  sigmaName?: string;
  /** Name of the `[N, d]` output. Default `x0`. */
  outputName?: string;
  /**
   * Arithmetic inside the graph. `float64` casts to double (exact to float32 rounding, CPU providers
   * only: WebGPU runs those nodes on the CPU); default `float32`.
   */
  precision?: 'float32' | 'float64';
  /** Shape of one sample (its size must be d), e.g. `[1, 16, 16]`; the input is `[N, ...sampleShape]`. Default `[d]`. */
  sampleShape?: readonly number[];
}

/**
 * Simple mixture parameters: weights, means (`K` arrays of length d, or flat), and per-component
 * isotropic (number) or diagonal (length-d array) variances.
 */
export function diagonalMixture(
  weights: ArrayLike<number>,
  means: ArrayLike<number>[] | ArrayLike<number>,
  variances: ReadonlyArray<number | ArrayLike<number>>,
): MixtureParams {
  const K = weights.length;
  const rows: ArrayLike<number>[] =
    Array.isArray(means) && typeof means[0] === 'object' ? (means as ArrayLike<number>[]) : [];
  if (!rows.length) {
    const flat = means as ArrayLike<number>;
    if (K === 0 || flat.length % K !== 0)
      throw new TesseraError(
        'SHAPE_MISMATCH',
        `diagonalMixture: flat means need K·d values for K = ${K}, got ${flat.length}`,
      );
    const d = flat.length / K;
    for (let k = 0; k < K; k++) rows.push(Array.prototype.slice.call(flat, k * d, (k + 1) * d) as number[]);
  }
  if (rows.length !== K || variances.length !== K) {
    throw new TesseraError(
      'SHAPE_MISMATCH',
      `diagonalMixture: ${K} weights need ${K} means and ${K} variances, got ${rows.length} and ${variances.length}`,
    );
  }
  const d = rows[0]!.length;
  return {
    weights,
    components: rows.map((mean, k) => {
      const v = variances[k]!;
      if (mean.length !== d)
        throw new TesseraError(
          'SHAPE_MISMATCH',
          `diagonalMixture: mean ${k} has ${mean.length} values, mean 0 has ${d}`,
        );
      const vs = typeof v === 'number' ? new Float64Array(d).fill(v) : Float64Array.from(v);
      if (vs.length !== d)
        throw new TesseraError(
          'SHAPE_MISMATCH',
          `diagonalMixture: variances ${k} has ${vs.length} values, expected ${d}`,
        );
      return { kind: 'diag' as const, mean, variances: vs };
    }),
  };
}

/**
 * The empirical distribution of `count` data points (rows of `data`, flat) as a mixture: equal weights,
 * zero variance. Its exported denoiser is D(x, σ) = Σᵢ softmaxᵢ(−‖x − xᵢ‖²/2σ²) xᵢ.
 */
export function empiricalMixture(data: ArrayLike<number>, count: number): MixtureParams {
  if (!Number.isInteger(count) || count < 1 || data.length % count !== 0 || data.length === 0) {
    throw new TesseraError(
      'SHAPE_MISMATCH',
      `empiricalMixture: ${data.length} values do not split into ${count} rows`,
    );
  }
  const d = data.length / count;
  const zeros = new Float64Array(d);
  return {
    weights: new Float64Array(count).fill(1 / count),
    components: Array.from({ length: count }, (_, i) => ({
      kind: 'diag' as const,
      mean: Array.prototype.slice.call(data, i * d, (i + 1) * d) as number[],
      variances: zeros,
    })),
  };
}

function validate(p: MixtureParams): number {
  const K = p.weights.length;
  if (K === 0 || p.components.length !== K) {
    throw new TesseraError(
      'SHAPE_MISMATCH',
      `exportGaussianMixtureDenoiser: ${K} weights but ${p.components.length} components`,
    );
  }
  const d = p.components[0]!.mean.length;
  p.components.forEach((c, k) => {
    if (c.mean.length !== d)
      throw new TesseraError(
        'SHAPE_MISMATCH',
        `exportGaussianMixtureDenoiser: component ${k} has dimension ${c.mean.length}, component 0 has ${d}`,
      );
    if (c.kind === 'diag' && c.variances.length !== d)
      throw new TesseraError(
        'SHAPE_MISMATCH',
        `exportGaussianMixtureDenoiser: component ${k} has ${c.variances.length} variances, expected ${d}`,
      );
    if (c.kind === 'spectral' && (c.basis.length !== d * c.rank || c.eigenvalues.length !== c.rank)) {
      throw new TesseraError(
        'SHAPE_MISMATCH',
        `exportGaussianMixtureDenoiser: component ${k} needs a ${d}×${c.rank} basis and ${c.rank} eigenvalues, got ${c.basis.length} and ${c.eigenvalues.length}`,
      );
    }
    if (!(p.weights[k]! > 0))
      throw new TesseraError(
        'INVALID_ARGUMENT',
        `exportGaussianMixtureDenoiser: weight ${k} is ${p.weights[k]}, expected > 0`,
      );
  });
  return d;
}

/**
 * Writes the exact posterior-mean denoiser of a Gaussian mixture as an ONNX model (opset 18): inputs
 * `x` float32 `[N, d]` and `sigma` float32 (scalar, `[1]` or `[N]`), output `x0` float32 `[N, d]`.
 *
 * @example
 * const bytes = exportGaussianMixtureDenoiser(diagonalMixture([0.3, 0.7], [[-1, 0], [2, 1]], [0.1, [0.2, 0.5]]));
 * const D = await onnxDenoiser(bytes, { backend: B, predictionType: 'sample', inputNames: { sample: 'x', sigma: 'sigma' }, outputName: 'x0' });
 */
export function exportGaussianMixtureDenoiser(
  params: MixtureParams,
  options: ExportDenoiserOptions = {},
): Uint8Array {
  const d = validate(params);
  const T = options.precision === 'float64' ? 'double' : 'float';
  const g = new GraphBuilder();
  const total = Array.from(params.weights).reduce((a, b) => a + b, 0);
  const sampleShape = options.sampleShape ?? [d];
  if (sampleShape.reduce((a, b) => a * b, 1) !== d) {
    throw new TesseraError(
      'SHAPE_MISMATCH',
      `exportGaussianMixtureDenoiser: sampleShape [${sampleShape.join(', ')}] does not hold d = ${d} values`,
    );
  }
  const xRaw = g.input('float', ['batch', ...sampleShape], options.inputName ?? 'x');
  const xIn = sampleShape.length === 1 ? xRaw : g.op('Reshape', [xRaw, g.i64([-1, d])]);
  const sIn = g.input('float', undefined, options.sigmaName ?? 'sigma');
  const x = T === 'double' ? g.cast(xIn, 'double') : xIn;
  const s = T === 'double' ? g.cast(sIn, 'double') : sIn;
  const c = (data: ArrayLike<number>, dims: number[]) => g.const(T, data, dims);
  const s2 = g.op('Reshape', [g.op('Mul', [s, s]), g.i64([-1, 1, 1])]); // [S, 1, 1]
  const x3 = g.op('Unsqueeze', [x, g.i64([1])]); // [N, 1, d]
  const half = c([0.5], []);
  const logits: string[] = [];
  const means: string[] = [];
  const idx = (kind: string) =>
    params.components
      .map((_, k) => k)
      .filter(
        (k) =>
          params.components[k]!.kind === kind ||
          (kind === 'diag' &&
            params.components[k]!.kind === 'spectral' &&
            (params.components[k] as SpectralComponent).rank === 0),
      );
  const diag = idx('diag');
  const spec = params.components.map((_, k) => k).filter((k) => !diag.includes(k));
  const logw = (ks: number[]) =>
    c(
      ks.map((k) => Math.log(params.weights[k]! / total)),
      [ks.length],
    );
  if (diag.length) {
    const M: number[] = [];
    const V: number[] = [];
    for (const k of diag) {
      const comp = params.components[k]!;
      M.push(...Array.from(comp.mean));
      V.push(
        ...(comp.kind === 'diag' ? Array.from(comp.variances) : new Array<number>(d).fill(comp.residual)),
      );
    }
    const v = g.op('Add', [c(V, [diag.length, d]), s2]);
    const r = g.op('Sub', [x3, c(M, [diag.length, d])]);
    const quad = g.op('ReduceSum', [g.op('Div', [g.op('Mul', [r, r]), v]), g.i64([2])], { keepdims: 0 });
    const logdet = g.op('ReduceSum', [g.op('Log', [v]), g.i64([2])], { keepdims: 0 });
    logits.push(g.op('Sub', [logw(diag), g.op('Mul', [half, g.op('Add', [quad, logdet])])]));
    means.push(g.op('Sub', [x3, g.op('Mul', [g.op('Div', [s2, v]), r])]));
  }
  if (spec.length) {
    const comps = spec.map((k) => params.components[k] as SpectralComponent);
    const R = Math.max(...comps.map((q) => q.rank));
    const Ks = comps.length;
    const M: number[] = [];
    const B = new Float64Array(Ks * d * R);
    const Bt = new Float64Array(Ks * R * d);
    const lam: number[] = [];
    const res = comps.map((q) => q.residual);
    comps.forEach((q, j) => {
      M.push(...Array.from(q.mean));
      for (let i = 0; i < d; i++) {
        for (let a = 0; a < q.rank; a++) {
          B[(j * d + i) * R + a] = q.basis[i * q.rank + a]!;
          Bt[(j * R + a) * d + i] = q.basis[i * q.rank + a]!;
        }
      }
      // padded directions get the residual variance, so they contribute nothing beyond it
      for (let a = 0; a < R; a++) lam.push(a < q.rank ? q.eigenvalues[a]! : q.residual);
    });
    const r = g.op('Sub', [x3, c(M, [Ks, d])]); // [N, Ks, d]
    const s2b = g.op('Reshape', [s2, g.i64([-1, 1])]); // [S, 1]
    const resPlus = g.op('Add', [c(res, [Ks]), s2b]); // [S, Ks]
    const cs = g.op('Reciprocal', [resPlus]);
    const cs3 = g.op('Unsqueeze', [cs, g.i64([2])]);
    const rr = g.op('ReduceSum', [g.op('Mul', [r, r]), g.i64([2])], { keepdims: 0 });
    const p = g.op('Squeeze', [
      g.op('MatMul', [g.op('Unsqueeze', [r, g.i64([2])]), c(B, [Ks, d, R])]),
      g.i64([2]),
    ]); // [N, Ks, R]
    const lv = g.op('Add', [c(lam, [Ks, R]), s2]); // [S, Ks, R]
    const e = g.op('Sub', [g.op('Reciprocal', [lv]), cs3]);
    const quad = g.op('Add', [
      g.op('Mul', [rr, cs]),
      g.op('ReduceSum', [g.op('Mul', [g.op('Mul', [p, p]), e]), g.i64([2])], { keepdims: 0 }),
    ]);
    const logdet = g.op('Add', [
      g.op('Mul', [c([d - R], []), g.op('Log', [resPlus])]),
      g.op('ReduceSum', [g.op('Log', [lv]), g.i64([2])], { keepdims: 0 }),
    ]);
    logits.push(g.op('Sub', [logw(spec), g.op('Mul', [half, g.op('Add', [quad, logdet])])]));
    const f = g.op('Mul', [g.op('Mul', [s2, e]), p]); // [N, Ks, R]
    const corr = g.op('Squeeze', [
      g.op('MatMul', [g.op('Unsqueeze', [f, g.i64([2])]), c(Bt, [Ks, R, d])]),
      g.i64([2]),
    ]);
    means.push(g.op('Sub', [g.op('Sub', [x3, g.op('Mul', [g.op('Mul', [s2, cs3]), r])]), corr]));
  }
  // component order in the graph: diagonal ones first, then spectral; the mixture sum does not care
  const lg = logits.length === 1 ? logits[0]! : g.op('Concat', logits, { axis: 1 });
  const mn = means.length === 1 ? means[0]! : g.op('Concat', means, { axis: 1 });
  const resp = g.op('Softmax', [lg], { axis: 1 }); // [N, K]
  const out = g.op('Squeeze', [g.op('MatMul', [g.op('Unsqueeze', [resp, g.i64([1])]), mn]), g.i64([1])]); // [N, d]
  const outF = T === 'double' ? g.cast(out, 'float') : out;
  const shaped = sampleShape.length === 1 ? outF : g.op('Reshape', [outF, g.op('Shape', [xRaw])]);
  g.output(shaped, 'float', options.outputName ?? 'x0', ['batch', ...sampleShape]);
  return g.encode(
    'tessera_gaussian_mixture_denoiser',
    `Exact posterior mean of a ${params.weights.length}-component Gaussian mixture in ${d} dimensions (Tessera).`,
  );
}
