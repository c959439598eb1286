import { fmtShape, philoxWords, type Tensor, TesseraError, tidy, wordToUniform } from '@tessera/core';
import { type Metric, NearestCodeSearch } from './nearest.js';
import { checkCodebook, checkFloat, checkIndices } from './util.js';

/** Options of {@link ResidualVQ}. */
export interface ResidualVQOptions {
  /** One codebook [K, D] per layer (separate codebooks). */
  codebooks?: readonly Tensor[];
  /** One codebook shared by `numQuantizers` layers. */
  codebook?: Tensor;
  /** Number of layers when `codebook` is shared. */
  numQuantizers?: number;
  /** `l2` (default) or `cosine`. */
  metric?: Metric;
  /** Commitment weight β (default 0.25). */
  beta?: number;
  /**
   * Quantize dropout for training (SoundStream; vector-quantize-pytorch `quantize_dropout`): layers after a
   * random layer q ∈ [cutoffIndex, Q) are skipped and their indices set to −1. `multipleOf` rounds q + 1
   * up to a multiple (structured dropout). Applies only when `quantize` gets a `dropoutSeed`.
   */
  quantizeDropout?: { cutoffIndex?: number; multipleOf?: number };
}

/** Result of {@link ResidualVQ.quantize}; the caller disposes every tensor. */
export interface ResidualQuantizeResult {
  /** int32 [..., Q]; −1 marks layers removed by quantize dropout. */
  indices: Tensor;
  /** Σ of the chosen codes of the active layers, the input's shape. */
  quantized: Tensor;
  /** β · mean((quantized − z)²) summed over active layers' residual errors, float32 scalar. */
  commitmentLoss: Tensor;
  /** Number of layers that ran (Q unless quantize dropout removed some). */
  activeLayers: number;
}

/**
 * Residual vector quantization (SoundStream Algorithm 1; vector-quantize-pytorch `ResidualVQ`): layer l
 * quantizes the residual z − Σ_{j<l} q_j with its codebook; decode sums the codes. Codebooks may be
 * shared or separate. Inputs are channel-last `[..., D]`.
 */
export class ResidualVQ {
  readonly numQuantizers: number;
  readonly dim: number;
  readonly metric: Metric;
  readonly beta: number;
  readonly codebooks: readonly Tensor[];
  readonly cutoffIndex: number;
  readonly multipleOf: number;
  #search: NearestCodeSearch[];

