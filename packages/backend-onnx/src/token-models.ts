import { fmtShape, type Tensor, TesseraError, tidy } from '@tessera/core';
import type { ModelSource } from './model.js';
import {
  addControl,
  disposeCommon,
  labelsFor,
  load,
  type OnnxTokenModelBase,
  type OnnxTokenModelOptions,
  runAll,
  sliceCommon,
  type TokenCond,
  type TokenModelStateBase,
} from './token-graph.js';

/**
 * `@tessera/autoregressive` model interfaces (NextTokenModel, NextScaleModel, MaskedTokenModel,
 * structurally) over a token-logits ONNX graph, the form `exportTokenModel` writes. See
 * `token-graph.ts` for loading and the graph's I/O.
 */

/** State of {@link OnnxRasterModel}: the token buffer `[B, L]` (V where not generated yet). */
export interface OnnxRasterState extends TokenModelStateBase {
  buf: Tensor;
  /** Index (in generation order) of the token the last logits were for. */
  t: number;
  order: readonly number[] | undefined;
}

/** A token-logits graph as a NextTokenModel (any generation order). */
export interface OnnxRasterModel extends OnnxTokenModelBase {
  prefill(
    prefix: Tensor | null,
    options: { batch: number; cond?: TokenCond; order?: readonly number[] },
  ): { logits: Tensor; state: OnnxRasterState };
  step(tokens: Tensor, state: OnnxRasterState): { logits: Tensor; state: OnnxRasterState };
  sliceState(state: OnnxRasterState, begin: number, size: number): OnnxRasterState;
  disposeState(state: OnnxRasterState): void;
}

/**
 * Loads a token-logits graph (e.g. `exportTokenModel(rasterCountModel)`) as a NextTokenModel for
 * `rasterDecode`: the state is a `[B, L]` token buffer holding V where nothing was generated yet, and each
 * call returns the graph's logits at the next position of the generation order (any order). Checks
 * the graph's I/O (MODEL_MISMATCH naming expected and declared inputs/outputs) and its `tessera.kind`.
 */
export async function onnxRasterModel(
  source: ModelSource,
  options: OnnxTokenModelOptions,
): Promise<OnnxRasterModel> {
  const op = 'onnxRasterModel';
  const m = await load(op, 'raster', source, options);
  const B = m.model.backend;
  const { V, L } = m;
  const pos = B.reshape(B.arange(0, L, 1, 'int32'), [1, L]);
  const disposeState = (state: OnnxRasterState) => {
    state.buf.dispose();
    disposeCommon(state);
  };
  const logitsAt = (s: OnnxRasterState): Tensor => {
    const n = s.buf.shape[0]!;
    const p = s.order ? s.order[s.t]! : s.t;
    return tidy(() => {
      const at = B.slice(runAll(m, s.buf, s.labels), [0, p, 0], [n, 1, V]);
      return B.reshape(addControl(op, at, s.control, p), [n, V]);
    });
  };
  return {
    vocabSize: V,
    numClasses: m.C,
    length: L,
    model: m.model,
    backend: B,
    prefill(prefix, o) {
      const n = o.batch;
      const T = prefix ? prefix.shape[1]! : 0;
      if (!(Number.isInteger(n) && n >= 1))
        throw new TesseraError(
          'INVALID_ARGUMENT',
          `${op}.prefill: batch must be a positive integer, got ${n}`,
        );
      if (prefix && (prefix.rank !== 2 || prefix.shape[0] !== n || T >= L)) {
        throw new TesseraError(
          'SHAPE_MISMATCH',
          `${op}.prefill: prefix must be [${n}, T < ${L}], got ${fmtShape(prefix.shape)}`,
        );
      }
      const order = o.order;
      if (
        order &&
        (order.length !== L || new Set(order).size !== L || order.some((p) => !(p >= 0 && p < L)))
      ) {
        throw new TesseraError(
          'INVALID_ARGUMENT',
          `${op}.prefill: order must be a permutation of 0..${L - 1}`,
        );
      }
      const identity = !order || order.every((p, i) => p === i);
      const { labels, owned } = labelsFor(`${op}.prefill`, m, o.cond, n);
      const buf = tidy(() => {
        if (!prefix) return B.fill([n, L], V, 'int32');
        // column p takes the prefix token generated at position p, or V if none yet
        const src = B.concat([B.fill([n, 1], V, 'int32'), B.cast(prefix, 'int32')], 1);
        const map = new Int32Array(L);
        for (let i = 0; i < T; i++) map[identity ? i : order![i]!] = i + 1;
        return B.gather(src, B.tensor(map, [L], 'int32'), 1);
      });
      const state: OnnxRasterState = {
        buf,
        t: T,
        order: identity ? undefined : order,
        labels,
        ownsLabels: owned,
        control: o.cond?.control,
        ownsControl: false,
      };
      return { logits: logitsAt(state), state };
    },
    step(tokens, state) {
      const n = state.buf.shape[0]!;
      if (tokens.rank !== 1 || tokens.shape[0] !== n)
        throw new TesseraError(
          'SHAPE_MISMATCH',
          `${op}.step: tokens must be [${n}], got ${fmtShape(tokens.shape)}`,
        );
      if (state.t >= L - 1)
        throw new TesseraError('OUT_OF_RANGE', `${op}.step: all ${L} tokens are generated`);
      const p = state.order ? state.order[state.t]! : state.t;
      const buf = tidy(() =>
        B.where(B.binary('eq', pos, p), B.reshape(B.cast(tokens, 'int32'), [n, 1]), state.buf),
      );
      state.buf.dispose();
      const next: OnnxRasterState = { ...state, buf, t: state.t + 1 };
      return { logits: logitsAt(next), state: next };
    },
    sliceState(state, begin, size) {
      const buf = B.slice(state.buf, [begin, 0], [size, L]);
      const out: OnnxRasterState = { ...state, ...sliceCommon(state, begin, size), buf };
      disposeState(state);
      return out;
    },
    disposeState,
    async dispose() {
      pos.dispose();
      await m.model.dispose();
    },
  };
}

