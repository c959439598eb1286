import { createHash } from 'node:crypto';
import { TesseraError } from '@tessera/core';
import { SAMPLER_NAMES, type SamplerName } from '@tessera/diffusion';
import { checkParallelConfig, type ParallelConfig } from './parallel.js';
import { checkModelPath, checkOutputPath } from './paths.js';
import {
  isTrainedDiffusionModel,
  TRAINED_AR_MODELS,
  TRAINED_DIFFUSION_MODELS,
  type TrainedArModel,
} from './trained.js';

/** Most images one job may ask for. */
export const MAX_IMAGES = 10_000_000;
/** Most images one shard may hold. */
export const MAX_SHARD_SIZE = 8192;
/** Most images generated in one batch. */
export const MAX_BATCH_SIZE = 512;
/** Most sampling steps. */
export const MAX_STEPS = 1000;
/** Most reference images the statistics are compared against. */
export const MAX_REFERENCE = 100_000;

/** Most images whose feature rows are kept for KID and precision/recall. */
export const MAX_FEATURE_SAMPLE = 20_000;

/** AR decoders a job may name (the reference count-based token models of @tessera/reference). */
export const AR_DECODERS = ['raster', 'next-scale', 'masked'] as const;
/** One of {@link AR_DECODERS}. */
export type ArDecoderName = (typeof AR_DECODERS)[number];

/** Diffusion generator: the embedded default digits model sampled by a k-diffusion sampler. */
export interface DiffusionGenerator {
  kind: 'diffusion';
  /** k-diffusion sampler name (`euler`, `dpmpp_2m`, …). */
  sampler: SamplerName;
  /** Sampling steps on the Karras schedule σ 80 → 0.002 (ρ = 7). */
  steps: number;
  /** Restrict to one digit class (0–9). Absent: the full mixture. */
  digit?: number;
  /** Classifier-free guidance scale (with `digit`; 1 = plain conditional). Default 1. */
  guidance?: number;
  /** Ancestral / SDE noise fraction passed to the sampler. */
  eta?: number;
  /**
   * Instead of the embedded model: `digits-unet` (the trained class-conditional U-Net of
   * @tessera/models, on its DDIM noise levels; `digit` picks the class, `guidance` the CFG scale), or an
   * ONNX x0-denoiser (inputs `x` `[N, 1, 16, 16]` and `sigma`, output `x0`, as `tessera export-model`
   * writes): a relative `.onnx` path inside each worker's model root, not with `digit`.
   */
  model?: string;
  /**
   * Solve each image's trajectory in parallel rounds (ParaDiGMS / ParaTAA) instead of step by step; the
   * sampler must be one of @tessera/parallel-sampling's `PARALLEL_SAMPLERS`. See {@link ParallelConfig}.
   */
  parallel?: ParallelConfig;
}

/** Autoregressive generator: a reference token model decoded per image. */
export interface ArGenerator {
  kind: 'ar';
  decoder: ArDecoderName;
  /** Default 1. */
  temperature?: number;
  /** Default 0 (off). */
  topK?: number;
  /** Default 0 (off). */
  topP?: number;
  /**
   * Class per image: 0 rectangles, 1 disks, 2 bars (default image index mod 3); with `model` a digit
   * 0–9 or 10 for any digit (default image index mod 10).
   */
  label?: number;
  /** Classifier-free guidance scale. Default 1. */
  guidance?: number;
  /** Masked decoder iterations. Default 16. */
  numIter?: number;
  /**
   * A trained network of @tessera/models instead of the reference count models: `digits-gpt` (GPT over
   * VQ codes; decoder `raster`), `digits-var` (VAR next-scale transformer; decoder `next-scale`) or
   * `digits-maskgit` (masked transformer over VQ codes; decoder `masked`).
   */
  model?: TrainedArModel;
}

