// `tessera worker` and `tessera eval` end to end: two worker processes (the built bin) on a private
// redis-server, eval in this process; the report equals `tessera eval --local`.
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli } from '@tessera/cli';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  freshSeed,
  type RedisInstance,
  readDir,
  redisServerPath,
  startRedis,
  tempDir,
} from '../../distributed/test/helpers.js';

const bin = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'bin.js');
const redisBin = redisServerPath();

async function run(args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(
    args,
    (l) => out.push(l),
    (l) => err.push(l),
  );
  return { code, out, err };
}

function startWorker(args: string[]): Promise<{ proc: ChildProcess; log: () => string }> {
  const proc = spawn(process.execPath, [bin, 'worker', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  proc.stdout?.on('data', (d: Buffer) => {
    log += d.toString();
  });
  proc.stderr?.on('data', (d: Buffer) => {
    log += d.toString();
  });
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`worker did not start: ${log}`)), 30_000);
    const check = () => {
      if (log.includes('waiting for shards')) {
        clearTimeout(t);
        resolve({ proc, log: () => log });
      }
    };
    proc.stdout?.on('data', check);
    proc.once('exit', (code) => reject(new Error(`worker exited ${code}: ${log}`)));
  });
}

describe('tessera eval / worker: usage', () => {
  it('needs --redis (or --local) and --config', async () => {
    const a = await run(['eval', '--config', 'x.json']);
    expect(a.code).toBe(2);
    expect(a.err[0]).toMatch(/--redis URL is required/);
    const b = await run(['eval', '--redis', 'redis://127.0.0.1:1']);
    expect(b.code).toBe(2);
    expect(b.err[0]).toMatch(/--config job.json is required/);
    const c = await run(['worker']);
    expect(c.code).toBe(2);
    expect(c.err[0]).toMatch(/--redis URL is required/);
  });

  it('refuses a job whose output leaves the output directory', async () => {
    const dir = tempDir('cli-evil');
    const file = join(dir, 'job.json');
    writeFileSync(
      file,
      JSON.stringify({
        id: 'evil',
        count: 4,
        seed: 1,
        generator: { kind: 'diffusion', sampler: 'euler', steps: 2 },
        output: '../../etc',
      }),
    );
    const r = await run(['eval', '--local', '--backend', 'cpu', '--config', file, '--out-images', dir]);
    expect(r.code).toBe(1);
    expect(r.err[0]).toMatch(/'\.\.' segment/);
  });

  it('a parallel-sampling job prints its solves and rounds (those of the report)', async () => {
    const dir = tempDir('cli-parallel');
    const file = join(dir, 'job.json');
    const steps = 6;
    const count = 3;
    writeFileSync(
      file,
      JSON.stringify({
        id: 'par',
        count,
        seed: 5,
        generator: {
          kind: 'diffusion',
          sampler: 'euler',
          steps,
          parallel: { method: 'paradigms', window: 3 },
        },
      }),
    );
    const report = join(dir, 'report.json');
    const r = await run(['eval', '--local', '--backend', 'cpu', '--config', file, '--out', report]);
    expect(r.code, r.err.join('\n')).toBe(0);
    const p = JSON.parse(readFileSync(report, 'utf8')).parallel as {
      solves: number;
      rounds: number;
      unconverged: number;
    };
    // one solve per image (group 'image'), at least ⌈steps/window⌉ rounds each, at most one per step
    expect(p.solves).toBe(count);
    expect(p.rounds).toBeGreaterThanOrEqual(count * Math.ceil(steps / 3));
    expect(p.rounds).toBeLessThanOrEqual(count * steps);
    const line = r.out.find((l) => l.startsWith('par: '));
    expect(line).toContain(
      `parallel sampling: ${p.solves} solves, ${p.rounds} rounds (${(p.rounds / p.solves).toFixed(1)} per solve), ${p.unconverged} unconverged`,
    );
  });
});

describe.skipIf(!redisBin)('tessera eval / worker on redis-server', () => {
  let redis: RedisInstance;
  const workers: ChildProcess[] = [];
  beforeAll(async () => {
    redis = await startRedis(redisBin!, { password: 'cli-secret-pw' });
  });
  afterAll(async () => {
    for (const w of workers) if (w.exitCode === null) w.kill('SIGKILL');
    await redis?.stop();
  });

  it('two workers give the report of --local; the password stays out of every log', async () => {
    const seed = freshSeed();
    const dir = tempDir('cli-dist');
    const job = {
      id: `cli-${seed}`,
      count: 12,
      seed,
      batchSize: 2,
      shardSize: 4,
      generator: { kind: 'ar', decoder: 'raster', temperature: 1 },
      output: 'pngs',
      reference: { count: 100, seed: 2 },
    };
    writeFileSync(join(dir, 'job.json'), JSON.stringify(job));
    const started = await Promise.all(
      ['a', 'b'].map((name) =>
        startWorker(['--redis', redis.url, '--backend', 'cpu', '--out', join(dir, 'w'), '--name', name]),
      ),
    );
    workers.push(...started.map((s) => s.proc));
    const r = await run([
      'eval',
      '--redis',
      redis.url,
      '--config',
      join(dir, 'job.json'),
      '--out',
      join(dir, 'r.json'),
    ]);
    expect(r.code, r.err.join('\n')).toBe(0);
    const local = await run([
      'eval',
      '--local',
      '--backend',
      'cpu',
      '--config',
      join(dir, 'job.json'),
      '--out',
      join(dir, 'l.json'),
      '--out-images',
      join(dir, 'l'),
    ]);
    expect(local.code, local.err.join('\n')).toBe(0);
    const dist = JSON.parse(readFileSync(join(dir, 'r.json'), 'utf8'));
    const one = JSON.parse(readFileSync(join(dir, 'l.json'), 'utf8'));
    expect(dist.images).toBe(12);
    expect(dist.stats, `seed ${seed}`).toEqual(one.stats);
    expect(Object.values(dist.workers)).toEqual(Object.keys(dist.workers).map(() => 'cpu'));
    const a = readDir(join(dir, 'w', 'pngs'));
    const b = readDir(join(dir, 'l', 'pngs'));
    expect([...a.keys()].filter((k) => k.endsWith('.png'))).toEqual([...b.keys()]);
    for (const [k, v] of b) expect(a.get(k)?.equals(v), `seed ${seed}: ${k}`).toBe(true);
    for (const s of started) {
      s.proc.kill('SIGTERM');
      await new Promise((res) => s.proc.once('exit', res));
      expect(s.log()).toMatch(/stopping after \d+ shards/);
      expect(s.log()).not.toContain('cli-secret-pw');
    }
    expect([...r.out, ...r.err].join('\n')).not.toContain('cli-secret-pw');
    expect(r.out[0]).toMatch(/12 images, Fréchet distance/);
  });
});
