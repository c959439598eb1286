import { fmtShape, keep, type RandomOptions, type Tensor, TesseraError, tidy } from '@tessera/core';
import { type Metric, NearestCodeSearch } from './nearest.js';
import {
  bincount,
  checkCodebook,
  checkFloat,
  clusterStats,
  l2normalize,
  usageAndPerplexity,
} from './util.js';

function rows2d(op: string, data: Tensor): Tensor {
  checkFloat(op, data, undefined, 'data');
  const D = data.shape[data.rank - 1]!;
  return data.backend.reshape(data, [data.size / D, D]);
}

/** Options of {@link kmeansPlusPlus}. */
export interface KmeansPlusPlusOptions extends RandomOptions {
  /** `cosine` seeds on l2-normalised rows and returns normalised centres. Default `l2`. */
  metric?: Metric;
  /**
   * Candidates drawn per centre after the first; the one that lowers the potential Σ D(x)² most is
   * kept ("greedy k-means++", scikit-learn's default). Default 2 + ⌊ln K⌋; 1 is the plain algorithm.
   */
  localTrials?: number;
}

/**
 * k-means++ seeding (Arthur & Vassilvitskii 2007) of `K` centres from the rows of `data` [..., D],
 * entirely on the backend: the first centre is a uniform draw; for each next one, `localTrials`
 * candidates are drawn with probability ∝ D(x)², the squared distance to the nearest centre so far, and
 * the candidate giving the smallest potential Σ min(D(x)², ‖x − c‖²) is kept (greedy k-means++, as
 * scikit-learn does; it rarely puts two centres in one cluster). The first draw uses Philox word
 * `offset` of `seed`, candidate j of centre k ≥ 1 word `offset + 1 + (k − 1)·localTrials + j` (through
 * `sampleCategorical`), so a seed makes the same draws on every backend: the same centres, except where
 * a draw or a comparison of potentials falls within float32 rounding of a tie. Returns [K, D].
 */
export function kmeansPlusPlus(data: Tensor, K: number, options: KmeansPlusPlusOptions): Tensor {
  if (!Number.isInteger(K) || K < 1)
    throw new TesseraError('INVALID_ARGUMENT', `kmeansPlusPlus: K must be a positive integer, got ${K}`);
  const B = data.backend;
  const offset = options.offset ?? 0;
  return tidy(() => {
    let x = rows2d('kmeansPlusPlus', data);
    if (options.metric === 'cosine') x = l2normalize(x);
    const N = x.shape[0]!;
    if (N < 1)
      throw new TesseraError('INVALID_ARGUMENT', `kmeansPlusPlus: data has no rows ${fmtShape(data.shape)}`);
    const first = B.sampleCategorical(B.fill([1, N], 0), { seed: options.seed, offset });
    const centres: Tensor[] = [B.gather(x, first, 0)];
    let minD = B.reduce('sumsq', B.binary('sub', x, centres[0]!), 1);
    const T = options.localTrials ?? 2 + Math.floor(Math.log(K));
    if (!Number.isInteger(T) || T < 1)
      throw new TesseraError(
        'INVALID_ARGUMENT',
        `kmeansPlusPlus: localTrials must be a positive integer, got ${options.localTrials}`,
      );
    for (let k = 1; k < K; k++) {
      const [c, d] = tidy(() => {
        const logits = B.reshape(B.unary('log', B.clamp(minD, 1e-30, Number.POSITIVE_INFINITY)), [1, N]);
        const rows = T === 1 ? logits : B.broadcastTo(logits, [T, N]);
        const idx = B.sampleCategorical(rows, { seed: options.seed, offset: offset + 1 + (k - 1) * T });
        if (T === 1) {
          const c = B.gather(x, idx, 0);
          return [c, B.binary('min', minD, B.reduce('sumsq', B.binary('sub', x, c), 1))];
        }
        // each candidate's new D², and the potential it leaves; keep the smallest (first on ties)
        const cands = B.gather(x, idx, 0);
        const newD = Array.from({ length: T }, (_, j) =>
          B.reshape(
            B.binary(
              'min',
              minD,
              B.reduce('sumsq', B.binary('sub', x, B.slice(cands, [j, 0], [1, x.shape[1]!])), 1),
            ),
            [1, N],
          ),
        );
        const all = B.concat(newD, 0);
        const best = B.argmin(B.reduce('sum', all, 1), 0, true);
        return [B.gather(cands, best, 0), B.reshape(B.gather(all, best, 0), [N])];
      });
      minD.dispose();
      minD = d;
      centres.push(c);
    }
    return B.concat(centres, 0);
  });
}

