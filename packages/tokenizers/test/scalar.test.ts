import { BSQ, FSQ, LFQ } from '@tessera/tokenizers';
import { describe, expect, it } from 'vitest';
import { testBackends } from '../../../test-utils/backends.ts';
import { freshSeed, maxAbsDiff, normals } from './helpers.ts';

const backends = await testBackends();

/** Round half to even, like torch.round. */
const roundEven = (x: number) => {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
};

describe.each(backends)('scalar quantizers on %s', (_name, B) => {
  it('FSQ [8,5,5,5]: the index map is a bijection onto the mixed-radix grid', async () => {
    const levels = [8, 5, 5, 5]; // the paper's ~2^10 configuration (arXiv:2309.15505, Table 1)
    const fsq = new FSQ({ levels });
    expect(fsq.codebookSize).toBe(1000);
    expect(fsq.basis).toEqual([1, 8, 40, 200]);
    const all = B.arange(0, 1000, 1, 'int32');
    const codes = fsq.indicesToCodes(all);
    expect(codes.shape).toEqual([1000, 4]);
    const c = await codes.data();
    const seen = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      // digit j = ⌊i / basis_j⌋ mod L_j; code = (digit − ⌊L/2⌋)/⌊L/2⌋ (vector-quantize-pytorch indices_to_codes)
      let rest = i;
      const row: number[] = [];
      for (let j = 0; j < 4; j++) {
        const digit = rest % levels[j]!;
        rest = Math.floor(rest / levels[j]!);
        const hw = Math.floor(levels[j]! / 2);
        expect(c[i * 4 + j]).toBeCloseTo((digit - hw) / hw, 6);
        row.push(c[i * 4 + j]!);
      }
      seen.add(row.join(','));
    }
    expect(seen.size).toBe(1000);
    expect(Array.from(await fsq.codesToIndices(codes).data())).toEqual(
      Array.from({ length: 1000 }, (_, i) => i),
    );
  });

  it('FSQ quantize equals the float64 bound-and-round formula; its indices decode back to its codes', async () => {
    const seed = freshSeed(41);
    const levels = [7, 6, 4];
    const fsq = new FSQ({ levels });
    const N = 500;
    const z = Float32Array.from(normals(seed, N * 3), (v) => 1.5 * v);
    const { codes, indices } = fsq.quantize(B.tensor(z, [N, 3]));
    const c = await codes.data();
    const idx = await indices.data();
    let checked = 0;
    for (let i = 0; i < N; i++) {
      let index = 0;
      let basis = 1;
      for (let j = 0; j < 3; j++) {
        const L = levels[j]!;
        const halfL = ((L - 1) * (1 + 1e-3)) / 2;
        const offset = L % 2 === 0 ? 0.5 : 0;
        const b = Math.tanh(z[i * 3 + j]! + Math.atanh(offset / halfL)) * halfL - offset;
        const hw = Math.floor(L / 2);
        const q = roundEven(b);
        if (Math.abs(Math.abs(b % 1) - 0.5) > 1e-4) {
          expect(c[i * 3 + j], `seed ${seed}`).toBeCloseTo(q / hw, 6);
          checked++;
        }
        index += (Math.round(c[i * 3 + j]! * hw) + hw) * basis;
        basis *= L;
      }
      expect(idx[i]).toBe(index);
    }
    expect(checked).toBeGreaterThan(N * 3 - 5);
    // (compared by value: round(−0.3) is −0 while the index map gives +0)
    expect(maxAbsDiff(await fsq.indicesToCodes(indices).data(), c)).toBeLessThan(1e-7);
  });

  it('LFQ d=10: 1024 codes of ±1, MSB-first bits, index ↔ code round-trips', async () => {
    const lfq = new LFQ({ dim: 10 });
    const codes = await lfq.indicesToCodes(B.arange(0, 1024, 1, 'int32')).data();
    for (let i = 0; i < 1024; i++)
      for (let j = 0; j < 10; j++) expect(codes[i * 10 + j]).toBe((i >> (9 - j)) & 1 ? 1 : -1);
    const back = await lfq.codesToIndices(B.tensor(codes, [1024, 10])).data();
    expect(Array.from(back)).toEqual(Array.from({ length: 1024 }, (_, i) => i));
  });

  it('LFQ / BSQ quantize random vectors by sign; BSQ codes lie on the unit sphere', async () => {
    const seed = freshSeed(42);
    const [N, d] = [200, 12];
    const z = Float32Array.from(normals(seed, N * d));
    const lfq = new LFQ({ dim: d, scale: 0.5 });
    const bsq = new BSQ({ dim: d });
    const l = lfq.quantize(B.tensor(z, [N, d]));
    const b = bsq.quantize(B.tensor(z, [N, d]));
    const [lc, li, bc, bi] = await Promise.all([
      l.codes.data(),
      l.indices.data(),
      b.codes.data(),
      b.indices.data(),
    ]);
    for (let i = 0; i < N; i++) {
      let index = 0;
      let norm = 0;
      for (let j = 0; j < d; j++) {
        const pos = z[i * d + j]! > 0;
        index = index * 2 + (pos ? 1 : 0);
        expect(lc[i * d + j]).toBe(pos ? 0.5 : -0.5);
        expect(bc[i * d + j]).toBeCloseTo((pos ? 1 : -1) / Math.sqrt(d), 6);
        norm += bc[i * d + j]! ** 2;
      }
      expect(li[i]).toBe(index);
      expect(bi[i]).toBe(index);
      expect(norm).toBeCloseTo(1, 5);
    }
    expect(Array.from(await bsq.codesToIndices(bsq.indicesToCodes(b.indices)).data())).toEqual(
      Array.from(bi),
    );
    expect(Array.from(await lfq.decode(l.indices).data())).toEqual(Array.from(lc));
  });

  it('rejects bad configurations', () => {
    expect(() => new FSQ({ levels: [1, 4] })).toThrow(/levels/);
    expect(() => new FSQ({ levels: [65536, 65536] })).toThrow(/int32/);
    expect(() => new LFQ({ dim: 31 })).toThrow(/dim/);
    expect(() => new BSQ({ dim: 0 })).toThrow(/dim/);
  });
});
