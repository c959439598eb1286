import { keep, type Tensor, TesseraError, tidy } from '@tessera/core';
import {
  checkCodebook,
  checkFloat,
  checkSameBackend,
  DEFAULT_BLOCK_ELEMENTS,
  l2normalize,
  rowsPerBlock,
} from './util.js';

/** How codes are compared: Euclidean distance, or cosine similarity of l2-normalised vectors. */
export type Metric = 'l2' | 'cosine';

/** Options of {@link NearestCodeSearch}. */
export interface NearestOptions {
  /** `l2` (default) or `cosine` (inputs and codes l2-normalised, LlamaGen `codebook_l2_norm`). */
  metric?: Metric;
  /**
   * Cap on the elements of one [rows, K] distance block (default 2²² = 4 Mi floats). A 16384-code book
   * then searches 256 rows at a time, so a 64×64 grid needs 16 blocks and 16 MiB of scratch.
   */
  maxBlockElements?: number;
}

/**
 * Nearest-code search against a fixed codebook [K, D] with one backend matmul per row block:
 * argminₖ ‖z − eₖ‖² = argminₖ (‖eₖ‖² − 2 z·eₖ) (the row constant ‖z‖² does not move the argmin and is
 * left out, which also keeps float32 cancellation out of the comparison). The bias ‖eₖ‖² rides in the
 * matmul itself: [z, 1] · [−2E, ‖E‖²]ᵀ, so each block is one matmul and one argmin. For `cosine`, inputs
 * and codes are l2-normalised and the search is argmaxₖ z·eₖ, as in LlamaGen's `VectorQuantizer`.
 * Precomputes [−2E, ‖E‖²] (or the normalised E) once; dispose() frees it.
 */
export class NearestCodeSearch {
  /** Number of codes K. */
  readonly size: number;
  /** Code dimension D. */
  readonly dim: number;
  readonly metric: Metric;
  readonly maxBlockElements: number;
  /** The codebook as given (not owned). */
  readonly codebook: Tensor;
  #scaled: Tensor;

  constructor(codebook: Tensor, options: NearestOptions = {}) {
    const [K, D] = checkCodebook('NearestCodeSearch', codebook);
    const metric = options.metric ?? 'l2';
    if (metric !== 'l2' && metric !== 'cosine') {
      throw new TesseraError(
        'UNKNOWN_NAME',
        `NearestCodeSearch: unknown metric '${metric as string}' (l2, cosine)`,
      );
    }
    this.size = K;
    this.dim = D;
    this.metric = metric;
    this.codebook = codebook;
    this.maxBlockElements = options.maxBlockElements ?? DEFAULT_BLOCK_ELEMENTS;
    const B = codebook.backend;
    if (metric === 'cosine') {
      this.#scaled = keep(l2normalize(codebook));
    } else {
      this.#scaled = keep(
        tidy(() => B.concat([B.binary('mul', codebook, -2), B.reduce('sumsq', codebook, 1, true)], 1)),
      );
    }
  }

  /** Rows searched per block: ⌊maxBlockElements / K⌋ (at least 1); 256 for 16384 codes by default. */
  get blockRows(): number {
    return rowsPerBlock(this.size, this.maxBlockElements);
  }

  /** The codes the search compares against: E for `l2`, the l2-normalised E for `cosine`. */
  get searchCodes(): Tensor {
    return this.metric === 'cosine' ? this.#scaled : this.codebook;
  }

  /**
   * Index of the nearest code for each row of `z` [..., D] → int32 [...] (first index on ties).
   * Synchronous and lazy on a device backend.
   */
  search(z: Tensor): Tensor {
    const B = this.codebook.backend;
    checkFloat('nearest code search', z, this.dim, 'z');
    checkSameBackend('nearest code search', B, z, 'z');
    const N = z.size / this.dim;
    const outShape = z.shape.slice(0, -1);
    return tidy(() => {
      const cosine = this.metric === 'cosine';
      let rows = B.reshape(z, [N, this.dim]);
      rows = cosine ? l2normalize(rows) : B.concat([rows, B.fill([N, 1], 1)], 1);
      const width = rows.shape[1]!;
      const step = this.blockRows;
      const parts: Tensor[] = [];
      for (let r = 0; r < N; r += step) {
        const n = Math.min(step, N - r);
        const block = n === N ? rows : B.slice(rows, [r, 0], [n, width]);
        const scores = B.matmul(block, this.#scaled, { transposeB: true });
        parts.push(cosine ? B.argmax(scores, 1) : B.argmin(scores, 1));
        // freed now, not at the end of the search: the next block can reuse the memory
        scores.dispose();
        if (block !== rows) block.dispose();
      }
      const idx =
        parts.length === 1 ? parts[0]! : parts.length === 0 ? B.fill([0], 0, 'int32') : B.concat(parts, 0);
      return B.reshape(idx, outShape);
    });
  }

  /** Frees the precomputed tensors (not the codebook). */
  dispose(): void {
    this.#scaled.dispose();
  }
}

/**
 * One-shot nearest-code search: int32 indices [...] of the codes of `codebook` [K, D] nearest to the
 * rows of `z` [..., D]. Build a {@link NearestCodeSearch} to search the same codebook repeatedly.
 */
export function nearestCode(z: Tensor, codebook: Tensor, options: NearestOptions = {}): Tensor {
  const s = new NearestCodeSearch(codebook, options);
  try {
    return s.search(z);
  } finally {
    s.dispose();
  }
}
