import { hostname } from 'node:os';
import { type Backend, TesseraError } from '@tessera/core';
import { type Job, UnrecoverableError, Worker } from 'bullmq';
import { checkShardPayload } from './config.js';
import { type BoundGenerator, bindGenerator, type GeneratorOptions } from './generate.js';
import { closeWithin, DEFAULT_QUEUE } from './queue.js';
import { connectionOptions, type RedisOptions, redactSecrets, redactUrl, redisSecrets } from './redis.js';
import { runShard, type ShardResult } from './shard.js';

/** Options of {@link startWorker}. */
export interface WorkerOptions {
  redis: RedisOptions;
  backend: Backend;
  /** BullMQ queue name (default {@link DEFAULT_QUEUE}). */
  queue?: string;
  /** Root directory job `output` paths resolve inside; jobs with `output` are refused without it. */
  outputRoot?: string;
  /** Root `generator.model` paths resolve inside, and the model loader (default ONNX Runtime). */
  models?: GeneratorOptions;
  /** Reported with each shard (default `host:pid`). */
  name?: string;
  /** How long a shard's lock lasts without renewal (ms, default 30 000; renewed every half of it). */
  lockDuration?: number;
  /** How often this worker looks for stalled shards of dead workers (ms, default 30 000). */
  stalledInterval?: number;
  /** How many times a shard may stall (its worker died) before it fails (default 3). */
  maxStalledCount?: number;
  /** Longest wait in `close()` for the running shard and Redis before connections are dropped (ms, default 60 000). */
  closeTimeoutMs?: number;
  /** Log lines (credentials already redacted). Default: none. */
  log?: (line: string) => void;
}

/** A running worker. */
export interface TesseraWorker {
  /** The BullMQ worker underneath. */
  readonly worker: Worker;
  /** Shards finished by this worker. */
  readonly done: number;
  /** Stops taking shards, waits for the running one, frees the model parameters. */
  close(): Promise<void>;
}

/**
 * Starts a worker that takes shards from the queue, runs them with {@link runShard} on `backend` and
 * reports progress (images done in the shard). A shard whose payload or configuration is bad
 * (TesseraError) fails at once without retries; other errors are retried as the job's `attempts` allow.
 */
export async function startWorker(opts: WorkerOptions): Promise<TesseraWorker> {
  const secrets = redisSecrets(opts.redis);
  const log = (line: string) => opts.log?.(redactSecrets(line, secrets));
  const name = opts.name ?? `${hostname()}:${process.pid}`;
  let cached: { hash: string; gen: BoundGenerator } | undefined;
  let done = 0;
  const processor = async (job: Job): Promise<ShardResult> => {
    try {
      const payload = checkShardPayload(job.data);
      if (cached?.hash !== payload.hash) {
        await cached?.gen.dispose();
        cached = undefined;
        cached = { hash: payload.hash, gen: await bindGenerator(opts.backend, payload.config, opts.models) };
      }
      const result = await runShard(payload, {
        backend: opts.backend,
        generator: cached.gen,
        worker: name,
        ...(opts.outputRoot !== undefined ? { outputRoot: opts.outputRoot } : {}),
        onProgress: (n) => job.updateProgress(n),
      });
      done++;
      log(
        `shard ${payload.config.id}#${payload.shard} [${payload.start}, ${payload.end}) done in ${Math.round(result.ms)} ms`,
      );
      return result;
    } catch (err) {
      const msg = redactSecrets(err instanceof Error ? err.message : String(err), secrets);
      log(`job ${String(job.id)} failed: ${err instanceof TesseraError ? `${err.code}: ` : ''}${msg}`);
      // Bad input does not get better by retrying: fail the shard (and so the job) now.
      if (err instanceof TesseraError) throw new UnrecoverableError(`TesseraError ${err.code}: ${msg}`);
      throw new Error(msg);
    }
  };
  const worker = new Worker(opts.queue ?? DEFAULT_QUEUE, processor, {
    connection: connectionOptions(opts.redis),
    concurrency: 1,
    lockDuration: opts.lockDuration ?? 30_000,
    stalledInterval: opts.stalledInterval ?? 30_000,
    maxStalledCount: opts.maxStalledCount ?? 3,
    autorun: false,
  });
  let lastError = '';
  worker.on('error', (err) => {
    const msg = redactSecrets(err.message, secrets);
    if (msg !== lastError) log(`redis ${redactUrl(opts.redis.url)}: ${msg} (retrying)`);
    lastError = msg;
  });
  worker.on('ready', () => {
    if (lastError) log(`redis ${redactUrl(opts.redis.url)}: connected again`);
    lastError = '';
  });
  void worker.run().catch((err: Error) => log(`worker stopped: ${redactSecrets(err.message, secrets)}`));
  await worker.waitUntilReady();
  log(
    `worker ${name} on ${opts.backend.name} waiting for shards on ${redactUrl(opts.redis.url)} queue '${worker.name}'`,
  );
  return {
    worker,
    get done() {
      return done;
    },
    async close() {
      // A close waits for the shard in hand and for Redis; with Redis gone, drop the connections.
      await closeWithin(
        () => worker.close(),
        () => worker.disconnect(),
        opts.closeTimeoutMs ?? 60_000,
      );
      await cached?.gen.dispose();
      cached = undefined;
    },
  };
}
