import { type Backend, fmtShape, type Tensor, TesseraError, tidy } from '@tessera/core';
import {
  type ArCond,
  type ArControl,
  backendOf,
  contextIndex,
  labelOffsets,
  powersOf,
  rows,
  withControl,
} from './common.js';
import { checkTokenDataset, countLogProbs, type TokenDataset, tokenPyramid, VAR_PATCH_NUMS } from './data.js';
import { type CountModelSpec, scaleBegins } from './export-spec.js';

/** State of {@link ScaleCountModel}: label offsets and the control input (the model is Markov in scales). */
export interface ScaleCountState {
  labelOff: Tensor;
  control: ArControl | undefined;
  ownsControl: boolean;
}

/**
 * For child (i, j) of a `p×p` scale under a `q×q` parent scale: the parent cell nearest to the child's
 * centre and its horizontal / vertical neighbours on the side of the child's centre (indices into the
 * parent buffer `[1 + q²]`, 0 = boundary).
 */
function parentIndex(p: number, q: number): Int32Array {
  const out = new Int32Array(p * p * 3);
  for (let i = 0; i < p; i++) {
    for (let j = 0; j < p; j++) {
      const yi = ((i + 0.5) * q) / p;
      const xj = ((j + 0.5) * q) / p;
      const pi = Math.min(q - 1, Math.floor(yi));
      const pj = Math.min(q - 1, Math.floor(xj));
      const hj = xj < pj + 0.5 ? pj - 1 : pj + 1;
      const vi = yi < pi + 0.5 ? pi - 1 : pi + 1;
      const o = (i * p + j) * 3;
      out[o] = pi * q + pj + 1;
      out[o + 1] = hj >= 0 && hj < q ? pi * q + hj + 1 : 0;
      out[o + 2] = vi >= 0 && vi < q ? vi * q + pj + 1 : 0;
    }
  }
  return out;
}

/**
 * Count-based next-scale model over token pyramids ({@link tokenPyramid}, nearest downsampling):
 * p(x at scale k | class, k, parent token, parent's horizontal and vertical neighbours), add-α
 * smoothing; all tokens of a scale are conditionally independent given the previous scale, so one
 * call gives every logit of scale k. The last scale is the full grid. Control embeddings are
 * `[B, Σp², V]` over the concatenated scales (VAR's token order).
 */
export class ScaleCountModel {
  readonly vocabSize: number;
  readonly numClasses: number;
  readonly patchNums: readonly number[];
  readonly table: Tensor;
  readonly #idx: Tensor[];
  readonly #pow: Tensor;
  readonly #stride: number;
  readonly #begins: number[];
  readonly #host: Float32Array;
  readonly #idxHost: Int32Array[];
  readonly #height: number;
  readonly #width: number;

