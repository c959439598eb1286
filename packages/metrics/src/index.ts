export { DOMAIN_FEATURE_DIM, DOMAIN_FEATURE_SEED, domainFeatures } from './domain-features.js';
export {
  type FeatureRows,
  FeatureStats,
  type FeatureStatsJSON,
} from './feature-stats.js';
export type { Features } from './features.js';
export {
  type FrechetInput,
  type FrechetOptions,
  type FrechetParts,
  frechetDistance,
  frechetDistanceAsync,
  frechetDistanceParts,
  type GaussianStats,
  traceSqrtOfProduct,
} from './frechet.js';
export { type FeatureModel, type InceptionFeatureOptions, inceptionFeatures } from './inception.js';
export { type InceptionScoreOptions, type InceptionScoreResult, inceptionScore } from './inception-score.js';
export {
  type KidOptions,
  type KidResult,
  kernelInceptionDistance,
  kernelInceptionDistanceAsync,
  polynomialMmd2,
} from './kid.js';
export { symmetricEigenvalues } from './linalg.js';
export { type NpyArray, parseNpy } from './npy.js';
export { loadNpz, loadReferenceStats, type ReferenceStats } from './npz.js';
export {
  type PrecisionRecallOptions,
  type PrecisionRecallResult,
  precisionRecall,
} from './precision-recall.js';
export { resizePilBicubic } from './resize-pil.js';
export {
  cutoffFrequency,
  type Rapsd,
  rapsd,
  rapsdOfTensor,
  type SpectralStep,
  type SpectralStepInfo,
  spectralRecorder,
} from './spectral.js';
export { crc32, type InflateRaw, type ReadZipOptions, readZip, webInflateRaw } from './zip.js';
