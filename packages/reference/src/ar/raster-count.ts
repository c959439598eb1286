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
import { checkTokenDataset, countLogProbs, type TokenDataset } from './data.js';
import type { CountModelSpec } from './export-spec.js';

/** Cache kinds of {@link RasterCountModel}. */
export type RasterCache = 'static' | 'concat' | 'none';

/** State of {@link RasterCountModel}: the token buffer (column 0 holds the boundary token V). */
export interface RasterCountState {
  /** int32: `static` → `[B, 1 + L]` (position p in column p+1, V where not generated yet); `concat`/`none` → `[B, 1 + t]`. */
  buf: Tensor;
  /** float32 `[B, 1]` label offsets into the table. */
  labelOff: Tensor;
  /** Index (in generation order) of the token the last logits were for. */
  t: number;
  order: readonly number[] | undefined;
  control: ArControl | undefined;
  ownsControl: boolean;
}

/** Options of {@link RasterCountModel.fit}. */
export interface RasterCountOptions {
  /** Causal neighbour offsets `[dRow, dCol]`; default left, up, up-left, up-right. */
  neighbours?: ReadonlyArray<readonly [number, number]>;
  /** Add-α smoothing (default 1: add-one). */
  alpha?: number;
  /**
   * `static` (default): a pre-allocated `[B, 1+L]` buffer written with a one-hot `where` per step; any
   * generation order. `concat`: the buffer grows by concatenation; raster order only. `none`: no cache —
   * every step recomputes the logits of all positions so far (cost grows with t), raster order only.
   */
  cache?: RasterCache;
  backend?: Backend;
}

/**
 * Count-based raster model: p(x_p | class, causal neighbours) = (count + α)/(total + α·V) learned from a
 * tokenized data set, out-of-grid or not-yet-generated neighbours reading the boundary token V. The
 * null label `numClasses` uses counts pooled over all classes (the unconditional model for guidance).
 * Logits are a `gather` from the log-probability table at a context index computed with backend ops.
 * Control embeddings (`[B, L, V]`) are added to the logits with their strength.
 */
export class RasterCountModel {
  readonly vocabSize: number;
  readonly numClasses: number;
  readonly height: number;
  readonly width: number;
  readonly cache: RasterCache;
  /** float32 `[(C+1)·(V+1)^n, V]` log-probabilities. */
  readonly table: Tensor;
  readonly #nbr: Tensor;
  readonly #pow: Tensor;
  readonly #pos: Tensor;
  readonly #stride: number;
  readonly #host: Float32Array;
  readonly #idx: Int32Array;
  readonly #base: number;

