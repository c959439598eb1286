import { type Backend, fmtShape, type Tensor, TesseraError, tidy } from '@tessera/core';
import { type ArCond, backendOf, rows } from './common.js';
import { type EmpiricalModelSpec, scaleBegins, type TokenModelKind } from './export-spec.js';

/** Training sequences for the exact empirical models. */
export interface SequenceSet {
  /** N sequences of equal length L, tokens in [0, vocabSize). */
  sequences: Int32Array[];
  vocabSize: number;
  /** Optional labels (one per sequence) in [0, numClasses); label numClasses matches every sequence. */
  labels?: Int32Array;
  numClasses?: number;
}

/** Shared parts: sequences on the device, one-hot tables, label matching. */
class Empirical {
  readonly vocabSize: number;
  readonly numClasses: number | undefined;
  readonly N: number;
  readonly L: number;
  /** int32 `[N, L]`. */
  readonly seq: Tensor;
  /** float32 `[N, L·V]` one-hot of the sequences. */
  readonly onehot: Tensor;
  readonly labels: Tensor | undefined;
  readonly B: Backend;
  /** Host copies for {@link Empirical.spec}. */
  readonly #flat: Int32Array;
  readonly #labels: Int32Array | undefined;

  constructor(op: string, s: SequenceSet, B: Backend) {
    const N = s.sequences.length;
    if (N === 0) throw new TesseraError('INVALID_ARGUMENT', `${op}: no sequences`);
    const L = s.sequences[0]!.length;
    const V = s.vocabSize;
    const flat = new Int32Array(N * L);
    const oh = new Float32Array(N * L * V);
    s.sequences.forEach((q, n) => {
      if (q.length !== L)
        throw new TesseraError(
          'SHAPE_MISMATCH',
          `${op}: sequence ${n} has length ${q.length}, expected ${L}`,
        );
      q.forEach((t, l) => {
        if (!(t >= 0 && t < V)) throw new TesseraError('OUT_OF_RANGE', `${op}: token ${t} outside [0, ${V})`);
        flat[n * L + l] = t;
        oh[(n * L + l) * V + t] = 1;
      });
    });
    if (s.labels && s.labels.length !== N)
      throw new TesseraError('SHAPE_MISMATCH', `${op}: ${N} sequences but ${s.labels.length} labels`);
    this.vocabSize = V;
    this.numClasses = s.labels ? (s.numClasses ?? Math.max(...s.labels) + 1) : s.numClasses;
    this.N = N;
    this.L = L;
    this.B = B;
    this.#flat = flat;
    this.#labels = s.labels ? Int32Array.from(s.labels) : undefined;
    this.seq = B.tensor(flat, [N, L], 'int32');
    this.onehot = B.tensor(oh, [N, L * V], 'float32');
    this.labels = s.labels ? B.tensor(s.labels, [1, N], 'int32') : undefined;
  }

  /** The plain-data description (copies). */
  spec(kind: TokenModelKind, model: string, patchNums?: readonly number[]): EmpiricalModelSpec {
    const out: EmpiricalModelSpec = {
      kind,
      model,
      vocabSize: this.vocabSize,
      length: this.L,
      count: this.N,
      sequences: this.#flat.slice(),
    };
    if (patchNums) out.patchNums = [...patchNums];
    if (this.numClasses !== undefined) out.numClasses = this.numClasses;
    if (this.#labels) out.labels = this.#labels.slice();
    return out;
  }

  /** float32 `[B, N]`: 1 where a sequence's label matches (the null label matches all). */
  alive(cond: ArCond | undefined, batch: number): Tensor {
    const B = this.B;
    return tidy(() => {
      if (!cond?.labels || !this.labels || this.numClasses === undefined)
        return B.fill([batch, this.N], 1, 'float32');
      const l = B.reshape(cond.labels, [batch, 1]);
      return B.cast(
        B.binary('max', B.binary('eq', l, this.labels), B.binary('eq', l, this.numClasses)),
        'float32',
      );
    });
  }

  /** Log counts `[B, n, V]` of positions `[begin, begin+n)` among alive sequences (−∞ where none). */
  logCounts(alive: Tensor, begin: number, n: number): Tensor {
    const B = this.B;
    const V = this.vocabSize;
    return tidy(() => {
      const oh = B.slice(this.onehot, [0, begin * V], [this.N, n * V]);
      return B.reshape(B.unary('log', B.matmul(alive, oh)), [alive.shape[0]!, n, V]);
    });
  }

  /** alive · [sequence matches `tokens` `[B, n]` at positions `[begin, begin+n)` where `free` is 0]. */
  match(alive: Tensor, tokens: Tensor, begin: number, free?: Tensor): Tensor {
    const B = this.B;
    const b = tokens.shape[0]!;
    const n = tokens.shape[1]!;
    return tidy(() => {
      const s = B.reshape(B.slice(this.seq, [0, begin], [this.N, n]), [1, this.N, n]);
      let eq = B.binary('eq', B.reshape(B.cast(tokens, 'int32'), [b, 1, n]), s);
      if (free) eq = B.binary('max', eq, B.cast(B.binary('ne', B.reshape(free, [b, 1, n]), 0), 'uint32'));
      return B.binary('mul', alive, B.cast(B.reduce('min', eq, 2), 'float32'));
    });
  }

  dispose(): void {
    this.seq.dispose();
    this.onehot.dispose();
    this.labels?.dispose();
  }
}

/** State of {@link EmpiricalRasterModel}. */
export interface EmpiricalState {
  alive: Tensor;
  t: number;
  order: readonly number[] | undefined;
}

/**
 * The exact empirical next-token model: p(x_t | prefix) ∝ number of training sequences that agree with
 * the prefix (and the label) and have x_t. Logits are log counts (−∞ for unseen tokens), so greedy or
 * top-k 1 decoding reproduces a training sequence and sampling draws training sequences with their
 * empirical frequencies. Supports any generation order. For testing decoders.
 */
export class EmpiricalRasterModel {
  readonly vocabSize: number;
  readonly numClasses: number | undefined;
  readonly length: number;
  readonly #e: Empirical;

