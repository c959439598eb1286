import type { NextTokenModel, PrefillOptions } from '@tessera/autoregressive';
import {
  type DecoderState,
  type OnnxBackend,
  type OnnxModel,
  type OnnxNextTokenModel,
  onnxModel,
  onnxNextTokenModel,
} from '@tessera/backend-onnx';
import { type Tensor, TesseraError, tidy } from '@tessera/core';
import type { ModelCard } from './card-types.js';
import { GPT_DIGITS16_CARD } from './cards.js';
import type { ModelsLocation } from './files.js';
import { type ModelRuntimeOptions, readCardFile } from './session.js';

/**
 * The class-conditional GPT over the VQ's 4×4 raster code grid as an `@tessera/autoregressive`
 * next-token model: `numClasses` = 10, label 10 is the null class (classifier-free guidance), and the
 * class label becomes the sequence's first token (256 + label) in `prefill`.
 */
export interface DigitsTokenModel extends NextTokenModel<DecoderState> {
  /** 10 digit classes; label 10 is "no class". */
  readonly numClasses: number;
  /** Narrows a state to rows `begin … begin + size − 1` (the decoders' CFG and batching use it). */
  sliceState(state: DecoderState, begin: number, size: number): DecoderState;
  /** Frees a state's KV cache. */
  disposeState(state: DecoderState): void;
  /** The KV-cached decoder underneath (Optimum layout). */
  readonly decoder: OnnxNextTokenModel;
  /** The loaded ONNX model. */
  readonly model: OnnxModel;
  /** The card. */
  readonly card: ModelCard;
  /** Releases the session. */
  dispose(): Promise<void>;
}

/** Options of {@link loadDigitsGPT}. */
export interface LoadGPTOptions extends ModelRuntimeOptions {
  /** The ONNX backend the network runs on (decode with this backend). */
  backend: OnnxBackend;
  /** Folder (Node path) or base URL holding `gpt-digits16/`. Default: the repository's `models/`. */
  dir?: ModelsLocation;
}

/**
 * Loads the class-conditional GPT trained on the digit codes of `vq-digits16` (`models/gpt-digits16`),
 * verifying its SHA-256, as a next-token model for `rasterDecode` (CFG-capable).
 *
 * @example
 * const gpt = await loadDigitsGPT({ backend: B });
 * const labels = B.tensor(Int32Array.from([3, 7]), [2], 'int32');
 * const codes = await rasterDecode(gpt, { batch: 2, length: 16, cond: { labels }, guidance: { scale: 2 }, seed: 1 });
 */
export async function loadDigitsGPT(options: LoadGPTOptions): Promise<DigitsTokenModel> {
  const card = GPT_DIGITS16_CARD;
  const { bytes, name, sessionOptions } = await readCardFile('loadDigitsGPT', card, 'model.onnx', options);
  const B = options.backend;
  const model = await onnxModel(bytes, {
    backend: B,
    name,
    sessionOptions,
  });
  const decoder = await onnxNextTokenModel(model, { backend: B });
  const info = card as unknown as { class_token_offset: number; num_classes: number };
  const offset = info.class_token_offset;
  const numClasses = info.num_classes;
  const label = `loadDigitsGPT '${card.name}'`;

  const prefill = (prefix: Tensor | null, o: PrefillOptions) => {
    if (prefix) {
      throw new TesseraError(
        'UNSUPPORTED',
        `${label}: the class token starts every sequence; prefill takes no prefix (pass cond.labels)`,
      );
    }
    const labels = o.cond?.labels;
    if (labels && (labels.rank !== 1 || labels.shape[0] !== o.batch || labels.dtype !== 'int32')) {
      throw new TesseraError(
        'SHAPE_MISMATCH',
        `${label}: cond.labels must be int32 [${o.batch}], got ${labels.dtype} [${labels.shape.join(', ')}]`,
      );
    }
    if (labels && labels.backend !== B) {
      throw new TesseraError(
        'BACKEND_MISMATCH',
        `${label}: cond.labels must live on the model's ONNX backend, got '${labels.backend.name}'`,
      );
    }
    const first = tidy(() =>
      labels
        ? B.reshape(B.binary('add', labels, offset), [o.batch, 1])
        : B.fill([o.batch, 1], offset + numClasses, 'int32'),
    );
    try {
      return decoder.prefill(first, { batch: o.batch, order: o.order });
    } finally {
      first.dispose();
    }
  };

  return {
    vocabSize: decoder.vocabSize,
    numClasses,
    decoder,
    model,
    card,
    prefill,
    step: (tokens, state) => decoder.step(tokens, state),
    sliceState: (state, begin, size) => decoder.sliceState(state, begin, size),
    disposeState: (state) => decoder.disposeState(state),
    dispose: () => decoder.dispose(),
  };
}
