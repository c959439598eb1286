// Trained networks as job models ("digits-unet", "digits-gpt", "digits-var", "digits-maskgit"),
// sequential and parallel, checked against @tessera/diffusion's `sample` / @tessera/models' samplers called directly and by the
// digit classifier; and on worker processes running the built dist/.
import { createCpuBackend, type Tensor, TesseraError } from '@tessera/core';
import { sample } from '@tessera/diffusion';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bindGenerator,
  imageSeed,
  type JobConfig,
  parallelNoiseSeed,
  resolveJobConfig,
  runEvaluation,
  runLocal,
} from '../src/index.js';
import { freshSeed, type RedisInstance, redisServerPath, spawnWorker, startRedis } from './helpers.js';

const bin = redisServerPath();

const seed = freshSeed();
const digit = seed % 10;
const msg = `seed ${seed}, digit ${digit}`;

let ort: unknown;
try {
  ort = await import('onnxruntime-node');
} catch {
  console.warn('[tessera] trained-model job tests skipped: onnxruntime-node is not installed');
}

function job(extra: Partial<JobConfig['generator']> = {}): JobConfig {
  return {
    id: 'unet',
    count: 4,
    seed,
    batchSize: 4,
    generator: {
      kind: 'diffusion',
      sampler: 'ddim',
      steps: 20,
      digit,
      guidance: 2,
      model: 'digits-unet',
      ...extra,
    },
  } as JobConfig;
}

describe('trained model names', () => {
  it('digits-unet is accepted with a digit; other names are refused', () => {
    expect(resolveJobConfig(job()).generator).toMatchObject({ model: 'digits-unet', digit });
    for (const bad of ['digits-gan', 'DIGITS-UNET', 42])
      expect(() => resolveJobConfig(job({ model: bad as string })), String(bad)).toThrow(
        /generator.model must be one of digits-unet or a relative path to an .onnx file/,
      );
    expect(() => resolveJobConfig(job({ model: 'digits-unet', digit: 10 }))).toThrow(TesseraError);
    const ar = (g: Record<string, unknown>) => ({ id: 'a', count: 2, seed, generator: { kind: 'ar', ...g } });
    expect(
      resolveJobConfig(ar({ decoder: 'raster', model: 'digits-gpt', label: 10 })).generator,
    ).toMatchObject({
      model: 'digits-gpt',
      label: 10,
    });
    for (const [g, re] of [
      [
        { decoder: 'masked', model: 'digits-gpt' },
        /generator.decoder must be 'raster' with generator.model 'digits-gpt'/,
      ],
      [
        { decoder: 'raster', model: 'digits-var' },
        /generator.decoder must be 'next-scale' with generator.model/,
      ],
      [{ decoder: 'raster', model: 'digits-unet' }, /generator.model must be one of digits-gpt, digits-var/],
      [
        { decoder: 'raster', model: 'digits-gpt', label: 11 },
        /generator.label must be an integer in \[0, 10\]/,
      ],
      [{ decoder: 'raster', label: 5 }, /generator.label must be an integer in \[0, 2\]/],
    ] as const)
      expect(() => resolveJobConfig(ar(g)), String(re)).toThrow(re);
  });
});

