import { TesseraError } from '@tessera/core';
import { FeatureStats } from '@tessera/metrics';
import { describe, expect, it } from 'vitest';
import { freshSeed, mulberry, normals, twoPassCov } from './helpers';

const seed = freshSeed();
const tag = `(TESSERA_TEST_SEED=${seed})`;

function randomRows(s: number, n: number, d: number): Float64Array {
  const rand = mulberry(s);
  const z = normals(rand, n * d);
  // Non-zero mean and correlated columns, so centring and cross terms matter.
  for (let i = 0; i < n; i++) {
    for (let j = d - 1; j >= 1; j--) z[i * d + j] = z[i * d + j]! + 0.7 * z[i * d + j - 1]! + 3 + j;
  }
  return z;
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rel: number, what: string) {
  expect(actual.length, what).toBe(expected.length);
  let scale = 0;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]!));
  for (let i = 0; i < expected.length; i++) {
    const err = Math.abs(actual[i]! - expected[i]!);
    if (err > rel * scale) throw new Error(`${what}[${i}]: ${actual[i]} vs ${expected[i]} ${tag}`);
  }
}

describe('FeatureStats', () => {
  it('mean and covariance equal the two-pass float64 formula (np.cov)', () => {
    const n = 97;
    const d = 13;
    const x = randomRows(seed, n, d);
    const s = new FeatureStats(d).add(x);
    const ref = twoPassCov(x, n, d);
    expect(s.count).toBe(n);
    expect(s.dim).toBe(d);
    expectClose(s.mean(), ref.mean, 1e-14, 'mean');
    expectClose(s.covariance(), ref.cov.flat(), 1e-13, 'cov');
  });

  it('k shards merged equal one pass to 1e-12 (Chan combination), in any order', () => {
    const rand = mulberry(seed + 1);
    const d = 9;
    const n = 400;
    const x = randomRows(seed + 2, n, d);
    const one = new FeatureStats(d).add(x);
    // Random cut points, shards of unequal size (one of them a single row).
    const cuts = [0, 1];
    for (let k = 0; k < 5; k++) cuts.push(2 + Math.floor(rand() * (n - 2)));
    cuts.push(n);
    cuts.sort((a, b) => a - b);
    const shards = [];
    for (let k = 0; k + 1 < cuts.length; k++) {
      shards.push(new FeatureStats(d).add(x.subarray(cuts[k]! * d, cuts[k + 1]! * d)));
    }
    const merged = new FeatureStats(d);
    for (const sh of shards.reverse()) merged.merge(sh);
    expect(merged.count).toBe(n);
    expectClose(merged.mean(), one.mean(), 1e-12, 'merged mean');
    expectClose(merged.covariance(), one.covariance(), 1e-12, 'merged cov');
    // Sequential add of the same batches equals them too.
    const seq = new FeatureStats(d);
    for (let k = 0; k + 1 < cuts.length; k++) seq.add(x.subarray(cuts[k]! * d, cuts[k + 1]! * d));
    expectClose(seq.covariance(), one.covariance(), 1e-12, 'sequential cov');
  });

  it('accepts arrays of rows and Float32Array', () => {
    const d = 4;
    const x = randomRows(seed + 3, 10, d);
    const rows = Array.from({ length: 10 }, (_, i) => Array.from(x.subarray(i * d, (i + 1) * d)));
    const a = new FeatureStats(d).add(rows);
    const ref = twoPassCov(x, 10, d);
    expectClose(a.covariance(), ref.cov.flat(), 1e-13, 'rows cov');
    const f = Float32Array.from(x);
    const b = new FeatureStats(d).add(f);
    expectClose(b.mean(), twoPassCov(f, 10, d).mean, 1e-14, 'f32 mean');
  });

  it('JSON and binary forms round-trip exactly and are versioned', () => {
    const d = 7;
    const s = new FeatureStats(d).add(randomRows(seed + 4, 31, d));
    const viaJson = FeatureStats.fromJSON(JSON.stringify(s));
    const viaBin = FeatureStats.deserialize(s.serialize());
    for (const t of [viaJson, viaBin]) {
      expect(t.count).toBe(31);
      expect(Array.from(t.mean())).toEqual(Array.from(s.mean()));
      expect(Array.from(t.covariance())).toEqual(Array.from(s.covariance()));
    }
    const bytes = s.serialize();
    expect(bytes.byteLength).toBe(24 + 8 * (d + (d * (d + 1)) / 2));
    expect(new TextDecoder().decode(bytes.subarray(0, 4))).toBe('TSFS');
    // Merging restored stats still works and continues the stream.
    const more = randomRows(seed + 5, 12, d);
    viaBin.add(more);
    const all = new FeatureStats(d).add(randomRows(seed + 4, 31, d)).add(more);
    expectClose(viaBin.covariance(), all.covariance(), 1e-13, 'continued cov');
  });

  it('rejects bad input with TesseraError', () => {
    const s = new FeatureStats(3);
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(TesseraError);
        return (e as TesseraError).code;
      }
      throw new Error('no error');
    };
    expect(code(() => new FeatureStats(0))).toBe('INVALID_ARGUMENT');
    expect(code(() => s.add(new Float64Array(5)))).toBe('SHAPE_MISMATCH');
    expect(
      code(() =>
        s.add([
          [1, 2, 3],
          [1, 2],
        ]),
      ),
    ).toBe('SHAPE_MISMATCH');
    expect(code(() => s.add(Float64Array.of(1, Number.NaN, 3)))).toBe('INVALID_ARGUMENT');
    expect(code(() => s.merge(new FeatureStats(4)))).toBe('SHAPE_MISMATCH');
    expect(code(() => s.covariance())).toBe('OUT_OF_RANGE');
    s.add([[1, 2, 3]]);
    expect(code(() => s.covariance())).toBe('OUT_OF_RANGE');
    const bytes = s.serialize();
    expect(code(() => FeatureStats.deserialize(bytes.subarray(0, bytes.length - 8)))).toBe('CORRUPT_FILE');
    const bad = bytes.slice();
    bad[0] = 0;
    expect(code(() => FeatureStats.deserialize(bad))).toBe('CORRUPT_FILE');
    const v2 = bytes.slice();
    v2[4] = 2;
    expect(code(() => FeatureStats.deserialize(v2))).toBe('UNSUPPORTED');
    expect(code(() => FeatureStats.fromJSON('{"format":"x"}'))).toBe('CORRUPT_FILE');
    expect(code(() => FeatureStats.fromJSON('not json'))).toBe('CORRUPT_FILE');
    expect(() => s.add(Float64Array.of(1, Number.POSITIVE_INFINITY, 3))).toThrow(/finite/);
  });
});
