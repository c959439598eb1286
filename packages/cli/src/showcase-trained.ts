/**
 * The showcase's trained-network section: class-conditional digits from the networks trained under the
 * repository's `models/` (through ONNX Runtime) by every method — DDPM, DDIM-50, DPM-Solver++(2M) 20 on
 * the U-Net, ParaDiGMS and ParaTAA on the same U-Net, the GPT over VQ codes (raster), the VAR
 * transformer (next-scale) and the masked transformer over VQ codes (MaskGIT) — with the model calls, the wall time, the trained classifier's accuracy on
 * the images as drawn (8-bit) and FID/KID on its features against real procedural digits.
 */
import type { OnnxBackend } from '@tessera/backend-onnx';
import type { Tensor } from '@tessera/core';
import { type Denoiser, rowDenoiser, rowSigmas, type SamplerName, sample } from '@tessera/diffusion';
import { FeatureStats, frechetDistance, kernelInceptionDistance } from '@tessera/metrics';
import type { ClassDenoiser, DigitClassifier } from '@tessera/models';
import { digitsDataset, encodePng, imageGrid } from '@tessera/reference';
import { karrasSigmas } from '@tessera/schedules';
import { type ParallelPanel, parallelPanel } from './showcase-parallel.js';

/** Classifier-free guidance scale of every class-conditional run of the section. */
export const TRAINED_GUIDANCE = 2;
/** Iterations (model calls) of the masked decoder's runs. */
const MASKED_ITERS = 8;
/** Feature dimension of the trained classifier's penultimate layer. */
const FEATURE_DIM = 128;

/** One method's row of the comparison table, as recorded in the report's facts. */
export interface TrainedRowFacts {
  key: string;
  title: string;
  detail: string;
  file: string;
  classes: number[];
  predictions: number[];
  accuracy: number;
  modelCalls: number;
  seconds: number;
  fid: number;
  kid: number;
}

/** What {@link trainedSection} returns. */
export interface TrainedSection {
  /** Whether the networks ran (false: ONNX Runtime or the model files are unavailable). */
  available: boolean;
  /** The report section. */
  html: string;
  /** The parallel-sampling panel when it ran on the trained U-Net. */
  parallel?: ParallelPanel;
  /** PNG grids to write next to the report. */
  files: Array<{ file: string; png: Uint8Array }>;
  rows: TrainedRowFacts[];
}

/**
 * 8-bit rounding as the PNG grid draws a value in [-1, 1] (`imageGrid`), mapped back to [-1, 1]: the
 * classifier reads exactly the images a viewer sees.
 */
export function quantize8(data: ArrayLike<number>): Float32Array {
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const p = Math.round(Math.min(1, Math.max(-1, data[i]!)) * 127.5 + 127.5);
    out[i] = (p - 127.5) / 127.5;
  }
  return out;
}

/**
 * The U-Net as a denoiser taking one σ per row, for batches made of whole copies of `classes.length`
 * images (the layout of `sample` and of the parallel solvers' rounds): one network call per call.
 */
export function classRowDenoiser(D: ClassDenoiser, classes: readonly number[], guidanceScale: number) {
  const n = classes.length;
  return rowDenoiser(async (x, sigma) => {
    const s = await rowSigmas('showcase U-Net', sigma, x);
    const rows = x.shape[0]!;
    const labels = Array.from({ length: rows }, (_, i) => classes[i % n]!);
    return D(x, typeof s === 'number' ? s : Array.from(s), { classLabels: labels, guidanceScale });
  });
}

interface Method {
  key: string;
  title: string;
  detail: string;
  run: () => Promise<{ data: Float32Array; modelCalls: number }>;
}

/** Counts calls of the listed methods of an object (model calls of a token model). */
function countCalls<T extends object>(target: T, methods: string[]): { model: T; calls: () => number } {
  let calls = 0;
  const model = new Proxy(target, {
    get(t, p) {
      const v = Reflect.get(t, p, t);
      if (typeof v !== 'function') return v;
      if (typeof p === 'string' && methods.includes(p)) {
        return (...args: unknown[]) => {
          calls++;
          return (v as (...a: unknown[]) => unknown).apply(t, args);
        };
      }
      return (v as (...a: unknown[]) => unknown).bind(t);
    },
  });
  return { model, calls: () => calls };
}

