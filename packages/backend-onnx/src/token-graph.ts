import { fmtShape, type Tensor, TesseraError } from '@tessera/core';
import type { OnnxBackend } from './backend.js';
import { type ModelSource, type OnnxModel, type OnnxModelOptions, onnxModel } from './model.js';
import type { ModelExpectation } from './model-io.js';
import { readModelHeader } from './proto-read.js';

/**
 * Shared parts of the token-model adapters (`onnxRasterModel`, `onnxScaleModel`, `onnxMaskedModel` in
 * `token-models.ts`): loading and checking a token-logits graph, running it, labels and control.
 *
 * A token-logits graph is the form `exportTokenModel` writes: `tokens` int64 `[batch, L]` with unknown
 * positions outside `[0, V)`, optional `labels` int64 `[batch]` → `logits` float32 `[batch, L, V]`.
 * The adapters present it as `@tessera/autoregressive`'s NextTokenModel, NextScaleModel and
 * MaskedTokenModel (structurally; this package does not import autoregressive), feeding unknown
 * positions as V. Every call runs the whole graph and keeps the positions it needs, so a raster decode
 * of L tokens costs L full runs (like a cache-free transformer); runs are queued and never read back.
 */

/** Which decoder interface a token graph serves (as `@tessera/reference`'s `TokenModelKind`). */
export type TokenModelKind = 'raster' | 'next-scale' | 'masked';

/** Names of a token graph's inputs and output (defaults `tokens`, `labels`, `logits`). */
export interface TokenGraphNames {
  tokens?: string;
  labels?: string;
  logits?: string;
}

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

/** A loaded, checked token-logits graph and what it computes. */
export interface Loaded {
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

/** Loads `source` and checks it is a token-logits graph of `kind` (MODEL_MISMATCH otherwise). */
export async function load(
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
export function runAll(m: Loaded, tokens: Tensor, labels: Tensor | undefined): Tensor {
  const n = tokens.shape[0]!;
  const feeds: Record<string, Tensor> = { [m.names.tokens]: tokens };
  if (labels) feeds[m.names.labels] = labels;
  return m.model.runSync(feeds, { [m.names.logits]: [n, m.L, m.V] })[m.names.logits]!;
}

/** int32 `[n]` labels for a batch: `cond.labels`, or the null label C; undefined without classes. */
export function labelsFor(
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
export function addControl(op: string, logits: Tensor, c: TokenControl | undefined, begin: number): Tensor {
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

/** Conditioning held by an adapter state (labels and control, and whether the state owns them). */
export interface TokenModelStateBase {
  labels: Tensor | undefined;
  ownsLabels: boolean;
  control: TokenControl | undefined;
  ownsControl: boolean;
}

/** Rows `[begin, begin+size)` of a state's labels and control (new tensors, owned). */
export function sliceCommon<S extends TokenModelStateBase>(
  s: S,
  begin: number,
  size: number,
): TokenModelStateBase {
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

/** Frees the labels and control a state owns. */
export function disposeCommon(s: TokenModelStateBase): void {
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
