import { fmtShape, type Tensor, TesseraError, tidy } from '@tessera/core';
import type { OnnxBackend } from './backend.js';
import type { TokenGraphNames, TokenModelKind } from './export-ar.js';
import { type ModelSource, type OnnxModel, type OnnxModelOptions, onnxModel } from './model.js';
import type { ModelExpectation } from './model-io.js';
import { readModelHeader } from './proto-read.js';

/**
 * Adapters that run a token-logits ONNX graph (the form {@link exportTokenModel} writes: `tokens` int64
 * `[batch, L]` with unknown positions outside `[0, V)`, optional `labels` int64 `[batch]` → `logits`
 * float32 `[batch, L, V]`) as `@tessera/autoregressive`'s NextTokenModel, NextScaleModel and
 * MaskedTokenModel (structurally; this package does not import autoregressive). Unknown positions are
 * fed as V. Every call runs the whole graph and keeps the positions it needs, so a raster decode of L
 * tokens costs L full runs (like a cache-free transformer); runs are queued and never read back.
 */

/** Control input (ControlAR-style), structurally `@tessera/autoregressive`'s ControlInput. */
export interface TokenControl {
  embeddings: Tensor;
  strength: number;
}
/** Conditioning, structurally `@tessera/autoregressive`'s Cond. */
export interface TokenCond {
  labels?: Tensor;
  control?: TokenControl;
}

/** Options of the token-model adapters. */
export interface OnnxTokenModelOptions extends Omit<OnnxModelOptions, 'expect'> {
  /** Graph I/O names (default `tokens`, `labels`, `logits`). */
  names?: TokenGraphNames;
  /** Override or supply what the model's `tessera.*` metadata and declared shapes do not say. */
  vocabSize?: number;
  length?: number;
  numClasses?: number;
  /** Scale side lengths (next-scale). */
  patchNums?: readonly number[];
}

interface Loaded {
  model: OnnxModel;
  V: number;
  L: number;
  C: number | undefined;
  patchNums: number[] | undefined;
  names: Required<TokenGraphNames>;
}

