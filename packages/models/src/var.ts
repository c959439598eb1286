import {
  type OnnxBackend,
  type OnnxModel,
  type OnnxScaleModel,
  onnxModel,
  onnxScaleModel,
} from '@tessera/backend-onnx';
import { isTensor, type Tensor, TesseraError } from '@tessera/core';
import type { ModelCard } from './card-types.js';
import { MSVQ_DIGITS16_CARD, VAR_DIGITS16_CARD } from './cards.js';
import { viaOnnx } from './cross.js';
import type { ModelsLocation } from './files.js';
import { type ModelRuntimeOptions, readCardFile } from './session.js';

/** The VAR transformer as an `@tessera/autoregressive` next-scale model, with its card. */
export interface DigitsScaleModel extends OnnxScaleModel {
  /** The card (scales under `patch_nums`). */
  readonly card: ModelCard;
}

/** The multi-scale VQ decoder: tokens of all scales → images. */
export interface DigitsMSVQ {
  /**
   * `[N, 30]` int32 tokens (scales 1², 2², 3², 4² concatenated) → `[N, 1, 16, 16]` images, on the
   * tokens' backend (any backend; they cross to ONNX Runtime and back).
   */
  decode(tokens: Tensor): Promise<Tensor>;
  /** Scale side lengths, `[1, 2, 3, 4]`. */
  readonly patchNums: readonly number[];
  /** The decoder graph. */
  readonly model: OnnxModel;
  /** The card. */
  readonly card: ModelCard;
  /** Releases the session. */
  dispose(): Promise<void>;
}

/** Options of {@link loadDigitsVAR} and {@link loadDigitsMSVQ}. */
export interface LoadScaleOptions extends ModelRuntimeOptions {
  /** The ONNX backend the graph runs on. */
  backend: OnnxBackend;
  /** Folder (Node path) or base URL holding the model folders. Default: the repository's `models/`. */
  dir?: ModelsLocation;
}

/**
 * Loads the class-conditional VAR-style next-scale transformer (`models/var-digits16`), verifying its
 * SHA-256, as a next-scale model for `nextScaleDecode` (`numClasses` 10; label 10 = null class).
 *
 * @example
 * const var_ = await loadDigitsVAR({ backend: B });
 * const scales = await nextScaleDecode(var_, { batch: 2, cond: { labels }, guidance: { scale: 2 }, seed: 1 });
 */
export async function loadDigitsVAR(options: LoadScaleOptions): Promise<DigitsScaleModel> {
  const card = VAR_DIGITS16_CARD;
  const { bytes, name, sessionOptions } = await readCardFile('loadDigitsVAR', card, 'model.onnx', options);
  const m = await onnxScaleModel(bytes, {
    backend: options.backend,
    name,
    sessionOptions,
    numClasses: Number(card.num_classes),
    patchNums: card.patch_nums as number[],
  });
  return Object.assign(m, { card });
}

/**
 * Loads the decoder of the multi-scale residual VQ (`models/msvq-digits16`), verifying its SHA-256.
 *
 * @example
 * const msvq = await loadDigitsMSVQ({ backend: B });
 * const images = await msvq.decode(B.concat(scales, 1));
 */
export async function loadDigitsMSVQ(options: LoadScaleOptions): Promise<DigitsMSVQ> {
  const card = MSVQ_DIGITS16_CARD;
  const { bytes, name, sessionOptions } = await readCardFile('loadDigitsMSVQ', card, 'decoder.onnx', options);
  const B = options.backend;
  const model = await onnxModel(bytes, {
    backend: B,
    name,
    sessionOptions,
    expect: { inputs: { tokens: { dtype: 'int64' } }, outputs: { sample: { dtype: 'float32' } } },
  });
  const patchNums = card.patch_nums as number[];
  const L = patchNums.reduce((a, p) => a + p * p, 0);
  const label = `loadDigitsMSVQ '${card.name}'`;
  return {
    patchNums,
    model,
    card,
    async decode(tokens) {
      if (!isTensor(tokens)) {
        throw new TesseraError('INVALID_ARGUMENT', `${label}.decode: tokens must be a Tensor`);
      }
      if (tokens.rank !== 2 || tokens.shape[1] !== L || tokens.dtype !== 'int32') {
        throw new TesseraError(
          'SHAPE_MISMATCH',
          `${label}.decode: tokens must be int32 [N, ${L}], got ${tokens.dtype} [${tokens.shape.join(', ')}]`,
        );
      }
      return viaOnnx(B, tokens, async (to) => (await model.run({ tokens: to })).sample!);
    },
    dispose: () => model.dispose(),
  };
}
