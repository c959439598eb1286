import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { TesseraError, type TesseraErrorCode } from '@tessera/core';
import { type Job, Queue } from 'bullmq';
import {
  configHash,
  planShards,
  type ResolvedJobConfig,
  resolveJobConfig,
  type ShardSpec,
  shardPayload,
} from './config.js';
import { referenceFeaturesFor } from './features.js';
import { closeWithin, DEFAULT_QUEUE } from './queue.js';
import { connectionOptions, type RedisOptions, redactSecrets, redactUrl, redisSecrets } from './redis.js';
import { type EvalReport, mergeResults } from './report.js';
import { type ShardResult, writeFileAtomic } from './shard.js';

/** Progress of a distributed job, across all workers. */
export interface EvalProgress {
  /** Images finished (whole shards plus the reported progress of running ones). */
  done: number;
  total: number;
  shardsDone: number;
  shards: number;
  /** Images per second since this call started (reused shards not counted). */
  rate: number;
  /** Seconds left at that rate (Infinity before the first image). */
  eta: number;
}

/** Options of {@link runEvaluation}. */
export interface EvalOptions {
  redis: RedisOptions;
  /** BullMQ queue name (default `tessera-eval`); the workers must use the same. */
  queue?: string;
  /** Tries per shard for errors other than bad input (default 3). */
  attempts?: number;
  /** How often the shards' states are read (ms, default 500). */
  pollMs?: number;
  /** Fail with a clear error when Redis stays unreachable this long (ms, default 60 000). */
  redisTimeoutMs?: number;
  /** Give up waiting for workers after this long (ms, default none). */
  timeoutMs?: number;
  onProgress?: (p: EvalProgress) => void;
  /** Log lines (credentials redacted). */
  log?: (line: string) => void;
  /** Write the report JSON here (atomically). */
  out?: string;
  signal?: AbortSignal;
  /**
   * Folder of @tessera/models' networks for a job with `"features": "classifier"` (the reference set's
   * features are computed here). Default: the repository's `models/` folder.
   */
  trainedDir?: string;
}

/** The BullMQ job id of a shard: `<job id>-<shard>` (BullMQ ids may not contain ':'). */
export function shardJobId(config: ResolvedJobConfig, shard: number): string {
  return `${config.id}-${shard}`;
}

/** Formats progress as one line: a bar, images, images/s and ETA. */
export function formatProgress(p: EvalProgress, width = 24): string {
  const f = p.total > 0 ? p.done / p.total : 1;
  const fill = Math.round(f * width);
  const eta = Number.isFinite(p.eta) ? `${Math.ceil(p.eta)} s` : '?';
  return `[${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${p.done}/${p.total} images, ${p.shardsDone}/${p.shards} shards, ${p.rate.toFixed(1)} images/s, ETA ${eta}`;
}

const CODES: readonly string[] = [
  'SHAPE_MISMATCH',
  'DTYPE_MISMATCH',
  'INVALID_ARGUMENT',
  'INVALID_CONFIG',
  'FILE_NOT_FOUND',
  'CORRUPT_FILE',
  'UNSUPPORTED',
  'MODEL_MISMATCH',
  'OUT_OF_RANGE',
];

/** The TesseraError code a worker put in front of a failed shard's reason, else `BACKEND_UNAVAILABLE`. */
function failureCode(reason: string): TesseraErrorCode {
  const m = /TesseraError ([A-Z_]+):/.exec(reason);
  return (m && CODES.includes(m[1]!) ? m[1] : 'BACKEND_UNAVAILABLE') as TesseraErrorCode;
}

/**
 * Runs a job on the workers listening to the queue: enqueues its shards (ids `<job id>-<shard>`, so a
 * re-run reuses finished shards and retries failed ones), follows progress, merges the shard statistics in
 * shard order and returns (and optionally writes) the report. Throws TesseraError when a shard fails for
 * good (with its error), when the job id was used before with another configuration, or when Redis stays
 * unreachable longer than `redisTimeoutMs`.
 */
