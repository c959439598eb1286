// The AR reference models of @tessera/reference exported to ONNX (exportTokenModel) and loaded back
// (onnxRasterModel / onnxScaleModel / onnxMaskedModel): the graph's logits equal the TypeScript models'
// logits on the CPU backend, for fresh random token grids, labels, orders and masks; bad models and
// bad input are TesseraErrors.
//
// Tolerances: the count models' logits are a Gather from the same float32 table on both sides, so they
// must be equal bit for bit. The empirical models' logits are log(count) of small integer counts (exact
// in float32 on both sides); the CPU backend rounds Math.log to float32 and ONNX Runtime uses its own
// float32 log, which may differ by an ulp or two: |Δ| ≤ 1e-6 for |log| ≤ log(40) < 4 (an ulp there is
// 2.4e-7–4.8e-7), and −∞ (no matching sequence) must match exactly.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  GraphBuilder,
  onnxMaskedModel,
  onnxRasterModel,
  onnxScaleModel,
  readModelHeader,
} from '@tessera/backend-onnx';
import { currentBackend, type Tensor, TesseraError } from '@tessera/core';
import {
  EmpiricalMaskedModel,
  EmpiricalRasterModel,
  EmpiricalScaleModel,
  MaskedCountModel,
  RasterCountModel,
  ScaleCountModel,
  tokenPyramid,
} from '@tessera/reference';
import { diagonalMixture, exportGaussianMixtureDenoiser, exportTokenModel } from '@tessera/reference-onnx';
import { afterAll, describe, expect, it } from 'vitest';
import { arFixture } from './ar-fixture.ts';

const { seed, note, u, ri, B, H, W, L, V, C, pn, data, randomLabels } = arFixture();
afterAll(() => B.dispose());
const cpu = currentBackend();
const Ls = pn.reduce((a, p) => a + p * p, 0);
const begins = pn.map((_, k) => pn.slice(0, k).reduce((a, p) => a + p * p, 0));
const pyramids = data.grids.map((g) =>
  Int32Array.from(tokenPyramid(g, H, W, pn).flatMap((a) => Array.from(a))),
);

const randomTokens = (n: number, len: number) => Array.from({ length: n * len }, () => ri(V));
const shuffled = (n: number) => {
  const a = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = ri(i + 1);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
};
/** A value the graph must read as unknown: V, beyond it, or negative. */
const unknown = () => [V, V + 1 + ri(5), -1 - ri(3)][ri(3)]!;

async function read(t: Tensor): Promise<number[]> {
  const d = Array.from(await t.data());
  t.dispose();
  return d;
}

/** First index where `got` and `want` differ by more than `tol` (−∞ must match exactly), or −1. */
function firstDiff(got: readonly number[], want: readonly number[], tol: number): number {
  if (got.length !== want.length) return 0;
  for (let i = 0; i < got.length; i++) {
    const g = got[i]!;
    const w = want[i]!;
    if (w === -Infinity || g === -Infinity ? g !== w : !(Math.abs(g - w) <= tol)) return i;
  }
  return -1;
}

function expectSame(got: readonly number[], want: readonly number[], tol: number, what: string): void {
  const i = firstDiff(got, want, tol);
  expect(
    i,
    `${what}: index ${i}: onnx ${got[i]} vs ts ${want[i]} (lengths ${got.length}/${want.length}; ${note})`,
  ).toBe(-1);
}

async function rejection(p: Promise<unknown>): Promise<TesseraError> {
  const e = await p.then(
    () => undefined,
    (err) => err,
  );
  expect(e, `expected a TesseraError (${note})`).toBeInstanceOf(TesseraError);
  return e as TesseraError;
}