function gridPng(data: ArrayLike<number>, n: number, cols: number): Uint8Array {
  const g = imageGrid(data, [n, 1, 16, 16], { pad: 1, cols });
  return encodePng(g.pixels, g.width, g.height);
}

async function featuresOf(B: OnnxBackend, C: DigitClassifier, data: Float32Array, n: number) {
  const x = B.tensor(data, [n, 1, 16, 16]);
  try {
    const { logits, features } = await C.run(x);
    const l = await logits.data();
    const f = Float64Array.from(await features.data());
    logits.dispose();
    features.dispose();
    const pred: number[] = [];
    for (let i = 0; i < n; i++) {
      let best = 0;
      for (let k = 1; k < 10; k++) if (l[i * 10 + k]! > l[i * 10 + best]!) best = k;
      pred.push(best);
    }
    return { pred, features: f };
  } finally {
    x.dispose();
  }
}

function fidKid(ref: Float64Array, refN: number, f: Float64Array, n: number) {
  const fid = frechetDistance(new FeatureStats(FEATURE_DIM).add(ref), new FeatureStats(FEATURE_DIM).add(f));
  const kid = kernelInceptionDistance(
    { data: ref, dim: FEATURE_DIM },
    { data: f, dim: FEATURE_DIM },
    { subsets: 50, subsetSize: Math.min(n, refN), seed: 7 },
  );
  return { fid, kid: kid.mean };
}

/**
 * Runs the trained networks (ONNX Runtime on the CPU) and returns the report section. When
 * onnxruntime-node or the model files are missing, the section says so and nothing else runs.
 */