/** A job: a configuration and a seed range `[0, count)`, split into shards. Plain JSON. */
export interface JobConfig {
  /** Job id: `[A-Za-z0-9][A-Za-z0-9_.-]{0,63}`. Re-running an id reuses its finished shards. */
  id: string;
  /** Number of images. */
  count: number;
  /** Base seed (non-negative safe integer); image i uses `imageSeed(seed, i)`. */
  seed: number;
  /** Images per shard (a multiple of `batchSize`). Default 64 (or `count` rounded up to the batch). */
  shardSize?: number;
  /** Images per generation batch; batches start at multiples of it. Default 16. */
  batchSize?: number;
  generator: DiffusionGenerator | ArGenerator;
  /** Directory (relative, inside each worker's output root) to write `00000042.png` files to. */
  output?: string;
  /** Reference data the statistics are compared with: the procedural digits (count, seed). */
  reference?: { count: number; seed: number };
  /**
   * KID and precision/recall use the feature rows of images 0 … featureSample − 1 (workers return those
   * rows; the rest contribute only to the statistics). Default min(count, 1000), at most 20 000.
   */
  featureSample?: number;
  /**
   * Feature extractor of the metrics: `domain` (default; @tessera/metrics' 64 fixed random ReLU features
   * of the pixels) or `classifier` (the trained digit classifier's 128-d penultimate features, from
   * @tessera/models; workers and the coordinator then need onnxruntime-node).
   */
  features?: 'domain' | 'classifier';
}

/** A {@link JobConfig} with every default filled in (what workers receive). */
export interface ResolvedJobConfig extends Required<Omit<JobConfig, 'output' | 'features'>> {
  output?: string;
  /** Present only when not the default (so the hashes of jobs without it stay as they were). */
  features?: 'classifier';
}

/** One shard of a job: images `[start, end)`. */
export interface ShardSpec {
  shard: number;
  start: number;
  end: number;
}

/** What a worker receives in a BullMQ job. */
export interface ShardPayload extends ShardSpec {
  /** Payload format version (1). */
  v: 1;
  config: ResolvedJobConfig;
  /** {@link configHash} of `config`. */
  hash: string;
}

