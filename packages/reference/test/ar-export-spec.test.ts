// exportSpec(): the plain-data descriptions of the AR reference models reproduce the models' logits when
// evaluated here in plain JS (index arithmetic in float64, the spec's own table / sequences), for fresh
// random token grids, labels, generation orders and masks.
import { currentBackend, type Tensor } from '@tessera/core';
import {
  type CountModelSpec,
  EmpiricalMaskedModel,
  type EmpiricalModelSpec,
  EmpiricalRasterModel,
  EmpiricalScaleModel,
  MaskedCountModel,
  proceduralTokenGrids,
  RasterCountModel,
  ScaleCountModel,
  tokenPyramid,
} from '@tessera/reference';
import { describe, expect, it } from 'vitest';
import { rng } from './helpers';

const seed = Number(process.env.TESSERA_TEST_SEED ?? Date.now() % 2 ** 31);
const note = `(TESSERA_TEST_SEED=${seed})`;
const u = rng(seed);
const B = currentBackend();

const H = 6;
const W = 6;
const V = 4;
const C = 3;
const data = proceduralTokenGrids({ count: 30, height: H, width: W, vocabSize: V, seed });
const pn = [1, 2, 3, 6];
const Ls = pn.reduce((a, p) => a + p * p, 0);
const ri = (k: number) => Math.floor(u() * k);

/** Logits at position p of a count spec, straight from its definition. */
function countLogits(s: CountModelSpec, tok: readonly number[], label: number, p: number): number[] {
  let row = Math.min(Math.max(label, 0), s.numClasses) * s.labelStride + s.positionOffsets[p]!;
  for (let j = 0; j < s.numNeighbours; j++) {
    const q = s.neighbours[p * s.numNeighbours + j]!;
    const t = q < 0 ? s.boundaryToken : tok[q]! >= 0 && tok[q]! < s.vocabSize ? tok[q]! : s.unknownToken;
    row += t * s.powers[j]!;
  }
  return Array.from(s.table.subarray(row * s.vocabSize, (row + 1) * s.vocabSize));
}

/** Log counts at position p of an empirical spec, in float64. */
function empiricalLogits(s: EmpiricalModelSpec, tok: readonly number[], label: number, p: number): number[] {
  const counts = new Array<number>(s.vocabSize).fill(0);
  for (let n = 0; n < s.count; n++) {
    const seq = s.sequences.subarray(n * s.length, (n + 1) * s.length);
    if (s.labels && label !== s.numClasses && s.labels[n] !== label) continue;
    if (tok.every((t, q) => !(t >= 0 && t < s.vocabSize) || seq[q] === t)) counts[seq[p]!]!++;
  }
  return counts.map(Math.log);
}

async function rowsOf(t: Tensor, width: number): Promise<number[][]> {
  const d = Array.from(await t.data());
  t.dispose();
  return Array.from({ length: d.length / width }, (_, i) => d.slice(i * width, (i + 1) * width));
}

const randomGrid = (n: number) => Array.from({ length: n }, () => ri(V));
const shuffled = (n: number) => {
  const a = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = ri(i + 1);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
};

/** Close, with −∞ matching exactly (empirical logs: float32 log vs float64 log). */
function expectClose(got: number[], want: number[], tol: number, what: string) {
  expect(got.length, what).toBe(want.length);
  got.forEach((g, i) => {
    if (want[i] === -Infinity) expect(g, `${what} [${i}] ${note}`).toBe(-Infinity);
    else
      expect(Math.abs(g - want[i]!), `${what} [${i}]: ${g} vs ${want[i]} ${note}`).toBeLessThanOrEqual(tol);
  });
}

