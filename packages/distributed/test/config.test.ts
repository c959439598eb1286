import { TesseraError } from '@tessera/core';
import { describe, expect, it } from 'vitest';
import {
  checkShardPayload,
  configHash,
  connectionOptions,
  planShards,
  redactSecrets,
  redactUrl,
  resolveJobConfig,
  resolveOutputDir,
  shardPayload,
} from '../src/index.js';
import { freshSeed } from './helpers.js';

const seed = freshSeed();
const base = { id: 'j1', count: 10, seed, generator: { kind: 'diffusion', sampler: 'euler', steps: 4 } };

function code(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(TesseraError);
    return `${(e as TesseraError).code}: ${(e as Error).message}`;
  }
  throw new Error('expected a TesseraError');
}

describe('job configuration', () => {
  it('fills defaults and plans shards covering [0, count) once, in order', () => {
    const c = resolveJobConfig({ ...base, count: 1000, shardSize: 96, batchSize: 32 });
    const plan = planShards(c);
    expect(plan.length).toBe(Math.ceil(1000 / 96));
    let next = 0;
    for (const [i, s] of plan.entries()) {
      expect(s.shard).toBe(i);
      expect(s.start).toBe(next);
      expect(s.end - s.start).toBe(Math.min(96, 1000 - s.start));
      next = s.end;
    }
    expect(next).toBe(1000);
    const d = resolveJobConfig(base);
    expect(d.batchSize).toBe(16);
    expect(d.shardSize % d.batchSize).toBe(0);
    expect(d.reference).toEqual({ count: 1000, seed: 1 });
  });

  it('hashes the configuration, not its key order', () => {
    const a = resolveJobConfig(base);
    const b = resolveJobConfig({
      generator: { steps: 4, sampler: 'euler', kind: 'diffusion' },
      seed,
      count: 10,
      id: 'j1',
    });
    expect(configHash(a)).toBe(configHash(b));
    expect(configHash(resolveJobConfig({ ...base, seed: seed + 1 }))).not.toBe(configHash(a));
  });

  it('rejects wrong types, huge counts, unknown keys and escaping output paths', () => {
    const cases: [unknown, RegExp][] = [
      [null, /\(root\) must be an object/],
      [{ ...base, id: '../x' }, /id must be a string/],
      [{ ...base, count: '10' }, /count must be an integer in \[1, 10000000\], got "10"/],
      [{ ...base, count: 1e9 }, /count must be an integer/],
      [{ ...base, count: 2.5 }, /count must be an integer/],
      [{ ...base, seed: -1 }, /seed must be an integer/],
      [{ ...base, shardSize: 10, batchSize: 4 }, /shardSize must be a multiple of batchSize 4/],
      [{ ...base, batchSize: 1e6 }, /batchSize must be an integer in \[1, 512\]/],
      [
        { ...base, generator: { kind: 'diffusion', sampler: 'rm -rf', steps: 4 } },
        /generator.sampler must be one of/,
      ],
      [
        { ...base, generator: { kind: 'diffusion', sampler: 'euler', steps: 1e5 } },
        /generator.steps must be/,
      ],
      [{ ...base, generator: { kind: 'gan' } }, /generator.kind must be 'diffusion' or 'ar'/],
      [
        { ...base, generator: { kind: 'ar', decoder: 'raster', topP: 2 } },
        /generator.topP must be a number in \[0, 1\]/,
      ],
      [{ ...base, extra: 1 }, /config.extra must be absent/],
      [{ ...base, output: '../up' }, /'\.\.' segment/],
      [{ ...base, output: '/etc' }, /absolute path/],
      [{ ...base, output: 'a/../../b' }, /'\.\.' segment/],
      [{ ...base, output: 'a\\..\\b' }, /backslash/],
      [{ ...base, output: 'a//b' }, /empty or "\." segment/],
      [{ ...base, output: 7 }, /output must be a relative directory/],
      [{ ...base, reference: { count: 1e9, seed: 1 } }, /reference.count must be/],
    ];
    for (const [raw, re] of cases)
      expect(
        code(() => resolveJobConfig(raw)),
        JSON.stringify(raw),
      ).toMatch(re);
  });

  it('checks a payload against its plan and hash', () => {
    const c = resolveJobConfig({ ...base, shardSize: 4, batchSize: 2 });
    const [, s1] = planShards(c);
    const p = shardPayload(c, s1!);
    expect(checkShardPayload(JSON.parse(JSON.stringify(p)))).toEqual(p);
    expect(code(() => checkShardPayload({ ...p, end: 9 }))).toMatch(
      /\[start, end\) must be \[4, 8\) for shard 1/,
    );
    expect(code(() => checkShardPayload({ ...p, shard: 3, start: 12, end: 16 }))).toMatch(
      /payload.shard must be below 3/,
    );
    expect(code(() => checkShardPayload({ ...p, hash: 'f'.repeat(64) }))).toMatch(/payload.hash must be/);
    expect(code(() => checkShardPayload({ ...p, v: 2 }))).toMatch(/payload.v must be 1/);
  });
});

describe('output paths', () => {
  it('stay inside the root', () => {
    expect(resolveOutputDir('/data/out', 'run-1/imgs')).toBe('/data/out/run-1/imgs');
    for (const bad of ['..', '../x', 'x/..', 'x/../../y', '/abs', '', '.', 'x/./y', 'a b', 'é'])
      expect(
        code(() => resolveOutputDir('/data/out', bad)),
        bad,
      ).toMatch(/^INVALID_ARGUMENT: job output/);
  });
});

describe('redis URLs', () => {
  it('parse into connection options and redact the password', () => {
    const pw = `p@ss:${seed}/x`;
    const url = `redis://alice:${encodeURIComponent(pw)}@db.example:6380/2`;
    const o = connectionOptions({ url }) as Record<string, unknown>;
    expect(o).toMatchObject({ host: 'db.example', port: 6380, db: 2, username: 'alice', password: pw });
    expect(o.tls).toBeUndefined();
    expect(redactUrl(url)).toBe('redis://alice:***@db.example:6380/2');
    expect(redactSecrets(`auth ${pw} failed`, [pw])).toBe('auth *** failed');
    const t = connectionOptions({ url: 'rediss://h:7000', password: 'q' }) as Record<string, unknown>;
    expect(t).toMatchObject({
      host: 'h',
      port: 7000,
      password: 'q',
      tls: { rejectUnauthorized: true, servername: 'h' },
    });
    expect(code(() => connectionOptions({ url: `http://u:${encodeURIComponent(pw)}@h` }))).toMatch(
      /redis:\/\/ or rediss:\/\//,
    );
    // A raw (unencoded) password that breaks URL parsing is still hidden whole.
    const raw = code(() => connectionOptions({ url: `redis://u:${pw}@h:1` }));
    expect(raw).not.toContain(String(seed));
    const bad = code(() => connectionOptions({ url: 'redis://u:secret@[bad' }));
    expect(bad).toMatch(/expected a URL/);
    expect(bad).not.toContain('secret');
    expect(
      code(() => connectionOptions({ url: 'rediss://h', tls: { caFile: '/nonexistent/ca.pem' } })),
    ).toMatch(/^FILE_NOT_FOUND: redis TLS: cannot read the CA file/);
  });
});
