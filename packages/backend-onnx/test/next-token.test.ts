import { rasterDecode } from '@tessera/autoregressive';
import { createOnnxBackend, GraphBuilder, onnxNextTokenModel } from '@tessera/backend-onnx';
import { TesseraError } from '@tessera/core';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { maxRelErr, rng } from './ref64.ts';

const seed = Date.now() % 1e9;
const B = createOnnxBackend({
  ort: ort as never,
  executionProviders: ['cpu'],
  sessionOptions: { intraOpNumThreads: 1 },
});
afterAll(() => B.dispose());

const V = 5;
const u = rng(seed);
const Ek = Array.from({ length: V * 2 }, () => u() - 0.5);
const Ev = Array.from({ length: V * 2 }, () => u() - 0.5);
const Tab = Array.from({ length: V * V }, () => 2 * u() - 1);
const U = Array.from({ length: V }, () => u() - 0.5);
const W = Array.from({ length: V }, () => u() - 0.5);

/**
 * A one-layer toy decoder with Optimum's I/O names whose logits are a closed-form function of the whole
 * history: logits[b, t] = Tab[id] + Σ(present keys) + 2·Σ(present values) + pos·U + Σ(mask)·W, with
 * present = concat(past, embeddings of the new ids).
 */
function toyDecoder(dropValueOutput = false): Uint8Array {
  const g = new GraphBuilder();
  const ids = g.input('int64', ['batch', 'seq'], 'input_ids');
  const mask = g.input('int64', ['batch', 'total'], 'attention_mask');
  const pos = g.input('int64', ['batch', 'seq'], 'position_ids');
  const pk = g.input('float', ['batch', 1, 'past', 2], 'past_key_values.0.key');
  const pv = g.input('float', ['batch', 1, 'past', 2], 'past_key_values.0.value');
  const emb = (table: number[]) =>
    g.op('Unsqueeze', [g.op('Gather', [g.const('float', table, [V, 2]), ids]), g.i64([1])]);
  const k = g.op('Concat', [pk, emb(Ek)], { axis: 2 });
  const v = g.op('Concat', [pv, emb(Ev)], { axis: 2 });
  const sum = (t: string) =>
    g.op('Reshape', [g.op('ReduceSum', [t, g.i64([1, 2, 3])], { keepdims: 0 }), g.i64([-1, 1, 1])]);
  const s = g.op('Add', [sum(k), g.op('Mul', [g.f(2), sum(v)])]);
  const p = g.op('Mul', [g.op('Unsqueeze', [g.cast(pos, 'float'), g.i64([2])]), g.const('float', U, [V])]);
  const m = g.op('Mul', [
    g.op('Unsqueeze', [g.cast(g.op('ReduceSum', [mask, g.i64([1])], { keepdims: 1 }), 'float'), g.i64([2])]),
    g.const('float', W, [V]),
  ]);
  const logits = g.op('Add', [
    g.op('Add', [g.op('Gather', [g.const('float', Tab, [V, V]), ids]), s]),
    g.op('Add', [p, m]),
  ]);
  g.output(logits, 'float', 'logits', ['batch', 'seq', V]);
  g.output(k, 'float', 'present.0.key', ['batch', 1, 'total', 2]);
  if (!dropValueOutput) g.output(v, 'float', 'present.0.value', ['batch', 1, 'total', 2]);
  return g.encode('toy_decoder');
}

/** float64 logits of the last position after `history` (all tokens of one row so far). */
function expected(history: number[]): number[] {
  const n = history.length;
  let s = 0;
  for (const t of history) s += Ek[2 * t]! + Ek[2 * t + 1]! + 2 * (Ev[2 * t]! + Ev[2 * t + 1]!);
  const last = history[n - 1]!;
  return Array.from({ length: V }, (_, j) => Tab[last * V + j]! + s + (n - 1) * U[j]! + n * W[j]!);
}

describe(`onnxNextTokenModel (seed ${seed})`, () => {
  it('prefill and steps carry the KV cache like the closed form; sliceState keeps rows', async () => {
    const M = await onnxNextTokenModel(toyDecoder(), { backend: B, name: 'toy.onnx' });
    expect(M.vocabSize).toBe(V);
    expect(M.numLayers).toBe(1);
    const hist = [0, 1].map(() => Array.from({ length: 3 }, () => Math.floor(u() * V)));
    let { logits, state } = M.prefill(B.tensor(Int32Array.from(hist.flat()), [2, 3]), { batch: 2 });
    const before = B.transferStats().readbacks;
    for (let step = 0; step < 3; step++) {
      expect(
        maxRelErr(await logits.data(), [...expected(hist[0]!), ...expected(hist[1]!)]),
        `seed ${seed} step ${step}`,
      ).toBeLessThan(1e-5);
      logits.dispose();
      const next = hist.map(() => Math.floor(u() * V));
      for (const [b, t] of next.entries()) hist[b]!.push(t);
      ({ logits, state } = M.step(B.tensor(Int32Array.from(next), [2]), state));
    }
    expect(B.transferStats().readbacks - before).toBe(3); // only the test's own reads
    expect(state.keys[0]!.shape).toEqual([2, 1, 6, 2]);
    logits.dispose();
    const one = M.sliceState(state, 1, 1);
    const r = M.step(B.tensor([2], [1], 'int32'), one);
    expect(maxRelErr(await r.logits.data(), expected([...hist[1]!, 2])), `seed ${seed}`).toBeLessThan(1e-5);
    r.logits.dispose();
    M.disposeState(r.state);
    await M.dispose();
  });

  it('a decoder without present.{i}.value is rejected, listing expected and declared names', async () => {
    const err = await onnxNextTokenModel(toyDecoder(true), { backend: B, name: 'broken.onnx' }).catch(
      (e) => e,
    );
    expect(err).toBeInstanceOf(TesseraError);
    expect(err.code).toBe('MODEL_MISMATCH');
    for (const s of [
      'broken.onnx',
      "missing output 'present.0.value'",
      'present.0.key float32 [batch, 1, total, 2]',
      'input_ids int64',
    ])
      expect(err.message).toContain(s);
  });
});

describe(`onnxNextTokenModel in @tessera/autoregressive's rasterDecode (seed ${seed})`, () => {
  it('greedy decoding picks the closed-form argmax at every step, with no readback inside the loop', async () => {
    const M = await onnxNextTokenModel(toyDecoder(), { backend: B, bosTokenId: 0 });
    const before = B.transferStats().readbacks;
    const tokens = await rasterDecode(M, {
      batch: 2,
      length: 5,
      backend: B,
      sampling: { temperature: 0 },
      seed,
    });
    const got = Array.from(await tokens.data());
    expect(B.transferStats().readbacks - before).toBe(1);
    const hist = [0];
    for (let i = 0; i < 5; i++) {
      const l = expected(hist);
      hist.push(l.indexOf(Math.max(...l)));
    }
    expect(got).toEqual([...hist.slice(1), ...hist.slice(1)]);
    tokens.dispose();
    expect(() => M.prefill(null, { batch: 1, order: [1, 0] })).toThrow(/raster order/);
    await M.dispose();
  });
});
