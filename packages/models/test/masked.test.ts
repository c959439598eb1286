// The masked (MaskGIT-style) token transformer: ONNX Runtime against the PyTorch logits saved at
// export, bidirectional attention, known tokens kept by maskedDecode, and masked samples read by the
// classifier.
import { maskedDecode } from '@tessera/autoregressive';
import { TesseraError } from '@tessera/core';
import { loadDigitClassifier, loadDigitsMaskGIT, loadDigitsVQ, sampleDigitsMasked } from '@tessera/models';
import { afterAll, describe, expect, it } from 'vitest';
import { freshSeed, mulberry, onnxBackend, readModelJson, relErr } from './helpers.ts';

const seed = freshSeed();
const u = mulberry(seed);
const B = onnxBackend();
afterAll(() => B.dispose());

interface MaskedFixture {
  tokens: number[];
  shape: [number, number];
  labels: number[];
  logits: number[];
}

/** Guidance and iterations of the accuracy check (rates measured with models/eval.mjs: models/README.md). */
const GUIDANCE = 2;
const ITERS = 8;

describe('masked (MaskGIT-style) digits', () => {
  it('the transformer equals the PyTorch logits (1e-4 relative), masked positions fed as 256', async () => {
    const f = readModelJson<MaskedFixture>('maskgit-digits16/fixture.json');
    const model = await loadDigitsMaskGIT({ backend: B });
    expect([model.vocabSize, model.seqLen, model.numClasses]).toEqual([256, 16, 10]);
    const [n, L] = f.shape;
    // through the adapter: masked positions hold any value and are fed as 256
    const raw = f.tokens.map((t) => (t === 256 ? Math.floor(u() * 256) : t));
    const tokens = B.tensor(Int32Array.from(raw), [n, L], 'int32');
    const mask = B.tensor(
      Float32Array.from(f.tokens, (t) => (t === 256 ? 1 : 0)),
      [n, L],
      'float32',
    );
    const labels = B.tensor(Int32Array.from(f.labels), [n], 'int32');
    const logits = model.logits(tokens, mask, { labels });
    expect(logits.shape).toEqual([n, L, 256]);
    expect(relErr(await logits.data(), f.logits), `seed ${seed}`).toBeLessThan(1e-4);
    for (const t of [tokens, mask, labels, logits]) t.dispose();
    await model.dispose();
  });

  it('attention is bidirectional: a token after a position changes its logits', async () => {
    const model = await loadDigitsMaskGIT({ backend: B });
    const row = Array.from({ length: 16 }, () => Math.floor(u() * 256));
    const other = [...row];
    other[15] = (row[15]! + 1 + Math.floor(u() * 254)) % 256;
    const tokens = B.tensor(Int32Array.from([...row, ...other]), [2, 16], 'int32');
    const mask = B.tensor(
      Float32Array.from({ length: 32 }, (_, i) => (i % 16 === 0 ? 1 : 0)),
      [2, 16],
      'float32',
    );
    const labels = B.tensor(Int32Array.from([3, 3]), [2], 'int32');
    const logits = await model.logits(tokens, mask, { labels }).data();
    let diff = 0;
    for (let v = 0; v < 256; v++) diff = Math.max(diff, Math.abs(logits[v]! - logits[16 * 256 + v]!));
    expect(diff, `seed ${seed}`).toBeGreaterThan(1e-3);
    for (const t of [tokens, mask, labels]) t.dispose();
    await model.dispose();
  });

  it(`masked samples (${ITERS} iterations, guidance ${GUIDANCE}) are classified as their class at ≥ 80%; no leaks`, async () => {
    const model = await loadDigitsMaskGIT({ backend: B });
    const vq = await loadDigitsVQ({ backend: B });
    const C = await loadDigitClassifier({ backend: B });
    const classes = Array.from({ length: 40 }, (_, i) => i % 10);
    const before = B.memory().tensors;
    const images = await sampleDigitsMasked({
      model,
      vq,
      classes,
      numIter: ITERS,
      guidanceScale: GUIDANCE,
      seed,
    });
    expect(images.shape).toEqual([40, 1, 16, 16]);
    const pred = await C.predict(images);
    images.dispose();
    expect(B.memory().tensors).toBe(before);
    let ok = 0;
    for (let i = 0; i < classes.length; i++) if (pred[i] === classes[i]) ok++;
    console.log(
      `masked samples classified as their class: ${((100 * ok) / classes.length).toFixed(1)}% (seed ${seed})`,
    );
    expect(ok / classes.length, `got ${Array.from(pred).join('')}, seed ${seed}`).toBeGreaterThanOrEqual(0.8);
    await Promise.all([model.dispose(), vq.dispose(), C.dispose()]);
  });

  it('maskedDecode keeps known tokens and fills the rest with codes in range', async () => {
    const model = await loadDigitsMaskGIT({ backend: B });
    const known = Array.from({ length: 32 }, () => Math.floor(u() * 256));
    const keep = Array.from({ length: 32 }, () => (u() < 0.4 ? 1 : 0));
    const tokens = B.tensor(Int32Array.from(known), [2, 16], 'int32');
    const labels = B.tensor(Int32Array.from([1, 8]), [2], 'int32');
    const out = await maskedDecode(model, {
      batch: 2,
      numIter: 4,
      backend: B,
      cond: { labels },
      known: { tokens, mask: keep },
      seed,
    });
    const got = await out.data();
    for (let i = 0; i < 32; i++) {
      if (keep[i]) expect(got[i], `position ${i}, seed ${seed}`).toBe(known[i]);
      else expect(got[i]! >= 0 && got[i]! < 256).toBe(true);
    }
    for (const t of [tokens, labels, out]) t.dispose();
    await model.dispose();
  });

  it('bad input: wrong shapes, classes out of range', async () => {
    const model = await loadDigitsMaskGIT({ backend: B });
    const vq = await loadDigitsVQ({ backend: B });
    const t = B.tensor(
      Int32Array.from({ length: 15 }, () => 1),
      [1, 15],
      'int32',
    );
    const m = B.tensor(new Float32Array(15), [1, 15], 'float32');
    expect(() => model.logits(t, m)).toThrow(/tokens and mask must be \[B, 16\]/);
    await expect(sampleDigitsMasked({ model, vq, classes: [11] })).rejects.toThrow(TesseraError);
    await expect(sampleDigitsMasked({ model, vq, classes: [] })).rejects.toThrow(
      /classes must be a non-empty array/,
    );
    for (const x of [t, m]) x.dispose();
    await Promise.all([model.dispose(), vq.dispose()]);
  });
});