  private constructor(d: TokenDataset, patchNums: readonly number[], alpha: number, B: Backend) {
    const V = d.vocabSize;
    const C = d.numClasses;
    const K = patchNums.length;
    const base = V + 1;
    const per = base ** 3;
    this.#stride = K * per;
    const idx = patchNums.map((p, k) => (k === 0 ? new Int32Array(3) : parentIndex(p, patchNums[k - 1]!)));
    const contexts = (C + 1) * this.#stride;
    const counts = new Float64Array(contexts * V);
    d.grids.forEach((g, n) => {
      const pyr = tokenPyramid(g, d.height, d.width, patchNums);
      for (let k = 0; k < K; k++) {
        const cur = pyr[k]!;
        const prev = k > 0 ? pyr[k - 1]! : undefined;
        for (let j = 0; j < cur.length; j++) {
          let ctx = k;
          for (let m = 0; m < 3; m++) {
            const q = idx[k]![j * 3 + m]!;
            ctx = ctx * base + (q === 0 || !prev ? V : prev[q - 1]!);
          }
          counts[(d.labels[n]! * this.#stride + ctx) * V + cur[j]!]! += 1;
          counts[(C * this.#stride + ctx) * V + cur[j]!]! += 1;
        }
      }
    });
    this.vocabSize = V;
    this.numClasses = C;
    this.patchNums = [...patchNums];
    this.#host = countLogProbs(counts, contexts, V, alpha);
    this.table = B.tensor(this.#host, [contexts, V], 'float32');
    this.#idxHost = idx;
    this.#height = d.height;
    this.#width = d.width;
    this.#idx = idx.map((a, k) => B.tensor(a, [patchNums[k]! ** 2, 3], 'int32'));
    this.#pow = powersOf(B, base, 3);
    this.#begins = scaleBegins(patchNums);
  }

  /** Learns the table from a data set whose grids are `patchNums.at(-1)²` (default VAR's patch numbers). */
  static fit(
    data: TokenDataset,
    options: { patchNums?: readonly number[]; alpha?: number; backend?: Backend } = {},
  ): ScaleCountModel {
    checkTokenDataset('ScaleCountModel.fit', data);
    const pn = options.patchNums ?? VAR_PATCH_NUMS;
    if (pn.at(-1) !== data.height || pn.at(-1) !== data.width) {
      throw new TesseraError(
        'SHAPE_MISMATCH',
        `ScaleCountModel.fit: last patch number ${pn.at(-1)} must equal the grid size ${data.height}×${data.width}`,
      );
    }
    return new ScaleCountModel(data, pn, options.alpha ?? 1, backendOf(options.backend));
  }

  /**
   * The model as plain data (copies) over the concatenated scales (VAR's token order, Σp² positions):
   * its table, for every position of scale k ≥ 1 the input positions of its parent and the parent's
   * side neighbours in scale k−1 (−1 outside the grid or at scale 0, read as V), and the per-position
   * scale term k·(V+1)³. Logits of scale k given scale k−1 are the table rows; see {@link CountModelSpec}.
   * `@tessera/reference-onnx`'s `exportTokenModel` writes it to ONNX.
   */
  exportSpec(): CountModelSpec {
    const V = this.vocabSize;
    const L = this.#begins.at(-1)! + this.patchNums.at(-1)! ** 2;
    const neighbours = new Int32Array(L * 3).fill(-1);
    const positionOffsets = new Int32Array(L);
    this.patchNums.forEach((p, k) => {
      const b = this.#begins[k]!;
      for (let j = 0; j < p * p; j++) {
        positionOffsets[b + j] = k * (V + 1) ** 3;
        if (k === 0) continue;
        for (let m = 0; m < 3; m++) {
          const q = this.#idxHost[k]![j * 3 + m]!;
          neighbours[(b + j) * 3 + m] = q === 0 ? -1 : this.#begins[k - 1]! + q - 1;
        }
      }
    });
    return {
      kind: 'next-scale',
      model: 'ScaleCountModel',
      vocabSize: V,
      numClasses: this.numClasses,
      length: L,
      height: this.#height,
      width: this.#width,
      patchNums: [...this.patchNums],
      table: this.#host.slice(),
      contexts: this.#host.length / V,
      numNeighbours: 3,
      neighbours,
      powers: [(V + 1) ** 2, V + 1, 1],
      positionOffsets,
      labelStride: this.#stride,
      boundaryToken: V,
      unknownToken: V,
    };
  }

  #logits(k: number, tok: Tensor | null, s: ScaleCountState): Tensor {
    const B = this.table.backend;
    const n = s.labelOff.shape[0]!;
    const m = this.patchNums[k]! ** 2;
    const V = this.vocabSize;
    return tidy(() => {
      const buf = tok
        ? B.concat([B.fill([n, 1], V, 'int32'), B.cast(tok, 'int32')], 1)
        : B.fill([n, 1], V, 'int32');
      const nb = B.reshape(B.gather(buf, this.#idx[k]!, 1), [n * m, 3]);
      const off = B.reshape(
        B.broadcastTo(B.reshape(B.binary('add', s.labelOff, k * (V + 1) ** 3), [n, 1, 1]), [n, m, 1]),
        [n * m, 1],
      );
      const logits = B.reshape(B.gather(this.table, contextIndex(nb, this.#pow, off), 0), [n, m, V]);
      return withControl(logits, s.control, this.#begins[k]!);
    });
  }

  /** See NextScaleModel.begin. */
  begin(options: { batch: number; cond?: ArCond }): { logits: Tensor; state: ScaleCountState } {
    const B = this.table.backend;
    const state: ScaleCountState = {
      labelOff: labelOffsets(B, options.cond, options.batch, this.numClasses, this.#stride),
      control: options.cond?.control,
      ownsControl: false,
    };
    return { logits: this.#logits(0, null, state), state };
  }

  /** See NextScaleModel.next (uses `prev.tokens`; soft `probs` are ignored by a count model). */
  next(
    k: number,
    prev: { tokens: Tensor },
    state: ScaleCountState,
  ): { logits: Tensor; state: ScaleCountState } {
    const n = state.labelOff.shape[0]!;
    const q = this.patchNums[k - 1];
    if (!(k >= 1 && k < this.patchNums.length) || q === undefined)
      throw new TesseraError(
        'OUT_OF_RANGE',
        `ScaleCountModel.next: scale ${k} outside [1, ${this.patchNums.length})`,
      );
    if (prev.tokens.rank !== 2 || prev.tokens.shape[0] !== n || prev.tokens.shape[1] !== q * q) {
      throw new TesseraError(
        'SHAPE_MISMATCH',
        `ScaleCountModel.next: previous tokens must be [${n}, ${q * q}], got ${fmtShape(prev.tokens.shape)}`,
      );
    }
    return { logits: this.#logits(k, prev.tokens, state), state };
  }

  sliceState(state: ScaleCountState, begin: number, size: number): ScaleCountState {
    const out: ScaleCountState = {
      labelOff: rows(state.labelOff, begin, size),
      control: state.control
        ? { strength: state.control.strength, embeddings: rows(state.control.embeddings, begin, size) }
        : undefined,
      ownsControl: !!state.control,
    };
    this.disposeState(state);
    return out;
  }

  disposeState(state: ScaleCountState): void {
    state.labelOff.dispose();
    if (state.ownsControl) state.control?.embeddings.dispose();
  }

  dispose(): void {
    this.table.dispose();
    for (const t of this.#idx) t.dispose();
    this.#pow.dispose();
  }
}
