// Real redis-server, real BullMQ workers in their own processes (the built dist/, as `tessera worker`).
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createCpuBackend, TesseraError } from '@tessera/core';
import { Job, Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  configHash,
  type EvalReport,
  type JobConfig,
  resolveJobConfig,
  runEvaluation,
  runLocal,
  startWorker,
} from '../src/index.js';
import {
  freshSeed,
  makeTlsFiles,
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

/** 24 digits, 6 shards of 4 images in batches of 2, 6 ancestral Euler steps. */
function job(id: string, extra: Partial<JobConfig> = {}): JobConfig {
  return {
    id,
    count: 24,
    seed,
    batchSize: 2,
    shardSize: 4,
    generator: { kind: 'diffusion', sampler: 'euler_ancestral', steps: 6 },
    output: 'imgs',
    reference: { count: 200, seed: 3 },
    ...extra,
  };
}

function pngs(dir: string): Map<string, Buffer> {
  const all = readDir(join(dir, 'imgs'));
  for (const k of [...all.keys()]) if (!k.endsWith('.png')) all.delete(k);
  return all;
}

function expectSame(got: EvalReport, gotDir: string, want: EvalReport, wantDir: string): void {
  expect(got.images, msg).toBe(want.images);
  expect(got.stats.count, msg).toBe(want.stats.count);
  for (const [i, v] of want.stats.mean.entries())
    expect(Math.abs(got.stats.mean[i]! - v), msg).toBeLessThan(1e-12);
  for (const [i, v] of want.stats.m2.entries())
    expect(Math.abs(got.stats.m2[i]! - v), msg).toBeLessThan(1e-12);
  expect(Math.abs(got.metrics.frechet! - want.metrics.frechet!), msg).toBeLessThan(1e-9);
  // KID and precision/recall see the same feature rows in the same order.
  expect(got.metrics.sample, msg).not.toBeNull();
  expect(got.metrics.sample, msg).toEqual(want.metrics.sample);
  const a = pngs(gotDir);
  const b = pngs(wantDir);
  expect([...a.keys()], msg).toEqual([...b.keys()]);
  for (const [k, v] of b) expect(a.get(k)!.equals(v), `${msg}: ${k} differs`).toBe(true);
}

async function waitFailed(queue: Queue, job: Job): Promise<string> {
  for (let i = 0; i < 200; i++) {
    if ((await job.getState()) === 'failed') {
      const j = await Job.fromId(queue, job.id!);
      return j?.failedReason ?? '';
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`job ${job.id} did not fail`);
}

describe.skipIf(!bin)('distributed evaluation on BullMQ + redis-server', () => {
  let redis: RedisInstance;
  let baseline: EvalReport;
  let baseDir: string;
  const workers: WorkerProcess[] = [];

  beforeAll(async () => {
    redis = await startRedis(bin!);
    baseDir = tempDir('dist-base');
    baseline = await runLocal(job('base'), { backend: createCpuBackend(), outputRoot: baseDir });
  });

  afterAll(async () => {
    await Promise.all(workers.map((w) => w.kill('SIGKILL')));
    await redis?.stop();
  });

  it('3 worker processes give the images and statistics of one process; a re-run reuses them', async () => {
    const dir = tempDir('dist-three');
    const queue = 'three';
    const started = await Promise.all(
      ['w1', 'w2', 'w3'].map((name) => spawnWorker({ url: redis.url, queue, name, outputRoot: dir })),
    );
    workers.push(...started);
    const progress: number[] = [];
    const report = await runEvaluation(job('three'), {
      redis: { url: redis.url },
      queue,
      pollMs: 100,
      timeoutMs: 120_000,
      onProgress: (p) => progress.push(p.done),
      out: join(dir, 'report.json'),
    });
    expectSame(report, dir, baseline, baseDir);
    expect(
      Object.keys(report.workers).every((w) => ['w1', 'w2', 'w3'].includes(w)),
      msg,
    ).toBe(true);
    expect(
      Object.values(report.workers).every((b) => b === 'cpu'),
      msg,
    ).toBe(true);
    expect(progress.at(-1), msg).toBe(24);
    expect(existsSync(join(dir, 'report.json'))).toBe(true);
    // Idempotent by job id: the finished shards are reused (no worker runs again).
    const logs: string[] = [];
    const again = await runEvaluation(job('three'), {
      redis: { url: redis.url },
      queue,
      log: (l) => logs.push(l),
    });
    expect(
      logs.some((l) => l.includes('reusing 6 finished shards of 6')),
      logs.join('\n'),
    ).toBe(true);
    expect(again.stats, msg).toEqual(report.stats);
    // The same id with another configuration is refused rather than mixed up.
    await expect(
      runEvaluation(job('three', { seed: seed + 1 }), { redis: { url: redis.url }, queue }),
    ).rejects.toThrow(/another configuration/);
    await Promise.all(started.map((w) => w.kill('SIGTERM')));
  });

  it('a worker SIGKILLed mid-shard loses nothing and counts no image twice', async () => {
    const dir = tempDir('dist-kill');
    const queue = 'kill';
    const fast = { lockDuration: 2000, stalledInterval: 500 };
    const a = await spawnWorker({ url: redis.url, queue, name: 'doomed', outputRoot: dir, ...fast });
    workers.push(a);
    let killed: Promise<void> | undefined;
    const more: Promise<WorkerProcess>[] = [];
    // 2 shards of 12 images in batches of 2: the kill lands inside the first shard.
    const config = job('kill', { shardSize: 12 });
    const report = await runEvaluation(config, {
      redis: { url: redis.url },
      queue,
      pollMs: 50,
      timeoutMs: 120_000,
      onProgress: (p) => {
        if (!killed && p.done >= 2) {
          killed = a.kill('SIGKILL').then(() => {
            for (const name of ['b', 'c'])
              more.push(spawnWorker({ url: redis.url, queue, name, outputRoot: dir, ...fast }));
          });
        }
      },
    });
    await killed;
    const rest = await Promise.all(more);
    workers.push(...rest);
    expect(a.proc.signalCode).toBe('SIGKILL');
    // The doomed worker never finished the shard it was killed in: some shard came from b or c.
    expect(
      Object.keys(report.workers).some((w) => w === 'b' || w === 'c'),
      msg,
    ).toBe(true);
    const base = await runLocal(
      { ...config, id: 'kill-base' },
      { backend: createCpuBackend(), outputRoot: tempDir('kb') },
    );
    expect(report.images, msg).toBe(24);
    // BullMQ's stalled-job check took the dead worker's shard back and ran it again.
    const q = new Queue(queue, { connection: { host: '127.0.0.1', port: redis.port } });
    const jobs = await Promise.all([0, 1].map((s) => Job.fromId(q, `kill-${s}`)));
    await q.close();
    expect(
      jobs.some((j) => (j?.stalledCounter ?? 0) >= 1),
      msg,
    ).toBe(true);
    expectSame(report, dir, { ...base }, baseDir);
    await Promise.all(rest.map((w) => w.kill('SIGTERM')));
  });

  it('a shard failing for good fails the job with its error, without hanging', async () => {
    const queue = 'bad';
    // This worker has no output root, so a job that writes PNGs is refused by every try.
    const w = await startWorker({ redis: { url: redis.url }, queue, backend: createCpuBackend() });
    try {
      const t0 = Date.now();
      const err = await runEvaluation(job('bad', { count: 4 }), {
        redis: { url: redis.url },
        queue,
        pollMs: 50,
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TesseraError);
      expect((err as TesseraError).code).toBe('INVALID_ARGUMENT');
      expect((err as Error).message).toMatch(/shard 0 .*failed after 1 attempt.*no output root/);
      expect(Date.now() - t0).toBeLessThan(30_000);
    } finally {
      await w.close();
    }
  });

  it('refuses hostile payloads: ../ in the output path, wrong types, huge counts', async () => {
    const queue = 'hostile';
    const root = tempDir('dist-hostile');
    const w = await startWorker({
      redis: { url: redis.url },
      queue,
      backend: createCpuBackend(),
      outputRoot: join(root, 'out'),
    });
    const q = new Queue(queue, { connection: { host: '127.0.0.1', port: redis.port } });
    try {
      const good = resolveJobConfig(job('h', { count: 4 }));
      const evil = { ...good, output: '../escape' };
      const cases: [unknown, RegExp][] = [
        [{ v: 1, config: evil, hash: configHash(evil), shard: 0, start: 0, end: 4 }, /'\.\.' segment/],
        [
          { v: 1, config: { ...good, output: 'a/../../x' }, hash: 'x', shard: 0, start: 0, end: 4 },
          /'\.\.' segment/,
        ],
        [
          { v: 1, config: { ...good, count: '4' }, hash: 'x', shard: 0, start: 0, end: 4 },
          /count must be an integer/,
        ],
        [
          { v: 1, config: { ...good, count: 1e12 }, hash: 'x', shard: 0, start: 0, end: 4 },
          /count must be an integer in \[1, 10000000\]/,
        ],
        [{ v: 1, config: good, hash: configHash(good), shard: 0, start: 0, end: 1e9 }, /\[start, end\)/],
        [
          {
            v: 1,
            config: { ...good, generator: { kind: 'diffusion', sampler: 'euler', steps: 1e6 } },
            hash: 'x',
            shard: 0,
            start: 0,
            end: 4,
          },
          /steps must be an integer in \[1, 1000\]/,
        ],
        ['rm -rf /', /payload must be an object/],
      ];
      for (const [i, [data, re]] of cases.entries()) {
        const j = await q.add('h', data, { jobId: `hostile-${i}`, attempts: 3 });
        const reason = await waitFailed(q, j);
        expect(reason, `case ${i}`).toMatch(/^TesseraError INVALID_(CONFIG|ARGUMENT): /);
        expect(reason, `case ${i}`).toMatch(re);
        const again = await Job.fromId(q, j.id!);
        expect(again?.attemptsMade, `case ${i}: no retries for bad input`).toBe(1);
      }
      expect(readdirSync(root)).toEqual([]);
    } finally {
      await q.close();
      await w.close();
    }
  });
});

describe.skipIf(!bin)('distributed: Redis with a password', () => {
  it('works with the password in the URL and never logs it', async () => {
    const password = `pw-${freshSeed().toString(36)}-secret`;
    const redis = await startRedis(bin!, { password });
    const logs: string[] = [];
    const log = (l: string) => logs.push(l);
    const w = await startWorker({ redis: { url: redis.url }, queue: 'pw', backend: createCpuBackend(), log });
    try {
      const r = await runEvaluation(job('pw', { count: 4, output: undefined }), {
        redis: { url: redis.url },
        queue: 'pw',
        log,
        pollMs: 50,
      });
      expect(r.images).toBe(4);
      // A wrong password is reported as an unreachable Redis, without the password.
      const wrong = redis.url.replace(encodeURIComponent(password), 'not-the-password');
      const err = await runEvaluation(job('pw2', { count: 4, output: undefined }), {
        redis: { url: wrong },
        queue: 'pw',
        log,
        redisTimeoutMs: 1500,
      }).catch((e: unknown) => e as Error);
      expect(err).toBeInstanceOf(TesseraError);
      expect((err as Error).message).toMatch(/unreachable/);
      expect((err as Error).message).not.toContain('not-the-password');
      expect(logs.length).toBeGreaterThan(0);
      for (const l of logs) {
        expect(l).not.toContain(password);
        expect(l).not.toContain('not-the-password');
      }
      expect(logs.some((l) => l.includes('redis://:***@127.0.0.1'))).toBe(true);
    } finally {
      await w.close();
      await redis.stop();
    }
  });
});

describe.skipIf(!bin)('distributed: Redis over TLS', () => {
  it('works with rediss:// and the CA file, and refuses an unknown CA clearly', async () => {
    const tls = makeTlsFiles();
    if (!tls) return;
    const redis = await startRedis(bin!, { tls, password: 'tls-pw' });
    const w = await startWorker({
      redis: { url: redis.url, tls: { caFile: tls.ca } },
      queue: 'tls',
      backend: createCpuBackend(),
      closeTimeoutMs: 2000,
    });
    try {
      expect(redis.url).toMatch(/^rediss:/);
      const r = await runEvaluation(job('tls', { count: 4, output: undefined }), {
        redis: { url: redis.url, tls: { caFile: tls.ca } },
        queue: 'tls',
        pollMs: 50,
      });
      expect(r.images).toBe(4);
      const err = await runEvaluation(job('tls2', { count: 4, output: undefined }), {
        redis: { url: redis.url },
        queue: 'tls',
        redisTimeoutMs: 1500,
      }).catch((e: unknown) => e as Error);
      expect(err).toBeInstanceOf(TesseraError);
      expect((err as Error).message).toMatch(/unreachable .*certificate/);
      expect((err as Error).message).not.toContain('tls-pw');
    } finally {
      await w.close();
      await redis.stop();
    }
  });
});

describe.skipIf(!bin)('distributed: Redis restarting', () => {
  it('survives a restart mid-job (same result) and reports a Redis that stays down', async () => {
    const redis = await startRedis(bin!);
    const dir = tempDir('dist-restart');
    const logs: string[] = [];
    const log = (l: string) => {
      logs.push(l);
    };
    const w = await startWorker({
      redis: { url: redis.url },
      queue: 'rs',
      backend: createCpuBackend(),
      outputRoot: dir,
      log,
      closeTimeoutMs: 2000,
      // A shard fetched just as Redis went down can be left active under a lock this worker never got
      // (the reply was lost); BullMQ's stalled check hands it out again after the lock expires.
      lockDuration: 2000,
      stalledInterval: 500,
    });
    try {
      let restarted: Promise<void> | undefined;
      const config = job('restart');
      const report = await runEvaluation(config, {
        redis: { url: redis.url },
        queue: 'rs',
        pollMs: 50,
        log,
        redisTimeoutMs: 30_000,
        timeoutMs: 90_000,
        onProgress: (p) => {
          if (!restarted && p.done >= 2) restarted = redis.restart(300);
        },
      });
      await restarted;
      expect(restarted, 'the restart happened during the job').toBeDefined();
      const base = await runLocal(
        { ...config, id: 'restart-base' },
        { backend: createCpuBackend(), outputRoot: tempDir('rb') },
      );
      expect(report.stats, msg).toEqual(base.stats);
      // Down for good: a clear error within the Redis timeout, not a hang.
      await redis.stop();
      const t0 = Date.now();
      const err = await runEvaluation(job('down'), {
        redis: { url: redis.url },
        queue: 'rs',
        redisTimeoutMs: 1500,
      }).catch((e: unknown) => e as Error);
      expect(err).toBeInstanceOf(TesseraError);
      expect((err as TesseraError).code).toBe('BACKEND_UNAVAILABLE');
      expect((err as Error).message).toMatch(/Redis at redis:\/\/127\.0\.0\.1:\d+ unreachable/);
      expect(Date.now() - t0).toBeLessThan(15_000);
    } finally {
      await w.close().catch(() => undefined);
      await redis.stop();
    }
  });
});
