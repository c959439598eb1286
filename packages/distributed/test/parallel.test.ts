// Parallel sampling (ParaDiGMS / ParaTAA) in jobs: the same bits whatever the sharding and whoever runs a
// shard, the sequential sampler's images to the solver's tolerance, and bad options refused.
import { join } from 'node:path';
import { createCpuBackend, TesseraError } from '@tessera/core';
import { sample } from '@tessera/diffusion';
import { defaultDigitsModel } from '@tessera/reference';
import { Job, Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bindGenerator,
  configHash,
  imageSeed,
  type JobConfig,
  karrasDigitsSigmas,
  parallelNoiseSeed,
  resolveJobConfig,
  runEvaluation,
  runLocal,
  splitmix64,
  startWorker,
} from '../src/index.js';
import {
  freshSeed,
  type RedisInstance,
  readDir,
  redisServerPath,
  spawnWorker,
  startRedis,
  tempDir,
  type WorkerProcess,
} from './helpers.js';

const bin = redisServerPath();
const seed = freshSeed();
const msg = `seed ${seed}`;

/** ParaTAA on DPM-Solver++(2M), 20 steps, each image solved alone. */
const parataaGen = {
  kind: 'diffusion',
  sampler: 'dpmpp_2m',
  steps: 20,
  parallel: { method: 'parataa', window: 10, tol: 1e-5, atol: 1e-6 },
} as const;

/** ParaDiGMS on ancestral Euler (stochastic: the steps' noise matters), batches solved together. */
const paradigmsGen = {
  kind: 'diffusion',
  sampler: 'euler_ancestral',
  steps: 20,
  parallel: { method: 'paradigms', window: 8, tol: 1e-2, group: 'batch' },
} as const;

function job(id: string, extra: Partial<JobConfig> = {}): JobConfig {
  return {
    id,
    count: 6,
    seed,
    batchSize: 1,
    shardSize: 2,
    generator: { ...parataaGen, parallel: { ...parataaGen.parallel } },
    output: 'imgs',
    reference: { count: 100, seed: 3 },
    ...extra,
  };
}

/**
 * The sequential reference, computed with @tessera/diffusion's `sample` alone: images [a, b) start from
 * σ₀ times their own Philox streams (seeds imageSeed(seed, i)) and take the steps' noise from the Philox
 * stream parallelNoiseSeed(seed, a), as the job's documentation defines them.
 */
async function sequential(
  gen: { sampler: string; steps: number },
  a: number,
  b: number,
): Promise<Float32Array> {
  const B = createCpuBackend();
  const denoiser = defaultDigitsModel().denoiser(B);
  const sigmas = karrasDigitsSigmas(gen.steps);
  const parts = Array.from({ length: b - a }, (_, r) =>
    B.randn([1, 1, 16, 16], { seed: imageSeed(seed, a + r) }),
  );
  const noise = parts.length === 1 ? parts[0]! : B.concat(parts, 0);
  const x = B.lincomb([sigmas[0]!], [noise]);
  const y = await sample(gen.sampler as 'euler', {
    denoiser,
    x,
    sigmas,
    seed: parallelNoiseSeed(seed, a),
  });
  const out = Float32Array.from(await y.data());
  for (const t of [...parts, noise, x, y]) if (!t.isDisposed) t.dispose();
  denoiser.dispose();
  return out;
}

function worstDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let w = 0;
  for (let i = 0; i < a.length; i++) w = Math.max(w, Math.abs(a[i]! - b[i]!));
  return w;
}

