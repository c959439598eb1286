// The exact empirical models reproduce training sequences under every decoder.
import { maskedDecode, nextScaleDecode, pixelRasterDecode, rasterDecode } from '@tessera/autoregressive';
import { EmpiricalMaskedModel, EmpiricalRasterModel, EmpiricalScaleModel } from '@tessera/reference';
import { describe, expect, it } from 'vitest';
import { testBackends } from '../../../test-utils/backends';
import { freshSeed, mulberry, rows } from './helpers';

const seed = freshSeed();
const note = `(seed ${seed})`;

function randomSeqs(N: number, L: number, V: number, r: () => number): Int32Array[] {
  return Array.from({ length: N }, () => Int32Array.from({ length: L }, () => Math.floor(r() * V)));
}

/** Greedy path of the empirical model, re-derived: most frequent next token among matching sequences, lowest on ties. */
function greedyPath(seqs: Int32Array[], order: number[]): number[] {
  let alive = seqs.map((_, i) => i);
  const out = new Array<number>(order.length);
  for (const p of order) {
    const counts = new Map<number, number>();
    for (const n of alive) counts.set(seqs[n]![p]!, (counts.get(seqs[n]![p]!) ?? 0) + 1);
    let best = -1;
    let bc = -1;
    for (const [t, c] of [...counts].sort((a, b) => a[0] - b[0])) if (c > bc) [best, bc] = [t, c];
    out[p] = best;
    alive = alive.filter((n) => seqs[n]![p] === best);
  }
  return out;
}

const isTraining = (seqs: Int32Array[], s: number[]) => seqs.some((q) => q.every((v, i) => v === s[i]));

