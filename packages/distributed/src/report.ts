import { TesseraError } from '@tessera/core';
import { digitsDataset } from '@tessera/reference';
import { planShards, type ResolvedJobConfig } from './config.js';
import type { ReferenceFeatures } from './features.js';
import type { ParallelTally } from './parallel.js';
import type { ShardResult } from './shard.js';
import {
  FEATURE_DIM,
  FeatureStats,
  frechetDistance,
  imageFeatures,
  type SampleMetrics,
  type StatsJSON,
  sampleMetrics,
} from './stats.js';

/** The final result of a job: its configuration, who computed it, merged statistics and metrics. */
export interface EvalReport {
  config: ResolvedJobConfig;
  /** Images counted (equals `config.count`: each shard merged exactly once). */
  images: number;
  /** Backend of each worker that finished a shard: worker name → backend name. */
  workers: Record<string, string>;
  metrics: {
    /** Fréchet distance between the generated and the reference feature Gaussians (null below 2 images). */
    frechet: number | null;
    /** KID and precision/recall on the first `featureSample` images' features (null below 4 rows). */
    sample: SampleMetrics | null;
  };
  /** Merged statistics of the generated images (shards merged in index order). */
  stats: StatsJSON;
  /** Wall time of the run as the caller measured it (ms); absent when the results were all reused. */
  ms?: number;
  /**
   * With `generator.parallel`: parallel solves over all shards, their rounds (compare with
   * `solves × steps` sequential steps) and how many ran out of `maxRounds`.
   */
  parallel?: ParallelTally;
}

const refCache = new Map<string, { stats: FeatureStats; features: Float64Array }>();
/** Features and their statistics of the procedural digits reference set `{ count, seed }` (cached). */
export function referenceFeatures(ref: { count: number; seed: number }): {
  stats: FeatureStats;
  features: Float64Array;
} {
  const key = `${ref.count}:${ref.seed}`;
  let r = refCache.get(key);
  if (!r) {
    const d = digitsDataset({ count: ref.count, seed: ref.seed, size: 16 });
    const features = imageFeatures(d.data, ref.count);
    r = { stats: new FeatureStats(FEATURE_DIM).add(features), features };
    refCache.set(key, r);
  }
  return r;
}

/**
 * Merges shard results in shard order (a fixed order, so the merged statistics are the same whoever
 * computed which shard) after checking that every shard of the plan is there exactly once, then computes
 * the metrics. Throws TesseraError when a shard is missing, repeated or does not match the plan.
 */
export function mergeResults(
  config: ResolvedJobConfig,
  results: readonly ShardResult[],
  reference?: ReferenceFeatures,
): EvalReport {
  if (reference === undefined && config.features === 'classifier')
    throw new TesseraError(
      'INVALID_ARGUMENT',
      `mergeResults: job '${config.id}' uses the classifier's features: pass await referenceFeaturesFor(config)`,
    );
  const ref = reference ?? referenceFeatures(config.reference);
  const dim = ref.stats.dim;
  const plan = planShards(config);
  const byShard = new Map<number, ShardResult>();
  for (const r of results) {
    if (byShard.has(r.shard))
      throw new TesseraError(
        'INVALID_ARGUMENT',
        `mergeResults: shard ${r.shard} of job '${config.id}' came twice`,
      );
    byShard.set(r.shard, r);
  }
  const stats = new FeatureStats(dim);
  const sample: number[] = [];
  const workers: Record<string, string> = {};
  let parallel: ParallelTally | undefined;
  for (const spec of plan) {
    const r = byShard.get(spec.shard);
    if (!r)
      throw new TesseraError(
        'INVALID_ARGUMENT',
        `mergeResults: shard ${spec.shard} of job '${config.id}' is missing`,
      );
    if (r.start !== spec.start || r.end !== spec.end || r.stats.count !== spec.end - spec.start)
      throw new TesseraError(
        'CORRUPT_FILE',
        `mergeResults: shard ${spec.shard} should hold images [${spec.start}, ${spec.end}), got [${r.start}, ${r.end}) with ${r.stats.count} counted`,
      );
    const wantRows = Math.max(0, Math.min(spec.end, config.featureSample) - spec.start);
    if (!Array.isArray(r.features) || r.features.length !== wantRows * dim)
      throw new TesseraError(
        'CORRUPT_FILE',
        `mergeResults: shard ${spec.shard} should return ${wantRows} feature rows, got ${Array.isArray(r.features) ? r.features.length / dim : typeof r.features}`,
      );
    stats.merge(FeatureStats.fromJSON(r.stats));
    for (const v of r.features) sample.push(v);
    workers[r.worker] = r.backend;
    const p = r.parallel;
    if (p && [p.solves, p.rounds, p.unconverged].every((v) => Number.isSafeInteger(v) && v >= 0)) {
      parallel ??= { solves: 0, rounds: 0, unconverged: 0 };
      parallel.solves += p.solves;
      parallel.rounds += p.rounds;
      parallel.unconverged += p.unconverged;
    }
  }
  if (byShard.size !== plan.length)
    throw new TesseraError(
      'INVALID_ARGUMENT',
      `mergeResults: ${byShard.size} shards for a plan of ${plan.length}`,
    );
  return {
    config,
    images: stats.count,
    workers,
    metrics: {
      frechet: stats.count >= 2 ? frechetDistance(stats, ref.stats) : null,
      sample: sampleMetrics(Float64Array.from(sample), ref.features, dim),
    },
    stats: stats.toJSON(),
    ...(parallel ? { parallel } : {}),
  };
}
