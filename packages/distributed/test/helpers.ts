import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/** A fresh seed for this run; TESSERA_SEED or TESSERA_TEST_SEED fixes it. */
export function freshSeed(): number {
  const env = process.env.TESSERA_SEED ?? process.env.TESSERA_TEST_SEED;
  if (env) return Number(env) >>> 0;
  return (Date.now() ^ Math.floor(Math.random() * 0x7fffffff)) >>> 0;
}

/** Path of redis-server, or undefined (a notice; an error when TESSERA_REQUIRE_REDIS=1). */
export function redisServerPath(): string | undefined {
  for (const p of [process.env.REDIS_SERVER, '/usr/bin/redis-server', '/usr/local/bin/redis-server']) {
    if (p && existsSync(p)) return p;
  }
  try {
    const p = execFileSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).trim();
    if (p) return p;
  } catch {}
  if (process.env.TESSERA_REQUIRE_REDIS === '1')
    throw new Error('redis-server is required here (TESSERA_REQUIRE_REDIS=1) but was not found');
  console.warn('[tessera] distributed tests skipped: redis-server not found (apt-get install redis-server)');
  return undefined;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** A private redis-server on 127.0.0.1 with its own data directory (append-only file on). */
export interface RedisInstance {
  url: string;
  port: number;
  dir: string;
  stop(): Promise<void>;
  /** Stops (SIGTERM: saves) and starts again on the same port and data. */
  restart(downMs?: number): Promise<void>;
}

/** PEM files of a throwaway CA and a server certificate for 127.0.0.1, made with openssl (or undefined). */
export function makeTlsFiles(): { ca: string; cert: string; key: string } | undefined {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-tls-'));
  const f = (n: string) => join(dir, n);
  const ssl = (args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
  try {
    ssl(
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        f('ca-key.pem'),
        '-out',
        f('ca.pem'),
      ].concat(['-days', '2', '-subj', '/CN=tessera-test-ca']),
    );
    ssl([
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      f('key.pem'),
      '-out',
      f('req.csr'),
      '-subj',
      '/CN=127.0.0.1',
    ]);
    writeFileSync(f('ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
    ssl(
      [
        'x509',
        '-req',
        '-in',
        f('req.csr'),
        '-CA',
        f('ca.pem'),
        '-CAkey',
        f('ca-key.pem'),
        '-CAcreateserial',
      ].concat(['-out', f('cert.pem'), '-days', '2', '-extfile', f('ext.cnf')]),
    );
    return { ca: f('ca.pem'), cert: f('cert.pem'), key: f('key.pem') };
  } catch (err) {
    console.warn(`[tessera] TLS test skipped: openssl failed (${(err as Error).message.split('\n')[0]})`);
    return undefined;
  }
}

export async function startRedis(
  bin: string,
  opts: { password?: string; tls?: { ca: string; cert: string; key: string } } = {},
): Promise<RedisInstance> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'tessera-redis-'));
  let proc: ChildProcess | undefined;
  const launch = async () => {
    const args = [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--appendonly',
      'yes',
      '--save',
      '',
    ];
    if (opts.password) args.push('--requirepass', opts.password);
    if (opts.tls) {
      args[1] = '0'; // no plain port
      args.push('--tls-port', String(port), '--tls-cert-file', opts.tls.cert, '--tls-key-file', opts.tls.key);
      args.push('--tls-ca-cert-file', opts.tls.ca, '--tls-auth-clients', 'no');
    }
    const p = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    proc = p;
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`redis-server did not start: ${out}`)), 10_000);
      p.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('Ready to accept connections')) {
          clearTimeout(timer);
          resolve();
        }
      });
      p.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited with ${code}: ${out}`));
      });
    });
  };
  const stop = async () => {
    const p = proc;
    proc = undefined;
    if (!p || p.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill('SIGTERM');
    });
  };
  await launch();
  const auth = opts.password ? `:${encodeURIComponent(opts.password)}@` : '';
  return {
    url: `${opts.tls ? 'rediss' : 'redis'}://${auth}127.0.0.1:${port}`,
    port,
    dir,
    async stop() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
    async restart(downMs = 500) {
      await stop();
      await new Promise((r) => setTimeout(r, downMs));
      await launch();
    },
  };
}

/** Options the worker process fixture reads from TESSERA_WORKER (JSON). */
export interface WorkerProcessOptions {
  url: string;
  queue: string;
  outputRoot?: string;
  name: string;
  lockDuration?: number;
  stalledInterval?: number;
}

/** A worker in its own Node process (built `dist/`), as `tessera worker` runs it. */
export interface WorkerProcess {
  proc: ChildProcess;
  /** Everything it logged so far. */
  output(): string;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export function spawnWorker(opts: WorkerProcessOptions): Promise<WorkerProcess> {
  const proc = spawn(process.execPath, [join(here, 'worker-process.mjs')], {
    env: { ...process.env, TESSERA_WORKER: JSON.stringify(opts) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  proc.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const kill = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      proc.once('exit', () => resolve());
      proc.kill(signal);
    });
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker ${opts.name} did not start: ${out}`)), 30_000);
    const onData = () => {
      if (out.includes('waiting for shards')) {
        clearTimeout(timer);
        proc.stdout?.off('data', onData);
        resolve({ proc, output: () => out, kill });
      }
    };
    proc.stdout?.on('data', onData);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`worker ${opts.name} exited with ${code}: ${out}`));
    });
  });
}

/** name → bytes of every file in `dir`. */
export function readDir(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const f of readdirSync(dir).sort()) out.set(f, readFileSync(join(dir, f)));
  return out;
}

export function tempDir(tag: string): string {
  return mkdtempSync(join(tmpdir(), `tessera-${tag}-`));
}
