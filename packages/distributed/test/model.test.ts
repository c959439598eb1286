// A user's ONNX x0-denoiser as the job's model: the embedded digits model exported to ONNX (float64
// inside), loaded by the workers from their model root; a corrupt file fails the job at once.
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createCpuBackend, TesseraError } from '@tessera/core';
import { defaultDigitsModel } from '@tessera/reference';
import { exportGaussianMixtureDenoiser } from '@tessera/reference-onnx';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type JobConfig, resolveJobConfig, runEvaluation, runLocal, startWorker } from '../src/index.js';
import { freshSeed, type RedisInstance, redisServerPath, startRedis, tempDir } from './helpers.js';

const bin = redisServerPath();
const seed = freshSeed();
const msg = `seed ${seed}`;
const models = tempDir('models');
mkdirSync(join(models, 'digits'));

const job = (id: string, model?: string): JobConfig => ({
  id,
  count: 8,
  seed,
  batchSize: 2,
  shardSize: 4,
  generator: { kind: 'diffusion', sampler: 'heun', steps: 4, ...(model ? { model } : {}) },
  reference: { count: 100, seed: 3 },
});

beforeAll(async () => {
  const bytes = await exportGaussianMixtureDenoiser(defaultDigitsModel().canonical, {
    sampleShape: [1, 16, 16],
    precision: 'float64',
  });
  writeFileSync(join(models, 'digits', 'model.onnx'), bytes);
  writeFileSync(join(models, 'corrupt.onnx'), randomBytes(4096));
});

describe('job model paths', () => {
  it('are relative .onnx paths inside the model root', () => {
    for (const bad of ['../x.onnx', '/abs/x.onnx', 'a/../../x.onnx', 'x.bin', 'a\\b.onnx'])
      expect(() => resolveJobConfig(job('m', bad)), bad).toThrow(
        /generator.model(: expected| must be one of digits-unet or) a relative path/,
      );
    expect(() =>
      resolveJobConfig({ ...job('m', 'x.onnx'), generator: { ...job('m', 'x.onnx').generator, digit: 3 } }),
    ).toThrow(/generator.digit must be absent with generator.model/);
  });

  it('give the embedded model’s images to float32 rounding (run in one process)', async () => {
    const B = createCpuBackend();
    const withModel = await runLocal(job('m1', 'digits/model.onnx'), {
      backend: B,
      models: { modelRoot: models },
    });
    const embedded = await runLocal(job('m1'), { backend: B });
    const a = withModel.stats.mean;
    const b = embedded.stats.mean;
    let worst = 0;
    for (const [i, v] of b.entries()) worst = Math.max(worst, Math.abs(a[i]! - v));
    // float64 ONNX graph vs the float32 CPU denoiser: 1e-5 … 2.4e-5 over 3 seeds here; 20× margin.
    expect(worst, msg).toBeLessThan(5e-4);
    await expect(runLocal(job('m2', 'digits/model.onnx'), { backend: B })).rejects.toThrow(/no model root/);
  });
});

describe.skipIf(!bin)('job models on workers', () => {
  let redis: RedisInstance;
  beforeAll(async () => {
    redis = await startRedis(bin!);
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('a worker loads the model from its root; a corrupt model fails the job at once', async () => {
    const B = createCpuBackend();
    const w = await startWorker({
      redis: { url: redis.url },
      queue: 'models',
      backend: B,
      models: { modelRoot: models },
    });
    try {
      const r = await runEvaluation(job('wm', 'digits/model.onnx'), {
        redis: { url: redis.url },
        queue: 'models',
        pollMs: 50,
      });
      const local = await runLocal(job('wm-local', 'digits/model.onnx'), {
        backend: B,
        models: { modelRoot: models },
      });
      expect(r.stats, msg).toEqual(local.stats);
      const t0 = Date.now();
      const err = await runEvaluation(job('bad', 'corrupt.onnx'), {
        redis: { url: redis.url },
        queue: 'models',
        pollMs: 50,
      }).catch((e: unknown) => e as Error);
      expect(err).toBeInstanceOf(TesseraError);
      expect((err as TesseraError).code).toBe('CORRUPT_FILE');
      expect((err as Error).message).toMatch(/shard 0 .* failed after 1 attempt/);
      expect(Date.now() - t0).toBeLessThan(30_000);
    } finally {
      await w.close();
    }
  });
});
