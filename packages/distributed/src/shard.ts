import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { type Backend, TesseraError } from '@tessera/core';
import { encodePng } from '@tessera/reference';
import { checkShardPayload, type ShardPayload } from './config.js';
import { domainExtractor } from './features.js';
import { type BoundGenerator, bindGenerator, type GeneratorOptions, IMAGE_SIDE } from './generate.js';
import type { ParallelTally } from './parallel.js';
import { imageFileName, resolveOutputDir } from './paths.js';
import { FeatureStats, type StatsJSON } from './stats.js';

/** What a finished shard reports (stored by BullMQ as the job's return value). */
export interface ShardResult {
  shard: number;
  start: number;
  end: number;
  /** Feature statistics of the shard's images. */
  stats: StatsJSON;
  /** Feature rows (row-major, 64 or 128 per image) of the shard's images below the job's `featureSample`. */
  features: number[];
  /** Name of the backend that generated the shard. */
  backend: string;
  /** The worker's name (host:pid unless given). */
  worker: string;
  /** Milliseconds the shard took. */
  ms: number;
  /** With `generator.parallel`: the shard's parallel solves, their rounds and the unconverged ones. */
  parallel?: ParallelTally;
}

/** Options of {@link runShard}. */
export interface ShardContext {
  backend: Backend;
  /** Root that job `output` directories resolve inside; a job with `output` and no root is refused. */
  outputRoot?: string;
  /** Reported in the result. */
  worker?: string;
  /** Called after each batch with the number of images done in this shard. */
  onProgress?: (done: number) => void | Promise<void>;
  signal?: AbortSignal;
  /** A generator already bound to this backend and job (reused across shards of one job). */
  generator?: BoundGenerator;
  /** Root `generator.model` paths resolve inside, and the loader (see {@link GeneratorOptions}). */
  models?: GeneratorOptions;
}

/** Writes `bytes` to `path` atomically: a unique temporary file in the same directory, then rename. */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await writeFile(tmp, bytes);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** 8-bit grey PNG of one 16×16 image with values in [-1, 1]. */
export function imagePng(image: Float32Array): Uint8Array {
  const px = new Uint8Array(image.length);
  for (let i = 0; i < image.length; i++)
    px[i] = Math.min(255, Math.max(0, Math.round(((image[i]! + 1) / 2) * 255)));
  return encodePng(px, IMAGE_SIDE, IMAGE_SIDE);
}

/**
 * Runs one shard: checks the payload (hostile input → TesseraError), generates its images batch by batch
 * (batches aligned to multiples of `batchSize`, so results do not depend on the sharding), accumulates
 * feature statistics, writes PNGs atomically when the job has an `output`, and reports progress.
 */
export async function runShard(payload: unknown, ctx: ShardContext): Promise<ShardResult> {
  const p: ShardPayload = checkShardPayload(payload);
  const t0 = performance.now();
  let dir: string | undefined;
  if (p.config.output !== undefined) {
    if (ctx.outputRoot === undefined)
      throw new TesseraError(
        'INVALID_ARGUMENT',
        `job '${p.config.id}' writes images to '${p.config.output}' but this worker has no output root (--out DIR)`,
      );
    dir = resolveOutputDir(ctx.outputRoot, p.config.output);
    await mkdir(dir, { recursive: true });
  }
  const gen = ctx.generator ?? (await bindGenerator(ctx.backend, p.config, ctx.models));
  const extractor = gen.features ?? domainExtractor();
  const dim = extractor.dim;
  const stats = new FeatureStats(dim);
  const features: number[] = [];
  const before = gen.tally ? { ...gen.tally } : undefined;
  let parallel: ParallelTally | undefined;
  try {
    const bs = p.config.batchSize;
    for (let a = p.start; a < p.end; a += bs) {
      ctx.signal?.throwIfAborted();
      const b = Math.min(p.end, a + bs);
      const images = await gen.generate(a, b, ctx.signal);
      const f = await extractor.extract(images, b - a);
      stats.add(f);
      const keep = Math.max(0, Math.min(b, p.config.featureSample) - a);
      for (let i = 0; i < keep * dim; i++) features.push(f[i]!);
      if (dir !== undefined) {
        const px = IMAGE_SIDE * IMAGE_SIDE;
        for (let i = a; i < b; i++)
          await writeFileAtomic(
            join(dir, imageFileName(i)),
            imagePng(images.subarray((i - a) * px, (i - a + 1) * px)),
          );
      }
      await ctx.onProgress?.(b - p.start);
      // Let timers (BullMQ lock renewal) run between batches.
      await new Promise((res) => setImmediate(res));
    }
    if (gen.tally && before)
      parallel = {
        solves: gen.tally.solves - before.solves,
        rounds: gen.tally.rounds - before.rounds,
        unconverged: gen.tally.unconverged - before.unconverged,
      };
  } finally {
    if (!ctx.generator) await gen.dispose();
  }
  return {
    shard: p.shard,
    start: p.start,
    end: p.end,
    stats: stats.toJSON(),
    features,
    backend: ctx.backend.name,
    worker: ctx.worker ?? `pid ${process.pid}`,
    ms: performance.now() - t0,
    ...(parallel ? { parallel } : {}),
  };
}
