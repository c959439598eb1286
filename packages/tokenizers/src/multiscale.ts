import { dispose, fmtShape, type Tensor, TesseraError, tidy } from '@tessera/core';
import { type Metric, NearestCodeSearch } from './nearest.js';
import { checkCodebook, checkIndices } from './util.js';

/**
 * A φ refinement of VAR: maps an upsampled code map h [B, C, H, W] of scale `scaleIndex` to the map that
 * is added to f̂. May be async (an ONNX session). Must return a new tensor or `h` itself.
 */
export type PhiFn = (h: Tensor, scaleIndex: number) => Tensor | Promise<Tensor>;

/** VAR's default scale schedule `v_patch_nums` (VAR `train.py` / `models/__init__.py`, 256×256 model). */
export const VAR_PATCH_NUMS: readonly number[] = [1, 2, 3, 4, 5, 6, 8, 10, 13, 16];

/**
 * The ticks of VAR's `PhiPartiallyShared` / `PhiNonShared` (models/quant.py): K evenly spaced points,
 * `np.linspace(1/3/K, 1-1/3/K, K)` when K = 4 and `np.linspace(1/2/K, 1-1/2/K, K)` otherwise, computed the
 * way numpy's linspace does (start + i·step, last point set to stop).
 */
export function phiTicks(K: number): number[] {
  if (!Number.isInteger(K) || K < 1)
    throw new TesseraError('INVALID_ARGUMENT', `phiTicks: K must be a positive integer, got ${K}`);
  const start = K === 4 ? 1 / 3 / K : 1 / 2 / K;
  const stop = K === 4 ? 1 - 1 / 3 / K : 1 - 1 / 2 / K;
  if (K === 1) return [start];
  const step = (stop - start) / (K - 1);
  const t = Array.from({ length: K }, (_, i) => i * step + start);
  t[K - 1] = stop;
  return t;
}

/**
 * Which of K shared φ's VAR applies at scale `si` of `numScales`: argminₖ |tickₖ − si/(numScales−1)|
 * (first on ties), as `PhiPartiallyShared.__getitem__`. A single scale uses position 0.
 */
export function phiIndex(si: number, numScales: number, K: number): number {
  const at = numScales > 1 ? si / (numScales - 1) : 0;
  const ticks = phiTicks(K);
  let best = 0;
  for (let k = 1; k < K; k++) if (Math.abs(ticks[k]! - at) < Math.abs(ticks[best]! - at)) best = k;
  return best;
}

/**
 * VAR's `Phi` around a caller's convolution: h ↦ (1 − r)·h + r·conv(h) (quant_resi r, default 0.5).
 */
export function residualPhi(conv: (h: Tensor) => Tensor | Promise<Tensor>, ratio = 0.5): PhiFn {
  const r = Math.abs(ratio);
  return async (h) => {
    const c = await conv(h);
    const out = h.backend.lincomb([1 - r, r], [h, c]);
    if (c !== h) c.dispose();
    return out;
  };
}

/** Options of {@link MultiScaleResidualQuantizer}. */
export interface MultiScaleOptions {
  /** Codebook [V, C] (VAR's `embedding.weight`; not copied). */
  codebook: Tensor;
  /** Side of each scale's token map, small to large (default {@link VAR_PATCH_NUMS}); [h, w] pairs allowed. */
  patchNums?: ReadonlyArray<number | readonly [number, number]>;
  /** `l2` (default) or `cosine` (VAR `using_znorm`: search by cosine, decode with the raw codes). */
  metric?: Metric;
  /** φ: one function for all scales, or K functions shared across scales by VAR's ticks. Default identity. */
  phi?: PhiFn | readonly PhiFn[];
  /** Commitment weight β of the training loss (default 0.25). */
  beta?: number;
}

/** Result of {@link MultiScaleResidualQuantizer.quantize}; the caller disposes every tensor. */
export interface MultiScaleResult {
  /** Per-scale int32 index maps [B, h_s, w_s], small to large. */
  indices: Tensor[];
  /** f̂ after the last scale, [B, C, H, W]. */
  fHat: Tensor;
  /** VAR's `mean_vq_loss` forward value: (1 + β)/S · Σₛ mse(f̂ₛ, f), float32 scalar. */
  loss: Tensor;
}

