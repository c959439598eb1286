/**
 * The one file that chooses the feature statistics and the feature extractor (so switching either is a
 * change here only). Statistics and the Fréchet distance come from @tessera/metrics.
 */
import { TesseraError } from '@tessera/core';
import { FeatureStats, type FeatureStatsJSON, frechetDistance } from '@tessera/metrics';

export { FeatureStats, frechetDistance };
/** Serialized statistics (exact float64 JSON) as workers return them. */
export type StatsJSON = FeatureStatsJSON;

/** Dimension of {@link imageFeatures}. */
export const FEATURE_DIM = 64;

/**
 * Features of `[n, 1, 16, 16]` images in [-1, 1]: 2×2 average pooling to 8×8 (64 values per image), in
 * float64.
 */
export function imageFeatures(images: Float32Array, n: number): Float64Array {
  if (images.length !== n * 256)
    throw new TesseraError(
      'SHAPE_MISMATCH',
      `imageFeatures: expected ${n}×1×16×16 values, got ${images.length}`,
    );
  const out = new Float64Array(n * FEATURE_DIM);
  for (let b = 0; b < n; b++) {
    for (let y = 0; y < 8; y++) {
      for (let x = 0; x < 8; x++) {
        const p = b * 256 + 2 * y * 16 + 2 * x;
        out[b * FEATURE_DIM + y * 8 + x] =
          (images[p]! + images[p + 1]! + images[p + 16]! + images[p + 17]!) / 4;
      }
    }
  }
  return out;
}