/** Options of {@link kmeansStep} and {@link kmeans}. */
export interface KmeansOptions {
  /** `l2` (default) or `cosine` (spherical k-means: rows and centres l2-normalised). */
  metric?: Metric;
}

/**
 * One Lloyd iteration: assigns the rows of `data` [..., D] to their nearest centre of `codebook` [K, D]
 * and moves each centre to the mean of its rows (a centre with no rows stays where it was, as in
 * vector-quantize-pytorch `kmeans`). Returns the new codebook and the per-centre counts (float32 [K]).
 */
export function kmeansStep(
  data: Tensor,
  codebook: Tensor,
  options: KmeansOptions = {},
): { codebook: Tensor; counts: Tensor } {
  const [K, D] = checkCodebook('kmeansStep', codebook);
  const B = data.backend;
  const cosine = options.metric === 'cosine';
  return tidy(() => {
    let x = rows2d('kmeansStep', data);
    if (x.shape[1] !== D)
      throw new TesseraError(
        'SHAPE_MISMATCH',
        `kmeansStep: data ${fmtShape(data.shape)} does not end in D=${D}`,
      );
    if (cosine) x = l2normalize(x);
    const search = new NearestCodeSearch(codebook, { metric: options.metric ?? 'l2' });
    const idx = search.search(x);
    search.dispose();
    const { counts, sums } = clusterStats(x, idx, K);
    const c1 = B.reshape(counts, [K, 1]);
    let means = B.binary('div', sums, B.clamp(c1, 1, Number.POSITIVE_INFINITY));
    if (cosine) means = l2normalize(means);
    return { codebook: B.where(B.binary('gt', c1, 0), means, codebook), counts };
  });
}

/**
 * Lloyd's k-means on the backend: `iters` (default 10) iterations of {@link kmeansStep} from `init`
 * (a [K, D] codebook) or, when `init` is a number K, from {@link kmeansPlusPlus} seeds drawn with `seed`.
 */
export function kmeans(
  data: Tensor,
  init: Tensor | number,
  options: KmeansOptions & { iters?: number; seed?: number } = {},
): { codebook: Tensor; counts: Tensor } {
  const iters = options.iters ?? 10;
  const B = data.backend;
  let codebook =
    typeof init === 'number'
      ? kmeansPlusPlus(data, init, { seed: options.seed ?? 0, metric: options.metric ?? 'l2' })
      : B.reshape(init, init.shape);
  let counts: Tensor = B.fill([codebook.shape[0]!], 0);
  for (let i = 0; i < iters; i++) {
    const next = kmeansStep(data, codebook, options);
    codebook.dispose();
    counts.dispose();
    codebook = next.codebook;
    counts = next.counts;
  }
  return { codebook, counts };
}

/** Options of {@link EmaCodebook}. */
export interface EmaCodebookOptions {
  /** Initial codes [K, D] (copied). */
  codebook: Tensor;
  /** EMA decay γ (default 0.99, VQ-VAE; vector-quantize-pytorch uses 0.8). */
  decay?: number;
  /** Laplace smoothing ε (default 1e-5, vector-quantize-pytorch `laplace_smoothing`). */
  eps?: number;
  /** `l2` (default) or `cosine` (inputs normalised, codes re-normalised after each update). */
  metric?: Metric;
  /** Starting EMA cluster size of every code (default 1, so the EMA sums start at the codes). */
  initialClusterSize?: number;
}

/**
 * A codebook trained by exponential moving averages (VQ-VAE-2 / vector-quantize-pytorch
 * `EuclideanCodebook` with `ema_update`): per update, N ← γN + (1−γ)·counts, M ← γM + (1−γ)·Σ z,
 * Ñ = (N + ε)/(ΣN + Kε)·ΣN (Laplace smoothing), codes ← M / Ñ. All state stays on the backend.
 */
