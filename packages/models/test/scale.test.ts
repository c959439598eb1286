// The multi-scale VQ and the VAR-style next-scale transformer: ONNX Runtime against the PyTorch outputs
// saved at export, block-causality across scales, and next-scale samples read by the classifier.
import { nextScaleDecode } from '@tessera/autoregressive';
import { createCpuBackend } from '@tessera/core';
import { loadDigitClassifier, loadDigitsMSVQ, loadDigitsVAR, sampleDigitsNextScale } from '@tessera/models';
import { afterAll, describe, expect, it } from 'vitest';
import { freshSeed, mulberry, onnxBackend, readModelJson, relErr } from './helpers.ts';

const seed = freshSeed();
const u = mulberry(seed);
const B = onnxBackend();
afterAll(() => B.dispose());

interface MSVQFixture {
  tokens: number[];
  shape: [number, number];
  sample: number[];
}
interface VARFixture {
  tokens: number[];
  shape: [number, number];
  labels: number[];
  positions: number;
  logits: number[];
}

/** Guidance of the accuracy check (rates measured at export: models/README.md). */
const GUIDANCE = 2;

describe('next-scale (VAR) digits', () => {
  it('the multi-scale VQ decoder and the transformer equal the PyTorch outputs (1e-4 relative)', async () => {
    const fd = readModelJson<MSVQFixture>('msvq-digits16/fixture.json');
    const fv = readModelJson<VARFixture>('var-digits16/fixture.json');
    const msvq = await loadDigitsMSVQ({ backend: B });
    const model = await loadDigitsVAR({ backend: B });
    const t = B.tensor(Int32Array.from(fd.tokens), fd.shape, 'int32');
    const img = await msvq.decode(t);
    expect(relErr(await img.data(), fd.sample)).toBeLessThan(1e-4);
    // tokens of another backend (CPU) cross to ONNX Runtime; the images come back on that backend
    const cpu = createCpuBackend();
    const tc = cpu.tensor(Int32Array.from(fd.tokens), fd.shape, 'int32');
    const ic = await msvq.decode(tc);
    expect(ic.backend).toBe(cpu);
    expect(relErr(await ic.data(), fd.sample)).toBeLessThan(1e-4);
    tc.dispose();
    ic.dispose();
    const [n, L] = fv.shape;
    const { logits } = await model.model.run({
      tokens: B.tensor(Int32Array.from(fv.tokens), [n, L], 'int32'),
      labels: B.tensor(Int32Array.from(fv.labels), [n], 'int32'),
    });
    const all = await logits!.data();
    const P = fv.positions;
    const got = Array.from({ length: n * P * 256 }, (_, j) => {
      const r = Math.floor(j / (P * 256));
      return all[r * L * 256 + (j % (P * 256))]!;
    });
    expect(relErr(got, fv.logits)).toBeLessThan(1e-4);
    for (const x of [t, img, logits!]) x.dispose();
    await msvq.dispose();
    await model.dispose();
  });

  it("scale k's logits do not depend on the tokens of scales ≥ k (block-causal)", async () => {
    const model = await loadDigitsVAR({ backend: B });
    const begins = [0, 1, 5, 14, 30];
    const n = 2;
    const base = Array.from({ length: n * 30 }, () => Math.floor(u() * 256));
    const labels = B.tensor(Int32Array.from([Math.floor(u() * 10), 10]), [n], 'int32');
    const run = async (tokens: number[]) => {
      const { logits } = await model.model.run({
        tokens: B.tensor(Int32Array.from(tokens), [n, 30], 'int32'),
        labels,
      });
      const v = await logits!.data();
      logits!.dispose();
      return v;
    };
    const ref = await run(base);
    for (const k of [1, 2, 3]) {
      // change every token of scales ≥ k: the logits of scales ≤ k stay
      const changed = base.map((v, j) => (j % 30 >= begins[k]! ? (v + 1 + Math.floor(u() * 255)) % 256 : v));
      const out = await run(changed);
      const upto = begins[k + 1]! * 256; // positions of scales ≤ k
      for (let r = 0; r < n; r++) {
        const a = ref.subarray(r * 30 * 256, r * 30 * 256 + upto);
        const b = out.subarray(r * 30 * 256, r * 30 * 256 + upto);
        expect(relErr(b, a), `k ${k}, row ${r}, seed ${seed}`).toBeLessThan(1e-5);
      }
      // ...and scale k+1 does depend on them
      if (k < 3) {
        const a = ref.subarray(begins[k + 1]! * 256, begins[k + 2]! * 256);
        const b = out.subarray(begins[k + 1]! * 256, begins[k + 2]! * 256);
        expect(relErr(b, a)).toBeGreaterThan(1e-3);
      }
    }
    labels.dispose();
    await model.dispose();
  });

  it(`next-scale samples (guidance ${GUIDANCE}) are classified as their class at ≥ 80%; no leaks`, async () => {
    const model = await loadDigitsVAR({ backend: B });
    const msvq = await loadDigitsMSVQ({ backend: B });
    const C = await loadDigitClassifier({ backend: B });
    const classes = Array.from({ length: 40 }, (_, i) => i % 10);
    const before = B.memory().tensors;
    const images = await sampleDigitsNextScale({ model, msvq, classes, guidance: GUIDANCE, seed });
    const pred = await C.predict(images);
    images.dispose();
    expect(B.memory().tensors).toBe(before);
    let ok = 0;
    for (let i = 0; i < classes.length; i++) if (pred[i] === classes[i]) ok++;
    console.log(
      `next-scale samples classified as their class: ${((100 * ok) / classes.length).toFixed(1)}% (seed ${seed})`,
    );
    expect(ok / classes.length, `got ${Array.from(pred).join('')}, seed ${seed}`).toBeGreaterThanOrEqual(0.8);
    // nextScaleDecode directly: one [B, p²] tensor per scale, codes in range
    const labels = B.tensor(Int32Array.from([4, 9]), [2], 'int32');
    const scales = await nextScaleDecode(model, { batch: 2, cond: { labels }, seed });
    expect(scales.map((s) => s.shape)).toEqual([
      [2, 1],
      [2, 4],
      [2, 9],
      [2, 16],
    ]);
    for (const s of scales) {
      expect(Array.from(await s.data()).every((c) => c >= 0 && c < 256)).toBe(true);
      s.dispose();
    }
    labels.dispose();
    await Promise.all([model.dispose(), msvq.dispose(), C.dispose()]);
  });
});
