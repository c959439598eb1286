// The VQ tokenizer and the class-conditional GPT: ONNX Runtime against the PyTorch outputs saved at
// export, cached against uncached decoding, and raster samples read by the classifier.
import { rasterDecode } from '@tessera/autoregressive';
import { createCpuBackend } from '@tessera/core';
import { loadDigitClassifier, loadDigitsGPT, loadDigitsVQ, sampleDigitsRaster } from '@tessera/models';
import { afterAll, describe, expect, it } from 'vitest';
import { freshSeed, mulberry, onnxBackend, readModelJson, relErr } from './helpers.ts';

const seed = freshSeed();
const u = mulberry(seed);
const B = onnxBackend();
afterAll(() => B.dispose());

interface VQFixture {
  pixel_values: number[];
  shape: [number, number, number, number];
  latents: number[];
  indices: number[];
  sample: number[];
}
interface GPTFixture {
  input_ids: number[];
  shape: [number, number];
  logits: number[];
  next_ids: number[];
  step_logits: number[];
}

/** Guidance of the raster accuracy check (rates measured at export: models/README.md). */
const GUIDANCE = 2;

describe('VQ tokenizer', () => {
  it('encoder, quantizer and decoder equal the PyTorch outputs (1e-4 relative; codes exactly)', async () => {
    const fx = readModelJson<VQFixture>('vq-digits16/fixture.json');
    const vq = await loadDigitsVQ({ backend: B });
    const x = B.tensor(Float32Array.from(fx.pixel_values), fx.shape);
    const { latents } = await vq.models.encoder.run({ pixel_values: x });
    expect(relErr(await latents!.data(), fx.latents)).toBeLessThan(1e-4);
    const codes = await vq.encode(x);
    expect(codes.shape).toEqual([fx.shape[0], 16]);
    expect(Array.from(await codes.data())).toEqual(fx.indices);
    const img = await vq.decode(codes);
    expect(relErr(await img.data(), fx.sample)).toBeLessThan(1e-4);
    // tensors of another backend (here CPU) cross to ONNX Runtime and come back on their backend
    const cpu = createCpuBackend();
    const xc = cpu.tensor(Float32Array.from(fx.pixel_values), fx.shape);
    const cc = await vq.encode(xc);
    expect(cc.backend).toBe(cpu);
    expect(Array.from(await cc.data())).toEqual(fx.indices);
    const ic = await vq.decode(cc);
    expect(ic.backend).toBe(cpu);
    expect(relErr(await ic.data(), fx.sample)).toBeLessThan(1e-4);
    for (const t of [x, latents!, codes, img, xc, cc, ic]) t.dispose();
    expect(B.memory().tensors).toBe(0);
    await vq.dispose();
  });
});

