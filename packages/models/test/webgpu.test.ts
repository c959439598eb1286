// The trained networks on the GPU: each ONNX graph on ONNX Runtime's WebGPU execution provider against the
// PyTorch outputs saved at export, and the four pipelines (DDIM, raster, next-scale, masked) with the
// caller's tensors on @tessera/backend-webgpu, read by the classifier. Skipped with a notice when there is no
// adapter, unless TESSERA_REQUIRE_WEBGPU=1 (CI), which makes that a failure.
import type { OnnxBackend } from '@tessera/backend-onnx';
import type { Backend } from '@tessera/core';
import {
  type ClassDenoiser,
  type DigitClassifier,
  type DigitsMaskedModel,
  type DigitsMSVQ,
  type DigitsScaleModel,
  type DigitsTokenModel,
  type DigitsVQ,
  loadDigitClassifier,
  loadDigitsGPT,
  loadDigitsMaskGIT,
  loadDigitsMSVQ,
  loadDigitsUNet,
  loadDigitsVAR,
  loadDigitsVQ,
  sampleDigits,
  sampleDigitsMasked,
  sampleDigitsNextScale,
  sampleDigitsRaster,
} from '@tessera/models';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tryWebGPU } from '../../../test-utils/backends';
import { freshSeed, onnxBackend, onnxWebGPUBackend, readModelJson, relErr } from './helpers.ts';

const seed = freshSeed();
const G = await onnxWebGPUBackend(); // ONNX Runtime, webgpu execution provider
const W = G ? await tryWebGPU() : undefined; // @tessera/backend-webgpu (the caller's backend)
const C0 = onnxBackend(); // ONNX Runtime, cpu execution provider
afterAll(async () => {
  await Promise.all([unet, cls, vq, gpt, scaleModel, msvq, masked].map((m) => m?.dispose()));
  await G?.dispose();
  await C0.dispose();
});

// Each network is loaded once on the WebGPU provider: the provider compiles a shader per kernel and
// shape on first use (seconds on lavapipe), which the parity checks pay and the pipelines reuse.
let unet: ClassDenoiser | undefined;
let cls: DigitClassifier | undefined;
let vq: DigitsVQ | undefined;
let gpt: DigitsTokenModel | undefined;
let scaleModel: DigitsScaleModel | undefined;
let msvq: DigitsMSVQ | undefined;
let masked: DigitsMaskedModel | undefined;
beforeAll(async () => {
  if (!G) return;
  [unet, cls, vq, gpt, scaleModel, msvq, masked] = await Promise.all([
    loadDigitsUNet({ backend: G }),
    loadDigitClassifier({ backend: G }),
    loadDigitsVQ({ backend: G }),
    loadDigitsGPT({ backend: G }),
    loadDigitsVAR({ backend: G }),
    loadDigitsMSVQ({ backend: G }),
    loadDigitsMaskGIT({ backend: G }),
  ]);
});

/**
 * Parity tolerance on the WebGPU provider. The CPU parity tests use 1e-4 relative to the output's
 * largest magnitude; float32 GPU kernels (other summation orders, fused multiply-adds, lavapipe's
 * exp/tanh) stay within it here too: the measured errors are printed below.
 */
const TOL = 1e-4;

/** Copies a float array of a fixture to a tensor on `B`. */
const f32 = (B: Backend, v: number[], shape: readonly number[]) => B.tensor(Float32Array.from(v), shape);
const i32 = (B: Backend, v: number[], shape: readonly number[]) =>
  B.tensor(Int32Array.from(v), shape, 'int32');

/** Largest relative error, logged with its name (the README's figures come from these lines). */
function report(name: string, got: ArrayLike<number>, want: ArrayLike<number>): number {
  const e = relErr(got, want);
  console.log(`[webgpu parity] ${name}: max |ort-webgpu − torch| / max|torch| = ${e.toExponential(2)}`);
  return e;
}

/** Share of rows whose predicted class is the asked one. */
function rate(pred: Int32Array, classes: readonly number[]): number {
  let ok = 0;
  for (let i = 0; i < classes.length; i++) if (pred[i] === classes[i]) ok++;
  return ok / classes.length;
}