export async function runEvaluation(rawConfig: unknown, opts: EvalOptions): Promise<EvalReport> {
  const config = resolveJobConfig(rawConfig);
  const hash = configHash(config);
  const plan = planShards(config);
  // Before enqueuing: a coordinator that cannot compute the reference features fails at once.
  const ref = await referenceFeaturesFor(config, opts.trainedDir);
  const secrets = redisSecrets(opts.redis);
  const clean = (s: string) => redactSecrets(s, secrets);
  const log = (line: string) => opts.log?.(clean(line));
  const where = redactUrl(opts.redis.url);
  const queue = new Queue(opts.queue ?? DEFAULT_QUEUE, { connection: connectionOptions(opts.redis) });
  let lastError = '';
  queue.on('error', (err) => {
    const msg = clean(err.message);
    if (msg !== lastError) log(`redis ${where}: ${msg} (retrying)`);
    lastError = msg;
  });
  const redisTimeout = opts.redisTimeoutMs ?? 60_000;
  let lastOk = Date.now();
  /** Runs a Redis call; a call that hangs past the Redis timeout becomes a clear error. */
  const call = async <T>(what: string, f: () => Promise<T>): Promise<T> => {
    let timer: NodeJS.Timeout | undefined;
    const left = Math.max(1000, redisTimeout - (Date.now() - lastOk));
    try {
      const out = await Promise.race([
        f(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(
                new TesseraError(
                  'BACKEND_UNAVAILABLE',
                  `eval '${config.id}': Redis at ${where} unreachable for ${Math.round((Date.now() - lastOk) / 1000)} s while ${what}${lastError ? ` (last error: ${lastError})` : ''}; the shards stay queued, re-run to resume`,
                ),
              ),
            left,
          );
        }),
      ]);
      lastOk = Date.now();
      if (lastError) log(`redis ${where}: connected again`);
      lastError = '';
      return out;
    } finally {
      clearTimeout(timer);
    }
  };
  const t0 = performance.now();
  try {
    const results = new Map<number, ShardResult>();
    const missing: ShardSpec[] = [];
    for (let i = 0; i < plan.length; i += 200) {
      const specs = plan.slice(i, i + 200);
      const jobs = await call('reading existing shards', () =>
        Promise.all(specs.map((spec) => queue.getJob(shardJobId(config, spec.shard)))),
      );
      for (const [k, job] of jobs.entries()) {
        const spec = specs[k]!;
        if (!job) {
          missing.push(spec);
          continue;
        }
        if ((job.data as { hash?: unknown })?.hash !== hash)
          throw new TesseraError(
            'INVALID_CONFIG',
            `eval: job id '${config.id}' was run before with another configuration (shard ${spec.shard}); use a new id`,
          );
        const state = await call('reading shard states', () => job.getState());
        if (state === 'completed' && job.returnvalue) results.set(spec.shard, job.returnvalue as ShardResult);
        else if (state === 'failed') {
          log(`shard ${spec.shard} failed before (${clean(job.failedReason ?? '')}); retrying it`);
          await call('retrying a failed shard', () => job.retry('failed'));
        }
      }
    }
    if (results.size > 0)
      log(`job '${config.id}': reusing ${results.size} finished shards of ${plan.length}`);
    for (let i = 0; i < missing.length; i += 500) {
      const chunk = missing.slice(i, i + 500).map((spec) => ({
        name: config.id,
        data: shardPayload(config, spec),
        opts: {
          jobId: shardJobId(config, spec.shard),
          attempts: opts.attempts ?? 3,
          backoff: { type: 'exponential', delay: 1000 },
          removeOnComplete: false,
          removeOnFail: false,
        },
      }));
      await call('adding shards', () => queue.addBulk(chunk));
    }
    log(
      `job '${config.id}': ${plan.length} shards of ≤ ${config.shardSize} images queued on ${where} (${missing.length} new)`,
    );
    const reused = [...results.values()].reduce((a, r) => a + (r.end - r.start), 0);
    const started = Date.now();
    const pollMs = opts.pollMs ?? 500;
    while (results.size < plan.length) {
      if (opts.signal?.aborted)
        throw new TesseraError('ABORTED', `eval '${config.id}': aborted; the shards stay queued`);
      if (opts.timeoutMs !== undefined && Date.now() - started > opts.timeoutMs)
        throw new TesseraError(
          'BACKEND_UNAVAILABLE',
          `eval '${config.id}': ${results.size}/${plan.length} shards finished after ${opts.timeoutMs} ms; are workers running on ${where}?`,
        );
      let running = 0;
      const pending = plan.filter((s) => !results.has(s.shard));
      for (let i = 0; i < pending.length; i += 200) {
        const jobs = await call('following progress', () =>
          Promise.all(pending.slice(i, i + 200).map((s) => queue.getJob(shardJobId(config, s.shard)))),
        );
        for (const [k, job] of jobs.entries()) {
          const spec = pending[i + k]!;
          if (!job)
            throw new TesseraError(
              'BACKEND_UNAVAILABLE',
              `eval '${config.id}': shard ${spec.shard} vanished from ${where} (was Redis flushed or restarted without persistence?)`,
            );
          await check(job, spec, results);
          if (!results.has(spec.shard) && typeof job.progress === 'number') running += job.progress;
        }
      }
      const finished = [...results.values()].reduce((a, r) => a + (r.end - r.start), 0);
      const done = Math.min(config.count, finished + running);
      const rate = (done - reused) / Math.max(1e-3, (Date.now() - started) / 1000);
      opts.onProgress?.({
        done,
        total: config.count,
        shardsDone: results.size,
        shards: plan.length,
        rate,
        eta: rate > 0 ? (config.count - done) / rate : Number.POSITIVE_INFINITY,
      });
      if (results.size < plan.length) await new Promise((res) => setTimeout(res, pollMs));
    }
    const report: EvalReport = {
      ...mergeResults(config, [...results.values()], ref),
      ms: performance.now() - t0,
    };
    if (opts.out) {
      await mkdir(dirname(opts.out), { recursive: true });
      await writeFileAtomic(opts.out, new TextEncoder().encode(`${JSON.stringify(report, null, 2)}\n`));
    }
    return report;
  } finally {
    await closeWithin(
      () => queue.close(),
      () => queue.disconnect(),
      5000,
    );
  }

  async function check(job: Job, spec: ShardSpec, results: Map<number, ShardResult>) {
    if (job.finishedOn && job.returnvalue) {
      results.set(spec.shard, job.returnvalue as ShardResult);
      return;
    }
    if (!job.failedReason) return;
    const state = await call('reading a shard state', () => job.getState());
    if (state === 'failed') {
      const reason = clean(job.failedReason);
      throw new TesseraError(
        failureCode(reason),
        `eval '${config.id}': shard ${spec.shard} (images [${spec.start}, ${spec.end})) failed after ${job.attemptsMade} attempt(s): ${reason}`,
      );
    }
  }
}
