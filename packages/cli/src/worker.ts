import { parseArgs } from 'node:util';
import type { RedisOptions } from '@tessera/distributed';
import { BACKEND_NAMES, selectBackend } from './backends.js';
import { choiceFlag, intFlag, UsageError } from './errors.js';

type Out = (line: string) => void;
type FlagSpec = Record<string, { type: 'string' | 'boolean' }>;

/** Flags every Redis-using command takes. */
export const REDIS_FLAGS: FlagSpec = {
  redis: { type: 'string' },
  queue: { type: 'string' },
  'tls-ca': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'tls-insecure': { type: 'boolean' },
};

/** Help text of the Redis flags. */
export const REDIS_HELP = `  --redis URL               redis://[user[:password]@]host[:port][/db] or rediss://… (TLS);
                            the password may come from TESSERA_REDIS_PASSWORD instead (kept out of ps)
  --queue NAME              BullMQ queue name (default tessera-eval); workers and eval must agree
  --tls-ca FILE             CA certificate (PEM) for rediss://
  --tls-cert FILE           client certificate (PEM) for mutual TLS
  --tls-key FILE            client key (PEM) for mutual TLS
  --tls-insecure            accept any server certificate (testing only)`;

/** Parses flags strictly (unknown flags are usage errors). */
export function parseFlags(args: string[], options: FlagSpec): Record<string, string | boolean | undefined> {
  try {
    return parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true })
      .values as Record<string, string | boolean | undefined>;
  } catch (err) {
    throw new UsageError((err as Error).message.split('\n')[0]!.replace(/^Unknown option/, 'unknown option'));
  }
}

/** Redis options from the flags (and TESSERA_REDIS_PASSWORD). */
export function redisFromFlags(v: Record<string, string | boolean | undefined>): RedisOptions {
  const url = v.redis as string | undefined;
  if (!url) throw new UsageError('--redis URL is required (e.g. --redis redis://127.0.0.1:6379)');
  const opts: RedisOptions = { url };
  const password = process.env.TESSERA_REDIS_PASSWORD;
  if (password) opts.password = password;
  if (v['tls-ca'] || v['tls-cert'] || v['tls-key'] || v['tls-insecure']) {
    opts.tls = {
      ...(v['tls-ca'] ? { caFile: v['tls-ca'] as string } : {}),
      ...(v['tls-cert'] ? { certFile: v['tls-cert'] as string } : {}),
      ...(v['tls-key'] ? { keyFile: v['tls-key'] as string } : {}),
      ...(v['tls-insecure'] ? { rejectUnauthorized: false } : {}),
    };
  }
  return opts;
}

/** `tessera worker --help`. */
export const WORKER_HELP = `Usage: tessera worker --redis URL [options]

Takes shards of evaluation jobs ('tessera eval') from Redis, generates their images, writes PNGs (for
jobs with "output", under --out) and returns feature statistics. Runs until SIGINT/SIGTERM (it finishes
the shard in hand first); a worker killed outright loses nothing: its shard is re-run elsewhere.

  --backend NAME            cpu | webgpu | onnx | auto (default auto: WebGPU if an adapter exists)
  --out DIR                 root directory job output paths resolve inside (jobs with "output" are
                            refused without it; paths outside it are refused always)
  --models DIR              root directory job "model" paths (.onnx x0-denoisers) resolve inside
  --name NAME               worker name in reports (default host:pid)
  --lock-ms N               shard lock duration in ms (default 30000); a dead worker's shard is taken
                            back after about this long
  --stalled-ms N            how often to look for dead workers' shards, in ms (default 30000)
${REDIS_HELP}`;

/**
 * `tessera worker`: runs a worker until SIGINT / SIGTERM (or `signal`), then closes it gracefully.
 */
export async function cmdWorker(args: string[], out: Out, signal?: AbortSignal): Promise<void> {
  const v = parseFlags(args, {
    ...REDIS_FLAGS,
    backend: { type: 'string' },
    out: { type: 'string' },
    models: { type: 'string' },
    name: { type: 'string' },
    'lock-ms': { type: 'string' },
    'stalled-ms': { type: 'string' },
  });
  if (v.help) return out(WORKER_HELP);
  const redis = redisFromFlags(v);
  const backendName = choiceFlag('backend', v.backend as string | undefined, BACKEND_NAMES, 'auto');
  const lockDuration = intFlag('lock-ms', v['lock-ms'] as string | undefined, 30_000, 1000);
  const stalledInterval = intFlag('stalled-ms', v['stalled-ms'] as string | undefined, 30_000, 100);
  const { startWorker } = await import('@tessera/distributed');
  const backend = await selectBackend(backendName);
  const w = await startWorker({
    redis,
    backend,
    ...(v.queue ? { queue: v.queue as string } : {}),
    ...(v.out ? { outputRoot: v.out as string } : {}),
    ...(v.models ? { models: { modelRoot: v.models as string } } : {}),
    ...(v.name ? { name: v.name as string } : {}),
    lockDuration,
    stalledInterval,
    // Wait for the shard in hand however long it takes (a second signal quits at once).
    closeTimeoutMs: 24 * 3600_000,
    log: (line) => out(`tessera worker: ${line}`),
  });
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    signal?.addEventListener('abort', stop, { once: true });
  });
  out(
    `tessera worker: stopping after ${w.done} shards (finishing the shard in hand; signal again to quit now)`,
  );
  const now = () => process.exit(130);
  process.once('SIGINT', now);
  process.once('SIGTERM', now);
  try {
    await w.close();
  } finally {
    process.off('SIGINT', now);
    process.off('SIGTERM', now);
  }
}
