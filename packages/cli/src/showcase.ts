import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { type Backend, keep, type Tensor, TesseraError } from '@tessera/core';
import { type Denoiser, type SamplerName, sample } from '@tessera/diffusion';
import { defaultDigitsModel, encodePng, imageGrid } from '@tessera/reference';
import { alphasCumprod, betas, karrasSigmas, sigmasFromAlphasCumprod, timesteps } from '@tessera/schedules';
import { generateAr, tokensToImages } from './ar.js';
import { type BackendName, selectBackend } from './backends.js';
import { upscale } from './images.js';
import { checkOutput, writeAtomic } from './output.js';
import { createProgress } from './progress.js';
import { qualityAndSpectra } from './showcase-metrics.js';
import { type ParallelPanel, parallelPanel } from './showcase-parallel.js';
import { trainedSection } from './showcase-trained.js';

/** Options of {@link runShowcase}. */
export interface ShowcaseOptions {
  backend: BackendName;
  outDir: string;
  /** Fewer steps and images (for tests). */
  quick?: boolean;
  /** No progress bars (they show only when stderr is a terminal anyway). */
  quiet?: boolean;
  log?: (line: string) => void;
  /** Folder of the trained networks (default: the repository's `models/`). */
  modelsDir?: string;
}

interface Panel {
  title: string;
  detail: string;
  file: string;
  png: Uint8Array;
  strip?: { file: string; png: Uint8Array; caption: string };
  seconds: number;
  modelCalls: number;
  /** The generated images in [−1, 1], for the quality metrics. */
  images?: { data: ArrayLike<number>; shape: [number, number, number, number]; kind: 'digits' | 'shapes' };
}

/** The training schedule of the VP pipelines: DDPM's linear betas 1e-4…0.02 over 1000 steps. */
function vpSigmas(): Float64Array {
  return sigmasFromAlphasCumprod(
    alphasCumprod(betas('linear', { numTrainTimesteps: 1000, betaStart: 1e-4, betaEnd: 0.02 })),
  );
}

/** σ at the given training timesteps, descending, with a final 0. */
function sigmasAt(table: Float64Array, ts: ArrayLike<number>): Float64Array {
  const out = new Float64Array(ts.length + 1);
  for (let i = 0; i < ts.length; i++) out[i] = table[ts[i]!]!;
  return out;
}

function withZero(s: Float64Array): Float64Array {
  const out = new Float64Array(s.length + 1);
  out.set(s);
  return out;
}

function gridPng(data: ArrayLike<number>, shape: number[], cols?: number): Uint8Array {
  const g = imageGrid(data, shape, { pad: 1, cols });
  return encodePng(g.pixels, g.width, g.height);
}

async function diffusionPanel(
  B: Backend,
  denoiser: Denoiser,
  o: { name: SamplerName; title: string; sigmas: Float64Array; seed: number; count: number; file: string },
  log: (l: string) => void,
  quiet = false,
): Promise<Panel> {
  let calls = 0;
  const counted: Denoiser = (x, s) => {
    calls++;
    return denoiser(x, s);
  };
  const steps = o.sigmas.length - 1;
  const stripAt = new Set([0, 1, 2, 3, 4, 5, 6, 7].map((k) => Math.round((k * (steps - 1)) / 7)));
  const strip: Tensor[] = [];
  const bar = createProgress(o.title.padEnd(28), steps, { quiet });
  const t0 = performance.now();
  const noise = B.randn([o.count, 1, 16, 16], { seed: o.seed });
  const x = B.lincomb([o.sigmas[0]!], [noise]);
  const images = await sample(o.name, {
    denoiser: counted,
    x,
    sigmas: o.sigmas,
    seed: o.seed,
    callback: ({ step, denoised }) => {
      // keep the first image's x0 estimate on the device; read back once at the end
      if (stripAt.has(step)) strip.push(keep(B.slice(denoised, [0, 0, 0, 0], [1, 1, 16, 16])));
      bar.tick(step + 1);
    },
  }).finally(() => bar.stop());
  log(`  ${o.title}: done`);
  const data = await images.data();
  const seconds = (performance.now() - t0) / 1000;
  const stripT = B.concat(strip, 0);
  const stripData = await stripT.data();
  for (const t of [noise, x, images, stripT, ...strip]) t.dispose();
  const big = upscale(stripData, [strip.length, 1, 16, 16], 2);
  return {
    title: o.title,
    detail: `${steps} steps`,
    file: o.file,
    png: gridPng(data, [o.count, 1, 16, 16], 8),
    strip: {
      file: o.file.replace('.png', '-strip.png'),
      png: gridPng(big.data, big.shape, strip.length),
      caption: 'x₀ estimate of the first image as σ falls',
    },
    seconds,
    modelCalls: calls,
    images: { data, shape: [o.count, 1, 16, 16], kind: 'digits' },
  };
}