  constructor(set: SequenceSet, options: { backend?: Backend } = {}) {
    this.#e = new Empirical('EmpiricalRasterModel', set, backendOf(options.backend));
    this.vocabSize = this.#e.vocabSize;
    this.numClasses = this.#e.numClasses;
    this.length = this.#e.L;
  }

  /**
   * The model as plain data (copies of the sequences and labels); see {@link EmpiricalModelSpec}.
   * `@tessera/reference-onnx`'s `exportTokenModel` writes it to ONNX.
   */
  exportSpec(): EmpiricalModelSpec {
    return this.#e.spec('raster', 'EmpiricalRasterModel');
  }

  #logits(s: EmpiricalState): Tensor {
    const p = s.order ? s.order[s.t]! : s.t;
    const b = s.alive.shape[0]!;
    return tidy(() => this.#e.B.reshape(this.#e.logCounts(s.alive, p, 1), [b, this.vocabSize]));
  }

  prefill(
    prefix: Tensor | null,
    options: { batch: number; cond?: ArCond; order?: readonly number[] },
  ): { logits: Tensor; state: EmpiricalState } {
    const n = options.batch;
    const T = prefix ? prefix.shape[1]! : 0;
    if (prefix && (prefix.rank !== 2 || prefix.shape[0] !== n || T >= this.length)) {
      throw new TesseraError(
        'SHAPE_MISMATCH',
        `EmpiricalRasterModel.prefill: prefix must be [${n}, T < ${this.length}], got ${fmtShape(prefix.shape)}`,
      );
    }
    const B = this.#e.B;
    let alive = this.#e.alive(options.cond, n);
    for (let i = 0; i < T; i++) {
      const p = options.order ? options.order[i]! : i;
      const next = tidy(() => this.#e.match(alive, B.slice(prefix!, [0, i], [n, 1]), p));
      alive.dispose();
      alive = next;
    }
    const state: EmpiricalState = { alive, t: T, order: options.order };
    return { logits: this.#logits(state), state };
  }

  step(tokens: Tensor, state: EmpiricalState): { logits: Tensor; state: EmpiricalState } {
    const n = state.alive.shape[0]!;
    if (tokens.rank !== 1 || tokens.shape[0] !== n)
      throw new TesseraError(
        'SHAPE_MISMATCH',
        `EmpiricalRasterModel.step: tokens must be [${n}], got ${fmtShape(tokens.shape)}`,
      );
    if (state.t >= this.length - 1)
      throw new TesseraError(
        'OUT_OF_RANGE',
        `EmpiricalRasterModel.step: all ${this.length} tokens are generated`,
      );
    const p = state.order ? state.order[state.t]! : state.t;
    const alive = tidy(() => this.#e.match(state.alive, this.#e.B.reshape(tokens, [n, 1]), p));
    state.alive.dispose();
    const next = { ...state, alive, t: state.t + 1 };
    return { logits: this.#logits(next), state: next };
  }

  sliceState(state: EmpiricalState, begin: number, size: number): EmpiricalState {
    const alive = rows(state.alive, begin, size);
    state.alive.dispose();
    return { ...state, alive };
  }

  disposeState(state: EmpiricalState): void {
    state.alive.dispose();
  }

  dispose(): void {
    this.#e.dispose();
  }
}

/**
 * The exact empirical next-scale model over multi-scale sequences (the concatenation of a pyramid's
 * scales, VAR's token order): logits of scale k are log counts over the training sequences that agree
 * with every earlier scale. Parallel sampling within a scale reproduces a training sequence whenever a
 * single sequence remains (e.g. scale 0 identifies it) and always under greedy decoding with distinct
 * scale-0 tokens.
 */
export class EmpiricalScaleModel {
  readonly vocabSize: number;
  readonly numClasses: number | undefined;
  readonly patchNums: readonly number[];
  readonly #e: Empirical;
  readonly #begins: number[];

  constructor(set: SequenceSet, patchNums: readonly number[], options: { backend?: Backend } = {}) {
    this.#e = new Empirical('EmpiricalScaleModel', set, backendOf(options.backend));
    const total = patchNums.reduce((a, p) => a + p * p, 0);
    if (total !== this.#e.L)
      throw new TesseraError(
        'SHAPE_MISMATCH',
        `EmpiricalScaleModel: sequences have length ${this.#e.L}, patchNums need Σp² = ${total}`,
      );
    this.vocabSize = this.#e.vocabSize;
    this.numClasses = this.#e.numClasses;
    this.patchNums = [...patchNums];
    this.#begins = scaleBegins(patchNums);
  }

  /** The model as plain data over the concatenated scales; see {@link EmpiricalModelSpec}. */
  exportSpec(): EmpiricalModelSpec {
    return this.#e.spec('next-scale', 'EmpiricalScaleModel', this.patchNums);
  }

  begin(options: { batch: number; cond?: ArCond }): { logits: Tensor; state: { alive: Tensor } } {
    const alive = this.#e.alive(options.cond, options.batch);
    return { logits: this.#e.logCounts(alive, 0, this.patchNums[0]! ** 2), state: { alive } };
  }

  next(
    k: number,
    prev: { tokens: Tensor },
    state: { alive: Tensor },
  ): { logits: Tensor; state: { alive: Tensor } } {
    if (!(k >= 1 && k < this.patchNums.length))
      throw new TesseraError(
        'OUT_OF_RANGE',
        `EmpiricalScaleModel.next: scale ${k} outside [1, ${this.patchNums.length})`,
      );
    const alive = this.#e.match(state.alive, prev.tokens, this.#begins[k - 1]!);
    state.alive.dispose();
    return { logits: this.#e.logCounts(alive, this.#begins[k]!, this.patchNums[k]! ** 2), state: { alive } };
  }

  sliceState(state: { alive: Tensor }, begin: number, size: number): { alive: Tensor } {
    const alive = rows(state.alive, begin, size);
    state.alive.dispose();
    return { alive };
  }

  disposeState(state: { alive: Tensor }): void {
    state.alive.dispose();
  }

  dispose(): void {
    this.#e.dispose();
  }
}

/**
 * The exact empirical masked model: logits at every position are log counts over the training sequences
 * that agree with all known (unmasked) tokens.
 */
export class EmpiricalMaskedModel {
  readonly vocabSize: number;
  readonly numClasses: number | undefined;
  readonly seqLen: number;
  readonly #e: Empirical;

  constructor(set: SequenceSet, options: { backend?: Backend } = {}) {
    this.#e = new Empirical('EmpiricalMaskedModel', set, backendOf(options.backend));
    this.vocabSize = this.#e.vocabSize;
    this.numClasses = this.#e.numClasses;
    this.seqLen = this.#e.L;
  }

  /** The model as plain data; see {@link EmpiricalModelSpec}. */
  exportSpec(): EmpiricalModelSpec {
    return this.#e.spec('masked', 'EmpiricalMaskedModel');
  }

  logits(tokens: Tensor, mask: Tensor, cond?: ArCond): Tensor {
    const n = tokens.shape[0]!;
    if (tokens.rank !== 2 || tokens.shape[1] !== this.seqLen) {
      throw new TesseraError(
        'SHAPE_MISMATCH',
        `EmpiricalMaskedModel.logits: tokens must be [B, ${this.seqLen}], got ${fmtShape(tokens.shape)}`,
      );
    }
    return tidy(() =>
      this.#e.logCounts(this.#e.match(this.#e.alive(cond, n), tokens, 0, mask), 0, this.seqLen),
    );
  }

  dispose(): void {
    this.#e.dispose();
  }
}
