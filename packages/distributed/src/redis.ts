import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { TesseraError } from '@tessera/core';
import type { ConnectionOptions } from 'bullmq';

/** TLS settings for a `rediss://` connection (file paths are read when the connection is built). */
export interface RedisTlsOptions {
  /** PEM file of the CA that signed the server's certificate. */
  caFile?: string;
  /** PEM client certificate (mutual TLS). */
  certFile?: string;
  /** PEM client key (mutual TLS). */
  keyFile?: string;
  /** Server name for SNI / certificate check (default the URL's host). */
  servername?: string;
  /** Default true; false accepts any certificate (testing only). */
  rejectUnauthorized?: boolean;
}

/** How to reach Redis. */
export interface RedisOptions {
  /** `redis://[user[:password]@]host[:port][/db]`, or `rediss://…` for TLS. */
  url: string;
  /** Overrides the URL's password (e.g. read from an environment variable rather than argv). */
  password?: string;
  tls?: RedisTlsOptions;
}

/**
 * Builds BullMQ / ioredis connection options from a Redis URL. Throws TesseraError `INVALID_ARGUMENT`
 * for a malformed URL; the message shows the URL with its password replaced by `***`.
 */
export function connectionOptions(opts: RedisOptions): ConnectionOptions {
  let u: URL;
  try {
    u = new URL(opts.url);
  } catch {
    throw new TesseraError(
      'INVALID_ARGUMENT',
      `redis: expected a URL like redis://[user:password@]host[:port][/db], got '${redactUrl(opts.url)}'`,
    );
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:')
    throw new TesseraError(
      'INVALID_ARGUMENT',
      `redis: expected scheme redis:// or rediss://, got '${u.protocol}//'`,
    );
  const db = u.pathname && u.pathname !== '/' ? Number(u.pathname.slice(1)) : 0;
  if (!Number.isInteger(db) || db < 0)
    throw new TesseraError(
      'INVALID_ARGUMENT',
      `redis: database must be a non-negative integer, got '${u.pathname}'`,
    );
  const out: Record<string, unknown> = {
    host: u.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1',
    port: u.port ? Number(u.port) : 6379,
    db,
    // BullMQ workers block on Redis; ioredis must retry forever rather than fail a pending command.
    maxRetriesPerRequest: null,
  };
  if (u.username) out.username = decodeURIComponent(u.username);
  const password = opts.password ?? (u.password ? decodeURIComponent(u.password) : undefined);
  if (password) out.password = password;
  if (u.protocol === 'rediss:' || opts.tls) {
    const t = opts.tls ?? {};
    const read = (f: string | undefined, what: string): string | undefined => {
      if (f === undefined) return undefined;
      try {
        return readFileSync(f, 'utf8');
      } catch (err) {
        throw new TesseraError(
          'FILE_NOT_FOUND',
          `redis TLS: cannot read the ${what} file '${f}': ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
        );
      }
    };
    const tls: Record<string, unknown> = { rejectUnauthorized: t.rejectUnauthorized ?? true };
    const ca = read(t.caFile, 'CA');
    const cert = read(t.certFile, 'certificate');
    const key = read(t.keyFile, 'key');
    if (ca) tls.ca = ca;
    if (cert) tls.cert = cert;
    if (key) tls.key = key;
    // SNI takes host names only (RFC 6066); an IP address is checked against the certificate's IP SANs.
    const sni = t.servername ?? (isIP(String(out.host)) ? undefined : String(out.host));
    if (sni) tls.servername = sni;
    out.tls = tls;
  }
  return out as ConnectionOptions;
}

/** The URL with its password (if any) replaced by `***`, for logs and error messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString().replace(/\/$/, '');
  } catch {
    // Not a URL: hide everything between '//' and the last '@' (a raw password may hold '@' or '/').
    return url.replace(/\/\/.*@/, '//***@');
  }
}

/** Replaces every occurrence of each secret (non-empty strings) in `text` by `***`. */
export function redactSecrets(text: string, secrets: readonly (string | undefined)[]): string {
  let out = text;
  for (const s of secrets) {
    if (s && s.length > 0) out = out.split(s).join('***');
  }
  return out;
}

/** The secrets in Redis options (password in the URL or given apart), URL-decoded and raw. */
export function redisSecrets(opts: RedisOptions): string[] {
  const out: string[] = [];
  if (opts.password) out.push(opts.password);
  try {
    const u = new URL(opts.url);
    if (u.password) out.push(u.password, decodeURIComponent(u.password));
  } catch {
    const m = /\/\/(?:[^:@/]*:)?(.*)@/.exec(opts.url);
    if (m?.[1]) out.push(m[1]);
  }
  return out;
}