/**
 * The showcase behind `npm start`: samples the embedded default digits model by diffusion (DDPM 1000,
 * DDIM 50, DPM-Solver++(2M) 20, Euler-ancestral 30) and the reference token models by autoregression
 * (raster, next-scale); then the trained networks of `models/` through ONNX Runtime (DDPM, DDIM-50,
 * DPM-Solver++(2M) 20, ParaDiGMS and ParaTAA on the U-Net, raster VQ+GPT, next-scale VAR, judged by the
 * trained classifier; skipped with a note when onnxruntime-node is missing) and the parallel-sampling
 * panel; writes PNG grids and a self-contained `index.html` report.
 */
export async function runShowcase(options: ShowcaseOptions): Promise<{ html: string; panels: number }> {
  const log = options.log ?? console.log;
  // the output folder is checked (and made) before any sampling
  const existing = await stat(options.outDir).catch(() => undefined);
  if (existing && !existing.isDirectory()) {
    throw new TesseraError('INVALID_ARGUMENT', `showcase --out '${options.outDir}' is a file, not a folder`);
  }
  await mkdir(options.outDir, { recursive: true });
  await checkOutput(join(options.outDir, 'index.html'), true);
  const B = await selectBackend(options.backend);
  const q = !!options.quick;
  const count = q ? 8 : 32;
  log(`Tessera showcase on the ${B.name} backend${q ? ' (quick)' : ''}`);
  const t0 = performance.now();
  const model = defaultDigitsModel();
  const denoiser = model.denoiser(B);
  log(
    `  default digits model: ${model.weights.length}-component mixture fitted in ${((performance.now() - t0) / 1000).toFixed(2)} s`,
  );
  const vp = vpSigmas();
  const ddpmSteps = q ? 100 : 1000;
  const ddpmTs = timesteps(ddpmSteps, { spacing: 'leading', numTrainTimesteps: 1000 });
  const ddimTs = timesteps(q ? 10 : 50, { spacing: 'leading', numTrainTimesteps: 1000, stepsOffset: 1 });
  const panels: Panel[] = [];
  const runs: Array<{ name: SamplerName; title: string; sigmas: Float64Array; seed: number }> = [
    { name: 'ddpm', title: `DDPM (${ddpmSteps} steps)`, sigmas: sigmasAt(vp, ddpmTs), seed: 1 },
    { name: 'ddim', title: `DDIM (${ddimTs.length} steps)`, sigmas: sigmasAt(vp, ddimTs), seed: 2 },
    {
      name: 'dpmpp_2m',
      title: 'DPM-Solver++(2M) (20 steps)',
      sigmas: withZero(karrasSigmas(20, 0.002, 80, 7)),
      seed: 3,
    },
    {
      name: 'euler_ancestral',
      title: `Euler ancestral (${q ? 10 : 30} steps)`,
      sigmas: withZero(karrasSigmas(q ? 10 : 30, 0.002, 80, 7)),
      seed: 4,
    },
  ];
  for (const r of runs) {
    panels.push(
      await diffusionPanel(B, denoiser, { ...r, count, file: `diffusion-${r.name}.png` }, log, options.quiet),
    );
  }
  for (const decoder of ['raster', 'next-scale'] as const) {
    const title = decoder === 'raster' ? 'Raster AR (256 tokens)' : 'Next-scale AR (VAR scales 1…16)';
    const n = q ? 6 : 24;
    const t1 = performance.now();
    const r = await generateAr({
      backend: B,
      decoder,
      seed: 5,
      count: n,
      guidance: 1,
      sampling: { temperature: 1 },
    });
    const tokens = await r.tokens.data();
    const seconds = (performance.now() - t1) / 1000;
    const big = upscale(tokensToImages(tokens, n, 16), [n, 3, 16, 16], 2);
    const panel: Panel = {
      title,
      detail: '16×16 tokens',
      file: `ar-${decoder}.png`,
      png: gridPng(big.data, big.shape, 8),
      seconds,
      modelCalls: r.modelCalls,
      images: { data: tokensToImages(tokens, n, 16), shape: [n, 3, 16, 16], kind: 'shapes' },
    };
    if (r.scales) {
      // coarse-to-fine: each scale of the first image, upsampled to 32×32
      const tiles: Float32Array[] = [];
      for (const s of [...r.scales, r.tokens]) {
        const d = await s.data();
        const p = Math.round(Math.sqrt(d.length / n));
        const grid = new Int32Array(256);
        for (let y = 0; y < 16; y++)
          for (let x = 0; x < 16; x++)
            grid[y * 16 + x] = d[Math.floor((y * p) / 16) * p + Math.floor((x * p) / 16)]!;
        tiles.push(tokensToImages(grid, 1, 16));
      }
      const all = new Float32Array(tiles.length * 768);
      for (const [i, t] of tiles.entries()) all.set(t, i * 768);
      const up = upscale(all, [tiles.length, 3, 16, 16], 2);
      panel.strip = {
        file: 'ar-next-scale-strip.png',
        png: gridPng(up.data, up.shape, tiles.length),
        caption: 'the first image at each scale, coarse to fine',
      };
    }
    for (const t of [r.tokens, ...(r.scales ?? [])]) t.dispose();
    log(`  ${title}: ${seconds.toFixed(2)} s`);
    panels.push(panel);
  }
  // the showcase owns these names in its folder: each is replaced whole (temporary file + rename)
  for (const p of panels) {
    await writeAtomic(join(options.outDir, p.file), p.png, true);
    if (p.strip) await writeAtomic(join(options.outDir, p.strip.file), p.strip.png, true);
  }
  const extra = await qualityAndSpectra({ backend: B, denoiser, panels, quick: q, log });
  // the trained networks (ONNX Runtime), with the parallel-sampling panel on the trained U-Net
  const trained = await trainedSection({ quick: q, log, modelsDir: options.modelsDir });
  if (!trained.available) log('  trained networks: skipped (see the report)');
  let parallel: ParallelPanel | undefined = trained.parallel;
  let parallelHtml = parallel?.html ?? '';
  if (!parallel) {
    // no ONNX Runtime: the panel runs on the exact reference digits model instead
    const ts = timesteps(q ? 10 : 50, { spacing: 'leading', numTrainTimesteps: 1000, stepsOffset: 1 });
    const sig = sigmasAt(vp, ts);
    const noise = B.randn([q ? 4 : 8, 1, 16, 16], { seed: 14 });
    const x = B.lincomb([sig[0]!], [noise]);
    try {
      parallel = await parallelPanel({
        backend: B,
        denoiser,
        x,
        sigmas: sig,
        seed: 14,
        window: ts.length,
        label: 'The exact reference digits model (Gaussian mixture; the trained U-Net is unavailable here)',
        cols: 8,
        log,
      });
      parallelHtml = parallel.html;
    } finally {
      noise.dispose();
      x.dispose();
    }
  }
  for (const f of [...trained.files, ...parallel.files]) {
    await writeAtomic(join(options.outDir, f.file), f.png, true);
  }
  const html = renderReport(
    panels,
    B.name,
    (performance.now() - t0) / 1000,
    `${trained.html}\n${parallelHtml}\n${extra}`,
  );
  const htmlPath = join(options.outDir, 'index.html');
  await writeAtomic(htmlPath, html, true);
  log(
    `wrote ${htmlPath} and ${panels.length + trained.files.length + parallel.files.length} image grids in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  return { html: htmlPath, panels: panels.length };
}

function dataUri(png: Uint8Array): string {
  return `data:image/png;base64,${Buffer.from(png).toString('base64')}`;
}

function renderReport(panels: Panel[], backend: string, total: number, extra = ''): string {
  const rows = panels
    .map(
      (p) =>
        `<tr><td>${p.title}</td><td>${p.detail}</td><td>${p.modelCalls}</td><td>${p.seconds.toFixed(2)} s</td></tr>`,
    )
    .join('\n');
  const cards = panels
    .map(
      (
        p,
      ) => `<section><h2>${p.title}</h2><p>${p.detail} · ${p.modelCalls} model calls · ${p.seconds.toFixed(2)} s</p>
<img class="grid" src="${dataUri(p.png)}" alt="${p.title}">
${p.strip ? `<p class="cap">${p.strip.caption}</p><img class="strip" src="${dataUri(p.strip.png)}" alt="${p.strip.caption}">` : ''}</section>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Tessera showcase</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;margin:2rem auto;max-width:1100px;background:#111;color:#eee}
h1{margin-bottom:0}table{border-collapse:collapse;margin:1rem 0}td,th{padding:.3rem .8rem;border-bottom:1px solid #333;text-align:left}
section{display:inline-block;vertical-align:top;margin:0 1.5rem 1.5rem 0}img{image-rendering:pixelated;display:block}
img.grid{width:440px}img.strip{width:440px;margin-top:.3rem}.cap{color:#aaa;margin:.5rem 0 0}
img.trained{width:480px}img.par{width:330px}figure.par{display:inline-block;margin:0 1rem 1rem 0}div.row{margin:1rem 0}
</style></head><body>
<h1>Tessera showcase</h1>
<p>Embedded reference models, generated on the <b>${backend}</b> backend in ${total.toFixed(1)} s.
Diffusion: the default digits model (a Gaussian mixture fitted to procedural 16×16 digits, exact denoiser).
Autoregression: count-based token models fitted to procedural shape images. Below them: the networks trained
on the same digits (U-Net, VQ + GPT, VAR, classifier) through ONNX Runtime, and the parallel samplers.</p>
<table><tr><th>pipeline</th><th>work</th><th>model calls</th><th>wall time</th></tr>
${rows}
</table>
${cards}
${extra}
</body></html>
`;
}