interface UNetFixture {
  sample: number[];
  timestep: number[];
  class_labels: number[];
  shape: number[];
  out_sample: number[];
}
interface ClassifierFixture {
  pixel_values: number[];
  shape: number[];
  labels: number[];
  logits: number[];
  features: number[];
}

describe.skipIf(!G)("each shipped ONNX model on ONNX Runtime's WebGPU provider equals PyTorch", () => {
  const B = G as OnnxBackend;

  it('U-Net and classifier', async () => {
    const fu = readModelJson<UNetFixture>('unet-digits16/fixture.json');
    const n = fu.shape[0]!;
    const feeds = {
      sample: f32(B, fu.sample, fu.shape),
      timestep: f32(B, fu.timestep, [n]),
      class_labels: i32(B, fu.class_labels, [n]),
    };
    const { out_sample } = await unet!.model.run(feeds);
    expect(report('unet out_sample', await out_sample!.data(), fu.out_sample)).toBeLessThan(TOL);
    for (const t of [...Object.values(feeds), out_sample!]) t.dispose();

    const fc = readModelJson<ClassifierFixture>('classifier-digits16/fixture.json');
    const x = f32(B, fc.pixel_values, fc.shape);
    const { logits, features } = await cls!.run(x);
    expect(report('classifier logits', await logits.data(), fc.logits)).toBeLessThan(TOL);
    expect(report('classifier features', await features.data(), fc.features)).toBeLessThan(TOL);
    // features() and predict() fetch one output each (a path onnxruntime-node's GPU outputs reject)
    const f = await cls!.features(x);
    expect(relErr(await f.data(), fc.features)).toBeLessThan(TOL);
    expect(Array.from((await cls!.predict(x)).subarray(0, 3))).toEqual(fc.labels);
    for (const t of [x, logits, features, f]) t.dispose();
  });

  it('VQ tokenizer (encoder, quantizer, decoder) and GPT (uncached prefix and cached step)', async () => {
    const fv = readModelJson<{
      pixel_values: number[];
      shape: number[];
      latents: number[];
      indices: number[];
      sample: number[];
    }>('vq-digits16/fixture.json');
    const n = fv.shape[0]!;
    const x = f32(B, fv.pixel_values, fv.shape);
    const { latents } = await vq!.models.encoder.run({ pixel_values: x });
    expect(report('vq encoder latents', await latents!.data(), fv.latents)).toBeLessThan(TOL);
    // the quantizer on the PyTorch latents picks PyTorch's codes exactly
    const lt = f32(B, fv.latents, [n, 8, 4, 4]);
    const { indices } = await vq!.models.quantizer.run({ latents: lt });
    expect(Array.from(await indices!.data())).toEqual(fv.indices);
    const codes = i32(B, fv.indices, [n, 16]);
    const img = await vq!.decode(codes);
    expect(report('vq decoder sample', await img.data(), fv.sample)).toBeLessThan(TOL);
    for (const t of [x, latents!, lt, indices!, codes, img]) t.dispose();

    const fg = readModelJson<{
      input_ids: number[];
      shape: [number, number];
      logits: number[];
      next_ids: number[];
      step_logits: number[];
    }>('gpt-digits16/fixture.json');
    const [b, T] = fg.shape;
    const ids = i32(B, fg.input_ids, [b, T]);
    const pre = gpt!.decoder.prefill(ids, { batch: b });
    // the prefill's logits are the uncached run's logits at the last position
    const want = fg.logits.filter((_, k) => k % (T * 256) >= (T - 1) * 256);
    expect(report('gpt prefix logits', await pre.logits.data(), want)).toBeLessThan(TOL);
    const next = i32(B, fg.next_ids, [b]);
    const st = gpt!.decoder.step(next, pre.state);
    expect(report('gpt cached step logits', await st.logits.data(), fg.step_logits)).toBeLessThan(TOL);
    gpt!.decoder.disposeState(st.state);
    for (const t of [ids, next, pre.logits, st.logits]) t.dispose();
  });

  it('multi-scale VQ decoder and VAR transformer', async () => {
    const fd = readModelJson<{ tokens: number[]; shape: number[]; sample: number[] }>(
      'msvq-digits16/fixture.json',
    );
    const t = i32(B, fd.tokens, fd.shape);
    const img = await msvq!.decode(t);
    expect(report('msvq decoder sample', await img.data(), fd.sample)).toBeLessThan(TOL);
    t.dispose();
    img.dispose();

    const fv = readModelJson<{
      tokens: number[];
      shape: [number, number];
      labels: number[];
      positions: number;
      logits: number[];
    }>('var-digits16/fixture.json');
    const [n, L] = fv.shape;
    const feeds = { tokens: i32(B, fv.tokens, [n, L]), labels: i32(B, fv.labels, [n]) };
    const { logits } = await scaleModel!.model.run(feeds);
    const all = await logits!.data();
    const P = fv.positions; // the fixture holds positions 0..P−1 of each row
    const got = Array.from({ length: n * P * 256 }, (_, j) => {
      const r = Math.floor(j / (P * 256));
      return all[r * L * 256 + (j % (P * 256))]!;
    });
    expect(report('var logits', got, fv.logits)).toBeLessThan(TOL);
    for (const x of [feeds.tokens, feeds.labels, logits!]) x.dispose();
  });

  it('masked (MaskGIT-style) transformer', async () => {
    const fm = readModelJson<{
      tokens: number[];
      shape: [number, number];
      labels: number[];
      logits: number[];
    }>('maskgit-digits16/fixture.json');
    const [n, L] = fm.shape;
    const feeds = { tokens: i32(B, fm.tokens, [n, L]), labels: i32(B, fm.labels, [n]) };
    const { logits } = await masked!.model.run(feeds);
    expect(report('maskgit logits', await logits!.data(), fm.logits)).toBeLessThan(TOL);
    for (const x of [feeds.tokens, feeds.labels, logits!]) x.dispose();
  });

  it('a network alone on the WebGPU provider (executionProviders) of a CPU-provider backend', async () => {
    const fc = readModelJson<ClassifierFixture>('classifier-digits16/fixture.json');
    const C = await loadDigitClassifier({ backend: C0, executionProviders: ['webgpu'] });
    // the input from the caller's WebGPU backend when there is one, the result back on it
    const src: Backend = W ?? C0;
    const x = f32(src, fc.pixel_values, fc.shape);
    const { logits, features } = await C.run(x);
    expect(logits.backend).toBe(src);
    expect(report('classifier logits (model-level webgpu EP)', await logits.data(), fc.logits)).toBeLessThan(
      TOL,
    );
    expect(relErr(await features.data(), fc.features)).toBeLessThan(TOL);
    for (const t of [x, logits, features]) t.dispose();
    await C.dispose();
    // a GPU-resident backend cannot take a network whose outputs land in host memory
    await expect(loadDigitClassifier({ backend: B, executionProviders: ['cpu'] })).rejects.toThrow(
      /first execution provider must be 'webgpu', got 'cpu'/,
    );
  });
});