describe('GPT', () => {
  it('uncached and cached logits equal the PyTorch outputs (1e-4 relative)', async () => {
    const fx = readModelJson<GPTFixture>('gpt-digits16/fixture.json');
    const gpt = await loadDigitsGPT({ backend: B });
    const [n, T] = fx.shape;
    const ids = B.tensor(Int32Array.from(fx.input_ids), [n, T], 'int32');
    const mask = B.tensor(new Int32Array(n * T).fill(1), [n, T], 'int32');
    const pos = B.tensor(
      Int32Array.from({ length: n * T }, (_, j) => j % T),
      [n, T],
      'int32',
    );
    const feeds: Record<string, ReturnType<typeof B.tensor>> = {
      input_ids: ids,
      attention_mask: mask,
      position_ids: pos,
    };
    for (let i = 0; i < 4; i++) {
      feeds[`past_key_values.${i}.key`] = B.fill([n, 4, 0, 32], 0);
      feeds[`past_key_values.${i}.value`] = B.fill([n, 4, 0, 32], 0);
    }
    const out = await gpt.model.run(feeds);
    expect(relErr(await out.logits!.data(), fx.logits)).toBeLessThan(1e-4);
    // the decoder's own cached path: prefill the 5-token prefix, one step with next_ids
    const pre = gpt.decoder.prefill(ids, { batch: n });
    const last = await pre.logits.data();
    const want = fx.logits.flatMap((_, k) => k).filter((k) => k % (T * 256) >= (T - 1) * 256);
    expect(
      relErr(
        last,
        want.map((k) => fx.logits[k]!),
      ),
    ).toBeLessThan(1e-4);
    const next = B.tensor(Int32Array.from(fx.next_ids), [n], 'int32');
    const st = gpt.decoder.step(next, pre.state);
    expect(relErr(await st.logits.data(), fx.step_logits)).toBeLessThan(1e-4);
    gpt.decoder.disposeState(st.state);
    for (const t of [...Object.values(feeds), ...Object.values(out), pre.logits, st.logits, next])
      t.dispose();
    await gpt.dispose();
  });

  it('cached decoding gives the logits of uncached runs of the whole prefix (random codes and class)', async () => {
    const gpt = await loadDigitsGPT({ backend: B });
    const n = 3;
    const L = 16;
    const cls = Array.from({ length: n }, () => Math.floor(u() * 11));
    const toks = Array.from({ length: n * L }, () => Math.floor(u() * 256));
    const labels = B.tensor(Int32Array.from(cls), [n], 'int32');
    let { logits, state } = gpt.prefill(null, { batch: n, cond: { labels } });
    for (const k of [0, 1 + Math.floor(u() * 7), 8 + Math.floor(u() * 7)]) {
      while (state.length - 1 < k) {
        const col = B.tensor(
          Int32Array.from({ length: n }, (_, r) => toks[r * L + state.length - 1]!),
          [n],
          'int32',
        );
        logits.dispose();
        ({ logits, state } = gpt.step(col, state));
        col.dispose();
      }
      // uncached: the class token and the first k codes in one run
      const ids = Int32Array.from({ length: n * (k + 1) }, (_, j) => {
        const r = Math.floor(j / (k + 1));
        const c = j % (k + 1);
        return c === 0 ? 256 + cls[r]! : toks[r * L + c - 1]!;
      });
      const prefix = B.tensor(ids, [n, k + 1], 'int32');
      const full = gpt.decoder.prefill(prefix, { batch: n });
      expect(relErr(await logits.data(), await full.logits.data()), `k ${k}, seed ${seed}`).toBeLessThan(
        1e-4,
      );
      gpt.decoder.disposeState(full.state);
      full.logits.dispose();
      prefix.dispose();
    }
    logits.dispose();
    gpt.disposeState?.(state);
    labels.dispose();
    await gpt.dispose();
  });

  it(`raster samples (guidance ${GUIDANCE}) are classified as their class at ≥ 80%; no leaks`, async () => {
    const gpt = await loadDigitsGPT({ backend: B });
    const vq = await loadDigitsVQ({ backend: B });
    const C = await loadDigitClassifier({ backend: B });
    const classes = Array.from({ length: 40 }, (_, i) => i % 10);
    const before = B.memory().tensors;
    const images = await sampleDigitsRaster({ gpt, vq, classes, guidanceScale: GUIDANCE, seed });
    const pred = await C.predict(images);
    images.dispose();
    expect(B.memory().tensors).toBe(before);
    let ok = 0;
    for (let i = 0; i < classes.length; i++) if (pred[i] === classes[i]) ok++;
    console.log(
      `raster samples classified as their class: ${((100 * ok) / classes.length).toFixed(1)}% (seed ${seed})`,
    );
    expect(ok / classes.length, `got ${Array.from(pred).join('')}, seed ${seed}`).toBeGreaterThanOrEqual(0.8);
    // rasterDecode with the model directly, unguided: codes in range
    const labels = B.tensor(Int32Array.from([1, 2]), [2], 'int32');
    const codes = await rasterDecode(gpt, { batch: 2, length: 16, cond: { labels }, seed });
    const v = await codes.data();
    expect(Array.from(v).every((c) => c >= 0 && c < 256)).toBe(true);
    codes.dispose();
    labels.dispose();
    await Promise.all([gpt.dispose(), vq.dispose(), C.dispose()]);
  });

  it('rejects a prefix and wrong labels', async () => {
    const gpt = await loadDigitsGPT({ backend: B });
    const p = B.fill([1, 2], 3, 'int32');
    expect(() => gpt.prefill(p, { batch: 1 })).toThrow(/takes no prefix/);
    const bad = B.fill([2], 3, 'int32');
    expect(() => gpt.prefill(null, { batch: 3, cond: { labels: bad } })).toThrow(
      /int32 \[3\], got int32 \[2\]/,
    );
    p.dispose();
    bad.dispose();
    await gpt.dispose();
  });
});