describe('parallel sampling options', () => {
  const gen = (parallel: unknown, sampler = 'dpmpp_2m') => ({
    id: 'p',
    count: 8,
    seed,
    generator: { kind: 'diffusion', sampler, steps: 20, parallel },
  });

  it('are checked: types, ranges, unknown keys, samplers, rows per call', () => {
    const cases: [unknown, RegExp][] = [
      [gen('paradigms'), /generator.parallel must be an object/],
      [
        gen({ method: 'picard' }),
        /generator.parallel.method must be one of paradigms, parataa, got "picard"/,
      ],
      [gen({ method: 'paradigms', window: 0 }), /generator.parallel.window must be an integer in \[1, 20\]/],
      [gen({ method: 'paradigms', window: 21 }), /generator.parallel.window must be an integer in \[1, 20\]/],
      [gen({ method: 'paradigms', tol: 0 }), /generator.parallel.tol must be a number in \(0, 10\]/],
      [gen({ method: 'paradigms', tol: 'NaN' }), /generator.parallel.tol must be a number/],
      [gen({ method: 'paradigms', tol: 1e300 }), /generator.parallel.tol must be a number in \(0, 10\]/],
      [gen({ method: 'paradigms', atol: -1 }), /generator.parallel.atol must be a number in \[0, 10\]/],
      [
        gen({ method: 'paradigms', maxRounds: 1e9 }),
        /generator.parallel.maxRounds must be an integer in \[1, 20\]/,
      ],
      [gen({ method: 'parataa', memory: 99 }), /generator.parallel.memory must be an integer in \[1, 16\]/],
      [
        gen({ method: 'paradigms', memory: 2 }),
        /generator.parallel.memory must be absent unless method is 'parataa'/,
      ],
      [gen({ method: 'parataa', order: 1.5 }), /generator.parallel.order must be an integer/],
      [gen({ method: 'paradigms', group: 'all' }), /generator.parallel.group must be 'image' or 'batch'/],
      [gen({ method: 'paradigms', exec: 'rm -rf /' }), /generator.parallel.exec must be absent \(known keys/],
      [
        gen({ method: 'paradigms' }, 'dpmpp_sde'),
        /generator.sampler must be one of euler, .* with generator.parallel/,
      ],
    ];
    for (const [raw, re] of cases) {
      let err: unknown;
      try {
        resolveJobConfig(raw);
      } catch (e) {
        err = e;
      }
      expect(err, String(re)).toBeInstanceOf(TesseraError);
      expect((err as TesseraError).code).toBe('INVALID_CONFIG');
      expect((err as Error).message).toMatch(re);
    }
    // window × images solved together is bounded (16384 rows per denoiser call).
    const big = {
      id: 'p',
      count: 8,
      seed,
      batchSize: 512,
      generator: {
        kind: 'diffusion',
        sampler: 'euler',
        steps: 1000,
        parallel: { method: 'paradigms', window: 64, group: 'batch' },
      },
    };
    expect(() => resolveJobConfig(big)).toThrow(/window must be at most 32 with 512 images solved together/);
    const ok = resolveJobConfig({
      ...big,
      generator: { ...big.generator, parallel: { method: 'paradigms', window: 32, group: 'batch' } },
    });
    expect(ok.generator.kind === 'diffusion' && ok.generator.parallel).toEqual({
      method: 'paradigms',
      window: 32,
      group: 'batch',
    });
  });

  it('the steps’ noise seed is SplitMix64 of the image’s SplitMix64 value (Rosetta Code vector)', () => {
    // Rosetta Code's Splitmix64: seed 1234567 → 6457827717110365317, 3203168211198807973, …
    expect(splitmix64(1234567n, 0)).toBe(6457827717110365317n);
    const img = splitmix64(BigInt(seed), 5);
    expect(parallelNoiseSeed(seed, 5), msg).toBe(Number(splitmix64(img, 0) >> 11n));
    expect(parallelNoiseSeed(seed, 5), msg).not.toBe(imageSeed(seed, 5));
  });
});

describe('parallel sampling in a job (one process)', () => {
  it('ParaTAA per image: the sequential DPM-Solver++(2M) images to the tolerance, no leaked tensors', async () => {
    const B = createCpuBackend();
    const config = resolveJobConfig(job('seq-taa', { count: 3 }));
    const live = B.memory().tensors;
    const g = await bindGenerator(B, config);
    const got = await g.generate(0, 3);
    await g.dispose();
    expect(B.memory().tensors, msg).toBe(live);
    expect(g.tally?.solves).toBe(3);
    for (let i = 0; i < 3; i++) {
      const want = await sequential(parataaGen, i, i + 1);
      // tol 1e-5 / atol 1e-6: worst |Δ| over 300 images (150 seeds) 5.7e-4, p99 2.7e-4; 35× margin.
      expect(worstDiff(got.subarray(i * 256, (i + 1) * 256), want), `${msg}, image ${i}`).toBeLessThan(2e-2);
    }
    // Fewer rounds than sequential steps (over 150 seeds: 15–19 rounds per 20-step image).
    expect(g.tally!.rounds, msg).toBeLessThan(3 * 20);
  });

  it('ParaDiGMS per batch: the sequential ancestral images of the batch, whatever the shard size', async () => {
    const B = createCpuBackend();
    const config = resolveJobConfig(
      job('seq-pd', { count: 4, batchSize: 2, shardSize: 2, generator: paradigmsGen, output: undefined }),
    );
    const g = await bindGenerator(B, config);
    const got = await g.generate(2, 4);
    await g.dispose();
    const want = await sequential(paradigmsGen, 2, 4);
    // tol 1e-2: worst |Δ| over 150 seeds 5.8e-6 (p99 4.7e-6); 170× margin.
    expect(worstDiff(got, want), msg).toBeLessThan(1e-3);
    // The batch is a fixed group: one shard of 4 or two of 2 give the same statistics bit for bit.
    const a = await runLocal({ ...config, shardSize: 4 }, { backend: B });
    const b = await runLocal(config, { backend: B });
    expect(a.stats, msg).toEqual(b.stats);
    expect(a.parallel, msg).toEqual({ solves: 2, rounds: a.parallel!.rounds, unconverged: 0 });
    expect(b.parallel, msg).toEqual(a.parallel);
  });
});

describe.skipIf(!bin)('parallel sampling on BullMQ workers', () => {
  let redis: RedisInstance;
  const workers: WorkerProcess[] = [];
  beforeAll(async () => {
    redis = await startRedis(bin!);
  });
  afterAll(async () => {
    await Promise.all(workers.map((w) => w.kill('SIGKILL')));
    await redis?.stop();
  });

  it('3 worker processes give the PNGs and statistics of one process with another shard size', async () => {
    const dir = tempDir('par-three');
    const queue = 'par-three';
    const started = await Promise.all(
      ['p1', 'p2', 'p3'].map((name) => spawnWorker({ url: redis.url, queue, name, outputRoot: dir })),
    );
    workers.push(...started);
    const report = await runEvaluation(job('par-three'), {
      redis: { url: redis.url },
      queue,
      pollMs: 50,
      timeoutMs: 120_000,
    });
    const localDir = tempDir('par-local');
    const local = await runLocal(job('par-local', { shardSize: 6 }), {
      backend: createCpuBackend(),
      outputRoot: localDir,
    });
    expect(report.images).toBe(6);
    // Statistics merged over other shard boundaries: equal to float64 rounding (1e-12, as the issue asks).
    expect(report.stats.count).toBe(local.stats.count);
    for (const k of ['mean', 'm2'] as const)
      for (const [i, v] of local.stats[k].entries())
        expect(Math.abs(report.stats[k][i]! - v), `${msg}: ${k}[${i}]`).toBeLessThan(1e-12);
    expect(Math.abs(report.metrics.frechet! - local.metrics.frechet!), msg).toBeLessThan(1e-9);
    // KID and precision/recall read every image's feature rows, in order: the same bits give the same values.
    expect(report.metrics.sample, msg).toEqual(local.metrics.sample);
    expect(report.parallel, msg).toEqual(local.parallel);
    expect(report.parallel?.solves).toBe(6);
    const a = readDir(join(dir, 'imgs'));
    const b = readDir(join(localDir, 'imgs'));
    expect(
      [...a.keys()].filter((k) => k.endsWith('.png')),
      msg,
    ).toEqual([...b.keys()]);
    for (const [k, v] of b) expect(a.get(k)!.equals(v), `${msg}: ${k}`).toBe(true);
    expect(Object.keys(report.workers).every((w) => ['p1', 'p2', 'p3'].includes(w))).toBe(true);
    await Promise.all(started.map((w) => w.kill('SIGTERM')));
  });

  it('a worker refuses a bad parallel configuration at once, with the reason', async () => {
    const queue = 'par-bad';
    const w = await startWorker({ redis: { url: redis.url }, queue, backend: createCpuBackend() });
    const q = new Queue(queue, { connection: { host: '127.0.0.1', port: redis.port } });
    try {
      const good = resolveJobConfig(job('pb', { count: 2, output: undefined }));
      const evil = (parallel: unknown) => {
        const config = { ...good, generator: { ...good.generator, parallel } } as typeof good;
        return { v: 1, config, hash: configHash(config), shard: 0, start: 0, end: 2 };
      };
      const cases: [unknown, RegExp][] = [
        [
          evil({ method: 'parataa', window: 1e9 }),
          /generator.parallel.window must be an integer in \[1, 20\]/,
        ],
        [evil({ method: 'parataa', maxRounds: -1 }), /generator.parallel.maxRounds must be/],
        [evil({ method: 'eval("x")' }), /generator.parallel.method must be one of/],
        [evil([1, 2, 3]), /generator.parallel must be an object/],
      ];
      for (const [i, [data, re]] of cases.entries()) {
        const j = await q.add('bad', data, { jobId: `par-bad-${i}`, attempts: 3 });
        let reason = '';
        for (let k = 0; k < 200 && !reason; k++) {
          if ((await j.getState()) === 'failed') reason = (await Job.fromId(q, j.id!))?.failedReason ?? '?';
          else await new Promise((r) => setTimeout(r, 50));
        }
        expect(reason, `case ${i}`).toMatch(/^TesseraError INVALID_CONFIG: /);
        expect(reason, `case ${i}`).toMatch(re);
        expect((await Job.fromId(q, j.id!))?.attemptsMade, `case ${i}: not retried`).toBe(1);
      }
      // Through the coordinator: refused before anything is enqueued.
      await expect(
        runEvaluation(
          job('pb2', { generator: { ...parataaGen, parallel: { method: 'parataa', tol: -1 } } }),
          {
            redis: { url: redis.url },
            queue,
          },
        ),
      ).rejects.toThrow(/generator.parallel.tol must be a number in \(0, 10\]/);
    } finally {
      await q.close();
      await w.close();
    }
  });
});