export async function trainedSection(o: {
  quick: boolean;
  log: (line: string) => void;
  /** Folder holding the trained models (default: the repository's `models/`). */
  modelsDir?: string;
}): Promise<TrainedSection> {
  let ort: unknown;
  try {
    ort = await import('onnxruntime-node');
  } catch (err) {
    return skipped(`onnxruntime-node is not installed (${(err as Error).message.split('\n')[0]})`);
  }
  const { createOnnxBackend } = await import('@tessera/backend-onnx');
  const models = await import('@tessera/models');
  const B = createOnnxBackend({
    ort: ort as never,
    executionProviders: ['cpu'],
    sessionOptions: { intraOpNumThreads: 2 },
  });
  const dir = o.modelsDir ?? models.defaultModelsDir();
  const disposers: Array<() => Promise<void>> = [];
  try {
    let D: ClassDenoiser;
    let C: DigitClassifier;
    try {
      D = await models.loadDigitsUNet({ backend: B, dir });
      disposers.push(() => D.dispose());
      C = await models.loadDigitClassifier({ backend: B, dir });
      disposers.push(() => C.dispose());
    } catch (err) {
      return skipped(`the trained networks could not be loaded (${(err as Error).message})`);
    }
    const q = o.quick;
    const perClass = q ? 1 : 2;
    const classes = Array.from({ length: 10 * perClass }, (_, i) => i % 10);
    const n = classes.length;
    const G = TRAINED_GUIDANCE;
    const cond = { classLabels: classes, guidanceScale: G };
    const rowD = classRowDenoiser(D, classes, G);
    const start = (sigma0: number, seed: number): Tensor => {
      const noise = B.randn([n, 1, 16, 16], { seed });
      const x = B.lincomb([sigma0], [noise]);
      noise.dispose();
      return x;
    };
    const diffusion = (name: SamplerName, sigmas: ArrayLike<number>, seed: number) => async () => {
      let calls = 0;
      const counted: Denoiser = (x, s) => {
        calls++;
        return rowD(x, s);
      };
      const x = start(sigmas[0]!, seed);
      try {
        const out = await sample(name, { denoiser: counted, x, sigmas, seed, cond });
        const data = Float32Array.from(await out.data());
        out.dispose();
        return { data, modelCalls: calls };
      } finally {
        x.dispose();
      }
    };
    const ddpmSteps = q ? 100 : 1000;
    const trainSig = D.trainSigmas;
    const karras = [...karrasSigmas(20, trainSig[0]!, trainSig[trainSig.length - 1]!, 7), 0];
    const methods: Method[] = [
      {
        key: 'ddpm',
        title: `DDPM-${ddpmSteps}`,
        detail: `${ddpmSteps} ancestral steps`,
        run: diffusion('ddpm', models.digitsDdimSigmas(ddpmSteps), 11),
      },
      {
        key: 'ddim',
        title: 'DDIM-50',
        detail: '50 steps, η = 0',
        run: diffusion('ddim', models.digitsDdimSigmas(50), 12),
      },
      {
        key: 'dpmpp_2m',
        title: 'DPM-Solver++(2M) 20',
        detail: '20 Karras steps',
        run: diffusion('dpmpp_2m', karras, 13),
      },
    ];
    // ParaDiGMS and ParaTAA on the same U-Net: DDIM with the window covering every step
    const parSteps = q ? 20 : 50;
    const parSigmas = models.digitsDdimSigmas(parSteps);
    const xPar = start(parSigmas[0]!, 14);
    let parallel: ParallelPanel;
    try {
      parallel = await parallelPanel({
        backend: B,
        denoiser: rowD,
        x: xPar,
        sigmas: parSigmas,
        seed: 14,
        window: q ? parSteps : 25,
        label: `The trained U-Net (ONNX Runtime, guidance ${G}, digits ${classes.slice(0, 10).join('')})`,
        cols: 10,
        log: o.log,
      });
    } finally {
      xPar.dispose();
    }
    for (const r of parallel.runs) {
      methods.push({
        key: r.name.toLowerCase(),
        title: `${r.name} DDIM-${parSteps}`,
        detail: `${r.rounds} rounds for ${r.steps} steps (window ${q ? parSteps : 25})`,
        run: async () => ({ data: r.data, modelCalls: r.batchedCalls }),
      });
    }
    const gpt = await models.loadDigitsGPT({ backend: B, dir });
    disposers.push(() => gpt.dispose());
    const vq = await models.loadDigitsVQ({ backend: B, dir });
    disposers.push(() => vq.dispose());
    const varModel = await models.loadDigitsVAR({ backend: B, dir });
    disposers.push(() => varModel.dispose());
    const msvq = await models.loadDigitsMSVQ({ backend: B, dir });
    disposers.push(() => msvq.dispose());
    const maskModel = await models.loadDigitsMaskGIT({ backend: B, dir });
    disposers.push(() => maskModel.dispose());
    methods.push(
      {
        key: 'raster',
        title: 'Raster AR (VQ + GPT)',
        detail: '16 tokens, KV cache',
        run: async () => {
          const c = countCalls(gpt, ['prefill', 'step']);
          const out = await models.sampleDigitsRaster({
            gpt: c.model,
            vq,
            classes,
            guidanceScale: G,
            seed: 15,
          });
          const data = Float32Array.from(await out.data());
          out.dispose();
          return { data, modelCalls: c.calls() + 1 };
        },
      },
      {
        key: 'next-scale',
        title: 'Next-scale AR (VAR)',
        detail: 'scales 1, 2, 3, 4',
        run: async () => {
          const c = countCalls(varModel, ['begin', 'next']);
          const out = await models.sampleDigitsNextScale({
            model: c.model,
            msvq,
            classes,
            guidance: G,
            seed: 16,
          });
          const data = Float32Array.from(await out.data());
          out.dispose();
          return { data, modelCalls: c.calls() + 1 };
        },
      },
      {
        key: 'masked',
        title: 'Masked AR (MaskGIT)',
        detail: `16 tokens in ${MASKED_ITERS} parallel iterations`,
        run: async () => {
          const c = countCalls(maskModel, ['logits']);
          const out = await models.sampleDigitsMasked({
            model: c.model,
            vq,
            classes,
            numIter: MASKED_ITERS,
            guidanceScale: G,
            seed: 17,
          });
          const data = Float32Array.from(await out.data());
          out.dispose();
          return { data, modelCalls: c.calls() + 1 };
        },
      },
    );

    // real procedural digits: the reference set for FID/KID and a same-size real baseline row
    const refN = q ? 100 : 500;
    const real = digitsDataset({ count: refN, size: 16, seed: 4242 });
    const ref = (await featuresOf(B, C, quantize8(real.data), refN)).features;
    const rows: TrainedRowFacts[] = [];
    const files: TrainedSection['files'] = [];
    {
      // fresh real digits of the same classes, one generator draw per image
      const raw = new Float32Array(n * 256);
      classes.forEach((c, i) => {
        raw.set(digitsDataset({ count: 1, size: 16, seed: 4243 + i, digits: [c] }).data, i * 256);
      });
      const data = quantize8(raw);
      const m = await featuresOf(B, C, data, n);
      const labels = classes;
      rows.push({
        key: 'real',
        title: 'real procedural digits',
        detail: `${n} fresh digits of the same classes`,
        file: 'trained-real.png',
        classes: labels,
        predictions: m.pred,
        accuracy: m.pred.filter((p, i) => p === labels[i]).length / n,
        modelCalls: 0,
        seconds: 0,
        ...fidKid(ref, refN, m.features, n),
      });
      files.push({ file: 'trained-real.png', png: gridPng(data, n, 10) });
    }
    for (const m of methods) {
      const t0 = performance.now();
      const r = await m.run();
      const seconds =
        m.key === 'paradigms' || m.key === 'parataa'
          ? parallel.runs.find((p) => p.name.toLowerCase() === m.key)!.seconds
          : (performance.now() - t0) / 1000;
      const data = quantize8(r.data);
      const f = await featuresOf(B, C, data, n);
      const file = `trained-${m.key}.png`;
      rows.push({
        key: m.key,
        title: m.title,
        detail: m.detail,
        file,
        classes,
        predictions: f.pred,
        accuracy: f.pred.filter((p, i) => p === classes[i]).length / n,
        modelCalls: r.modelCalls,
        seconds,
        ...fidKid(ref, refN, f.features, n),
      });
      files.push({ file, png: gridPng(data, n, 10) });
      o.log(`  trained ${m.title}: ${seconds.toFixed(2)} s`);
    }
    return { available: true, html: render(rows, files, n, refN), parallel, files, rows };
  } finally {
    for (const d of disposers.reverse()) await d();
    await B.dispose();
  }
}

