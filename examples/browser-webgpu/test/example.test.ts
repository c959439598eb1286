// browser-webgpu in Chromium (playwright-core; SwiftShader's WebGPU adapter): the page samples on
// navigator.gpu and draws the digits; the samples match the same pipeline on the CPU backend in Node,
// and the canvas shows them. Skipped with a notice without Chromium, unless TESSERA_REQUIRE_BROWSER=1.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { currentBackend } from '@tessera/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BrowserPage, openBrowserPage } from '../../../test-utils/browser.ts';
// @ts-expect-error plain JavaScript example
import { sampleDigits } from '../pipeline.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const seed = Number(process.env.TESSERA_TEST_SEED ?? Date.now() % 100000);

describe(`browser-webgpu example (seed ${seed})`, () => {
  let bp: BrowserPage | undefined;
  beforeAll(async () => {
    // the example's own page, its script pointed at the harness's bundle of app.mjs
    const html = readFileSync(join(here, '..', 'index.html'), 'utf8').replace('/app.js', '/main.js');
    bp = await openBrowserPage(join(here, '..', 'app.mjs'), {}, { html });
  }, 120_000);
  afterAll(async () => {
    await bp?.close();
  });

  it('samples on WebGPU in the page, matching the CPU backend; the canvas shows the grid', async (ctx) => {
    if (!bp) return ctx.skip();
    const count = 8;
    const r = await bp.page.evaluate(
      ([s, n]) =>
        (
          globalThis as unknown as {
            demo: { run(o: object): Promise<{ data: number[]; backend: string; ms: number }> };
          }
        ).demo.run({ seed: s, count: n }),
      [seed, count] as const,
    );
    expect(r.backend).toBe('webgpu');
    const want = (await sampleDigits(currentBackend(), { seed, count })) as Float32Array;
    // float32 on both sides, different kernels: per image within 2e-4 for all but trajectories through
    // near-tied mixture responsibilities, which amplify rounding without bound (ONNX vs TypeScript in
    // examples/diffusion-onnx, 3,840 images: 0.8% beyond 2e-4, 0.03% beyond 0.1). "Five of six within
    // 2e-4, all within 1e-2" therefore failed a few runs in a thousand; images are independent, so with
    // q = 0.03 per image (several times that rate, for two float32 sides) P(five or more of eight beyond
    // 2e-4) ≈ 56·q⁵ ≈ 1.4e-6, and a wrong pipeline moves every image.
    const perImage = Array.from({ length: count }, (_, n) => {
      let e = 0;
      for (let i = n * 256; i < (n + 1) * 256; i++) e = Math.max(e, Math.abs(r.data[i]! - want[i]!));
      return e;
    });
    const close = perImage.filter((e) => e < 2e-4).length;
    expect(close, `per-image errors ${perImage}, seed ${seed}`).toBeGreaterThanOrEqual(4);
    // the canvas: 4× tiles of the images; its grey levels are the images' (-1…1 → 0…255)
    const canvas = await bp.page.evaluate(() => {
      const c = document.getElementById('digits') as HTMLCanvasElement;
      const px = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      let sum = 0;
      let sumSq = 0;
      for (let i = 0; i < px.length; i += 4) {
        sum += px[i]!;
        sumSq += px[i]! ** 2;
      }
      const n = px.length / 4;
      return { w: c.width, h: c.height, mean: sum / n, sd: Math.sqrt(sumSq / n - (sum / n) ** 2) };
    });
    expect(canvas.w).toBeGreaterThanOrEqual(4 * 16);
    expect(canvas.sd, 'a drawn grid, not a blank canvas').toBeGreaterThan(20);
    const status = await bp.page.evaluate(() => document.getElementById('status')?.textContent ?? '');
    expect(status).toContain(`on webgpu`);
    expect(status).toContain(`seed ${seed}`);
    const where = await bp.page.evaluate(() => document.getElementById('where')?.textContent ?? '');
    expect(where).toContain('on the GPU');
  }, 120_000);
});

describe('browser-webgpu example without WebGPU (issue 13, item 13)', () => {
  let bp: BrowserPage | undefined;
  beforeAll(async () => {
    // the same page in a browser whose navigator.gpu is hidden (a classic script runs before the module)
    const hide =
      "<script>Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined, configurable: true });</script>";
    const html = readFileSync(join(here, '..', 'index.html'), 'utf8')
      .replace('/app.js', '/main.js')
      .replace('<script type="module"', `${hide}\n<script type="module"`);
    bp = await openBrowserPage(join(here, '..', 'app.mjs'), {}, { html });
  }, 120_000);
  afterAll(async () => {
    await bp?.close();
  });

  it('says it falls back to the CPU, and keeps the reason after every run', async (ctx) => {
    if (!bp) return ctx.skip();
    const text = () =>
      bp!.page.evaluate(() => ({
        where: document.getElementById('where')?.textContent ?? '',
        status: document.getElementById('status')?.textContent ?? '',
        page: document.body.textContent ?? '',
      }));
    const demo = await bp.page.evaluate(() => {
      const d = (globalThis as unknown as { demo: { backend: string; fallback?: string } }).demo;
      return { backend: d.backend, fallback: d.fallback };
    });
    expect(demo.backend).toBe('cpu');
    // createWebGPUBackend's own message for a browser without navigator.gpu
    expect(demo.fallback).toContain('navigator.gpu is missing');
    for (const k of [0, 1]) {
      if (k) {
        const r = await bp.page.evaluate(
          (s) =>
            (globalThis as unknown as { demo: { run(o: object): Promise<{ backend: string }> } }).demo.run({
              seed: s,
              count: 2,
              steps: 4,
            }),
          seed,
        );
        expect(r.backend).toBe('cpu');
      }
      const t = await text();
      expect(t.where, `run ${k}`).toContain('CPU');
      expect(t.where, `run ${k}`).toContain('navigator.gpu is missing');
      expect(t.status, `run ${k}`).toContain('on cpu');
      expect(t.page, `run ${k}`).not.toMatch(/every step (runs )?on the GPU/i);
    }
  }, 120_000);
});