/**
 * VAR's multi-scale residual quantizer (`VectorQuantizer2` of FoundationVision/VAR models/quant.py).
 * For each scale s (small to large): z = area-downsample(f − f̂) to (h_s, w_s) (the last scale uses the
 * full map), idx = nearest codes, h = φ(bicubic-upsample(codes) to (H, W), s), f̂ += h. Resampling is the
 * backend's `resize` (PyTorch `interpolate` semantics). Feature maps are channel-first [B, C, H, W].
 */
export class MultiScaleResidualQuantizer {
  readonly codebook: Tensor;
  readonly patchNums: ReadonlyArray<readonly [number, number]>;
  readonly metric: Metric;
  readonly beta: number;
  readonly channels: number;
  #phis: readonly PhiFn[] | undefined;
  #search: NearestCodeSearch;

  constructor(options: MultiScaleOptions) {
    if (!options?.codebook)
      throw new TesseraError(
        'INVALID_ARGUMENT',
        'MultiScaleResidualQuantizer: options.codebook ([V, C]) is required',
      );
    this.channels = checkCodebook('MultiScaleResidualQuantizer', options.codebook)[1];
    this.codebook = options.codebook;
    this.metric = options.metric ?? 'l2';
    this.beta = options.beta ?? 0.25;
    const pns = options.patchNums ?? VAR_PATCH_NUMS;
    if (pns.length < 1)
      throw new TesseraError('INVALID_ARGUMENT', 'MultiScaleResidualQuantizer: patchNums is empty');
    this.patchNums = pns.map((p) => {
      const hw: [number, number] = typeof p === 'number' ? [p, p] : [p[0], p[1]];
      if (!hw.every((v) => Number.isInteger(v) && v >= 1)) {
        throw new TesseraError(
          'INVALID_ARGUMENT',
          `MultiScaleResidualQuantizer: patch sizes must be positive integers, got ${JSON.stringify(p)}`,
        );
      }
      return hw;
    });
    const phi = options.phi;
    if (phi !== undefined && typeof phi !== 'function' && (!Array.isArray(phi) || phi.length === 0)) {
      throw new TesseraError(
        'INVALID_ARGUMENT',
        'MultiScaleResidualQuantizer: phi must be a function or a non-empty array of functions',
      );
    }
    this.#phis =
      phi === undefined ? undefined : typeof phi === 'function' ? [phi] : (phi as readonly PhiFn[]);
    this.#search = new NearestCodeSearch(options.codebook, { metric: this.metric });
  }

  /** Number of scales S. */
  get numScales(): number {
    return this.patchNums.length;
  }

  /** Tokens per sample over all scales, Σ h_s·w_s. */
  get tokenCount(): number {
    return this.patchNums.reduce((a, [h, w]) => a + h * w, 0);
  }

  /** Applies the φ of scale `si` (VAR's `quant_resi[si/(S-1)]`); identity without φ. */
  async applyPhi(h: Tensor, si: number): Promise<Tensor> {
    if (!this.#phis) return h;
    const k = this.#phis.length === 1 ? 0 : phiIndex(si, this.numScales, this.#phis.length);
    return this.#phis[k]!(h, si);
  }

  #final(f: Tensor): [number, number] {
    const [H, W] = this.patchNums[this.numScales - 1]!;
    if (
      f.rank !== 4 ||
      f.dtype !== 'float32' ||
      f.shape[1] !== this.channels ||
      f.shape[2] !== H ||
      f.shape[3] !== W
    ) {
      throw new TesseraError(
        'SHAPE_MISMATCH',
        `MultiScaleResidualQuantizer: expected a float32 feature map [B, ${this.channels}, ${H}, ${W}] (last patch size), got ${f.dtype} ${fmtShape(f.shape)}`,
      );
    }
    return [H, W];
  }

