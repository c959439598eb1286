import { philox4x32, philoxWords, split64, wordsToNormal, wordToUniform } from '@tessera/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

const seed = Date.now() % 2147483647;
const hex = (a: ArrayLike<number>) => Array.from(a, (v) => (v >>> 0).toString(16).padStart(8, '0'));

/**
 * Known-answer vectors of Random123 (D. E. Shaw Research), file tests/kat_vectors of
 * github.com/DEShawResearch/random123, the "philox4x32 7" and "philox4x32 10" lines
 * (columns: counter[4] key[2] → output[4]). The same lines are reproduced verbatim in other ports,
 * e.g. E. Sarmas' philox.py TEST_CASES ("copied verbatim from original source").
 */
const KAT: Array<{ rounds: number; ctr: number[]; key: number[]; out: string[] }> = [
  { rounds: 10, ctr: [0, 0, 0, 0], key: [0, 0], out: ['6627e8d5', 'e169c58d', 'bc57ac4c', '9b00dbd8'] },
  {
    rounds: 10,
    ctr: [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff],
    key: [0xffffffff, 0xffffffff],
    out: ['408f276d', '41c83b0e', 'a20bc7c6', '6d5451fd'],
  },
  {
    rounds: 10,
    ctr: [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
    key: [0xa4093822, 0x299f31d0],
    out: ['d16cfe09', '94fdcceb', '5001e420', '24126ea1'],
  },
  { rounds: 7, ctr: [0, 0, 0, 0], key: [0, 0], out: ['5f6fb709', '0d893f64', '4f121f81', '4f730a48'] },
  {
    rounds: 7,
    ctr: [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff],
    key: [0xffffffff, 0xffffffff],
    out: ['5207ddc2', '45165e59', '4d8ee751', '8c52f662'],
  },
  {
    rounds: 7,
    ctr: [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
    key: [0xa4093822, 0x299f31d0],
    out: ['4dfccaba', '190a87f0', 'c47362ba', 'b6b5242a'],
  },
];

/**
 * Philox4x32 written again from the SC'11 paper (Salmon et al., "Parallel random numbers: as easy as
 * 1, 2, 3", §4.2) with BigInt products, as an independent check of the uint32 arithmetic.
 */
function philoxBig(ctr: number[], key: number[], rounds = 10): number[] {
  const M = 0xffffffffn;
  let [c0, c1, c2, c3] = ctr.map(BigInt) as [bigint, bigint, bigint, bigint];
  let [k0, k1] = key.map(BigInt) as [bigint, bigint];
  for (let r = 0; r < rounds; r++) {
    const p0 = 0xd2511f53n * c0;
    const p1 = 0xcd9e8d57n * c2;
    [c0, c1, c2, c3] = [(p1 >> 32n) ^ c1 ^ k0, p1 & M, (p0 >> 32n) ^ c3 ^ k1, p0 & M];
    k0 = (k0 + 0x9e3779b9n) & M;
    k1 = (k1 + 0xbb67ae85n) & M;
  }
  return [c0, c1, c2, c3].map(Number);
}

describe(`Philox4x32 (seed ${seed})`, () => {
  for (const v of KAT) {
    it(`Random123 KAT philox4x32 ${v.rounds} ${hex(v.ctr).join(' ')} ${hex(v.key).join(' ')}`, () => {
      const ctr = v.ctr as [number, number, number, number];
      expect(hex(philox4x32(ctr, v.key as [number, number], v.rounds))).toEqual(v.out);
      expect(hex(philoxBig(v.ctr, v.key, v.rounds))).toEqual(v.out); // the BigInt re-derivation agrees
    });
  }

  it('property: equals the BigInt re-derivation on random counters and keys', () => {
    const u32 = fc.integer({ min: 0, max: 0xffffffff });
    fc.assert(
      fc.property(fc.tuple(u32, u32, u32, u32), fc.tuple(u32, u32), (ctr, key) => {
        expect(Array.from(philox4x32(ctr, key))).toEqual(philoxBig(ctr, key));
      }),
      { seed, numRuns: 200 },
    );
  });

  it('the stream: word j is word j mod 4 of block ⌊j/4⌋ = Philox(counter [b lo, b hi, 0, 0], key [seed lo, seed hi])', () => {
    const s = 2 ** 40 + 12345; // key words [12345, 256]
    expect(split64(s)).toEqual([12345, 256]);
    const block = 2 ** 33 + 7; // counter words [7, 2]
    const words = philoxWords(s, block * 4 + 1, 6);
    const b0 = philoxBig([7, 2, 0, 0], [12345, 256]);
    const b1 = philoxBig([8, 2, 0, 0], [12345, 256]);
    expect(Array.from(words)).toEqual([...b0.slice(1), ...b1.slice(0, 3)]);
  });

  it('property: words at offset k are the tail of a longer draw from 0', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 53 - 1 }),
        fc.integer({ min: 0, max: 64 }),
        fc.integer({ min: 1, max: 40 }),
        (sd, k, n) => {
          const long = philoxWords(sd, 0, k + n);
          expect(Array.from(philoxWords(sd, k, n))).toEqual(Array.from(long.slice(k)));
        },
      ),
      { seed, numRuns: 100 },
    );
  });

  it('wordToUniform is ((w >>> 9) + 0.5)·2⁻²³, exact in float32, inside (0, 1)', () => {
    for (const w of [0, 1, 511, 512, 0x80000000, 0xffffffff]) {
      const u = wordToUniform(w);
      expect(u).toBe((Math.floor(w / 512) + 0.5) / 8388608);
      expect(Math.fround(u)).toBe(u);
      expect(u > 0 && u < 1).toBe(true);
    }
    expect(wordToUniform(0)).toBe(2 ** -24);
    expect(wordToUniform(0xffffffff)).toBe(1 - 2 ** -24);
  });

  it('wordsToNormal is Box–Muller √(−2 ln u₁)·cos(2π u₂)', () => {
    const w1 = 0x80000000; // u₁ = (2²² + 0.5)·2⁻²³
    const w2 = 0; // u₂ = 2⁻²⁴
    const u1 = (2 ** 22 + 0.5) / 2 ** 23;
    const u2 = 2 ** -24;
    expect(wordsToNormal(w1, w2)).toBeCloseTo(Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2), 14);
  });
});