describe.skipIf(!G)('pipelines on the GPU, read by the trained classifier', () => {
  const B = G as OnnxBackend;
  const GUIDANCE = 2;
  // the caller's backend: @tessera/backend-webgpu (Dawn) when it has an adapter too
  const target: Backend = W ?? B;

  it(`DDIM-50 (guidance ${GUIDANCE}) with the sample on ${W ? '@tessera/backend-webgpu' : 'the ONNX WebGPU backend'}: ≥ 90% their class; equals the CPU-provider run`, async () => {
    // one digit of each class: each U-Net call is a doubled batch of 20 rows, ~1 s on lavapipe
    const classes = Array.from({ length: 10 }, (_, i) => (i + seed) % 10);
    const beforeT = target.memory().tensors;
    const beforeB = B.memory().tensors;
    const t0 = performance.now();
    const images = await sampleDigits({
      denoiser: unet!,
      classes,
      seed,
      guidanceScale: GUIDANCE,
      backend: target,
    });
    const ms = performance.now() - t0;
    expect(images.backend).toBe(target);
    const pred = await cls!.predict(images);
    const got = await images.data();
    images.dispose();
    expect(target.memory().tensors).toBe(beforeT);
    expect(B.memory().tensors).toBe(beforeB);
    const r = rate(pred, classes);
    console.log(
      `[webgpu] DDIM-50 (guidance ${GUIDANCE}, ${classes.length} samples on ${target.name}, U-Net on ort webgpu): ${(100 * r).toFixed(1)}% their class, ${(ms / 1000).toFixed(1)} s (seed ${seed})`,
    );
    expect(
      r,
      `asked ${classes.join('')}, got ${Array.from(pred).join('')}, seed ${seed}`,
    ).toBeGreaterThanOrEqual(0.9);
    // the same run with ONNX Runtime's CPU provider: float32 rounding differences over 50 steps only
    const Dc = await loadDigitsUNet({ backend: C0 });
    const ref = await sampleDigits({ denoiser: Dc, classes, seed, guidanceScale: GUIDANCE });
    const e = relErr(got, await ref.data());
    console.log(`[webgpu] DDIM-50 webgpu vs cpu provider: max rel diff ${e.toExponential(2)} (seed ${seed})`);
    expect(e, `seed ${seed}`).toBeLessThan(1e-3);
    ref.dispose();
    await Dc.dispose();
  });

  it(`raster (GPT + VQ), next-scale (VAR + multi-scale VQ) and masked (MaskGIT + VQ) decoding (guidance ${GUIDANCE}): ≥ 80% their class`, async () => {
    const classes = Array.from({ length: 20 }, (_, i) => i % 10);
    const beforeT = target.memory().tensors;
    const beforeB = B.memory().tensors;
    let t0 = performance.now();
    const raster = await sampleDigitsRaster({
      gpt: gpt!,
      vq: vq!,
      classes,
      guidanceScale: GUIDANCE,
      seed,
      backend: target,
    });
    const msR = performance.now() - t0;
    expect(raster.backend).toBe(target);
    const pr = await cls!.predict(raster);
    raster.dispose();
    t0 = performance.now();
    const scale = await sampleDigitsNextScale({
      model: scaleModel!,
      msvq: msvq!,
      classes,
      guidance: GUIDANCE,
      seed,
      backend: target,
    });
    const msS = performance.now() - t0;
    expect(scale.backend).toBe(target);
    const ps = await cls!.predict(scale);
    scale.dispose();
    t0 = performance.now();
    const mk = await sampleDigitsMasked({
      model: masked!,
      vq: vq!,
      classes,
      numIter: 8,
      guidanceScale: GUIDANCE,
      seed,
      backend: target,
    });
    const msM = performance.now() - t0;
    expect(mk.backend).toBe(target);
    const pm = await cls!.predict(mk);
    mk.dispose();
    expect(target.memory().tensors).toBe(beforeT);
    expect(B.memory().tensors).toBe(beforeB);
    const rr = rate(pr, classes);
    const rs = rate(ps, classes);
    const rm = rate(pm, classes);
    console.log(
      `[webgpu] raster: ${(100 * rr).toFixed(1)}% their class, ${(msR / 1000).toFixed(1)} s; next-scale: ${(100 * rs).toFixed(1)}%, ${(msS / 1000).toFixed(1)} s; masked: ${(100 * rm).toFixed(1)}%, ${(msM / 1000).toFixed(1)} s (${classes.length} samples on ${target.name}, guidance ${GUIDANCE}, seed ${seed})`,
    );
    expect(rr, `raster got ${Array.from(pr).join('')}, seed ${seed}`).toBeGreaterThanOrEqual(0.8);
    expect(rs, `next-scale got ${Array.from(ps).join('')}, seed ${seed}`).toBeGreaterThanOrEqual(0.8);
    expect(rm, `masked got ${Array.from(pm).join('')}, seed ${seed}`).toBeGreaterThanOrEqual(0.8);
  });
});