describe.skipIf(!ort)('a digits-unet job', () => {
  async function reference(B: ReturnType<typeof createCpuBackend>, sampler = 'ddim') {
    const { createOnnxBackend } = await import('@tessera/backend-onnx');
    const { digitsDdimSigmas, loadDigitClassifier, loadDigitsUNet } = await import('@tessera/models');
    const O = createOnnxBackend({ ort: ort as never, executionProviders: ['cpu'] });
    const unet = await loadDigitsUNet({ backend: O });
    const classifier = await loadDigitClassifier({ backend: O });
    const sigmas = digitsDdimSigmas(20);
    const parts = [0, 1, 2, 3].map((i) => B.randn([1, 1, 16, 16], { seed: imageSeed(seed, i) }));
    const noise = B.concat(parts, 0);
    const x = B.lincomb([sigmas[0]!], [noise]);
    const y = await sample(sampler as 'ddim', {
      denoiser: unet,
      x,
      sigmas,
      seed: parallelNoiseSeed(seed, 0),
      cond: { classLabels: [digit], guidanceScale: 2 },
    });
    const want = Float32Array.from(await y.data());
    for (const t of [...parts, noise, x, y]) t.dispose();
    const classify = async (images: Float32Array) => {
      const t = B.tensor(images, [4, 1, 16, 16]);
      const p = await classifier.predict(t);
      t.dispose();
      return Array.from(p);
    };
    return {
      want,
      classify,
      close: async () => {
        await unet.dispose();
        await classifier.dispose();
        await O.dispose();
      },
    };
  }

  it('gives sample(ddim) over loadDigitsUNet on its DDIM σ, and the classifier reads the digit', async () => {
    const B = createCpuBackend();
    const live = B.memory().tensors;
    const g = await bindGenerator(B, resolveJobConfig(job()));
    const got = await g.generate(0, 4);
    await g.dispose();
    expect(B.memory().tensors, msg).toBe(live);
    const ref = await reference(B);
    try {
      // The same network calls on the same batch: equal (0 measured; 1e-6 allows a reordered reduction).
      let worst = 0;
      for (const [i, v] of ref.want.entries()) worst = Math.max(worst, Math.abs(v - got[i]!));
      expect(worst, msg).toBeLessThan(1e-6);
      // DDIM-50 at guidance 2 is read as its class 100% of 500 times (models/README); 20 steps here:
      // at least 2 of 4 (chance: 1 in 10 each) fails about 4·p³ of runs for a misread rate p.
      const read = await ref.classify(got);
      expect(read.filter((d) => d === digit).length, `${msg}: read ${read}`).toBeGreaterThanOrEqual(2);
    } finally {
      await ref.close();
    }
  });

  it('with ParaDiGMS (one batch): the sequential images to the tolerance', async () => {
    const B = createCpuBackend();
    const g = await bindGenerator(
      B,
      resolveJobConfig(job({ parallel: { method: 'paradigms', window: 10, tol: 1e-3, group: 'batch' } })),
    );
    const got = await g.generate(0, 4);
    await g.dispose();
    expect(g.tally, msg).toMatchObject({ solves: 1, unconverged: 0 });
    const ref = await reference(B);
    try {
      let worst = 0;
      for (const [i, v] of ref.want.entries()) worst = Math.max(worst, Math.abs(v - got[i]!));
      // tol 1e-3: worst |Δ| 4.0e-4 … 1.3e-3 over 5 seeds (15–16 rounds of 20 steps); 15× margin.
      expect(worst, msg).toBeLessThan(2e-2);
      expect(g.tally!.rounds, msg).toBeLessThan(20);
      const read = await ref.classify(got);
      expect(read.filter((d) => d === digit).length, `${msg}: read ${read}`).toBeGreaterThanOrEqual(2);
    } finally {
      await ref.close();
    }
  });
});