  constructor(options: ResidualVQOptions) {
    let books: Tensor[];
    if (options.codebooks && options.codebooks.length > 0) books = [...options.codebooks];
    else if (options.codebook && Number.isInteger(options.numQuantizers) && options.numQuantizers! >= 1) {
      books = new Array<Tensor>(options.numQuantizers!).fill(options.codebook);
    } else {
      throw new TesseraError(
        'INVALID_ARGUMENT',
        'ResidualVQ: give `codebooks` (one [K, D] per layer) or `codebook` with a positive integer `numQuantizers`',
      );
    }
    const D = checkCodebook('ResidualVQ', books[0]!)[1];
    for (const b of books) {
      if (checkCodebook('ResidualVQ', b)[1] !== D) {
        throw new TesseraError(
          'SHAPE_MISMATCH',
          `ResidualVQ: every codebook must have D=${D}, got ${fmtShape(b.shape)}`,
        );
      }
    }
    this.codebooks = books;
    this.numQuantizers = books.length;
    this.dim = D;
    this.metric = options.metric ?? 'l2';
    this.beta = options.beta ?? 0.25;
    this.cutoffIndex = options.quantizeDropout?.cutoffIndex ?? 0;
    this.multipleOf = options.quantizeDropout?.multipleOf ?? 1;
    if (!(this.cutoffIndex >= 0 && this.cutoffIndex < this.numQuantizers)) {
      throw new TesseraError(
        'INVALID_ARGUMENT',
        `ResidualVQ: quantizeDropout.cutoffIndex must be in [0, ${this.numQuantizers}), got ${this.cutoffIndex}`,
      );
    }
    const shared = new Map<Tensor, NearestCodeSearch>();
    this.#search = books.map((b) => {
      let s = shared.get(b);
      if (!s) {
        s = new NearestCodeSearch(b, { metric: this.metric });
        shared.set(b, s);
      }
      return s;
    });
  }

  /**
   * The last layer that runs under quantize dropout for `seed` (Philox word `offset` of `seed`):
   * q = cutoff + ⌊u·(Q − cutoff)⌋, then rounded so q + 1 is a multiple of `multipleOf` (capped at Q − 1).
   */
  dropoutLayer(seed: number, offset = 0): number {
    const u = wordToUniform(philoxWords(seed, offset, 1)[0]!);
    let q =
      this.cutoffIndex +
      Math.min(
        Math.floor(u * (this.numQuantizers - this.cutoffIndex)),
        this.numQuantizers - this.cutoffIndex - 1,
      );
    if (this.multipleOf !== 1) q = Math.ceil((q + 1) / this.multipleOf) * this.multipleOf - 1;
    return Math.min(q, this.numQuantizers - 1);
  }

  /**
   * Quantizes `z` [..., D] through every layer (or, with `dropoutSeed`, through a random prefix of them).
   */
  async quantize(
    z: Tensor,
    options: { dropoutSeed?: number; dropoutOffset?: number } = {},
  ): Promise<ResidualQuantizeResult> {
    checkFloat('ResidualVQ.quantize', z, this.dim, 'z');
    const B = z.backend;
    const last =
      options.dropoutSeed === undefined
        ? this.numQuantizers - 1
        : this.dropoutLayer(options.dropoutSeed, options.dropoutOffset);
    return tidy(() => {
      let residual = z;
      let quantized: Tensor | undefined;
      let loss: Tensor | undefined;
      const idx: Tensor[] = [];
      const lead = z.shape.slice(0, -1);
      for (let l = 0; l < this.numQuantizers; l++) {
        if (l > last) {
          idx.push(B.fill([...lead, 1], -1, 'int32'));
          continue;
        }
        const s = this.#search[l]!;
        const i = s.search(residual);
        const q = B.gather(s.searchCodes, i, 0);
        const mse = B.reduce('mean', B.unary('square', B.binary('sub', q, residual)));
        loss = loss ? B.binary('add', loss, mse) : mse;
        residual = B.binary('sub', residual, q);
        quantized = quantized ? B.binary('add', quantized, q) : q;
        idx.push(B.reshape(i, [...lead, 1]));
      }
      return {
        indices: B.concat(idx, -1),
        quantized: quantized!,
        commitmentLoss: B.binary('mul', loss!, this.beta),
        activeLayers: last + 1,
      };
    });
  }

  /** int32 indices [..., Q] of `z` [..., D]. */
  async encode(z: Tensor): Promise<Tensor> {
    const r = await this.quantize(z);
    r.quantized.dispose();
    r.commitmentLoss.dispose();
    return r.indices;
  }

  /**
   * Σ of the codes of int32 `indices` [..., q] (q ≤ Q layers, the first q); −1 entries contribute zero.
   */
  decode(indices: Tensor): Tensor {
    checkIndices('ResidualVQ.decode', indices);
    const q = indices.shape[indices.rank - 1] ?? 0;
    if (indices.rank < 1 || q < 1 || q > this.numQuantizers) {
      throw new TesseraError(
        'SHAPE_MISMATCH',
        `ResidualVQ.decode: indices must be [..., q] with 1 ≤ q ≤ ${this.numQuantizers}, got ${fmtShape(indices.shape)}`,
      );
    }
    const B = indices.backend;
    const lead = indices.shape.slice(0, -1);
    return tidy(() => {
      let out: Tensor | undefined;
      for (let l = 0; l < q; l++) {
        const il = B.slice(indices, [...lead.map(() => 0), l], [...lead, 1]);
        const codes = B.gather(this.#search[l]!.searchCodes, B.reshape(il, lead), 0);
        const valid = B.binary('ge', il, 0);
        const c = B.where(valid, codes, 0);
        out = out ? B.binary('add', out, c) : c;
      }
      return out!;
    });
  }

  /** Frees the precomputed search tensors (not the codebooks). */
  dispose(): void {
    for (const s of new Set(this.#search)) s.dispose();
  }
}