export class EmaCodebook {
  readonly decay: number;
  readonly eps: number;
  readonly metric: Metric;
  readonly size: number;
  readonly dim: number;
  /** Current codes [K, D] (owned; replaced by each update). */
  codebook: Tensor;
  /** EMA cluster sizes [K]. */
  clusterSize: Tensor;
  /** EMA per-code sums [K, D]. */
  embedAvg: Tensor;

  constructor(options: EmaCodebookOptions) {
    const [K, D] = checkCodebook('EmaCodebook', options.codebook);
    this.size = K;
    this.dim = D;
    this.decay = options.decay ?? 0.99;
    this.eps = options.eps ?? 1e-5;
    this.metric = options.metric ?? 'l2';
    if (!(this.decay >= 0 && this.decay < 1))
      throw new TesseraError('INVALID_ARGUMENT', `EmaCodebook: decay must be in [0, 1), got ${this.decay}`);
    const B = options.codebook.backend;
    const n0 = options.initialClusterSize ?? 1;
    this.codebook = keep(
      this.metric === 'cosine' ? l2normalize(options.codebook) : B.reshape(options.codebook, [K, D]),
    );
    this.clusterSize = keep(B.fill([K], n0));
    this.embedAvg = keep(B.binary('mul', this.codebook, n0));
  }

  #input(z: Tensor): Tensor {
    const x = rows2d('EmaCodebook', z);
    if (x.shape[1] !== this.dim)
      throw new TesseraError(
        'SHAPE_MISMATCH',
        `EmaCodebook: z ${fmtShape(z.shape)} does not end in D=${this.dim}`,
      );
    return this.metric === 'cosine' ? l2normalize(x) : x;
  }

  /**
   * One EMA step on the rows of `z` [..., D], assigned to their nearest codes (or to `indices`, when the
   * caller already has them). Returns the int32 assignments (the caller disposes them).
   */
  update(z: Tensor, indices?: Tensor): Tensor {
    const B = this.codebook.backend;
    const g = this.decay;
    const K = this.size;
    const out = tidy(() => {
      const x = this.#input(z);
      let idx: Tensor;
      if (indices) idx = B.reshape(indices, [x.shape[0]!]);
      else {
        const s = new NearestCodeSearch(this.codebook, { metric: this.metric });
        idx = s.search(x);
        s.dispose();
      }
      const { counts, sums } = clusterStats(x, idx, K);
      const cs = B.lincomb([g, 1 - g], [this.clusterSize, counts]);
      const ea = B.lincomb([g, 1 - g], [this.embedAvg, sums]);
      const n = B.reduce('sum', cs);
      const smoothed = B.binary(
        'mul',
        B.binary('div', B.binary('add', cs, this.eps), B.binary('add', n, K * this.eps)),
        n,
      );
      let codes = B.binary('div', ea, B.reshape(smoothed, [K, 1]));
      if (this.metric === 'cosine') codes = l2normalize(codes);
      return { idx, cs, ea, codes };
    });
    this.#swap(out.codes, out.cs, out.ea);
    return out.idx;
  }

  /**
   * Replaces every code whose EMA cluster size is below `threshold` by a row of `z` drawn uniformly
   * (with replacement, Philox stream `seed`/`offset`, word k for code k) and resets its cluster size to
   * `resetClusterSize` (default `threshold`), like vector-quantize-pytorch `expire_codes_`.
   * Runs on the backend without reading back which codes died.
   */
  replaceDeadCodes(
    z: Tensor,
    options: RandomOptions & { threshold: number; resetClusterSize?: number },
  ): void {
    const B = this.codebook.backend;
    const K = this.size;
    const reset = options.resetClusterSize ?? options.threshold;
    const out = tidy(() => {
      const x = this.#input(z);
      const N = x.shape[0]!;
      const u = B.rand([K], { seed: options.seed, offset: options.offset ?? 0 });
      const rowIdx = B.cast(B.clamp(B.unary('floor', B.binary('mul', u, N)), 0, N - 1), 'int32');
      const sampled = B.gather(x, rowIdx, 0);
      const dead = B.binary('lt', this.clusterSize, options.threshold);
      const dead1 = B.reshape(dead, [K, 1]);
      return {
        codes: B.where(dead1, sampled, this.codebook),
        ea: B.where(dead1, B.binary('mul', sampled, reset), this.embedAvg),
        cs: B.where(dead, reset, this.clusterSize),
      };
    });
    this.#swap(out.codes, out.cs, out.ea);
  }

  #swap(codes: Tensor, cs: Tensor, ea: Tensor): void {
    this.codebook.dispose();
    this.clusterSize.dispose();
    this.embedAvg.dispose();
    this.codebook = keep(codes);
    this.clusterSize = keep(cs);
    this.embedAvg = keep(ea);
  }

  /** Frees the codebook state. */
  dispose(): void {
    this.codebook.dispose();
    this.clusterSize.dispose();
    this.embedAvg.dispose();
  }
}

