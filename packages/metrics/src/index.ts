export {
  type FeatureRows,
  FeatureStats,
  type FeatureStatsJSON,
} from './feature-stats.js';
export {
  type FrechetInput,
  type FrechetParts,
  frechetDistance,
  frechetDistanceParts,
  type GaussianStats,
  traceSqrtOfProduct,
} from './frechet.js';
export { symmetricEigenvalues } from './linalg.js';
