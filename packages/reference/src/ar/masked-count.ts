import { type Backend, fmtShape, type Tensor, TesseraError, tidy } from '@tessera/core';
import { type ArCond, backendOf, contextIndex, labelOffsets, powersOf, withControl } from './common.js';
import { checkTokenDataset, countLogProbs, type TokenDataset } from './data.js';
import type { CountModelSpec } from './export-spec.js';

/**
 * Count-based masked-token model: p(x_p | class, up, down, left, right) where each neighbour is a token,
 * V (masked, not yet known) or V+1 (outside the grid). Fitted by counting every position under all 16
 * masked/available patterns of its neighbours, with add-α smoothing. With everything masked it is the
 * class's unigram distribution. Control embeddings `[B, L, V]` are added to the logits.
 */
export class MaskedCountModel {
  readonly vocabSize: number;
  readonly numClasses: number;
  readonly seqLen: number;
  readonly height: number;
  readonly width: number;
  readonly table: Tensor;
  readonly #nbr: Tensor;
  readonly #pow: Tensor;
  readonly #stride: number;
  readonly #host: Float32Array;
  readonly #idx: Int32Array;

  private constructor(d: TokenDataset, alpha: number, B: Backend) {
    const V = d.vocabSize;
    const C = d.numClasses;
    const H = d.height;
    const W = d.width;
    const L = H * W;
    const base = V + 2;
    this.#stride = base ** 4;
    const offs = [
      [-1, 0],
      [1, 0],
      [0, -1],
      [0, 1],
    ] as const;
    const idx = new Int32Array(L * 4);
    for (let p = 0; p < L; p++) {
      const r = Math.floor(p / W);
      const c = p % W;
      offs.forEach(([dr, dc], j) => {
        const rr = r + dr;
        const cc = c + dc;
        idx[p * 4 + j] = rr >= 0 && rr < H && cc >= 0 && cc < W ? rr * W + cc + 1 : 0;
      });
    }
    const contexts = (C + 1) * this.#stride;
    const counts = new Float64Array(contexts * V);
    const digits = [0, 0, 0, 0];
    d.grids.forEach((g, n) => {
      for (let p = 0; p < L; p++) {
        for (let s = 0; s < 16; s++) {
          let ctx = 0;
          for (let j = 0; j < 4; j++) {
            const q = idx[p * 4 + j]!;
            digits[j] = q === 0 ? V + 1 : s & (1 << j) ? V : g[q - 1]!;
            ctx = ctx * base + digits[j]!;
          }
          counts[(d.labels[n]! * this.#stride + ctx) * V + g[p]!]! += 1;
          counts[(C * this.#stride + ctx) * V + g[p]!]! += 1;
        }
      }
    });
    this.vocabSize = V;
    this.numClasses = C;
    this.seqLen = L;
    this.height = H;
    this.width = W;
    this.#host = countLogProbs(counts, contexts, V, alpha);
    this.table = B.tensor(this.#host, [contexts, V], 'float32');
    this.#idx = idx;
    this.#nbr = B.tensor(idx, [L, 4], 'int32');
    this.#pow = powersOf(B, base, 4);
  }

  static fit(data: TokenDataset, options: { alpha?: number; backend?: Backend } = {}): MaskedCountModel {
    checkTokenDataset('MaskedCountModel.fit', data);
    return new MaskedCountModel(data, options.alpha ?? 1, backendOf(options.backend));
  }

  /**
   * The model as plain data (copies): its table, and for every position the grid positions of its up,
   * down, left and right neighbours (−1 outside the grid, read as V+1; masked neighbours read V). See
   * {@link CountModelSpec}; `@tessera/reference-onnx`'s `exportTokenModel` writes it to ONNX.
   */
  exportSpec(): CountModelSpec {
    const V = this.vocabSize;
    return {
      kind: 'masked',
      model: 'MaskedCountModel',
      vocabSize: V,
      numClasses: this.numClasses,
      length: this.seqLen,
      height: this.height,
      width: this.width,
      table: this.#host.slice(),
      contexts: this.#host.length / V,
      numNeighbours: 4,
      neighbours: this.#idx.map((q) => q - 1),
      powers: [0, 1, 2, 3].map((j) => (V + 2) ** (3 - j)),
      positionOffsets: new Int32Array(this.seqLen),
      labelStride: this.#stride,
      boundaryToken: V + 1,
      unknownToken: V,
    };
  }

  /** See MaskedTokenModel.logits: `[B, L]` tokens and mask (1 = masked) → `[B, L, V]`. */
  logits(tokens: Tensor, mask: Tensor, cond?: ArCond): Tensor {
    const B = this.table.backend;
    const L = this.seqLen;
    const V = this.vocabSize;
    const n = tokens.shape[0]!;
    if (
      tokens.rank !== 2 ||
      tokens.shape[1] !== L ||
      mask.rank !== 2 ||
      mask.shape[0] !== n ||
      mask.shape[1] !== L
    ) {
      throw new TesseraError(
        'SHAPE_MISMATCH',
        `MaskedCountModel.logits: tokens and mask must be [B, ${L}], got ${fmtShape(tokens.shape)} and ${fmtShape(mask.shape)}`,
      );
    }
    return tidy(() => {
      const eff = B.where(mask, V, B.cast(tokens, 'int32'));
      const buf = B.concat([B.fill([n, 1], V + 1, 'int32'), eff], 1);
      const nb = B.reshape(B.gather(buf, this.#nbr, 1), [n * L, 4]);
      const lo = labelOffsets(B, cond, n, this.numClasses, this.#stride);
      const off = B.reshape(B.broadcastTo(B.reshape(lo, [n, 1, 1]), [n, L, 1]), [n * L, 1]);
      const logits = B.reshape(B.gather(this.table, contextIndex(nb, this.#pow, off), 0), [n, L, V]);
      return withControl(logits, cond?.control, 0);
    });
  }

  dispose(): void {
    this.table.dispose();
    this.#nbr.dispose();
    this.#pow.dispose();
  }
}
