/**
 * @tessera/models: loaders for the networks trained in the repository's `models/` folder (Debian's
 * PyTorch, exported to ONNX): a class-conditional DDPM U-Net on 16×16 digits, a digit classifier whose
 * penultimate features are the domain's feature extractor, a VQ tokenizer with a GPT and a masked
 * (MaskGIT-style) transformer over its codes, and a multi-scale VQ with a VAR-style next-scale
 * transformer. Each loader verifies the file's SHA-256 against the card compiled into this package
 * and returns a ready object on an ONNX backend. The networks run on the backend's execution providers (or their own: `executionProviders`, e.g.
 * `['webgpu']`), and the caller's tensors may live on another backend (`@tessera/backend-webgpu`).
 *
 * @example
 * import * as ort from 'onnxruntime-node';
 * import { createOnnxBackend } from '@tessera/backend-onnx';
 * import { loadDigitClassifier, loadDigitsUNet, sampleDigits } from '@tessera/models';
 * const B = createOnnxBackend({ ort, executionProviders: ['cpu'] });
 * const D = await loadDigitsUNet({ backend: B });
 * const images = await sampleDigits({ denoiser: D, classes: [0, 1, 2, 3], seed: 1 });
 * const C = await loadDigitClassifier({ backend: B });
 * console.log(await C.predict(images)); // Int32Array [0, 1, 2, 3] (most of the time)
 */
export type { ModelCard, ModelFileEntry } from './card-types.js';
export {
  CLASSIFIER_DIGITS16_CARD,
  GPT_DIGITS16_CARD,
  MASKGIT_DIGITS16_CARD,
  MSVQ_DIGITS16_CARD,
  UNET_DIGITS16_CARD,
  UNET_DIGITS16_SCHEDULER_CONFIG,
  VAR_DIGITS16_CARD,
  VQ_DIGITS16_CARD,
} from './cards.js';
export {
  type ClassifierOutputs,
  type DigitClassifier,
  type LoadClassifierOptions,
  loadDigitClassifier,
} from './classifier.js';
export { viaOnnx } from './cross.js';
export { defaultModelsDir, type ModelsLocation, readVerified, sha256Hex } from './files.js';
export { type DigitsTokenModel, type LoadGPTOptions, loadDigitsGPT } from './gpt.js';
export { type DigitsMaskedModel, type LoadMaskGITOptions, loadDigitsMaskGIT } from './maskgit.js';
export { digitsDdimSigmas, type SampleDigitsOptions, sampleDigits } from './sample-digits.js';
export { type SampleMaskedOptions, sampleDigitsMasked } from './sample-masked.js';
export {
  type DigitTokenSampleOptions,
  type SampleRasterOptions,
  sampleDigitsRaster,
} from './sample-raster.js';
export { type SampleScaleOptions, sampleDigitsNextScale } from './sample-scale.js';
export { type ModelRuntimeOptions, type ModelSessionOptions, modelSessionOptions } from './session.js';
export {
  type ClassCond,
  type ClassDenoiser,
  digitsUNetSigmas,
  type LoadUNetOptions,
  loadDigitsUNet,
} from './unet.js';
export {
  type DigitsMSVQ,
  type DigitsScaleModel,
  type LoadScaleOptions,
  loadDigitsMSVQ,
  loadDigitsVAR,
} from './var.js';
export { type DigitsVQ, type LoadVQOptions, loadDigitsVQ } from './vq.js';