/** State of {@link OnnxScaleModel}: the scales given so far, concatenated. */
export interface OnnxScaleState extends TokenModelStateBase {
  /** int32 `[B, Σ_{i<k} pᵢ²]` tokens of scales 0..k−1 (null at k = 0). */
  prefix: Tensor | null;
  /** The scale whose logits were returned last. */
  k: number;
  batch: number;
}

/** A token-logits graph over concatenated scales as a NextScaleModel. */
export interface OnnxScaleModel extends OnnxTokenModelBase {
  readonly patchNums: readonly number[];
  begin(options: { batch: number; cond?: TokenCond }): { logits: Tensor; state: OnnxScaleState };
  next(k: number, prev: { tokens: Tensor }, state: OnnxScaleState): { logits: Tensor; state: OnnxScaleState };
  sliceState(state: OnnxScaleState, begin: number, size: number): OnnxScaleState;
  disposeState(state: OnnxScaleState): void;
}

/**
 * Loads a token-logits graph over all scales concatenated (e.g. `exportTokenModel(scaleCountModel)`) as a
 * NextScaleModel for `nextScaleDecode`: scale k's logits are the graph's logits at scale k's positions
 * with scales 0..k−1 known and the rest V. `patchNums` come from the `tessera.patch_nums` metadata or
 * the options.
 */