/**
 * Mean squared distance from each row of `data` [..., D] to its nearest code (the k-means distortion),
 * float32 scalar on the backend.
 */
export function distortion(data: Tensor, codebook: Tensor, metric: Metric = 'l2'): Tensor {
  const B = data.backend;
  return tidy(() => {
    let x = rows2d('distortion', data);
    if (metric === 'cosine') x = l2normalize(x);
    const s = new NearestCodeSearch(codebook, { metric });
    const idx = s.search(x);
    const q = B.gather(s.searchCodes, idx, 0);
    s.dispose();
    return B.reduce('mean', B.reduce('sumsq', B.binary('sub', x, q), 1));
  });
}

/**
 * Codebook usage over a rolling window of the most recent `window` indices (default 65536, as LlamaGen's
 * `codebook_used` buffer), kept as per-code counts on the backend and updated incrementally.
 */
export class UsageMeter {
  readonly size: number;
  readonly window: number;
  #counts: Tensor | undefined;
  #queue: Tensor[] = [];
  #total = 0;

  constructor(options: { codebookSize: number; window?: number }) {
    this.size = options.codebookSize;
    this.window = options.window ?? 65536;
    if (!Number.isInteger(this.size) || this.size < 1 || !Number.isInteger(this.window) || this.window < 1) {
      throw new TesseraError(
        'INVALID_ARGUMENT',
        `UsageMeter: codebookSize and window must be positive integers, got ${this.size}, ${this.window}`,
      );
    }
  }

  /** Records a batch of int32 indices (any shape). */
  update(indices: Tensor): void {
    const B = indices.backend;
    const flat = keep(B.reshape(indices, [indices.size]));
    this.#add(bincount(flat, this.size), 1);
    this.#queue.push(flat);
    this.#total += flat.size;
    while (this.#total > this.window) {
      const oldest = this.#queue[0]!;
      const excess = this.#total - this.window;
      if (oldest.size <= excess) {
        this.#add(bincount(oldest, this.size), -1);
        this.#queue.shift();
        oldest.dispose();
        this.#total -= oldest.size;
      } else {
        const [drop, rest] = tidy(() => [
          bincount(B.slice(oldest, [0], [excess]), this.size),
          B.slice(oldest, [excess], [oldest.size - excess]),
        ]);
        this.#add(drop, -1);
        this.#queue[0] = keep(rest);
        oldest.dispose();
        this.#total -= excess;
      }
    }
  }

  #add(hist: Tensor, sign: 1 | -1): void {
    const prev = this.#counts;
    this.#counts = keep(
      prev
        ? prev.backend.lincomb([1, sign], [prev, hist])
        : sign === 1
          ? hist
          : hist.backend.binary('mul', hist, -1),
    );
    if (this.#counts !== hist) hist.dispose();
    prev?.dispose();
  }

  /** Number of indices in the window. */
  get count(): number {
    return this.#total;
  }

  /** Per-code counts in the window, float32 [K] (a new tensor; undefined before the first update). */
  counts(): Tensor | undefined {
    return this.#counts ? this.#counts.backend.reshape(this.#counts, [this.size]) : undefined;
  }

  /** Fraction of codes used in the window and the window's perplexity (new float32 scalars). */
  stats(): { usage: Tensor; perplexity: Tensor } | undefined {
    return this.#counts ? usageAndPerplexity(this.#counts) : undefined;
  }

  /** Forgets everything recorded. */
  reset(): void {
    this.dispose();
    this.#total = 0;
  }

  /** Frees the window. */
  dispose(): void {
    this.#counts?.dispose();
    this.#counts = undefined;
    for (const t of this.#queue) t.dispose();
    this.#queue = [];
  }
}
