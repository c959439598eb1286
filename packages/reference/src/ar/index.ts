// Autoregressive reference models: count-based raster, next-scale and masked models learned from a
// tokenized procedural data set, exact empirical models, and the data helpers.
export type { ArCond, ArControl } from './common.js';
export {
  checkTokenDataset,
  countLogProbs,
  countLogProbTable,
  proceduralTokenGrids,
  type TokenDataset,
  tokenPyramid,
  VAR_PATCH_NUMS,
} from './data.js';
export {
  EmpiricalMaskedModel,
  EmpiricalRasterModel,
  EmpiricalScaleModel,
  type EmpiricalState,
  type SequenceSet,
} from './empirical.js';
export type {
  CountModelSpec,
  EmpiricalModelSpec,
  TokenModelKind,
} from './export-spec.js';
export { MaskedCountModel } from './masked-count.js';
export {
  type RasterCache,
  RasterCountModel,
  type RasterCountOptions,
  type RasterCountState,
} from './raster-count.js';
export { ScaleCountModel, type ScaleCountState } from './scale-count.js';