async function sourceBytes(source: ModelSource): Promise<Uint8Array | undefined> {
  if (source instanceof Uint8Array) return source;
  if (source instanceof ArrayBuffer) return new Uint8Array(source);
  const node = typeof process !== 'undefined' && !!process.versions?.node;
  if (typeof source !== 'string' || !node || /^[a-z]+:\/\//i.test(source)) return undefined;
  try {
    const nodeFs = 'node:fs/promises'; // a variable specifier: bundlers leave the Node-only import alone
    const fs = (await import(/* @vite-ignore */ nodeFs)) as typeof import('node:fs/promises');
    return new Uint8Array(await fs.readFile(source));
  } catch {
    return undefined; // onnxModel reports the missing or unreadable file
  }
}

const num = (v: string | undefined) => (v === undefined || v === '' ? undefined : Number(v));

async function load(
  op: string,
  kind: TokenModelKind,
  source: ModelSource,
  o: OnnxTokenModelOptions,
): Promise<Loaded> {
  const names = { tokens: 'tokens', labels: 'labels', logits: 'logits', ...o.names };
  const bytes = await sourceBytes(source);
  const meta = (bytes && readModelHeader(bytes)?.metadata) || {};
  const label =
    o.name ?? (typeof source === 'string' ? source : `<${(source as Uint8Array).byteLength ?? '?'} bytes>`);
  const metaKind = meta['tessera.kind'];
  const C = o.numClasses ?? num(meta['tessera.num_classes']);
  const expect: ModelExpectation = {
    inputs: { [names.tokens]: { dtype: ['int64', 'int32'], shape: [null, null] } },
    outputs: { [names.logits]: { dtype: 'float32', shape: [null, null, null] } },
  };
  if (C !== undefined) expect.inputs![names.labels] = { dtype: ['int64', 'int32'], shape: [null] };
  const model = await onnxModel(bytes ?? source, { ...o, name: label, expect });
  const fail = async (msg: string) => {
    await model.dispose();
    return new TesseraError('MODEL_MISMATCH', `${op} '${label}': ${msg}`);
  };
  if (metaKind && metaKind !== kind)
    throw await fail(`the model was exported as a ${metaKind} model (tessera.kind), expected ${kind}`);
  const extra = model.inputs.filter((i) => i.name !== names.tokens && i.name !== names.labels);
  if (extra.length || (C === undefined && model.input(names.labels))) {
    throw await fail(
      extra.length
        ? `unexpected input(s) ${extra.map((i) => i.name).join(', ')}; expected ${names.tokens} and optionally ${names.labels}`
        : `the model takes '${names.labels}' but its number of classes is unknown (no tessera.num_classes); pass numClasses`,
    );
  }
  const tokShape = model.input(names.tokens)!.shape;
  const outShape = model.output(names.logits)!.shape;
  const declared = (v: string | number | undefined) => (typeof v === 'number' ? v : undefined);
  const V = o.vocabSize ?? num(meta['tessera.vocab_size']) ?? declared(outShape[2]);
  const L = o.length ?? num(meta['tessera.length']) ?? declared(tokShape[1]) ?? declared(outShape[1]);
  if (V === undefined || L === undefined)
    throw await fail('the vocabulary size or sequence length is unknown; pass vocabSize and length');
  for (const [what, want, got] of [
    [`input '${names.tokens}' axis 1`, L, declared(tokShape[1])],
    [`output '${names.logits}' axis 1`, L, declared(outShape[1])],
    [`output '${names.logits}' axis 2`, V, declared(outShape[2])],
  ] as const) {
    if (got !== undefined && got !== want) throw await fail(`${what} is ${got}, expected ${want}`);
  }
  let patchNums: number[] | undefined;
  if (kind === 'next-scale') {
    patchNums = o.patchNums
      ? [...o.patchNums]
      : meta['tessera.patch_nums']
        ? meta['tessera.patch_nums'].split(',').map(Number)
        : undefined;
    if (!patchNums?.length)
      throw await fail('the scales are unknown (no tessera.patch_nums); pass patchNums');
    const total = patchNums.reduce((a, p) => a + p * p, 0);
    if (total !== L)
      throw await fail(`patchNums [${patchNums.join(', ')}] have Σp² = ${total}, expected ${L}`);
  }
  return { model, V, L, C, patchNums, names };
}

/** Runs the graph on `tokens` int32 `[n, L]` (unknown = V) and returns logits `[n, L, V]`. */
function runAll(m: Loaded, tokens: Tensor, labels: Tensor | undefined): Tensor {
  const n = tokens.shape[0]!;
  const feeds: Record<string, Tensor> = { [m.names.tokens]: tokens };
  if (labels) feeds[m.names.labels] = labels;
  return m.model.runSync(feeds, { [m.names.logits]: [n, m.L, m.V] })[m.names.logits]!;
}

/** int32 `[n]` labels for a batch: `cond.labels`, or the null label C; undefined without classes. */
function labelsFor(
  op: string,
  m: Loaded,
  cond: TokenCond | undefined,
  n: number,
): { labels: Tensor | undefined; owned: boolean } {
  const B = m.model.backend;
  if (m.C === undefined) return { labels: undefined, owned: false };
  const l = cond?.labels;
  if (!l) return { labels: B.fill([n], m.C, 'int32'), owned: true };
  if (l.rank !== 1 || l.shape[0] !== n)
    throw new TesseraError('SHAPE_MISMATCH', `${op}: labels must be [${n}], got ${fmtShape(l.shape)}`);
  return l.dtype === 'int32' ? { labels: l, owned: false } : { labels: B.cast(l, 'int32'), owned: true };
}

/** Adds `strength · embeddings[:, begin : begin+size, :]` to logits `[n, size, V]` (as the reference models do). */
function addControl(op: string, logits: Tensor, c: TokenControl | undefined, begin: number): Tensor {
  if (!c || c.strength === 0) return logits;
  const B = logits.backend;
  const [n, size, V] = logits.shape as [number, number, number];
  const e = c.embeddings;
  if (e.rank !== 3 || e.shape[0] !== n || e.shape[2] !== V || begin + size > e.shape[1]!) {
    throw new TesseraError(
      'SHAPE_MISMATCH',
      `${op}: control embeddings ${fmtShape(e.shape)} do not cover logits [${n}, ${size}, ${V}] at positions [${begin}, ${begin + size})`,
    );
  }
  const out = B.lincomb([1, c.strength], [logits, B.slice(e, [0, begin, 0], [n, size, V])]);
  logits.dispose();
  return out;
}

interface CommonState {
  labels: Tensor | undefined;
  ownsLabels: boolean;
  control: TokenControl | undefined;
  ownsControl: boolean;
}

function sliceCommon<S extends CommonState>(s: S, begin: number, size: number): CommonState {
  const rows = (t: Tensor) =>
    t.backend.slice(
      t,
      t.shape.map((_, i) => (i === 0 ? begin : 0)),
      t.shape.map((d, i) => (i === 0 ? size : d)),
    );
  return {
    labels: s.labels && rows(s.labels),
    ownsLabels: !!s.labels,
    control: s.control && { strength: s.control.strength, embeddings: rows(s.control.embeddings) },
    ownsControl: !!s.control,
  };
}

function disposeCommon(s: CommonState): void {
  if (s.ownsLabels) s.labels?.dispose();
  if (s.ownsControl) s.control?.embeddings.dispose();
}

/** Shared read-only facts of an adapter. */
export interface OnnxTokenModelBase {
  readonly vocabSize: number;
  /** Label C is the null label; undefined when the graph takes no labels. */
  readonly numClasses: number | undefined;
  /** Positions L of the graph's token input. */
  readonly length: number;
  readonly model: OnnxModel;
  readonly backend: OnnxBackend;
  /** Releases the session. */
  dispose(): Promise<void>;
}

/** State of {@link OnnxRasterModel}: the token buffer `[B, L]` (V where not generated yet). */
export interface OnnxRasterState extends CommonState {
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
export interface OnnxScaleState extends CommonState {
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
