/**
 * @tessera/autoregressive: raster, next-scale (VAR) and masked (MAR) decoders, logit sampling,
 * classifier-free guidance and control, over three small model interfaces.
 *
 * @example
 * import { rasterDecode } from '@tessera/autoregressive';
 * const tokens = await rasterDecode(model, { batch: 4, length: 256, sampling: { temperature: 1, topK: 20 }, seed: 7 });
 */
export { ConcatCache, StaticCache } from './cache.js';
export { addControl, controlFromTokens } from './control.js';
export {
  applyGuidance,
  checkGuidance,
  doubleCond,
  firstRows,
  type GuidanceOptions,
  guidanceWeight,
  sliceCond,
} from './guidance.js';
export {
  cosineMaskLen,
  type MaskedDecodeOptions,
  maskedDecode,
  maskedDecodeContinuous,
  maskPlan,
  randomOrders,
} from './masked.js';
export { type NextScaleDecodeOptions, nextScaleDecode } from './next-scale.js';
export { type PixelRasterDecodeOptions, pixelRasterDecode } from './pixel.js';
export {
  type DecodeCommon,
  type DecodeStepInfo,
  decodeBackend,
  decodeSeed,
  type KnownTokens,
  type RasterDecodeOptions,
  rasterDecode,
} from './raster.js';
export { RngStream } from './rng.js';
export { filterLogits, gumbelSoftmax, type SamplingOptions, sampleLogits, varGumbelTau } from './sampling.js';
export type {
  Cond,
  ContinuousMaskedModel,
  ControlInput,
  MaskedTokenModel,
  ModelStep,
  NextScaleModel,
  NextTokenModel,
  PrefillOptions,
  ScaleInput,
} from './types.js';