  private constructor(d: TokenDataset, o: RasterCountOptions) {
    const B = backendOf(o.backend);
    const nb = o.neighbours ?? [
      [0, -1],
      [-1, 0],
      [-1, -1],
      [-1, 1],
    ];
    const V = d.vocabSize;
    const C = d.numClasses;
    const H = d.height;
    const W = d.width;
    const L = H * W;
    const base = V + 1;
    this.#stride = base ** nb.length;
    for (const [dr, dc] of nb) {
      if (dr > 0 || (dr === 0 && dc >= 0))
        throw new TesseraError(
          'INVALID_ARGUMENT',
          `RasterCountModel: neighbour [${dr}, ${dc}] is not causal in raster order`,
        );
    }
    const idx = new Int32Array(L * nb.length);
    for (let p = 0; p < L; p++) {
      const r = Math.floor(p / W);
      const c = p % W;
      nb.forEach(([dr, dc], j) => {
        const rr = r + dr;
        const cc = c + dc;
        idx[p * nb.length + j] = rr >= 0 && rr < H && cc >= 0 && cc < W ? rr * W + cc + 1 : 0;
      });
    }
    const contexts = (C + 1) * this.#stride;
    const counts = new Float64Array(contexts * V);
    d.grids.forEach((g, n) => {
      for (let p = 0; p < L; p++) {
        let ctx = 0;
        for (let j = 0; j < nb.length; j++) {
          const q = idx[p * nb.length + j]!;
          ctx = ctx * base + (q === 0 ? V : g[q - 1]!);
        }
        counts[(d.labels[n]! * this.#stride + ctx) * V + g[p]!]! += 1;
        counts[(C * this.#stride + ctx) * V + g[p]!]! += 1;
      }
    });
    this.vocabSize = V;
    this.numClasses = C;
    this.height = H;
    this.width = W;
    this.cache = o.cache ?? 'static';
    this.#host = countLogProbs(counts, contexts, V, o.alpha ?? 1);
    this.table = B.tensor(this.#host, [contexts, V], 'float32');
    this.#idx = idx;
    this.#base = base;
    this.#nbr = B.tensor(idx, [L, nb.length], 'int32');
    this.#pow = powersOf(B, base, nb.length);
    this.#pos = tidy(() => B.reshape(B.arange(0, L + 1, 1, 'int32'), [1, L + 1]));
  }

  /** Learns the count table from a data set. */
  static fit(data: TokenDataset, options: RasterCountOptions = {}): RasterCountModel {
    checkTokenDataset('RasterCountModel.fit', data);
    return new RasterCountModel(data, options);
  }

  /** Sequence length H·W. */
  get length(): number {
    return this.height * this.width;
  }

  /**
   * The model as plain data (copies): its table, and for every position the grid positions of its
   * causal neighbours (−1 outside the grid), with boundary and unknown (not generated) neighbours both
   * reading V. Logits at p given the tokens before p (any generation order, unknown positions ≥ V) are
   * row `label·labelStride + Σ_j digit_j·powers[j]` of the table; see {@link CountModelSpec}. This is what
   * `@tessera/reference-onnx`'s `exportTokenModel` writes to ONNX.
   */
  exportSpec(): CountModelSpec {
    const n = this.#nbr.shape[1]!;
    return {
      kind: 'raster',
      model: 'RasterCountModel',
      vocabSize: this.vocabSize,
      numClasses: this.numClasses,
      length: this.length,
      height: this.height,
      width: this.width,
      table: this.#host.slice(),
      contexts: this.#host.length / this.vocabSize,
      numNeighbours: n,
      neighbours: this.#idx.map((q) => q - 1),
      powers: Array.from({ length: n }, (_, j) => this.#base ** (n - 1 - j)),
      positionOffsets: new Int32Array(this.length),
      labelStride: this.#stride,
      boundaryToken: this.vocabSize,
      unknownToken: this.vocabSize,
    };
  }

  #logitsAt(s: RasterCountState): Tensor {
    const B = this.table.backend;
    const p = s.order ? s.order[s.t]! : s.t;
    const n = s.buf.shape[0]!;
    return tidy(() => {
      if (this.cache === 'none') {
        // No cache: recompute the logits of every position 0..t from the whole prefix, keep the last.
        const k = this.#nbr.shape[1]!;
        const idx = B.slice(this.#nbr, [0, 0], [s.t + 1, k]);
        const tok = B.reshape(B.gather(s.buf, idx, 1), [n * (s.t + 1), k]);
        const off = B.reshape(B.broadcastTo(B.reshape(s.labelOff, [n, 1, 1]), [n, s.t + 1, 1]), [
          n * (s.t + 1),
          1,
        ]);
        const all = B.reshape(B.gather(this.table, contextIndex(tok, this.#pow, off), 0), [
          n,
          s.t + 1,
          this.vocabSize,
        ]);
        return withControl(
          B.reshape(B.slice(all, [0, s.t, 0], [n, 1, this.vocabSize]), [n, this.vocabSize]),
          s.control,
          p,
        );
      }
      const k = this.#nbr.shape[1]!;
      const tok = B.gather(s.buf, B.reshape(B.slice(this.#nbr, [p, 0], [1, k]), [k]), 1);
      return withControl(B.gather(this.table, contextIndex(tok, this.#pow, s.labelOff), 0), s.control, p);
    });
  }

  /** See NextTokenModel.prefill. */
  prefill(
    prefix: Tensor | null,
    options: { batch: number; cond?: ArCond; order?: readonly number[] },
  ): { logits: Tensor; state: RasterCountState } {
    const B = this.table.backend;
    const n = options.batch;
    const L = this.length;
    const T = prefix ? prefix.shape[1]! : 0;
    if (prefix && (prefix.rank !== 2 || prefix.shape[0] !== n || T >= L)) {
      throw new TesseraError(
        'SHAPE_MISMATCH',
        `RasterCountModel.prefill: prefix must be [${n}, T < ${L}], got ${fmtShape(prefix.shape)}`,
      );
    }
    const order = options.order;
    const identity = !order || order.every((p, i) => p === i);
    if (!identity && this.cache !== 'static') {
      throw new TesseraError(
        'UNSUPPORTED',
        `RasterCountModel: cache '${this.cache}' supports raster order only; use cache 'static' for other orders`,
      );
    }
    const V = this.vocabSize;
    const buf = tidy(() => {
      const src = prefix
        ? B.concat([B.fill([n, 1], V, 'int32'), B.cast(prefix, 'int32')], 1)
        : B.fill([n, 1], V, 'int32');
      if (this.cache !== 'static') return src;
      // Column p+1 takes the prefix token generated at position p, or V (boundary) if none yet.
      const map = new Int32Array(L + 1);
      for (let i = 0; i < T; i++) map[(identity ? i : order![i]!) + 1] = i + 1;
      return B.gather(src, B.tensor(map, [L + 1], 'int32'), 1);
    });
    const state: RasterCountState = {
      buf,
      labelOff: labelOffsets(B, options.cond, n, this.numClasses, this.#stride),
      t: T,
      order: identity ? undefined : order,
      control: options.cond?.control,
      ownsControl: false,
    };
    return { logits: this.#logitsAt(state), state };
  }

  /** See NextTokenModel.step. */
  step(tokens: Tensor, state: RasterCountState): { logits: Tensor; state: RasterCountState } {
    const B = this.table.backend;
    const n = state.buf.shape[0]!;
    if (tokens.rank !== 1 || tokens.shape[0] !== n)
      throw new TesseraError(
        'SHAPE_MISMATCH',
        `RasterCountModel.step: tokens must be [${n}], got ${fmtShape(tokens.shape)}`,
      );
    if (state.t >= this.length - 1)
      throw new TesseraError(
        'OUT_OF_RANGE',
        `RasterCountModel.step: all ${this.length} tokens are generated`,
      );
    const p = state.order ? state.order[state.t]! : state.t;
    const col = tidy(() => B.reshape(B.cast(tokens, 'int32'), [n, 1]));
    const buf = tidy(() =>
      this.cache === 'static'
        ? B.where(B.binary('eq', this.#pos, p + 1), col, state.buf)
        : B.concat([state.buf, col], 1),
    );
    col.dispose();
    state.buf.dispose();
    const next: RasterCountState = { ...state, buf, t: state.t + 1 };
    return { logits: this.#logitsAt(next), state: next };
  }

  /** Keeps batch rows [begin, begin+size). */
  sliceState(state: RasterCountState, begin: number, size: number): RasterCountState {
    const out: RasterCountState = {
      ...state,
      buf: rows(state.buf, begin, size),
      labelOff: rows(state.labelOff, begin, size),
      control: state.control
        ? { strength: state.control.strength, embeddings: rows(state.control.embeddings, begin, size) }
        : undefined,
      ownsControl: !!state.control,
    };
    this.disposeState(state);
    return out;
  }

  disposeState(state: RasterCountState): void {
    state.buf.dispose();
    state.labelOff.dispose();
    if (state.ownsControl) state.control?.embeddings.dispose();
  }

  /** Frees the tables. */
  dispose(): void {
    this.table.dispose();
    this.#nbr.dispose();
    this.#pow.dispose();
    this.#pos.dispose();
  }
}
