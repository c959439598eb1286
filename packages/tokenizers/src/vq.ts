import { fmtShape, type Tensor, TesseraError, tidy } from '@tessera/core';
import { type Metric, NearestCodeSearch } from './nearest.js';
import {
  bincount,
  checkFloat,
  checkIndices,
  checkSameBackend,
  l2normalize,
  usageAndPerplexity,
} from './util.js';

/** Options of {@link VectorQuantizer}. */
export interface VectorQuantizerOptions {
  /** Codebook [K, D], float32 (not copied: the caller keeps ownership and must keep it alive). */
  codebook: Tensor;
  /** `l2` (default) or `cosine` (LlamaGen `codebook_l2_norm=True`: inputs and codes l2-normalised). */
  metric?: Metric;
  /** Commitment weight β (default 0.25, LlamaGen `commit_loss_beta`, VAR `beta`). */
  beta?: number;
  /** Cap on the elements of one [rows, K] distance block (default 2²²). */
  maxBlockElements?: number;
}

/** Result of {@link VectorQuantizer.quantize}; every tensor is the caller's to dispose. */
export interface QuantizeResult {
  /** int32 code indices, the input shape without its last axis. */
  indices: Tensor;
  /** The chosen codes, the input's shape (normalised codes for `cosine`). */
  quantized: Tensor;
  /** mean((quantized − z)²) over all elements (z normalised for `cosine`), float32 scalar. */
  mse: Tensor;
  /** β · mse, the commitment loss of LlamaGen / taming (forward value), float32 scalar. */
  commitmentLoss: Tensor;
  /** Per-code counts of this batch, float32 [K]. */
  counts: Tensor;
  /** Fraction of the K codes used by this batch, float32 scalar. */
  usage: Tensor;
  /** exp(entropy) of this batch's code histogram, float32 scalar. */
  perplexity: Tensor;
}

/**
 * A vector quantizer over a fixed codebook (VQ-VAE / taming `VectorQuantizer2` / LlamaGen
 * `VectorQuantizer` at inference): nearest-code search by one backend matmul per row block, decode by
 * gather. Inputs are channel-last `[..., D]`; use {@link VectorQuantizer.encodeImage} for `[B, D, H, W]`.
 *
 * @example
 * const vq = new VectorQuantizer({ codebook: tensor(codes, [K, D]) });
 * const idx = await (await vq.encode(tensor(z, [N, D]))).data(); // Int32Array(N)
 */
export class VectorQuantizer {
  readonly codebook: Tensor;
  readonly size: number;
  readonly dim: number;
  readonly metric: Metric;
  readonly beta: number;
  #search: NearestCodeSearch;

  constructor(options: VectorQuantizerOptions) {
    if (!options?.codebook) {
      throw new TesseraError(
        'INVALID_ARGUMENT',
        'VectorQuantizer: options.codebook (a [K, D] tensor) is required',
      );
    }
    this.#search = new NearestCodeSearch(options.codebook, options);
    this.codebook = options.codebook;
    this.size = this.#search.size;
    this.dim = this.#search.dim;
    this.metric = this.#search.metric;
    this.beta = options.beta ?? 0.25;
  }

  /** Codes that `decode` returns: the codebook for `l2`, its l2-normalised rows for `cosine`. */
  get codes(): Tensor {
    return this.#search.searchCodes;
  }

  /** Synchronous nearest-code indices of `z` [..., D] → int32 [...]. */
  encodeSync(z: Tensor): Tensor {
    return this.#search.search(z);
  }

  /** Nearest-code indices of `z` [..., D] → int32 [...]. */
  async encode(z: Tensor): Promise<Tensor> {
    return this.#search.search(z);
  }

  /** Codes of int32 `indices` [...] → [..., D] (a gather; out-of-range indices are clamped). */
  decode(indices: Tensor): Tensor {
    checkIndices('VectorQuantizer.decode', indices);
    checkSameBackend('VectorQuantizer.decode', this.codebook.backend, indices, 'indices');
    return this.codebook.backend.gather(this.codes, indices, 0);
  }

  /** Indices of a channel-first feature map `f` [B, D, H, W] → int32 [B, H, W]. */
  async encodeImage(f: Tensor): Promise<Tensor> {
    this.#checkImage(f);
    const B = f.backend;
    return tidy(() => this.#search.search(B.transpose(f, [0, 2, 3, 1])));
  }

  /** Channel-first codes [B, D, H, W] of an index map [B, H, W]. */
  decodeImage(indices: Tensor): Tensor {
    if (indices.rank !== 3) {
      throw new TesseraError(
        'SHAPE_MISMATCH',
        `VectorQuantizer.decodeImage: indices must be [B, H, W], got ${fmtShape(indices.shape)}`,
      );
    }
    const B = this.codebook.backend;
    return tidy(() => B.transpose(this.decode(indices), [0, 3, 1, 2]));
  }

  /**
   * Indices, quantized vectors, commitment loss and this batch's usage and perplexity for `z` [..., D].
   */
  async quantize(z: Tensor): Promise<QuantizeResult> {
    checkFloat('VectorQuantizer.quantize', z, this.dim, 'z');
    const B = z.backend;
    return tidy(() => {
      const indices = this.#search.search(z);
      const quantized = B.gather(this.codes, indices, 0);
      const target = this.metric === 'cosine' ? l2normalize(z) : z;
      const mse = B.reduce('mean', B.unary('square', B.binary('sub', quantized, target)));
      const commitmentLoss = B.binary('mul', mse, this.beta);
      const counts = bincount(indices, this.size);
      const { usage, perplexity } = usageAndPerplexity(counts);
      return { indices, quantized, mse, commitmentLoss, counts, usage, perplexity };
    });
  }

  /** Frees the quantizer's precomputed tensors (not the codebook). */
  dispose(): void {
    this.#search.dispose();
  }

  #checkImage(f: Tensor): void {
    if (f.rank !== 4 || f.shape[1] !== this.dim) {
      throw new TesseraError(
        'SHAPE_MISMATCH',
        `VectorQuantizer.encodeImage: expected [B, ${this.dim}, H, W], got ${fmtShape(f.shape)}`,
      );
    }
  }
}