describe.skipIf(!ort)('digits-gpt, digits-var and digits-maskgit jobs', () => {
  for (const [model, decoder] of [
    ['digits-gpt', 'raster'],
    ['digits-var', 'next-scale'],
    ['digits-maskgit', 'masked'],
  ] as const) {
    it(`${model}: @tessera/models' sampler per image (seed imageSeed, class i mod 10), read as its class`, async () => {
      const B = createCpuBackend();
      const config = resolveJobConfig({
        id: model,
        count: 10,
        seed,
        batchSize: 10,
        generator: { kind: 'ar', decoder, model, guidance: 2, numIter: 6 },
      });
      const live = B.memory().tensors;
      const g = await bindGenerator(B, config);
      const got = await g.generate(0, 10);
      await g.dispose();
      expect(B.memory().tensors, msg).toBe(live);
      const { createOnnxBackend } = await import('@tessera/backend-onnx');
      const m = await import('@tessera/models');
      const O = createOnnxBackend({ ort: ort as never, executionProviders: ['cpu'] });
      const classifier = await m.loadDigitClassifier({ backend: O });
      try {
        // the library sampler of each model, on its own loaded networks
        const loaded: { dispose(): Promise<void> }[] = [];
        const keep = <T extends { dispose(): Promise<void> }>(x: T): T => {
          loaded.push(x);
          return x;
        };
        let draw: (c: {
          classes: number[];
          seed: number;
          sampling: { temperature: number; topK: number; topP: number };
        }) => Promise<Tensor>;
        if (model === 'digits-gpt') {
          const gpt = keep(await m.loadDigitsGPT({ backend: O }));
          const vq = keep(await m.loadDigitsVQ({ backend: O }));
          draw = (c) => m.sampleDigitsRaster({ gpt, vq, guidanceScale: 2, ...c });
        } else if (model === 'digits-var') {
          const net = keep(await m.loadDigitsVAR({ backend: O }));
          const msvq = keep(await m.loadDigitsMSVQ({ backend: O }));
          draw = (c) => m.sampleDigitsNextScale({ model: net, msvq, guidance: 2, ...c });
        } else {
          const net = keep(await m.loadDigitsMaskGIT({ backend: O }));
          const vq = keep(await m.loadDigitsVQ({ backend: O }));
          draw = (c) => m.sampleDigitsMasked({ model: net, vq, guidanceScale: 2, numIter: 6, ...c });
        }
        let worst = 0;
        for (let i = 0; i < 10; i++) {
          const t = await draw({
            classes: [i % 10],
            seed: imageSeed(seed, i),
            sampling: { temperature: 1, topK: 0, topP: 0 },
          });
          const want = await t.data();
          t.dispose();
          for (let p = 0; p < 256; p++) worst = Math.max(worst, Math.abs(want[p]! - got[i * 256 + p]!));
        }
        for (const x of loaded) await x.dispose();
        expect(worst, msg).toBeLessThan(1e-6);
        const x = O.tensor(got, [10, 1, 16, 16]);
        const read = Array.from(await classifier.predict(x));
        x.dispose();
        // at guidance 2, 98–100% of 500 read as their class for each model (models/README).
        // ≥ 6 of 10 fails about C(10,5)·p⁵ of runs (< 1e-5 for a misread rate p ≤ 0.04).
        expect(read.filter((d, i) => d === i % 10).length, `${msg}: read ${read}`).toBeGreaterThanOrEqual(6);
      } finally {
        await classifier.dispose();
        await O.dispose();
      }
    });
  }
});

describe.skipIf(!ort || !bin)('trained models on worker processes (the built dist/)', () => {
  let redis: RedisInstance;
  beforeAll(async () => {
    redis = await startRedis(bin!);
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('2 workers running digits-unet with classifier features give runLocal’s report', async () => {
    const queue = 'trained';
    const workers = await Promise.all(
      ['t1', 't2'].map((name) => spawnWorker({ url: redis.url, queue, name })),
    );
    try {
      const config: JobConfig = {
        ...job(),
        id: 'trained-w',
        count: 8,
        batchSize: 2,
        shardSize: 2,
        features: 'classifier',
        reference: { count: 100, seed: 2 },
      };
      const r = await runEvaluation(config, {
        redis: { url: redis.url },
        queue,
        pollMs: 50,
        timeoutMs: 120_000,
      });
      const local = await runLocal({ ...config, shardSize: 2 }, { backend: createCpuBackend() });
      expect(r.stats, msg).toEqual(local.stats);
      expect(r.metrics, msg).toEqual(local.metrics);
      expect(Object.keys(r.workers).every((w) => w === 't1' || w === 't2')).toBe(true);
    } finally {
      await Promise.all(workers.map((w) => w.kill('SIGTERM')));
    }
  });
});
