// GPU residency in a browser: onnxruntime-web's WebGPU provider and @tessera/backend-webgpu share one
// GPUDevice in Chromium (playwright-core; SwiftShader's adapter here), so model outputs go to the
// WebGPU backend without leaving the GPU. The page is test/browser/shared-device.page.ts.
//
// (In Node this hand-over cannot exist: onnxruntime-node's WebGPU provider runs its own Dawn instance
// and hands out native buffers that the `webgpu` package cannot adopt. moveToBackend falls back to the
// host there; see interop.test.ts.)
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { currentBackend, type Tensor } from '@tessera/core';
import { sample } from '@tessera/diffusion';
import { defaultDigitsModel, mixturePosteriorMean64 } from '@tessera/reference';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BrowserPage, openBrowserPage } from '../../../test-utils/browser.ts';
import { maxRelErr } from './ref64.ts';

const here = dirname(fileURLToPath(import.meta.url));
const seed = Number(process.env.TESSERA_TEST_SEED ?? Date.now() % 1e9);

/** Karras et al. (2022) eq. 5 with n steps, then 0. */
function karras(n: number, sMin = 0.02, sMax = 20, rho = 7): number[] {
  const a = sMax ** (1 / rho);
  const b = sMin ** (1 / rho);
  return [...Array.from({ length: n }, (_, i) => (a + (i / (n - 1)) * (b - a)) ** rho), 0];
}

type Page = BrowserPage['page'];
const call = <T>(page: Page, fn: string, ...args: unknown[]): Promise<T> =>
  page.evaluate(
    ([f, a]) =>
      (globalThis as unknown as { tessera: Record<string, (...x: unknown[]) => Promise<unknown>> }).tessera[
        f as string
      ]!(...(a as unknown[])),
    [fn, args] as const,
  ) as Promise<T>;