function skipped(why: string): TrainedSection {
  return {
    available: false,
    html: `<h2>Trained networks</h2>\n<p class="skipped" id="trained-skipped">Skipped: ${why}. The trained U-Net, GPT,
VAR and classifier run through ONNX Runtime (<code>npm install onnxruntime-node</code>).</p>`,
    files: [],
    rows: [],
  };
}

function render(rows: TrainedRowFacts[], files: TrainedSection['files'], n: number, refN: number): string {
  const uri = (f: string) =>
    `data:image/png;base64,${Buffer.from(files.find((x) => x.file === f)!.png).toString('base64')}`;
  const body = rows
    .map(
      (r) =>
        `<tr data-key="${r.key}"><td>${r.title}</td><td>${r.detail}</td><td>${r.modelCalls}</td><td>${r.seconds.toFixed(2)} s</td>` +
        `<td class="acc">${(100 * r.accuracy).toFixed(0)}%</td><td>${r.fid.toFixed(1)}</td><td>${r.kid.toExponential(2)}</td></tr>`,
    )
    .join('\n');
  const cards = rows
    .map(
      (r) =>
        `<section><h3>${r.title}</h3><p>${r.detail} · ${r.modelCalls} model calls · ${r.seconds.toFixed(2)} s · ${(100 * r.accuracy).toFixed(0)}% read as asked</p>
<img class="trained" src="${uri(r.file)}" alt="${r.title}"></section>`,
    )
    .join('\n');
  const facts = { guidance: TRAINED_GUIDANCE, images: n, reference: refN, rows };
  return `<h2>Trained networks</h2>
<p>Networks trained on procedural 16×16 digits (<code>models/</code>, PyTorch → ONNX), run by ONNX Runtime: ${n}
class-conditional images per method (digits 0–9 in order${n > 10 ? ', twice' : ''}; classifier-free guidance ${TRAINED_GUIDANCE}).
“accuracy” is the trained classifier reading each image, as drawn in its 8-bit grid, as the digit asked for; FID and KID
use the classifier's ${FEATURE_DIM} penultimate features against ${refN} real procedural digits (with ${n} images
they are coarse: compare with the “real” row, a fresh real sample of the same size). Model calls count network runs
(a guided call is one doubled batch; a parallel round is one batch of window·${n} rows; +1 for the token decoder).</p>
<table><tr><th>method</th><th>work</th><th>model calls</th><th>wall time</th><th>accuracy</th><th>FID</th><th>KID</th></tr>
${body}
</table>
${cards}
<script type="application/json" id="trained-facts">${JSON.stringify(facts)}</script>`;
}