describe(`count models exported to ONNX: logits equal the TypeScript model's exactly (${note})`, () => {
  it('raster: teacher-forced logits of all positions at once equal step-by-step TS logits', async () => {
    const m = RasterCountModel.fit(data, { backend: cpu });
    const a = await onnxRasterModel(exportTokenModel(m), { backend: B, name: 'raster.onnx' });
    expect([a.vocabSize, a.numClasses, a.length]).toEqual([V, C, L]);
    const n = 3;
    const grid = randomTokens(n, L);
    const labels = randomLabels(n);
    const { logits } = await a.model.run({
      tokens: B.tensor(grid, [n, L], 'int32'),
      labels: B.tensor(labels, [n], 'int32'),
    });
    expect(logits!.shape).toEqual([n, L, V]);
    const got = await read(logits!);
    // TS: prefill(null) then feed the true tokens one by one (raster order)
    const want = new Array<number>(n * L * V);
    let r = m.prefill(null, { batch: n, cond: { labels: cpu.tensor(labels, [n], 'int32') } });
    for (let t = 0; t < L; t++) {
      const l = await read(r.logits);
      for (let b = 0; b < n; b++) for (let v = 0; v < V; v++) want[(b * L + t) * V + v] = l[b * V + v]!;
      if (t + 1 < L) {
        const col = cpu.tensor(
          Array.from({ length: n }, (_, b) => grid[b * L + t]!),
          [n],
          'int32',
        );
        r = m.step(col, r.state);
        col.dispose();
      }
    }
    m.disposeState(r.state);
    expectSame(got, want, 0, 'raster teacher-forced');
    m.dispose();
    await a.dispose();
  });

  it('raster adapter in a random order (prefill + steps) gives the TS model’s logits', async () => {
    const m = RasterCountModel.fit(data, { backend: cpu });
    const a = await onnxRasterModel(exportTokenModel(m), { backend: B });
    const n = 2;
    const order = shuffled(L);
    const grid = randomTokens(n, L);
    const T = 1 + ri(L - 8);
    const prefix = Array.from({ length: n * T }, (_, i) => grid[Math.floor(i / T) * L + order[i % T]!]!);
    const useLabels = u() < 0.5; // without labels: the null label
    const labels = randomLabels(n);
    const opts = (BB: typeof cpu) => ({
      batch: n,
      order,
      cond: useLabels ? { labels: BB.tensor(labels, [n], 'int32') } : undefined,
    });
    let ts = m.prefill(cpu.tensor(prefix, [n, T], 'int32'), opts(cpu));
    let ox = a.prefill(B.tensor(prefix, [n, T], 'int32'), opts(B));
    for (let t = T; t < T + 6; t++) {
      expectSame(await read(ox.logits), await read(ts.logits), 0, `order step ${t}`);
      const next = Array.from({ length: n }, (_, b) => grid[b * L + order[t]!]!);
      ts = m.step(cpu.tensor(next, [n], 'int32'), ts.state);
      ox = a.step(B.tensor(next, [n], 'int32'), ox.state);
    }
    ts.logits.dispose();
    ox.logits.dispose();
    m.disposeState(ts.state);
    a.disposeState(ox.state);
    m.dispose();
    await a.dispose();
  });

  it('next-scale: logits of every scale from the concatenated scales equal begin/next', async () => {
    const m = ScaleCountModel.fit(data, { patchNums: pn, backend: cpu });
    const bytes = exportTokenModel(m);
    const a = await onnxScaleModel(bytes, { backend: B });
    expect([a.patchNums, a.length, a.numClasses]).toEqual([pn, Ls, C]);
    const n = 3;
    const tok = randomTokens(n, Ls);
    const labels = randomLabels(n);
    const { logits } = await a.model.run({
      tokens: B.tensor(tok, [n, Ls], 'int32'),
      labels: B.tensor(labels, [n], 'int32'),
    });
    const all = await read(logits!);
    let r = m.begin({ batch: n, cond: { labels: cpu.tensor(labels, [n], 'int32') } });
    let ox = a.begin({ batch: n, cond: { labels: B.tensor(labels, [n], 'int32') } });
    for (let k = 0; k < pn.length; k++) {
      const size = pn[k]! ** 2;
      const want = await read(r.logits);
      const graph: number[] = [];
      for (let b = 0; b < n; b++)
        graph.push(...all.slice((b * Ls + begins[k]!) * V, (b * Ls + begins[k]! + size) * V));
      expectSame(graph, want, 0, `scale ${k} (graph)`);
      expectSame(await read(ox.logits), want, 0, `scale ${k} (adapter)`);
      if (k + 1 < pn.length) {
        const prev = Array.from(
          { length: n * size },
          (_, i) => tok[Math.floor(i / size) * Ls + begins[k]! + (i % size)]!,
        );
        r = m.next(k + 1, { tokens: cpu.tensor(prev, [n, size], 'int32') }, r.state);
        ox = a.next(k + 1, { tokens: B.tensor(prev, [n, size], 'int32') }, ox.state);
      }
    }
    m.disposeState(r.state);
    a.disposeState(ox.state);
    m.dispose();
    await a.dispose();
  });

  it('masked: any value outside [0, V) reads as masked; the adapter feeds masked positions as V', async () => {
    const m = MaskedCountModel.fit(data, { backend: cpu });
    const a = await onnxMaskedModel(exportTokenModel(m), { backend: B });
    const n = 4;
    const tok = randomTokens(n, L);
    const mask = tok.map(() => (u() < 0.5 ? 1 : 0));
    const labels = randomLabels(n);
    const want = await read(
      m.logits(cpu.tensor(tok, [n, L], 'int32'), cpu.tensor(mask, [n, L]), {
        labels: cpu.tensor(labels, [n], 'int32'),
      }),
    );
    const { logits } = await a.model.run({
      tokens: B.tensor(
        tok.map((t, i) => (mask[i] ? unknown() : t)),
        [n, L],
        'int32',
      ),
      labels: B.tensor(labels, [n], 'int32'),
    });
    expectSame(await read(logits!), want, 0, 'masked graph');
    const viaAdapter = a.logits(B.tensor(tok, [n, L], 'int32'), B.tensor(mask, [n, L]), {
      labels: B.tensor(labels, [n], 'int32'),
    });
    expect(viaAdapter.shape).toEqual([n, L, V]);
    expectSame(await read(viaAdapter), want, 0, 'masked adapter');
    m.dispose();
    await a.dispose();
  });
});

