import { type OnnxBackend, type OnnxMaskedModel, onnxMaskedModel } from '@tessera/backend-onnx';
import type { ModelCard } from './card-types.js';
import { MASKGIT_DIGITS16_CARD } from './cards.js';
import type { ModelsLocation } from './files.js';
import { type ModelRuntimeOptions, readCardFile } from './session.js';

/** The masked token transformer as an `@tessera/autoregressive` masked-token model, with its card. */
export interface DigitsMaskedModel extends OnnxMaskedModel {
  /** The card (mask token, null class, training and metrics). */
  readonly card: ModelCard;
}

/** Options of {@link loadDigitsMaskGIT}. */
export interface LoadMaskGITOptions extends ModelRuntimeOptions {
  /** The ONNX backend the graph runs on (decode with this backend). */
  backend: OnnxBackend;
  /** Folder (Node path) or base URL holding `maskgit-digits16/`. Default: the repository's `models/`. */
  dir?: ModelsLocation;
}

/**
 * Loads the class-conditional masked token transformer trained on the digit codes of `vq-digits16`
 * (`models/maskgit-digits16`, MaskGIT-style, bidirectional), verifying its SHA-256, as a masked-token
 * model for `maskedDecode` (`numClasses` 10; label 10 = null class; masked positions are fed as 256).
 *
 * @example
 * const mask = await loadDigitsMaskGIT({ backend: B });
 * const labels = B.tensor(Int32Array.from([3, 7]), [2], 'int32');
 * const codes = await maskedDecode(mask, { batch: 2, numIter: 8, cond: { labels }, guidance: { scale: 2 }, seed: 1 });
 */
export async function loadDigitsMaskGIT(options: LoadMaskGITOptions): Promise<DigitsMaskedModel> {
  const card = MASKGIT_DIGITS16_CARD;
  const { bytes, name, sessionOptions } = await readCardFile(
    'loadDigitsMaskGIT',
    card,
    'model.onnx',
    options,
  );
  const m = await onnxMaskedModel(bytes, {
    backend: options.backend,
    name,
    sessionOptions,
    numClasses: Number(card.num_classes),
    vocabSize: Number(card.vocab_size),
    length: Number(card.length),
  });
  return Object.assign(m, { card });
}
