/**
 * The one file that chooses the feature statistics, the feature extractor and the metrics (so switching
 * any of them is a change here only). All come from @tessera/metrics.
 */
import {
  DOMAIN_FEATURE_DIM,
  domainFeatures,
  FeatureStats,
  type FeatureStatsJSON,
  frechetDistance,
  kernelInceptionDistance,
  precisionRecall,
} from '@tessera/metrics';

/** Re-exported from @tessera/metrics for the statistics in reports (`FeatureStats.fromJSON(report.stats)`). */
export { FeatureStats, frechetDistance };
/** Serialized statistics (exact float64 JSON) as workers return them. */
export type StatsJSON = FeatureStatsJSON;

/** Dimension of {@link imageFeatures}. */
export const FEATURE_DIM = DOMAIN_FEATURE_DIM;

/**
 * Features of `[n, 1, 16, 16]` images in [-1, 1]: @tessera/metrics' fixed domain features for the 16×16
 * digits and shapes (64 random ReLU features of the pixels), row-major float64 `[n, 64]`.
 */
export function imageFeatures(images: Float32Array, n: number): Float64Array {
  return domainFeatures(images, [n, 1, 16, 16]);
}

/** Metrics that need feature rows (not only their moments), computed on the job's feature sample. */
export interface SampleMetrics {
  /** Kernel Inception Distance (polynomial kernel, torch-fidelity's definition) on the sample. */
  kid: { mean: number; std: number; subsetSize: number; subsets: number };
  /** Improved precision and recall (k = 3) of the sample against the reference. */
  precision: number;
  recall: number;
  fScore: number;
}

/**
 * KID and precision/recall of generated feature rows against reference rows (both row-major `[n, d]`),
 * with subsets of min(1000, both sizes) rows (100 subsets, Philox seed 0), so the values depend only on
 * the rows. Returns null when either set has fewer than 4 rows.
 */
export function sampleMetrics(
  fake: Float64Array,
  real: Float64Array,
  d: number = FEATURE_DIM,
): SampleMetrics | null {
  const nf = fake.length / d;
  const nr = real.length / d;
  if (nf < 4 || nr < 4) return null;
  const subsetSize = Math.min(1000, nf, nr);
  const subsets = 100;
  const kid = kernelInceptionDistance(
    { data: real, dim: d },
    { data: fake, dim: d },
    { subsetSize, subsets, seed: 0 },
  );
  const pr = precisionRecall({ data: real, dim: d }, { data: fake, dim: d }, { k: 3 });
  return { kid: { mean: kid.mean, std: kid.std, subsetSize, subsets }, ...pr };
}