describe.each(await testBackends())('empirical models under the decoders on %s', (_name, B) => {
  const r = mulberry(seed);
  const V = 6;
  const L = 12;
  const seqs = randomSeqs(7, L, V, r);
  // Sequences share prefixes so decoding must follow counts; the raster mode is unique at every step
  // (top-k 1 keeps ties, so the test avoids them): 1 copies 0, 2 and 3 share 3 and 6 tokens with it,
  // the others start with other tokens.
  seqs[1]!.set(seqs[0]!);
  seqs[2]!.set(seqs[0]!.slice(0, 3));
  seqs[3]!.set(seqs[0]!.slice(0, 6));
  seqs[2]![3] = (seqs[0]![3]! + 1) % V;
  seqs[3]![6] = (seqs[0]![6]! + 1) % V;
  for (let k = 4; k < 7; k++) seqs[k]![0] = (seqs[0]![0]! + k - 3) % V;

  it('raster: greedy and top-k 1 follow the empirical greedy path; sampling returns training sequences', async () => {
    const m = new EmpiricalRasterModel({ sequences: seqs, vocabSize: V }, { backend: B });
    const order = Array.from({ length: L }, (_, i) => i);
    const want = greedyPath(seqs, order);
    for (const sampling of [{ temperature: 0 }, { topK: 1 }]) {
      const got = rows(
        await (await rasterDecode(m, { batch: 2, length: L, sampling, seed, backend: B })).data(),
        L,
      );
      for (const g of got) expect(g, note).toEqual(want);
    }
    expect(want, note).toEqual(Array.from(seqs[0]!));
    const samp = rows(await (await rasterDecode(m, { batch: 16, length: L, seed, backend: B })).data(), L);
    for (const s of samp) expect(isTraining(seqs, s), `${note} ${s}`).toBe(true);
    m.dispose();
  });

  it('raster in a given order: greedy follows the greedy path in that order', async () => {
    const m = new EmpiricalRasterModel({ sequences: seqs, vocabSize: V }, { backend: B });
    const r2 = mulberry(seed + 9);
    const order = Array.from({ length: L }, (_, i) => i).sort(() => r2() - 0.5);
    const want = greedyPath(seqs, order);
    const got = rows(
      await (
        await rasterDecode(m, {
          batch: 1,
          length: L,
          order,
          sampling: { temperature: 0 },
          seed,
          backend: B,
        })
      ).data(),
      L,
    );
    expect(got[0], note).toEqual(want);
    const samp = rows(
      await (await rasterDecode(m, { batch: 8, length: L, order, seed, backend: B })).data(),
      L,
    );
    for (const s of samp) expect(isTraining(seqs, s), `${note} ${s}`).toBe(true);
    m.dispose();
  });

  it('next-scale: every scale sampled in parallel reproduces training pyramids', async () => {
    const pn = [1, 2, 3];
    const Ls = 14;
    // Distinct scale-0 tokens, so scale 0 identifies the sequence.
    const ms = randomSeqs(5, Ls, V, r).map((q, i) => {
      q[0] = (i * 5 + 1) % V;
      return q;
    });
    // A duplicate makes sequence 3 the unique mode (top-k 1 keeps ties, so the test avoids them).
    ms.push(Int32Array.from(ms[3]!));
    const m = new EmpiricalScaleModel({ sequences: ms, vocabSize: V }, pn, { backend: B });
    const lowest = ms[3]!;
    for (const sampling of [{ temperature: 0 }, { topK: 1 }]) {
      const out = await nextScaleDecode(m, { batch: 2, sampling, seed, backend: B });
      expect(out.map((t) => t.shape)).toEqual([
        [2, 1],
        [2, 4],
        [2, 9],
      ]);
      const parts = await Promise.all(out.map((t) => t.data()));
      for (let b = 0; b < 2; b++) {
        const seq = parts.flatMap((p, k) => Array.from(p.slice(b * pn[k]! ** 2, (b + 1) * pn[k]! ** 2)));
        expect(seq, note).toEqual(Array.from(lowest));
      }
    }
    const out = await nextScaleDecode(m, { batch: 10, seed, backend: B });
    const parts = await Promise.all(out.map((t) => t.data()));
    for (let b = 0; b < 10; b++) {
      const seq = parts.flatMap((p, k) => Array.from(p.slice(b * pn[k]! ** 2, (b + 1) * pn[k]! ** 2)));
      expect(isTraining(ms, seq), `${note} ${seq}`).toBe(true);
    }
    m.dispose();
  });

  it('masked: greedy and sampling (one token revealed first) reproduce training sequences', async () => {
    // Token ranges identify the sequence: sequence n uses tokens [3n, 3n+3).
    const N = 4;
    const Lm = 16;
    const mseqs = Array.from({ length: N }, (_, n) =>
      Int32Array.from({ length: Lm }, () => 3 * n + Math.floor(r() * 3)),
    );
    mseqs.push(Int32Array.from(mseqs[2]!)); // sequence 2 becomes the mode at every position
    const m = new EmpiricalMaskedModel({ sequences: mseqs, vocabSize: 3 * N }, { backend: B });
    for (const sampling of [{ temperature: 0 }, { topK: 1 }]) {
      const got = rows(
        await (await maskedDecode(m, { batch: 2, numIter: 4, sampling, seed, backend: B })).data(),
        Lm,
      );
      for (const g of got) expect(g, note).toEqual(Array.from(mseqs[2]!));
    }
    // numIter 8 on 16 tokens: ⌊16·cos(π/16)⌋ = 15 stay masked, so exactly one is revealed first.
    const got = rows(await (await maskedDecode(m, { batch: 12, numIter: 8, seed, backend: B })).data(), Lm);
    for (const g of got) expect(isTraining(mseqs, g), `${note} ${g}`).toBe(true);
    m.dispose();
  });

  it('pixel raster: channels of a pixel in sequence, output [B, C, H, W] equals a training image', async () => {
    const H = 2;
    const W = 3;
    const C = 3;
    const imgs = Array.from({ length: 3 }, () =>
      Int32Array.from({ length: C * H * W }, () => Math.floor(r() * 4)),
    ); // [C, H, W]
    // Sequence order pixel-major, channel-minor: s[(y·W + x)·C + c] = img[c, y, x].
    const seqOf = (img: Int32Array) =>
      Int32Array.from({ length: H * W * C }, (_, i) => img[(i % C) * H * W + Math.floor(i / C)]!);
    const m = new EmpiricalRasterModel({ sequences: imgs.map(seqOf), vocabSize: 4 }, { backend: B });
    const out = await pixelRasterDecode(m, { batch: 5, height: H, width: W, channels: C, seed, backend: B });
    expect(out.shape).toEqual([5, C, H, W]);
    for (const img of rows(await out.data(), C * H * W))
      expect(
        imgs.some((q) => q.every((v, i) => v === img[i])),
        `${note} ${img}`,
      ).toBe(true);
    m.dispose();
  });
});