  /** Codes of an index map [B, h, w] as a channel-first map [B, C, h, w]. */
  embed(idx: Tensor): Tensor {
    checkIndices('MultiScaleResidualQuantizer.embed', idx);
    const B = this.codebook.backend;
    return tidy(() => B.transpose(B.gather(this.codebook, idx, 0), [0, 3, 1, 2]));
  }

  /** Upsamples a code map to the final size (bicubic) unless it is already that size. */
  #up(h: Tensor): Tensor {
    const [H, W] = this.patchNums[this.numScales - 1]!;
    return h.shape[2] === H && h.shape[3] === W ? h : h.backend.resize(h, [H, W], 'bicubic');
  }

  /**
   * Encodes f [B, C, H, W] (H, W = the last patch size) to per-scale index maps, with f̂ and VAR's
   * training loss (forward value). Follows `VectorQuantizer2.forward` / `f_to_idxBl_or_fhat`.
   */
  async quantize(f: Tensor): Promise<MultiScaleResult> {
    this.#final(f);
    const B = f.backend;
    const S = this.numScales;
    let fHat = B.fill(f.shape, 0);
    let fRest = B.reshape(f, f.shape);
    let lossSum: Tensor = B.fill([], 0);
    const indices: Tensor[] = [];
    try {
      for (let si = 0; si < S; si++) {
        const [ph, pw] = this.patchNums[si]!;
        const [idx, up] = tidy(() => {
          const z = si === S - 1 ? fRest : B.resize(fRest, [ph, pw], 'area');
          const idx = this.#search.search(B.transpose(z, [0, 2, 3, 1]));
          return [idx, this.#up(this.embed(idx))];
        });
        indices.push(idx);
        const h = await this.applyPhi(up, si);
        const next = tidy(() => {
          const nf = B.binary('add', fHat, h);
          const mse = B.reduce('mean', B.unary('square', B.binary('sub', nf, f)));
          return { fHat: nf, fRest: B.binary('sub', fRest, h), loss: B.binary('add', lossSum, mse) };
        });
        disposeExcept([up, h, fHat, fRest, lossSum], undefined);
        fHat = next.fHat;
        fRest = next.fRest;
        lossSum = next.loss;
      }
      const loss = B.binary('mul', lossSum, (1 + this.beta) / S);
      return { indices, fHat, loss };
    } catch (e) {
      dispose([indices, fHat]);
      throw e;
    } finally {
      dispose([fRest, lossSum]);
    }
  }

  /** Per-scale int32 index maps [B, h_s, w_s] of f [B, C, H, W]. */
  async encode(f: Tensor): Promise<Tensor[]> {
    const r = await this.quantize(f);
    dispose([r.fHat, r.loss]);
    return r.indices;
  }

  /**
   * f̂ = Σₛ φ(upsample(codes of scale s)) [B, C, H, W] from per-scale index maps ([B, h_s, w_s] or
   * [B, h_s·w_s]); with `all`, the running f̂ after every scale (VAR `embed_to_fhat`, all_to_max_scale).
   */
  async decode(indices: readonly Tensor[], options: { all?: boolean } = {}): Promise<Tensor[]> {
    if (indices.length < 1 || indices.length > this.numScales) {
      throw new TesseraError(
        'INVALID_ARGUMENT',
        `MultiScaleResidualQuantizer.decode: expected 1..${this.numScales} index maps, got ${indices.length}`,
      );
    }
    const out: Tensor[] = [];
    let fHat: Tensor | undefined;
    for (let si = 0; si < indices.length; si++) {
      const up = tidy(() => this.#up(this.embed(this.#map(indices[si]!, si))));
      const h = await this.applyPhi(up, si);
      const next = fHat ? fHat.backend.binary('add', fHat, h) : h;
      disposeExcept([up, h], next);
      if (fHat && !options.all) fHat.dispose();
      fHat = next;
      if (options.all) out.push(fHat);
    }
    return options.all ? out : [fHat!];
  }

  /** Reshapes an index map of scale `si` to [B, h, w], checking its size. */
  #map(idx: Tensor, si: number): Tensor {
    checkIndices('MultiScaleResidualQuantizer', idx);
    const [ph, pw] = this.patchNums[si]!;
    const n = idx.shape[0]!;
    if (idx.rank < 1 || idx.size !== n * ph * pw) {
      throw new TesseraError(
        'SHAPE_MISMATCH',
        `MultiScaleResidualQuantizer: index map of scale ${si} must be [B, ${ph}, ${pw}] or [B, ${ph * pw}], got ${fmtShape(idx.shape)}`,
      );
    }
    return idx.backend.reshape(idx, [n, ph, pw]);
  }

  /**
   * Teacher-forcing input of VAR training (`idxBl_to_var_input`): for s = 0..S−2, f̂ += φ(bicubic-up(codes
   * of scale s)), then area-downsample f̂ to scale s+1 and flatten to [B, h·w, C]; concatenated over scales
   * → [B, Σ_{s≥1} h_s·w_s, C] (undefined when S = 1).
   */
  async teacherForcingInput(indices: readonly Tensor[]): Promise<Tensor | undefined> {
    const S = this.numScales;
    if (indices.length < S - 1) {
      throw new TesseraError(
        'INVALID_ARGUMENT',
        `teacherForcingInput: expected at least ${S - 1} index maps, got ${indices.length}`,
      );
    }
    if (S === 1) return undefined;
    const parts: Tensor[] = [];
    let fHat: Tensor | undefined;
    try {
      for (let si = 0; si < S - 1; si++) {
        const r = await this.nextInput(si, fHat, this.embedAt(indices[si]!, si));
        fHat?.dispose();
        fHat = r.fHat;
        parts.push(tidy(() => flattenTokens(r.next)));
        r.next.dispose();
      }
      const B = parts[0]!.backend;
      return parts.length === 1 ? parts[0]! : B.concat(parts, 1);
    } finally {
      fHat?.dispose();
      if (parts.length > 1) dispose(parts);
    }
  }

  /** Codes [B, C, h, w] of the index map of scale `si` ([B, h, w] or [B, h·w]). */
  embedAt(idx: Tensor, si: number): Tensor {
    return tidy(() => this.embed(this.#map(idx, si)));
  }

  /**
   * One step of VAR inference (`get_next_autoregressive_input`): adds φ(upsample(h)) of scale `si` to f̂
   * (zeros when undefined) and returns the new f̂ [B, C, H, W] and the next scale's input (f̂
   * area-downsampled to scale si+1; f̂ itself at the last scale). Takes ownership of `h` [B, C, h_s, w_s];
   * does not dispose `fHat`.
   */
  async nextInput(si: number, fHat: Tensor | undefined, h: Tensor): Promise<{ fHat: Tensor; next: Tensor }> {
    const S = this.numScales;
    if (!Number.isInteger(si) || si < 0 || si >= S)
      throw new TesseraError('OUT_OF_RANGE', `nextInput: scale ${si} outside [0, ${S})`);
    const B = h.backend;
    const up = si === S - 1 ? h : this.#up(h);
    const p = await this.applyPhi(up, si);
    const nf = fHat ? B.binary('add', fHat, p) : p === h ? B.reshape(p, p.shape) : p;
    disposeExcept([h, up, p], nf);
    if (si === S - 1) return { fHat: nf, next: B.reshape(nf, nf.shape) };
    const [nh, nw] = this.patchNums[si + 1]!;
    return { fHat: nf, next: B.resize(nf, [nh, nw], 'area') };
  }

  /** Frees the precomputed search tensors (not the codebook). */
  dispose(): void {
    this.#search.dispose();
  }
}

/** [B, C, h, w] → [B, h·w, C] (VAR's `.view(B, C, -1).transpose(1, 2)`). */
export function flattenTokens(x: Tensor): Tensor {
  const B = x.backend;
  const [n, c, h, w] = x.shape as [number, number, number, number];
  return tidy(() => B.transpose(B.reshape(x, [n, c, h * w]), [0, 2, 1]));
}

/** Disposes each distinct tensor of `ts` except `keepT`. */
function disposeExcept(ts: readonly Tensor[], keepT: Tensor | undefined): void {
  for (const t of new Set(ts)) if (t !== keepT) t.dispose();
}