describe(`browser: onnxruntime-web webgpu + backend-webgpu on one GPUDevice (seed ${seed})`, () => {
  let bp: BrowserPage | undefined;
  beforeAll(async () => {
    const root = join(here, '..', '..', '..');
    bp = await openBrowserPage(
      join(here, 'browser', 'shared-device.page.ts'),
      { '/ort/': join(root, 'node_modules', 'onnxruntime-web', 'dist') },
      { alias: { vitest: join(root, 'test-utils', 'browser-vitest.ts') } },
    );
  }, 120_000);
  afterAll(async () => {
    await bp?.close();
  });

  it('moves a tensor WebGPU → ONNX → WebGPU with zero copies and no readback', async (ctx) => {
    if (!bp) return ctx.skip();
    let s = seed;
    const values = Array.from({ length: 24 }, () => {
      s = (s * 1103515245 + 12345) % 2 ** 31;
      return (s / 2 ** 31) * 8 - 4;
    });
    const r = await call<{ got: number[]; zeroCopy: boolean[]; transfers: number; hostOutputs: number }>(
      bp.page,
      'roundTrip',
      values,
      [2, 3, 4],
    );
    expect(r.zeroCopy).toEqual([true, true]);
    expect(r.transfers, 'host readbacks before the final read').toBe(0);
    expect(r.hostOutputs, 'ONNX outputs that landed in host memory').toBe(0);
    // ×2 is exact in float32
    expect(r.got).toEqual(values.map((v) => Math.fround(v) * 2));
  });

  it('an ONNX output bound for a different GPUDevice goes through the host (zero copy refused)', async (ctx) => {
    if (!bp) return ctx.skip();
    const values = [seed % 97, -1.5, 0.25, 3];
    const r = await call<{ got: number[]; zeroCopy: boolean; err: string }>(bp.page, 'otherDevice', values);
    expect(r.zeroCopy).toBe(false);
    expect(r.got).toEqual(values);
    expect(r.err).toMatch(/^UNSUPPORTED: .*not the device of 'webgpu'/);
  });

  it('20-step dpmpp_2m with the default model as ONNX: one readback (the final image), samples match the float64 model; no growth over rounds', async (ctx) => {
    if (!bp) return ctx.skip();
    const sigmas = karras(20);
    type Loop = {
      adapter: string;
      results: Array<{
        data: number[];
        readbacksInLoop: number;
        readbacks: number;
        hostOutputs: number;
        tensors: number;
        buffers: number;
      }>;
    };
    // three rounds of 2 images for readbacks, determinism and memory; one round of 16 for accuracy
    const { adapter, results } = await call<Loop>(bp.page, 'sampleLoop', seed, sigmas, 3, 2);
    console.log(`[browser] adapter: ${adapter}`);
    for (const r of results) {
      expect(r.readbacksInLoop, 'host readbacks inside the 20-step loop').toBe(0);
      expect(r.readbacks, 'host readbacks of the whole run').toBe(1);
      expect(r.hostOutputs, 'ONNX outputs that landed in host memory').toBe(0);
    }
    // same seed, same device: identical samples each round; live tensors and buffers flat after round 1
    for (const r of results.slice(1)) expect(r.data).toEqual(results[0]!.data);
    expect(results[2]!.tensors).toBe(results[1]!.tensors);
    expect(results[2]!.buffers).toBe(results[1]!.buffers);

    const images = 16;
    const [wide] = (await call<Loop>(bp.page, 'sampleLoop', seed, sigmas, 1, images)).results;
    expect(wide!.readbacks, 'host readbacks of the whole run').toBe(1);
    // the reference: the same loop on the CPU backend with the exact posterior mean in float64
    const model = defaultDigitsModel();
    const C = currentBackend();
    const D64 = async (x: Tensor, s: number) =>
      C.tensor(Float32Array.from(mixturePosteriorMean64(model.canonical, await x.data(), s)), x.shape);
    const z = C.randn([images, 1, 16, 16], { seed });
    const x = C.lincomb([sigmas[0]!], [z]);
    const out = await sample('dpmpp_2m', { denoiser: D64, x, sigmas, seed });
    const exact = (await out.data()) as Float32Array;
    for (const t of [z, x, out]) t.dispose();
    // float32 graph: as on onnxruntime-node webgpu (default-model.test.ts), typically 1e-5 … 1e-4 from
    // the float64 model, but a trajectory through near-tied component responsibilities amplifies float32
    // rounding (~3% of images beyond 2e-4 there, one image in 3,840 by 0.12 in the diffusion-onnx
    // example), so no bound holds for every image: at least 8 of 16 within 2e-4 (fails with probability
    // < 1e-6 at a 7% rate per image; a wrong graph or step moves every image)
    const perImage = Array.from({ length: images }, (_, n) =>
      maxRelErr(wide!.data.slice(n * 256, (n + 1) * 256), exact.subarray(n * 256, (n + 1) * 256)),
    );
    const note = `max rel. error per image vs float64 model: ${perImage.map((e) => e.toExponential(1))}, seed ${seed}`;
    console.log(`[browser] ${note}`);
    expect(perImage.filter((e) => e < 2e-4).length, note).toBeGreaterThanOrEqual(8);
  }, 300_000);

  it('core conformance suite on onnxruntime-web’s WebGPU provider (the third WebGPU target)', async (ctx) => {
    if (!bp) return ctx.skip();
    const r = await call<{
      passed: number;
      skipped: number;
      failed: Array<{ name: string; error: string }>;
      tensors: number;
    }>(bp.page, 'conformance', seed);
    console.log(`[browser] onnx-web-webgpu conformance: ${r.passed} passed, ${r.failed.length} failed`);
    expect(r.failed.map((f) => `${f.name}\n  ${f.error}`).join('\n'), `seed ${seed}`).toBe('');
    expect(r.passed).toBeGreaterThan(100);
    expect(r.skipped).toBe(0);
    expect(r.tensors, 'tensors left alive by the suite').toBe(0);
  }, 600_000);
});
