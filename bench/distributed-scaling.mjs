// Distributed evaluation scaling: images/s of one evaluation job run by 1, 2 and 4 worker processes
// (BullMQ on a private redis-server) against the same job run in one process without Redis
// (runLocal), and the scaling ratio k-worker / 1-worker. Workers run the CPU backend; on a machine with
// c cores the ratio can at best approach min(k, c).
//
//   npm run build && node bench/distributed-scaling.mjs
//   TESSERA_BENCH_COUNT=512 TESSERA_BENCH_STEPS=20 node bench/distributed-scaling.mjs
//   TESSERA_BENCH_PARALLEL=parataa node bench/distributed-scaling.mjs   # per-image ParaTAA (or paradigms)
//
// Skips (exit 0, a notice) when redis-server is not installed.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCpuBackend } from '@tessera/core';
import { runEvaluation, runLocal } from '@tessera/distributed';

const redisBin = [
  process.env.TESSERA_BENCH_REDIS_SERVER,
  '/usr/bin/redis-server',
  '/usr/local/bin/redis-server',
].find((p) => p && existsSync(p));
if (!redisBin) {
  console.log('[skip] distributed-scaling: redis-server not found (apt-get install redis-server)');
  process.exit(0);
}

const count = Number(process.env.TESSERA_BENCH_COUNT ?? 192);
const steps = Number(process.env.TESSERA_BENCH_STEPS ?? 10);
const workerCounts = (process.env.TESSERA_BENCH_WORKERS ?? '1,2,4').split(',').map(Number);
const run = Date.now().toString(36);
// Optional parallel sampling of each image (generator.parallel): rounds instead of steps.
const method = process.env.TESSERA_BENCH_PARALLEL;
if (method && method !== 'paradigms' && method !== 'parataa') {
  console.log(
    `[fail] distributed-scaling: TESSERA_BENCH_PARALLEL must be paradigms or parataa, got ${method}`,
  );
  process.exit(0);
}
const parallel = method
  ? {
      parallel: {
        method,
        window: Math.min(steps, 16),
        ...(method === 'parataa' ? { tol: 1e-5, atol: 1e-6 } : { tol: 1e-3 }),
      },
    }
  : {};
const job = (id) => ({
  id: `${id}-${run}`,
  count,
  seed: 1,
  batchSize: 8,
  shardSize: 16,
  generator: { kind: 'diffusion', sampler: 'dpmpp_2m', steps, ...parallel },
  reference: { count: 200, seed: 1 },
});

const warmup = { ...job('warmup'), count: 16 };

async function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function waitFor(proc, text, what) {
  return new Promise((resolve, reject) => {
    let out = '';
    const t = setTimeout(() => reject(new Error(`${what} did not start: ${out}`)), 30_000);
    const on = (d) => {
      out += d.toString();
      if (out.includes(text)) {
        clearTimeout(t);
        proc.stdout.off('data', on);
        resolve();
      }
    };
    proc.stdout.on('data', on);
    proc.once('exit', (code) => reject(new Error(`${what} exited with ${code}: ${out}`)));
  });
}

const WORKER = `
import { createCpuBackend } from '@tessera/core';
import { runLocal, startWorker } from '@tessera/distributed';
// Warm up (the default model's fit, JIT) before taking shards, as a long-running worker would be.
await runLocal(JSON.parse(process.env.TESSERA_BENCH_WARMUP), { backend: createCpuBackend() });
const w = await startWorker({ redis: { url: process.env.TESSERA_BENCH_REDIS_URL }, queue: process.env.TESSERA_BENCH_QUEUE,
  backend: createCpuBackend(), log: (l) => { console.log(l); if (process.env.TESSERA_BENCH_VERBOSE) console.error(l); } });
process.on('SIGTERM', () => w.close().then(() => process.exit(0)));
`;

const port = await freePort();
const dir = mkdtempSync(join(tmpdir(), 'tessera-bench-redis-'));
const redis = spawn(redisBin, ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', ''], {
  stdio: ['ignore', 'pipe', 'pipe'],
});
const url = `redis://127.0.0.1:${port}`;
const procs = [];
try {
  await waitFor(redis, 'Ready to accept connections', 'redis-server');
  console.log(
    `${count} digits, dpmpp_2m ${steps} steps${method ? ` (${method}, window ${parallel.parallel.window})` : ''}, shards of 16, batches of 8, CPU backend`,
  );
  await runLocal(warmup, { backend: createCpuBackend() });
  const t0 = performance.now();
  const local = await runLocal(job('local'), { backend: createCpuBackend() });
  const localRate = count / ((performance.now() - t0) / 1000);
  console.log(`one process (runLocal)   ${localRate.toFixed(1).padStart(7)} images/s`);
  if (local.parallel)
    console.log(
      `parallel rounds per image ${(local.parallel.rounds / local.parallel.solves).toFixed(2)} for ${steps} steps (${local.parallel.unconverged} unconverged)`,
    );
  let one;
  for (const k of workerCounts) {
    try {
      const queue = `bench-${k}`;
      const started = [];
      for (let i = 0; i < k; i++) {
        const p = spawn(process.execPath, ['--input-type=module', '-e', WORKER], {
          env: {
            ...process.env,
            TESSERA_BENCH_REDIS_URL: url,
            TESSERA_BENCH_QUEUE: queue,
            TESSERA_BENCH_WARMUP: JSON.stringify(warmup),
          },
          stdio: ['ignore', 'pipe', process.env.TESSERA_BENCH_VERBOSE ? 'inherit' : 'ignore'],
        });
        procs.push(p);
        started.push(waitFor(p, 'waiting for shards', `worker ${i}`));
      }
      await Promise.all(started);
      const t1 = performance.now();
      const verbose = process.env.TESSERA_BENCH_VERBOSE
        ? {
            log: (l) => console.error(`${(performance.now() - t1).toFixed(0)} ms: ${l}`),
            onProgress: (p) =>
              console.error(`${(performance.now() - t1).toFixed(0)} ms: ${p.done}/${p.total}`),
          }
        : {};
      const r = await runEvaluation(job(`w${k}`), {
        redis: { url },
        queue,
        pollMs: 100,
        timeoutMs: 600_000,
        ...verbose,
      });
      if (process.env.TESSERA_BENCH_VERBOSE)
        console.error(`${(performance.now() - t1).toFixed(0)} ms: merged`);
      const rate = count / ((performance.now() - t1) / 1000);
      one ??= rate;
      const same = JSON.stringify(r.stats) === JSON.stringify(local.stats) ? 'same stats' : 'STATS DIFFER';
      console.log(
        `${String(k).padStart(2)} worker process${k > 1 ? 'es' : '  '}     ${rate.toFixed(1).padStart(7)} images/s   ` +
          `scaling ${(rate / one).toFixed(2)}×   vs one process ${(rate / localRate).toFixed(2)}×   ${same}`,
      );
      for (const p of procs.splice(0)) p.kill('SIGTERM');
    } catch (err) {
      console.log(`[fail] ${k} workers: ${err?.stack ?? err}`);
      for (const p of procs.splice(0)) p.kill('SIGKILL');
    }
  }
} catch (err) {
  console.log(`[fail] distributed-scaling: ${err?.stack ?? err}`);
} finally {
  for (const p of procs) p.kill('SIGKILL');
  redis.kill('SIGTERM');
  await new Promise((r) => redis.once('exit', r));
  rmSync(dir, { recursive: true, force: true });
}