export async function onnxScaleModel(
  source: ModelSource,
  options: OnnxTokenModelOptions,
): Promise<OnnxScaleModel> {
  const op = 'onnxScaleModel';
  const m = await load(op, 'next-scale', source, options);
  const B = m.model.backend;
  const { V, L } = m;
  const pn = m.patchNums!;
  const begins = pn.map((_, k) => pn.slice(0, k).reduce((a, p) => a + p * p, 0));
  const disposeState = (state: OnnxScaleState) => {
    state.prefix?.dispose();
    disposeCommon(state);
  };
  const logitsOf = (k: number, s: OnnxScaleState): Tensor =>
    tidy(() => {
      const n = s.batch;
      const rest = B.fill([n, L - begins[k]!], V, 'int32');
      const feed = s.prefix ? B.concat([s.prefix, rest], 1) : rest;
      const size = pn[k]! ** 2;
      return addControl(
        op,
        B.slice(runAll(m, feed, s.labels), [0, begins[k]!, 0], [n, size, V]),
        s.control,
        begins[k]!,
      );
    });
  return {
    vocabSize: V,
    numClasses: m.C,
    length: L,
    patchNums: pn,
    model: m.model,
    backend: B,
    begin(o) {
      const n = o.batch;
      if (!(Number.isInteger(n) && n >= 1))
        throw new TesseraError('INVALID_ARGUMENT', `${op}.begin: batch must be a positive integer, got ${n}`);
      const { labels, owned } = labelsFor(`${op}.begin`, m, o.cond, n);
      const state: OnnxScaleState = {
        prefix: null,
        k: 0,
        batch: n,
        labels,
        ownsLabels: owned,
        control: o.cond?.control,
        ownsControl: false,
      };
      return { logits: logitsOf(0, state), state };
    },
    next(k, prev, state) {
      const n = state.batch;
      if (k !== state.k + 1 || k >= pn.length) {
        throw new TesseraError(
          'OUT_OF_RANGE',
          `${op}.next: expected scale ${state.k + 1} (of ${pn.length}) after scale ${state.k}, got ${k}`,
        );
      }
      const q = pn[k - 1]! ** 2;
      if (prev.tokens.rank !== 2 || prev.tokens.shape[0] !== n || prev.tokens.shape[1] !== q) {
        throw new TesseraError(
          'SHAPE_MISMATCH',
          `${op}.next: previous tokens must be [${n}, ${q}], got ${fmtShape(prev.tokens.shape)}`,
        );
      }
      const prefix = tidy(() => {
        const t = B.cast(prev.tokens, 'int32');
        return state.prefix ? B.concat([state.prefix, t], 1) : B.reshape(t, [n, q]);
      });
      state.prefix?.dispose();
      const next: OnnxScaleState = { ...state, prefix, k };
      return { logits: logitsOf(k, next), state: next };
    },
    sliceState(state, begin, size) {
      const prefix = state.prefix && B.slice(state.prefix, [begin, 0], [size, -1]);
      const out: OnnxScaleState = { ...state, ...sliceCommon(state, begin, size), prefix, batch: size };
      disposeState(state);
      return out;
    },
    disposeState,
    dispose: () => m.model.dispose(),
  };
}

/** A token-logits graph as a MaskedTokenModel. */
export interface OnnxMaskedModel extends OnnxTokenModelBase {
  /** Sequence length L. */
  readonly seqLen: number;
  /** Logits `[B, L, V]` for tokens `[B, L]` with `mask` `[B, L]` (non-zero = masked, fed as V). */
  logits(tokens: Tensor, mask: Tensor, cond?: TokenCond): Tensor;
}

/**
 * Loads a token-logits graph (e.g. `exportTokenModel(maskedCountModel)`, or a MaskGIT-style export whose
 * mask token is V) as a MaskedTokenModel for `maskedDecode`: masked positions are fed as V.
 */
export async function onnxMaskedModel(
  source: ModelSource,
  options: OnnxTokenModelOptions,
): Promise<OnnxMaskedModel> {
  const op = 'onnxMaskedModel';
  const m = await load(op, 'masked', source, options);
  const B = m.model.backend;
  const { V, L } = m;
  return {
    vocabSize: V,
    numClasses: m.C,
    length: L,
    seqLen: L,
    model: m.model,
    backend: B,
    logits(tokens, mask, cond) {
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
          `${op}.logits: tokens and mask must be [B, ${L}], got ${fmtShape(tokens.shape)} and ${fmtShape(mask.shape)}`,
        );
      }
      const { labels, owned } = labelsFor(`${op}.logits`, m, cond, n);
      try {
        return tidy(() =>
          addControl(op, runAll(m, B.where(mask, V, B.cast(tokens, 'int32')), labels), cond?.control, 0),
        );
      } finally {
        if (owned) labels?.dispose();
      }
    },
    dispose: () => m.model.dispose(),
  };
}