describe(`empirical models exported to ONNX: log counts within 1e-6, −∞ exact (${note})`, () => {
  const labelled = { sequences: data.grids, vocabSize: V, labels: data.labels, numClasses: C };

  it('raster: a random order over a training sequence, then off the data (all −∞)', async () => {
    const m = new EmpiricalRasterModel(labelled, { backend: cpu });
    const a = await onnxRasterModel(exportTokenModel(m), { backend: B });
    expect(a.numClasses).toBe(C);
    const n = 2;
    const src = [data.grids[ri(40)]!, data.grids[ri(40)]!];
    const order = shuffled(L);
    const T = ri(4);
    const prefix = Array.from({ length: n * T }, (_, i) => src[Math.floor(i / T)]![order[i % T]!]!);
    const labels = [data.labels[data.grids.indexOf(src[0]!)]!, C];
    const cond = (BB: typeof cpu) => ({ labels: BB.tensor(labels, [n], 'int32') });
    let ts = m.prefill(T ? cpu.tensor(prefix, [n, T], 'int32') : null, { batch: n, order, cond: cond(cpu) });
    let ox = a.prefill(T ? B.tensor(prefix, [n, T], 'int32') : null, { batch: n, order, cond: cond(B) });
    for (let t = T; t < T + 8; t++) {
      expectSame(await read(ox.logits), await read(ts.logits), 1e-6, `empirical raster step ${t}`);
      // the true tokens, except a random one in the last steps (so no sequence matches: −∞)
      const next = src.map((g) => (t < T + 5 ? g[order[t]!]! : ri(V)));
      ts = m.step(cpu.tensor(next, [n], 'int32'), ts.state);
      ox = a.step(B.tensor(next, [n], 'int32'), ox.state);
    }
    ts.logits.dispose();
    ox.logits.dispose();
    m.disposeState(ts.state);
    a.disposeState(ox.state);
    m.dispose();
    await a.dispose();
  });

  it('next-scale: scale by scale along a training pyramid', async () => {
    const m = new EmpiricalScaleModel({ ...labelled, sequences: pyramids }, pn, { backend: cpu });
    const a = await onnxScaleModel(exportTokenModel(m), { backend: B });
    const i = ri(40);
    const n = 1;
    const labels = [u() < 0.5 ? data.labels[i]! : C];
    let ts = m.begin({ batch: n, cond: { labels: cpu.tensor(labels, [n], 'int32') } });
    let ox = a.begin({ batch: n, cond: { labels: B.tensor(labels, [n], 'int32') } });
    for (let k = 0; k < pn.length; k++) {
      expectSame(await read(ox.logits), await read(ts.logits), 1e-6, `empirical scale ${k}`);
      if (k + 1 < pn.length) {
        const prev = Array.from(pyramids[i]!.slice(begins[k]!, begins[k + 1]!));
        const s = prev.length;
        ts = m.next(k + 1, { tokens: cpu.tensor(prev, [n, s], 'int32') }, ts.state);
        ox = a.next(k + 1, { tokens: B.tensor(prev, [n, s], 'int32') }, ox.state);
      }
    }
    m.disposeState(ts.state);
    a.disposeState(ox.state);
    m.dispose();
    await a.dispose();
  });

  it('masked, without labels: the graph has no labels input; known tokens of training sequences', async () => {
    const m = new EmpiricalMaskedModel({ sequences: data.grids, vocabSize: V }, { backend: cpu });
    const bytes = exportTokenModel(m);
    const a = await onnxMaskedModel(bytes, { backend: B });
    expect(a.numClasses).toBeUndefined();
    expect(a.model.inputs.map((s) => s.name)).toEqual(['tokens']);
    const n = 3;
    const tok = Array.from({ length: n }, () => Array.from(data.grids[ri(40)]!)).flat();
    const mask = tok.map(() => (u() < 0.85 ? 1 : 0));
    const want = await read(m.logits(cpu.tensor(tok, [n, L], 'int32'), cpu.tensor(mask, [n, L])));
    expect(want.some((x) => x === -Infinity) && want.some((x) => x > -Infinity), note).toBe(true);
    expectSame(
      await read(a.logits(B.tensor(tok, [n, L], 'int32'), B.tensor(mask, [n, L]))),
      want,
      1e-6,
      'empirical masked',
    );
    await a.dispose();
    m.dispose();
  });
});