describe(`exportSpec of the count models ${note}`, () => {
  it('raster: full grids teacher-forced (causal) and random generation orders match prefill logits exactly', async () => {
    const m = RasterCountModel.fit(data, { backend: B });
    const s = m.exportSpec();
    expect([s.kind, s.length, s.vocabSize, s.numClasses, s.numNeighbours]).toEqual([
      'raster',
      H * W,
      V,
      C,
      4,
    ]);
    expect(s.table.length).toBe(s.contexts * V);
    for (let trial = 0; trial < 6; trial++) {
      const grid = randomGrid(H * W);
      const label = ri(C + 1);
      const order = trial % 2 ? shuffled(H * W) : undefined;
      const T = ri(H * W);
      const at = (i: number) => (order ? order[i]! : i);
      const prefix = Array.from({ length: T }, (_, i) => grid[at(i)]!);
      const { logits, state } = m.prefill(T ? B.tensor(prefix, [1, T], 'int32') : null, {
        batch: 1,
        cond: { labels: B.tensor([label], [1], 'int32') },
        order,
      });
      const [got] = await rowsOf(logits, V);
      // raster order: the whole grid (later tokens are not read); other orders: unknown = V or beyond
      const known = new Set(Array.from({ length: T }, (_, i) => at(i)));
      const tok = order ? grid.map((t, q) => (known.has(q) ? t : V + ri(3))) : grid;
      expect(got, `trial ${trial} ${note}`).toEqual(countLogits(s, tok, label, at(T)));
      m.disposeState(state);
    }
    // copies: editing the spec leaves the model alone
    s.table.fill(0);
    expect(m.exportSpec().table.some((x) => x !== 0)).toBe(true);
    m.dispose();
  });

  it('next-scale: every scale of random concatenated scales matches begin/next logits exactly', async () => {
    const m = ScaleCountModel.fit(data, { patchNums: pn, backend: B });
    const s = m.exportSpec();
    expect([s.kind, s.length, s.patchNums]).toEqual(['next-scale', Ls, pn]);
    const n = 3;
    const tok = Array.from({ length: n }, () => randomGrid(Ls));
    const labels = Array.from({ length: n }, () => ri(C + 1));
    let { logits, state } = m.begin({ batch: n, cond: { labels: B.tensor(labels, [n], 'int32') } });
    let begin = 0;
    for (let k = 0; k < pn.length; k++) {
      const size = pn[k]! ** 2;
      const got = await rowsOf(logits, V);
      for (let b = 0; b < n; b++) {
        for (let j = 0; j < size; j++)
          expect(got[b * size + j], `scale ${k} ${note}`).toEqual(
            countLogits(s, tok[b]!, labels[b]!, begin + j),
          );
      }
      if (k + 1 < pn.length) {
        const prev = B.tensor(
          tok.flatMap((t) => t.slice(begin, begin + size)),
          [n, size],
          'int32',
        );
        ({ logits, state } = m.next(k + 1, { tokens: prev }, state));
        prev.dispose();
      }
      begin += size;
    }
    m.disposeState(state);
    m.dispose();
  });

  it('masked: random tokens and masks (masked values arbitrary) match logits exactly', async () => {
    const m = MaskedCountModel.fit(data, { backend: B });
    const s = m.exportSpec();
    expect([s.kind, s.boundaryToken, s.unknownToken]).toEqual(['masked', V + 1, V]);
    const n = 4;
    const tok = Array.from({ length: n }, () => randomGrid(H * W));
    const mask = tok.map(() => Array.from({ length: H * W }, () => (u() < 0.5 ? 1 : 0)));
    const labels = Array.from({ length: n }, () => ri(C + 1));
    const got = await rowsOf(
      m.logits(B.tensor(tok.flat(), [n, H * W], 'int32'), B.tensor(mask.flat(), [n, H * W]), {
        labels: B.tensor(labels, [n], 'int32'),
      }),
      V,
    );
    for (let b = 0; b < n; b++) {
      const eff = tok[b]!.map((t, q) => (mask[b]![q] ? V : t));
      for (let p = 0; p < H * W; p++)
        expect(got[b * H * W + p], note).toEqual(countLogits(s, eff, labels[b]!, p));
    }
    m.dispose();
  });
});

