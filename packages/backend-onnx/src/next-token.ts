import { type Tensor, TesseraError, tidy } from '@tessera/core';
import { type ModelSource, type OnnxModel, type OnnxModelOptions, onnxModel } from './model.js';
import { fmtSpec } from './model-io.js';

/** Input/output names of a decoder export; `{i}` stands for the layer index. Defaults: Optimum's. */
export interface DecoderNames {
  inputIds?: string;
  attentionMask?: string;
  positionIds?: string;
  pastKey?: string;
  pastValue?: string;
  logits?: string;
  presentKey?: string;
  presentValue?: string;
}

/** Options of {@link onnxNextTokenModel}. */
export interface OnnxNextTokenOptions extends Omit<OnnxModelOptions, 'expect'> {
  names?: DecoderNames;
  /** Token that starts a sequence when `prefill` gets no prefix. */
  bosTokenId?: number;
  /** Vocabulary size when the model's logits do not declare it. */
  vocabSize?: number;
  /** Key/value heads and head size when the past inputs do not declare them. */
  numHeads?: number;
  headDim?: number;
}

/** The KV cache of {@link OnnxNextTokenModel}: one key and one value tensor per layer, and the length. */
export interface DecoderState {
  keys: Tensor[];
  values: Tensor[];
  length: number;
  batch: number;
}

/** A decoder-only transformer as a next-token model (the shape of @tessera/autoregressive's NextTokenModel). */
export interface OnnxNextTokenModel {
  readonly vocabSize: number;
  readonly numLayers: number;
  readonly model: OnnxModel;
  /**
   * Runs the prefix `[B, T]` int32 (or the BOS token when null) and returns the logits `[B, V]` of the
   * next token. Only raster order is supported (a permuted `order` throws UNSUPPORTED); class labels
   * in `cond` are ignored (`numClasses` is undefined).
   */
  prefill(
    prefix: Tensor | null,
    options: { batch: number; order?: readonly number[]; cond?: unknown },
  ): { logits: Tensor; state: DecoderState };
  /** Appends `tokens` `[B]` int32 and returns the next logits; consumes `state`. */
  step(tokens: Tensor, state: DecoderState): { logits: Tensor; state: DecoderState };
  /** Keeps batch rows `[begin, begin + size)`; consumes `state`. */
  sliceState(state: DecoderState, begin: number, size: number): DecoderState;
  disposeState(state: DecoderState): void;
  dispose(): Promise<void>;
}

const layerName = (tpl: string, i: number) => tpl.replaceAll('{i}', String(i));

/**
 * Loads a decoder-only transformer exported with a KV cache (Optimum's `decoder_with_past` /
 * `decoder_model_merged` naming by default: `input_ids`, `attention_mask`, `position_ids`,
 * `past_key_values.{i}.key|value` → `logits`, `present.{i}.key|value`). Layers, heads and head size
 * are read from the declared inputs; a model without the expected names is rejected with
 * MODEL_MISMATCH listing expected and actual I/O. Runs never wait on the device and never read back.
 */
