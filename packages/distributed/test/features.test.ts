// "features": "classifier": the metrics on the trained digit classifier's penultimate features, checked
// against the classifier run directly (through @tessera/models) and against the domain's verdict.
import { createCpuBackend } from '@tessera/core';
import { FeatureStats, frechetDistance } from '@tessera/metrics';
import { digitsDataset } from '@tessera/reference';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bindGenerator,
  configHash,
  type JobConfig,
  resolveJobConfig,
  runEvaluation,
  runLocal,
  startWorker,
} from '../src/index.js';
import { freshSeed, type RedisInstance, redisServerPath, startRedis } from './helpers.js';

const bin = redisServerPath();
const seed = freshSeed();
const msg = `seed ${seed}`;

let ort: unknown;
try {
  ort = await import('onnxruntime-node');
} catch {
  console.warn('[tessera] classifier-feature tests skipped: onnxruntime-node is not installed');
}

function job(id: string, extra: Partial<JobConfig> = {}): JobConfig {
  return {
    id,
    count: 32,
    seed,
    batchSize: 8,
    shardSize: 16,
    generator: { kind: 'diffusion', sampler: 'euler', steps: 8 },
    features: 'classifier',
    reference: { count: 300, seed: 3 },
    ...extra,
  };
}

describe('the features option', () => {
  it('is domain or classifier; domain leaves the configuration (and its hash) as without it', () => {
    const plain = resolveJobConfig(job('f', { features: undefined }));
    expect(resolveJobConfig(job('f', { features: 'domain' }))).toEqual(plain);
    expect(configHash(resolveJobConfig(job('f', { features: 'domain' })))).toBe(configHash(plain));
    expect(configHash(resolveJobConfig(job('f')))).not.toBe(configHash(plain));
    expect(() => resolveJobConfig({ ...job('f'), features: 'inception' })).toThrow(
      /features must be 'domain' or 'classifier', got "inception"/,
    );
  });
});

describe.skipIf(!ort)('metrics on the classifier features', () => {
  async function classifierStats(rows: { images: Float32Array; n: number }[]) {
    const { createOnnxBackend } = await import('@tessera/backend-onnx');
    const { loadDigitClassifier } = await import('@tessera/models');
    const O = createOnnxBackend({ ort: ort as never, executionProviders: ['cpu'] });
    const c = await loadDigitClassifier({ backend: O });
    const all: number[] = [];
    for (const { images, n } of rows) {
      const x = O.tensor(images, [n, 1, 16, 16]);
      const f = await c.features(x);
      all.push(...(await f.data()));
      x.dispose();
      f.dispose();
    }
    await c.dispose();
    await O.dispose();
    return Float64Array.from(all);
  }

  it('are the moments of loadDigitClassifier().features of the images, against the reference digits', async () => {
    const B = createCpuBackend();
    const report = await runLocal(job('fl'), { backend: B });
    expect(report.stats.dim).toBe(128);
    const g = await bindGenerator(B, resolveJobConfig(job('fl', { features: undefined })));
    const batches = [];
    for (let a = 0; a < 32; a += 8) batches.push({ images: await g.generate(a, a + 8), n: 8 });
    await g.dispose();
    const f = await classifierStats(batches);
    // float64 mean of the 32 feature rows, computed here
    const mean = new Float64Array(128);
    for (let i = 0; i < 32; i++) for (let d = 0; d < 128; d++) mean[d]! += f[i * 128 + d]! / 32;
    for (let d = 0; d < 128; d++)
      expect(Math.abs(report.stats.mean[d]! - mean[d]!), `${msg}: mean[${d}]`).toBeLessThan(
        1e-9 * (1 + Math.abs(mean[d]!)),
      );
    const ref = digitsDataset({ count: 300, seed: 3, size: 16 });
    const rf = await classifierStats([{ images: ref.data as Float32Array, n: 300 }]);
    const want = frechetDistance(new FeatureStats(128).add(f), new FeatureStats(128).add(rf));
    expect(Math.abs(report.metrics.frechet! - want), msg).toBeLessThan(1e-6 * want);
  });

  it('tell digits from shapes: the AR shapes score farther from the digits than the digits model', async () => {
    const B = createCpuBackend();
    const digits = await runLocal(job('fd'), { backend: B });
    const shapes = await runLocal(job('fs', { generator: { kind: 'ar', decoder: 'raster' } }), {
      backend: B,
    });
    // 32 images against 300 digits, 8 seeds: FID ratio 1.85–2.72, precision 0.53–0.72 (digits) against
    // 0–0.13 (shapes).
    expect(shapes.metrics.frechet!, msg).toBeGreaterThan(digits.metrics.frechet!);
    expect(digits.metrics.sample!.precision - shapes.metrics.sample!.precision, msg).toBeGreaterThan(0.2);
  });

  describe.skipIf(!bin)('on a worker', () => {
    let redis: RedisInstance;
    beforeAll(async () => {
      redis = await startRedis(bin!);
    });
    afterAll(async () => {
      await redis?.stop();
    });

    it('the coordinator’s report equals runLocal’s', async () => {
      const B = createCpuBackend();
      const w = await startWorker({ redis: { url: redis.url }, queue: 'feat', backend: B });
      try {
        const r = await runEvaluation(job('fw'), { redis: { url: redis.url }, queue: 'feat', pollMs: 50 });
        const local = await runLocal(job('fw'), { backend: B });
        expect(r.stats, msg).toEqual(local.stats);
        expect(r.metrics, msg).toEqual(local.metrics);
      } finally {
        await w.close();
      }
    });
  });
});