describe(`exported token models: metadata, files and errors (${note})`, () => {
  const raster = RasterCountModel.fit(data, { backend: cpu });
  const scale = ScaleCountModel.fit(data, { patchNums: pn, backend: cpu });
  const rasterBytes = exportTokenModel(raster);
  const scaleBytes = exportTokenModel(scale);
  afterAll(() => {
    raster.dispose();
    scale.dispose();
  });

  it('records tessera.* metadata, read back from a file path', async () => {
    expect(readModelHeader(scaleBytes)?.metadata).toEqual({
      'tessera.kind': 'next-scale',
      'tessera.model': 'ScaleCountModel',
      'tessera.vocab_size': String(V),
      'tessera.length': String(Ls),
      'tessera.num_classes': String(C),
      'tessera.patch_nums': pn.join(','),
    });
    const path = join(mkdtempSync(join(tmpdir(), 'tessera-ar-')), 'scale.onnx');
    writeFileSync(path, scaleBytes);
    const a = await onnxScaleModel(path, { backend: B });
    expect([a.patchNums, a.numClasses, a.model.source]).toEqual([pn, C, path]);
    await a.dispose();
  });

  it('custom I/O names: loading with the default names is MODEL_MISMATCH listing expected and declared I/O', async () => {
    const renamed = exportTokenModel(raster, { names: { tokens: 'ids', labels: 'cls', logits: 'out' } });
    const e = await rejection(onnxRasterModel(renamed, { backend: B, name: 'renamed.onnx' }));
    expect(e.code).toBe('MODEL_MISMATCH');
    for (const s of [
      'renamed.onnx',
      "missing input 'tokens'",
      "missing input 'labels'",
      "missing output 'logits'",
      'ids int64 [batch, 64]',
      'out float32 [batch, 64, 5]',
    ])
      expect(e.message, note).toContain(s);
    // with the names it loads, and computes what the default export computes
    const a = await onnxRasterModel(renamed, {
      backend: B,
      names: { tokens: 'ids', labels: 'cls', logits: 'out' },
    });
    const b = await onnxRasterModel(rasterBytes, { backend: B });
    const lab = randomLabels(2);
    const x = a.prefill(null, { batch: 2, cond: { labels: B.tensor(lab, [2], 'int32') } });
    const y = b.prefill(null, { batch: 2, cond: { labels: B.tensor(lab, [2], 'int32') } });
    expectSame(await read(x.logits), await read(y.logits), 0, 'renamed');
    a.disposeState(x.state);
    b.disposeState(y.state);
    await a.dispose();
    await b.dispose();
  });

  it('a graph of this form without tessera metadata: shapes from the declaration, numClasses from the options', async () => {
    // logits[b, p, v] = token + label (+ v·0), tokens [batch, 6], 4 token values
    const g = new GraphBuilder();
    const tok = g.input('int64', ['batch', 6], 'tokens');
    const lab = g.input('int64', ['batch'], 'labels');
    const sum = g.op('Add', [tok, g.op('Unsqueeze', [lab, g.i64([1])])]);
    const out = g.op('Mul', [
      g.cast(g.op('Unsqueeze', [sum, g.i64([2])]), 'float'),
      g.const('float', [1, 1, 1, 1], [4]),
    ]);
    g.output(out, 'float', 'logits', ['batch', 6, 4]);
    const bytes = g.encode('toy_masked');
    const e = await rejection(onnxMaskedModel(bytes, { backend: B, name: 'toy.onnx' }));
    expect(e.code).toBe('MODEL_MISMATCH');
    expect(e.message).toContain('pass numClasses');
    const a = await onnxMaskedModel(bytes, { backend: B, numClasses: 2 });
    expect([a.vocabSize, a.seqLen, a.numClasses]).toEqual([4, 6, 2]);
    const tokens = Array.from({ length: 12 }, () => ri(4));
    const mask = tokens.map(() => ri(2));
    const labels = [ri(3), ri(3)];
    const got = await read(
      a.logits(B.tensor(tokens, [2, 6], 'int32'), B.tensor(mask, [2, 6]), {
        labels: B.tensor(labels, [2], 'int32'),
      }),
    );
    const want = tokens.flatMap((t, i) => new Array(4).fill((mask[i] ? 4 : t) + labels[Math.floor(i / 6)]!));
    expect(got, note).toEqual(want);
    // without labels: the null label (2)
    const nul = await read(a.logits(B.tensor(tokens, [2, 6], 'int32'), B.fill([2, 6], 1)));
    expect(nul, note).toEqual(new Array(48).fill(6));
    await a.dispose();
  });

  it('a model of another kind, or not a token model, is MODEL_MISMATCH', async () => {
    let e = await rejection(onnxScaleModel(rasterBytes, { backend: B, name: 'raster.onnx' }));
    expect(e.code).toBe('MODEL_MISMATCH');
    expect(e.message).toMatch(/raster\.onnx.*exported as a raster model.*expected next-scale/);
    const gmm = exportGaussianMixtureDenoiser(diagonalMixture([1], [[0, 1]], [0.5]));
    e = await rejection(onnxMaskedModel(gmm, { backend: B, name: 'gmm.onnx' }));
    expect(e.code).toBe('MODEL_MISMATCH');
    expect(e.message).toContain("missing input 'tokens'");
    expect(e.message).toContain('x float32');
    e = await rejection(onnxScaleModel(scaleBytes, { backend: B, patchNums: [1, 2, 3] }));
    expect(e.code).toBe('MODEL_MISMATCH');
    expect(e.message).toContain(`Σp² = 14, expected ${Ls}`);
  });

  it('corrupt, truncated and empty bytes are CORRUPT_FILE; a missing file is FILE_NOT_FOUND', async () => {
    const junk = Uint8Array.from({ length: 200 }, () => ri(256));
    junk[0] = 0xff; // an invalid field tag
    for (const [name, bytes] of [
      ['junk.onnx', junk],
      ['cut.onnx', rasterBytes.slice(0, 300)],
      ['empty.onnx', new Uint8Array(0)],
    ] as const) {
      const e = await rejection(onnxRasterModel(bytes, { backend: B, name }));
      expect(e.code, name).toBe('CORRUPT_FILE');
      expect(e.message).toContain(name);
    }
    const path = `/tmp/tessera-missing-${seed}.onnx`;
    const e = await rejection(onnxMaskedModel(path, { backend: B }));
    expect(e.code).toBe('FILE_NOT_FOUND');
    expect(e.message).toContain(path);
  });

  it('the exporter rejects inconsistent specs', () => {
    const s = raster.exportSpec();
    const bad = (spec: object, code: string, re: RegExp) => {
      let err: unknown;
      try {
        exportTokenModel(spec as never);
      } catch (x) {
        err = x;
      }
      expect(err).toBeInstanceOf(TesseraError);
      expect((err as TesseraError).code).toBe(code);
      expect((err as TesseraError).message).toMatch(re);
    };
    bad({ ...s, table: s.table.subarray(1) }, 'SHAPE_MISMATCH', /table has \d+ values, expected contexts·V/);
    bad(
      { ...s, neighbours: s.neighbours.map((q) => (q === 5 ? L : q)) },
      'INVALID_ARGUMENT',
      /neighbour 64 outside/,
    );
    bad({ ...s, kind: 'diffusion' }, 'INVALID_ARGUMENT', /kind must be/);
    bad({ ...s, contexts: 10, table: s.table.subarray(0, 10 * V) }, 'INVALID_ARGUMENT', /rows/);
    bad({ ...scale.exportSpec(), patchNums: [1, 2] }, 'SHAPE_MISMATCH', /Σp²/);
    const e = new EmpiricalMaskedModel({ sequences: data.grids.slice(0, 3), vocabSize: V }).exportSpec();
    bad(
      { ...e, sequences: e.sequences.map((t, i) => (i === 7 ? V : t)) },
      'INVALID_ARGUMENT',
      /token 5 outside/,
    );
  });

  it('adapters reject bad calls with TesseraError and keep working afterwards', async () => {
    const a = await onnxRasterModel(rasterBytes, { backend: B });
    const sc = await onnxScaleModel(scaleBytes, { backend: B });
    const mk = await onnxMaskedModel(exportTokenModel(MaskedCountModel.fit(data, { backend: cpu })), {
      backend: B,
    });
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (err) {
        expect(err).toBeInstanceOf(TesseraError);
        return (err as TesseraError).code;
      }
      return 'no error';
    };
    expect(code(() => a.prefill(B.fill([2, L], 0, 'int32'), { batch: 2 }))).toBe('SHAPE_MISMATCH');
    expect(code(() => a.prefill(null, { batch: 2, cond: { labels: B.fill([3], 0, 'int32') } }))).toBe(
      'SHAPE_MISMATCH',
    );
    expect(code(() => a.prefill(null, { batch: 1, order: [0, 0, 1] }))).toBe('INVALID_ARGUMENT');
    const r = a.prefill(B.fill([1, L - 2], 1, 'int32'), { batch: 1 });
    r.logits.dispose();
    expect(code(() => a.step(B.fill([2], 0, 'int32'), r.state))).toBe('SHAPE_MISMATCH');
    const last = a.step(B.fill([1], 0, 'int32'), r.state);
    last.logits.dispose();
    expect(code(() => a.step(B.fill([1], 0, 'int32'), last.state))).toBe('OUT_OF_RANGE');
    a.disposeState(last.state);
    const s0 = sc.begin({ batch: 1 });
    s0.logits.dispose();
    expect(code(() => sc.next(2, { tokens: B.fill([1, 1], 0, 'int32') }, s0.state))).toBe('OUT_OF_RANGE');
    expect(code(() => sc.next(1, { tokens: B.fill([1, 4], 0, 'int32') }, s0.state))).toBe('SHAPE_MISMATCH');
    sc.disposeState(s0.state);
    expect(code(() => mk.logits(B.fill([1, L], 0, 'int32'), B.fill([1, L - 1], 1)))).toBe('SHAPE_MISMATCH');
    // still fine after the errors
    const ok = await read(mk.logits(B.fill([1, L], 0, 'int32'), B.fill([1, L], 1)));
    expect(ok.length).toBe(L * V);
    expect(ok.every(Number.isFinite)).toBe(true);
    await a.dispose();
    await sc.dispose();
    await mk.dispose();
  });
});