describe(`exportSpec of the empirical models ${note}`, () => {
  const L = H * W;
  const sequences = data.grids.slice(0, 12);
  const set = { sequences, vocabSize: V, labels: data.labels.slice(0, 12), numClasses: C };

  it('raster: a random order and prefix of a training sequence gives the log counts of the spec', async () => {
    const m = new EmpiricalRasterModel(set, { backend: B });
    const s = m.exportSpec();
    expect([s.kind, s.count, s.length, s.numClasses]).toEqual(['raster', 12, L, C]);
    for (let trial = 0; trial < 4; trial++) {
      const src = sequences[ri(12)]!;
      const order = trial % 2 ? shuffled(L) : undefined;
      const at = (i: number) => (order ? order[i]! : i);
      const T = ri(6);
      const label = ri(C + 1);
      const { logits, state } = m.prefill(
        T
          ? B.tensor(
              Array.from({ length: T }, (_, i) => src[at(i)]!),
              [1, T],
              'int32',
            )
          : null,
        { batch: 1, cond: { labels: B.tensor([label], [1], 'int32') }, order },
      );
      const [got] = await rowsOf(logits, V);
      const known = new Set(Array.from({ length: T }, (_, i) => at(i)));
      const tok = Array.from(src, (t, q) => (known.has(q) ? t : -1 - ri(2)));
      expectClose(got!, empiricalLogits(s, tok, label, at(T)), 1e-6, `trial ${trial}`);
      m.disposeState(state);
    }
    m.dispose();
  });

  it('next-scale: scale k from earlier scales of a training pyramid', async () => {
    const pyr = sequences.map((g) =>
      Int32Array.from(tokenPyramid(g, H, W, pn).flatMap((a) => Array.from(a))),
    );
    const m = new EmpiricalScaleModel({ ...set, sequences: pyr }, pn, { backend: B });
    const s = m.exportSpec();
    expect([s.kind, s.length, s.patchNums]).toEqual(['next-scale', Ls, pn]);
    const src = Array.from(pyr[ri(12)]!);
    const label = ri(C + 1);
    let { logits, state } = m.begin({ batch: 1, cond: { labels: B.tensor([label], [1], 'int32') } });
    let begin = 0;
    for (let k = 0; k < pn.length; k++) {
      const size = pn[k]! ** 2;
      const got = await rowsOf(logits, V);
      const tok = src.map((t, q) => (q < begin ? t : V));
      for (let j = 0; j < size; j++)
        expectClose(got[j]!, empiricalLogits(s, tok, label, begin + j), 1e-6, `scale ${k}`);
      if (k + 1 < pn.length) {
        const prev = B.tensor(src.slice(begin, begin + size), [1, size], 'int32');
        ({ logits, state } = m.next(k + 1, { tokens: prev }, state));
        prev.dispose();
      }
      begin += size;
    }
    m.disposeState(state);
    m.dispose();
  });

  it('masked: known tokens of a training sequence, the rest masked', async () => {
    const m = new EmpiricalMaskedModel({ sequences, vocabSize: V }, { backend: B });
    const s = m.exportSpec();
    expect([s.kind, s.numClasses, s.labels]).toEqual(['masked', undefined, undefined]);
    const src = Array.from(sequences[ri(12)]!);
    const mask = src.map(() => (u() < 0.8 ? 1 : 0));
    const got = await rowsOf(m.logits(B.tensor(src, [1, L], 'int32'), B.tensor(mask, [1, L]), undefined), V);
    const tok = src.map((t, q) => (mask[q] ? V : t));
    for (let p = 0; p < L; p++) expectClose(got[p]!, empiricalLogits(s, tok, 0, p), 1e-6, `position ${p}`);
    m.dispose();
  });
});