function fail(path: string, expected: string, got: unknown): never {
  let shown: string;
  try {
    shown = JSON.stringify(got) ?? String(got);
  } catch {
    shown = String(got);
  }
  if (shown.length > 80) shown = `${shown.slice(0, 77)}...`;
  throw new TesseraError('INVALID_CONFIG', `job config: ${path} must be ${expected}, got ${shown}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function int(v: unknown, path: string, lo: number, hi: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi)
    fail(path, `an integer in [${lo}, ${hi}]`, v);
  return v;
}

function num(v: unknown, path: string, lo: number, hi: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || v > hi)
    fail(path, `a number in [${lo}, ${hi}]`, v);
  return v;
}

function onlyKeys(o: Record<string, unknown>, path: string, keys: readonly string[]): void {
  for (const k of Object.keys(o)) {
    if (!keys.includes(k)) fail(`${path}.${k}`, `absent (known keys: ${keys.join(', ')})`, o[k]);
  }
}

function opt<T>(o: Record<string, unknown>, key: string, f: (v: unknown) => T): T | undefined {
  return o[key] === undefined ? undefined : f(o[key]);
}

function checkGenerator(g: unknown, batchSize: number): DiffusionGenerator | ArGenerator {
  if (!isObject(g)) fail('generator', 'an object', g);
  if (g.kind === 'diffusion') {
    onlyKeys(g, 'generator', ['kind', 'sampler', 'steps', 'digit', 'guidance', 'eta', 'model', 'parallel']);
    if (typeof g.sampler !== 'string' || !SAMPLER_NAMES.includes(g.sampler as SamplerName))
      fail('generator.sampler', `one of ${SAMPLER_NAMES.join(', ')}`, g.sampler);
    const out: DiffusionGenerator = {
      kind: 'diffusion',
      sampler: g.sampler as SamplerName,
      steps: int(g.steps, 'generator.steps', 1, MAX_STEPS),
      guidance: opt(g, 'guidance', (v) => num(v, 'generator.guidance', 0, 100)) ?? 1,
    };
    const digit = opt(g, 'digit', (v) => int(v, 'generator.digit', 0, 9));
    if (digit !== undefined) out.digit = digit;
    const eta = opt(g, 'eta', (v) => num(v, 'generator.eta', 0, 10));
    if (eta !== undefined) out.eta = eta;
    if (isTrainedDiffusionModel(g.model)) out.model = g.model;
    else if (g.model !== undefined) {
      if (typeof g.model !== 'string' || !g.model.endsWith('.onnx'))
        fail(
          'generator.model',
          `one of ${TRAINED_DIFFUSION_MODELS.join(', ')} or a relative path to an .onnx file`,
          g.model,
        );
      checkModelPath(g.model);
      if (digit !== undefined)
        fail('generator.digit', 'absent with generator.model (a user model has no classes)', digit);
      out.model = g.model;
    }
    if (g.parallel !== undefined)
      out.parallel = checkParallelConfig(g.parallel, { sampler: out.sampler, steps: out.steps, batchSize });
    return out;
  }
  if (g.kind === 'ar') {
    onlyKeys(g, 'generator', [
      'kind',
      'decoder',
      'temperature',
      'topK',
      'topP',
      'label',
      'guidance',
      'numIter',
      'model',
    ]);
    if (typeof g.decoder !== 'string' || !AR_DECODERS.includes(g.decoder as ArDecoderName))
      fail('generator.decoder', `one of ${AR_DECODERS.join(', ')}`, g.decoder);
    const out: ArGenerator = {
      kind: 'ar',
      decoder: g.decoder as ArDecoderName,
      temperature: opt(g, 'temperature', (v) => num(v, 'generator.temperature', 0, 100)) ?? 1,
      topK: opt(g, 'topK', (v) => int(v, 'generator.topK', 0, 1 << 20)) ?? 0,
      topP: opt(g, 'topP', (v) => num(v, 'generator.topP', 0, 1)) ?? 0,
      guidance: opt(g, 'guidance', (v) => num(v, 'generator.guidance', 0, 100)) ?? 1,
      numIter: opt(g, 'numIter', (v) => int(v, 'generator.numIter', 1, 256)) ?? 16,
    };
    if (g.model !== undefined) {
      const names = Object.keys(TRAINED_AR_MODELS);
      if (typeof g.model !== 'string' || !names.includes(g.model))
        fail('generator.model', `one of ${names.join(', ')}`, g.model);
      const want = TRAINED_AR_MODELS[g.model as TrainedArModel];
      if (out.decoder !== want)
        fail('generator.decoder', `'${want}' with generator.model '${g.model}'`, out.decoder);
      out.model = g.model as TrainedArModel;
    }
    const label = opt(g, 'label', (v) => int(v, 'generator.label', 0, out.model ? 10 : 2));
    if (label !== undefined) out.label = label;
    return out;
  }
  return fail('generator.kind', "'diffusion' or 'ar'", g.kind);
}

/**
 * Checks a job configuration (parsed JSON from anyone: types, ranges, unknown keys, output path shape)
 * and fills in defaults. Throws TesseraError `INVALID_CONFIG` naming the key, what was expected and what
 * came.
 */
export function resolveJobConfig(raw: unknown): ResolvedJobConfig {
  if (!isObject(raw)) fail('(root)', 'an object', raw);
  onlyKeys(raw, 'config', [
    'id',
    'count',
    'seed',
    'shardSize',
    'batchSize',
    'generator',
    'output',
    'reference',
    'featureSample',
    'features',
  ]);
  if (typeof raw.id !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(raw.id))
    fail('id', 'a string of 1–64 characters [A-Za-z0-9_.-] starting with a letter or digit', raw.id);
  const count = int(raw.count, 'count', 1, MAX_IMAGES);
  const seed = int(raw.seed, 'seed', 0, Number.MAX_SAFE_INTEGER);
  const batchSize = opt(raw, 'batchSize', (v) => int(v, 'batchSize', 1, MAX_BATCH_SIZE)) ?? 16;
  const defaultShard = Math.min(Math.max(64, batchSize), Math.ceil(count / batchSize) * batchSize);
  const shardSize =
    opt(raw, 'shardSize', (v) => int(v, 'shardSize', 1, MAX_SHARD_SIZE)) ??
    Math.min(defaultShard, MAX_SHARD_SIZE);
  if (shardSize % batchSize !== 0)
    fail('shardSize', `a multiple of batchSize ${batchSize} (batches start at multiples of it)`, shardSize);
  if (Math.ceil(count / shardSize) > 1_000_000)
    fail('shardSize', 'large enough for at most 1,000,000 shards', shardSize);
  const generator = checkGenerator(raw.generator, batchSize);
  let reference = { count: 1000, seed: 1 };
  if (raw.reference !== undefined) {
    const r = raw.reference;
    if (!isObject(r)) fail('reference', 'an object { count, seed }', r);
    onlyKeys(r, 'reference', ['count', 'seed']);
    reference = {
      count: int(r.count, 'reference.count', 2, MAX_REFERENCE),
      seed: int(r.seed, 'reference.seed', 0, 2 ** 31 - 1),
    };
  }
  const featureSample =
    opt(raw, 'featureSample', (v) => int(v, 'featureSample', 0, Math.min(count, MAX_FEATURE_SAMPLE))) ??
    Math.min(count, 1000);
  const out: ResolvedJobConfig = {
    id: raw.id,
    count,
    seed,
    shardSize,
    batchSize,
    generator,
    reference,
    featureSample,
  };
  if (raw.features !== undefined && raw.features !== 'domain' && raw.features !== 'classifier')
    fail('features', "'domain' or 'classifier'", raw.features);
  if (raw.features === 'classifier') out.features = 'classifier';
  if (raw.output !== undefined) {
    const o = raw.output;
    if (typeof o !== 'string' || o.length === 0 || o.length > 200)
      fail('output', 'a relative directory name of 1–200 characters', o);
    checkOutputPath(o);
    out.output = o;
  }
  return out;
}

/** Splits a job into shards of `shardSize` images (the last one may be shorter), in index order. */
export function planShards(config: ResolvedJobConfig): ShardSpec[] {
  const out: ShardSpec[] = [];
  for (let start = 0, shard = 0; start < config.count; start += config.shardSize, shard++)
    out.push({ shard, start, end: Math.min(config.count, start + config.shardSize) });
  return out;
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (isObject(v))
    return `{${Object.keys(v)
      .filter((k) => v[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`)
      .join(',')}}`;
  return JSON.stringify(v);
}

/** SHA-256 (hex) of the configuration's canonical JSON (sorted keys): what identifies a job's results. */
export function configHash(config: ResolvedJobConfig): string {
  return createHash('sha256').update(canonical(config)).digest('hex');
}

/** Builds the payload of one shard. */
export function shardPayload(config: ResolvedJobConfig, spec: ShardSpec): ShardPayload {
  return { v: 1, config, hash: configHash(config), ...spec };
}

/**
 * Checks a payload as a worker receives it (from a queue anyone with Redis access can write to): the
 * configuration as {@link resolveJobConfig} does, the hash, and that `[start, end)` is exactly shard
 * `shard` of the plan. Throws TesseraError.
 */
export function checkShardPayload(raw: unknown): ShardPayload {
  if (!isObject(raw)) fail('payload', 'an object', raw);
  if (raw.v !== 1) fail('payload.v', '1', raw.v);
  const config = resolveJobConfig(raw.config);
  const hash = configHash(config);
  if (raw.hash !== hash) fail('payload.hash', `the configuration's hash ${hash.slice(0, 12)}…`, raw.hash);
  const shard = int(raw.shard, 'payload.shard', 0, 1_000_000);
  const start = shard * config.shardSize;
  const end = Math.min(config.count, start + config.shardSize);
  if (start >= config.count)
    fail('payload.shard', `below ${Math.ceil(config.count / config.shardSize)}`, shard);
  if (raw.start !== start || raw.end !== end)
    fail('payload.[start, end)', `[${start}, ${end}) for shard ${shard}`, [raw.start, raw.end]);
  return { v: 1, config, hash, shard, start, end };
}