export async function onnxNextTokenModel(
  source: ModelSource | OnnxModel,
  options: OnnxNextTokenOptions,
): Promise<OnnxNextTokenModel> {
  const n = {
    inputIds: options.names?.inputIds ?? 'input_ids',
    attentionMask: options.names?.attentionMask ?? 'attention_mask',
    positionIds: options.names?.positionIds ?? 'position_ids',
    pastKey: options.names?.pastKey ?? 'past_key_values.{i}.key',
    pastValue: options.names?.pastValue ?? 'past_key_values.{i}.value',
    logits: options.names?.logits ?? 'logits',
    presentKey: options.names?.presentKey ?? 'present.{i}.key',
    presentValue: options.names?.presentValue ?? 'present.{i}.value',
  };
  const model =
    source instanceof Object && 'runSync' in source
      ? (source as OnnxModel)
      : await onnxModel(source as ModelSource, options);
  let layers = 0;
  while (model.input(layerName(n.pastKey, layers))) layers++;
  const problems: string[] = [];
  if (!model.input(n.inputIds)) problems.push(`missing input '${n.inputIds}'`);
  if (!model.output(n.logits)) problems.push(`missing output '${n.logits}'`);
  if (layers === 0) problems.push(`no past inputs '${layerName(n.pastKey, 0)}'`);
  for (let i = 0; i < layers; i++) {
    for (const [kind, tpl] of [
      ['input', n.pastValue],
      ['output', n.presentKey],
      ['output', n.presentValue],
    ] as const) {
      const name = layerName(tpl, i);
      if (!(kind === 'input' ? model.input(name) : model.output(name)))
        problems.push(`missing ${kind} '${name}'`);
    }
  }
  const past0 = model.input(layerName(n.pastKey, 0));
  const heads = options.numHeads ?? (typeof past0?.shape[1] === 'number' ? past0.shape[1] : undefined);
  const headDim = options.headDim ?? (typeof past0?.shape[3] === 'number' ? past0.shape[3] : undefined);
  const logitsSpec = model.output(n.logits);
  const vocab =
    options.vocabSize ?? (typeof logitsSpec?.shape[2] === 'number' ? logitsSpec.shape[2] : undefined);
  if (!problems.length && (heads === undefined || headDim === undefined))
    problems.push(
      'past key shape [batch, heads, past, headDim] has symbolic heads/headDim; pass numHeads and headDim',
    );
  if (!problems.length && vocab === undefined)
    problems.push('logits do not declare the vocabulary size; pass vocabSize');
  if (problems.length) {
    await model.dispose();
    throw new TesseraError(
      'MODEL_MISMATCH',
      `onnxNextTokenModel '${model.source}': ${problems.join('; ')}. Expected inputs ${n.inputIds}, ${n.attentionMask}, ${n.positionIds}, ${n.pastKey}, ${n.pastValue}; outputs ${n.logits}, ${n.presentKey}, ${n.presentValue}. Model declares inputs: ${model.inputs.map(fmtSpec).join(', ')}; outputs: ${model.outputs.map(fmtSpec).join(', ')}`,
    );
  }
  const B = model.backend;
  const engine = B.engine;
  const hasMask = !!model.input(n.attentionMask);
  const hasPos = !!model.input(n.positionIds);
  const useCache = model.input('use_cache_branch');

  const i64 = (values: number[], dims: number[]) =>
    engine.tensor(
      'int64',
      BigInt64Array.from(values, (v) => BigInt(v)),
      dims,
    );

  const forward = (
    ids: Tensor,
    state: DecoderState | undefined,
    batch: number,
  ): { logits: Tensor; state: DecoderState } => {
    const T = ids.shape[1]!;
    const past = state?.length ?? 0;
    const total = past + T;
    const feeds: Record<string, Tensor | ReturnType<typeof i64>> = { [n.inputIds]: ids };
    if (hasMask) feeds[n.attentionMask] = i64(new Array(batch * total).fill(1), [batch, total]);
    if (hasPos)
      feeds[n.positionIds] = i64(
        Array.from({ length: batch * T }, (_, j) => past + (j % T)),
        [batch, T],
      );
    if (useCache) feeds.use_cache_branch = engine.tensor('bool', Uint8Array.of(past > 0 ? 1 : 0), [1]);
    const empty = () => B.fill([batch, heads!, 0, headDim!], 0);
    const shapes: Record<string, number[]> = { [n.logits]: [batch, T, vocab!] };
    for (let i = 0; i < layers; i++) {
      feeds[layerName(n.pastKey, i)] = state ? state.keys[i]! : empty();
      feeds[layerName(n.pastValue, i)] = state ? state.values[i]! : empty();
      shapes[layerName(n.presentKey, i)] = [batch, heads!, total, headDim!];
      shapes[layerName(n.presentValue, i)] = [batch, heads!, total, headDim!];
    }
    const out = model.runSync(feeds as Record<string, Tensor>, shapes);
    const all = out[n.logits]!;
    const last = B.reshape(B.slice(all, [0, T - 1, 0], [batch, 1, vocab!]), [batch, vocab!]);
    all.dispose();
    return {
      logits: last,
      state: {
        keys: Array.from({ length: layers }, (_, i) => out[layerName(n.presentKey, i)]!),
        values: Array.from({ length: layers }, (_, i) => out[layerName(n.presentValue, i)]!),
        length: total,
        batch,
      },
    };
  };

  const disposeState = (s: DecoderState) => {
    for (const t of [...s.keys, ...s.values]) t.dispose();
  };

  return {
    vocabSize: vocab!,
    numLayers: layers,
    model,
    prefill(prefix, opts) {
      const batch = opts?.batch ?? prefix?.shape[0];
      if (!Number.isInteger(batch) || batch! < 1)
        throw new TesseraError(
          'INVALID_ARGUMENT',
          `onnxNextTokenModel.prefill: batch must be a positive integer, got ${batch}`,
        );
      if (prefix && (prefix.rank !== 2 || prefix.shape[0] !== batch || prefix.shape[1] === 0)) {
        throw new TesseraError(
          'SHAPE_MISMATCH',
          `onnxNextTokenModel.prefill: prefix must be [${batch}, T ≥ 1] int32, got [${prefix.shape.join(', ')}]`,
        );
      }
      if (opts?.order?.some((p, i) => p !== i)) {
        throw new TesseraError(
          'UNSUPPORTED',
          `onnxNextTokenModel '${model.source}': a causal decoder generates in raster order only`,
        );
      }
      if (!prefix && options.bosTokenId === undefined)
        throw new TesseraError('INVALID_ARGUMENT', 'onnxNextTokenModel.prefill: no prefix and no bosTokenId');
      if (prefix) return tidy(() => forward(prefix, undefined, batch!));
      return tidy(() => forward(B.fill([batch!, 1], options.bosTokenId!, 'int32'), undefined, batch!));
    },
    step(tokens, state) {
      if (tokens.rank !== 1 || tokens.shape[0] !== state.batch) {
        throw new TesseraError(
          'SHAPE_MISMATCH',
          `onnxNextTokenModel.step: tokens must be [${state.batch}] int32, got [${tokens.shape.join(', ')}]`,
        );
      }
      const r = tidy(() => forward(B.reshape(tokens, [state.batch, 1]), state, state.batch));
      disposeState(state);
      return r;
    },
    sliceState(state, begin, size) {
      const cut = (t: Tensor) => B.slice(t, [begin, 0, 0, 0], [size, -1, -1, -1]);
      const next = {
        keys: state.keys.map(cut),
        values: state.values.map(cut),
        length: state.length,
        batch: size,
      };
      disposeState(state);
      return next;
    },
    disposeState,
    dispose: () => model.dispose(),
  };
}
