import type { Backend } from '@tessera/core';
import { planShards, resolveJobConfig, shardPayload } from './config.js';
import { referenceFeaturesFor } from './features.js';
import { bindGenerator, type GeneratorOptions } from './generate.js';
import { type EvalReport, mergeResults } from './report.js';
import { runShard, type ShardResult } from './shard.js';

/** Options of {@link runLocal}. */
export interface LocalOptions {
  backend: Backend;
  outputRoot?: string;
  /** Root `generator.model` paths resolve inside, and the model loader. */
  models?: GeneratorOptions;
  /** Called after each batch with the images done so far. */
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

/**
 * Runs a whole job in this process, shard after shard, without Redis: the same images and the same merged
 * statistics as any distributed run of the job.
 */
export async function runLocal(rawConfig: unknown, opts: LocalOptions): Promise<EvalReport> {
  const config = resolveJobConfig(rawConfig);
  const t0 = performance.now();
  const gen = await bindGenerator(opts.backend, config, opts.models);
  const results: ShardResult[] = [];
  try {
    for (const spec of planShards(config)) {
      results.push(
        await runShard(shardPayload(config, spec), {
          backend: opts.backend,
          generator: gen,
          worker: 'local',
          ...(opts.outputRoot !== undefined ? { outputRoot: opts.outputRoot } : {}),
          ...(opts.signal ? { signal: opts.signal } : {}),
          onProgress: (done) => opts.onProgress?.(spec.start + done, config.count),
        }),
      );
    }
  } finally {
    await gen.dispose();
  }
  const ref = await referenceFeaturesFor(config, opts.models?.trainedDir);
  return { ...mergeResults(config, results, ref), ms: performance.now() - t0 };
}
