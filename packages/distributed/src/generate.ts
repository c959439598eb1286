import { maskedDecode, nextScaleDecode, rasterDecode } from '@tessera/autoregressive';
import { type Backend, type Tensor, TesseraError } from '@tessera/core';
import { cfgDenoiser, type Denoiser, type NoiseSampler, sample } from '@tessera/diffusion';
import {
  defaultDigitsModel,
  MaskedCountModel,
  proceduralTokenGrids,
  RasterCountModel,
  ScaleCountModel,
  type TokenDataset,
  VAR_PATCH_NUMS,
} from '@tessera/reference';
import { karrasSigmas } from '@tessera/schedules';
import type { ArGenerator, DiffusionGenerator, ResolvedJobConfig } from './config.js';
import { bindFeatures, type FeatureExtractor } from './features.js';
import { type ParallelTally, parallelNoiseSeed, solveParallel } from './parallel.js';
import { resolveModelPath } from './paths.js';
import { yielder } from './queue.js';
import { imageSeed } from './seeds.js';
import {
  isTrainedDiffusionModel,
  loadTrainedAr,
  loadTrainedDenoiser,
  type TrainedArModel,
} from './trained.js';

/** Side of the generated images (the reference digits model and token grids are 16×16, one channel). */
export const IMAGE_SIDE = 16;
const PIXELS = IMAGE_SIDE * IMAGE_SIDE;

/** Generates images `[start, end)` of a job (one batch), as `[n, 1, 16, 16]` values in about [-1, 1]. */
export type BatchGenerator = (start: number, end: number, signal?: AbortSignal) => Promise<Float32Array>;

/** A generator bound to a backend, with the model parameters it uploaded (free them with `dispose`). */
export interface BoundGenerator {
  generate: BatchGenerator;
  dispose(): void | Promise<void>;
  /** With `generator.parallel`: solves, rounds and unconverged solves so far (it only grows). */
  tally?: ParallelTally;
  /** The job's feature extractor (`config.features`); absent: the domain features. */
  features?: FeatureExtractor;
}

/** A loaded user model: its denoiser and how to release it. */
export interface LoadedModel {
  denoiser: Denoiser;
  dispose(): void | Promise<void>;
}

/** Loads a user's ONNX x0-denoiser (a file already resolved inside the model root) for `backend`. */
export type ModelLoader = (file: string, backend: Backend) => Promise<LoadedModel>;

/** Where user models come from. */
export interface GeneratorOptions {
  /** Root directory `generator.model` paths resolve inside; jobs naming a model are refused without it. */
  modelRoot?: string;
  /** Default {@link loadOnnxModel} (ONNX Runtime for Node). */
  loadModel?: ModelLoader;
  /**
   * Folder holding @tessera/models' trained networks (`unet-digits16/`, `classifier-digits16/`, …) for
   * jobs naming one (`"model": "digits-unet"`, `"features": "classifier"`). Default: the repository's
   * `models/` folder.
   */
  trainedDir?: string;
}

/**
 * Loads an ONNX x0-denoiser with onnxruntime-node (inputs `x`, `sigma`; output `x0`). On an ONNX
 * backend it runs in place; on another backend it runs on its own ONNX backend (x moves there and the
 * result back each call). A file ONNX Runtime cannot read is a TesseraError `CORRUPT_FILE`.
 */
export async function loadOnnxModel(file: string, backend: Backend): Promise<LoadedModel> {
  let ort: unknown;
  try {
    ort = await import('onnxruntime-node');
  } catch (err) {
    throw new TesseraError(
      'BACKEND_UNAVAILABLE',
      `generator.model needs onnxruntime-node on the worker (npm install onnxruntime-node): ${(err as Error).message}`,
    );
  }
  const onnx = await import('@tessera/backend-onnx');
  const own =
    backend instanceof onnx.OnnxBackend
      ? undefined
      : onnx.createOnnxBackend({ ort: ort as never, executionProviders: ['cpu'] });
  try {
    const d = await onnx.onnxDenoiser(file, {
      backend: own ?? (backend as InstanceType<typeof onnx.OnnxBackend>),
      predictionType: 'sample',
      inputNames: { sample: 'x', timestep: 'sigma' },
      outputName: 'x0',
    });
    return {
      denoiser: d as Denoiser,
      dispose: async () => {
        await d.dispose();
        own?.destroy();
      },
    };
  } catch (err) {
    own?.destroy();
    if (err instanceof TesseraError) throw err;
    throw new TesseraError(
      'CORRUPT_FILE',
      `generator.model: cannot load '${file}': ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
}

/** Karras noise levels σ 80 → 0.002 (ρ = 7), then 0 (as `tessera generate diffusion` uses). */
export function karrasDigitsSigmas(steps: number): Float64Array {
  const out = new Float64Array(steps + 1);
  out.set(karrasSigmas(steps, 0.002, 80, 7));
  return out;
}

/** Concatenates per-image draws along the batch axis (and frees the parts). */
function perImage(B: Backend, n: number, draw: (row: number) => Tensor): Tensor {
  const parts = Array.from({ length: n }, (_, r) => draw(r));
  if (parts.length === 1) return parts[0]!;
  const out = B.concat(parts, 0);
  for (const p of parts) p.dispose();
  return out;
}

function digitsDenoiser(B: Backend, g: DiffusionGenerator): LoadedModel {
  const model = defaultDigitsModel();
  const full = model.denoiser(B);
  if (g.digit === undefined) return { denoiser: full, dispose: () => full.dispose() };
  const conditional = model.denoiser(B, { digits: [g.digit] });
  const dispose = () => {
    full.dispose();
    conditional.dispose();
  };
  if ((g.guidance ?? 1) === 1) return { denoiser: conditional, dispose };
  // One doubled batch: first half class-conditional, second half the full mixture; D_u + w·(D_c − D_u).
  const both: Denoiser = (xx, sigma) => {
    const n = xx.shape[0]! / 2;
    const xc = B.slice(xx, [0, 0, 0, 0], [n, 1, IMAGE_SIDE, IMAGE_SIDE]);
    const xu = B.slice(xx, [n, 0, 0, 0], [n, 1, IMAGE_SIDE, IMAGE_SIDE]);
    const dc = conditional(xc, sigma);
    const du = full(xu, sigma);
    const out = B.concat([dc, du], 0);
    for (const t of [xc, xu, dc, du]) t.dispose();
    return out;
  };
  return {
    denoiser: cfgDenoiser(both, { scale: g.guidance ?? 1, uncond: null, combine: () => null }),
    dispose,
  };
}

/**
 * Diffusion: image i starts from the Philox stream of `imageSeed(seed, i)` (words 0…511) times σ₀, and every
 * stochastic step draws image i's noise from the same stream further on (call k at word 512·(k + 1)),
 * so an image never depends on which other images share its batch.
 */
async function diffusionGenerator(
  B: Backend,
  config: ResolvedJobConfig,
  g: DiffusionGenerator,
  opts: GeneratorOptions,
): Promise<BoundGenerator> {
  let sigmas = karrasDigitsSigmas(g.steps);
  let model: LoadedModel;
  if (isTrainedDiffusionModel(g.model)) {
    const t = await loadTrainedDenoiser(B, g, opts.trainedDir);
    sigmas = t.sigmas;
    model = t;
  } else if (g.model !== undefined) {
    if (opts.modelRoot === undefined)
      throw new TesseraError(
        'INVALID_ARGUMENT',
        `job '${config.id}' uses the model '${g.model}' but this worker has no model root (--models DIR)`,
      );
    const file = resolveModelPath(opts.modelRoot, g.model);
    model = await (opts.loadModel ?? loadOnnxModel)(file, B);
  } else model = digitsDenoiser(B, g);
  const { denoiser, dispose } = model;
  if (g.parallel !== undefined) {
    const par = g.parallel;
    const tally: ParallelTally = { solves: 0, rounds: 0, unconverged: 0 };
    const generate: BatchGenerator = async (start, end, signal) => {
      const pause = yielder();
      // 'image': one solve per image; 'batch': one solve for the batch (batches are fixed groups).
      const groups: [number, number][] = [];
      if (par.group === 'batch') groups.push([start, end]);
      else for (let i = start; i < end; i++) groups.push([i, i + 1]);
      const out = new Float32Array((end - start) * PIXELS);
      for (const [a, b] of groups) {
        const noise = perImage(B, b - a, (r) =>
          B.randn([1, 1, IMAGE_SIDE, IMAGE_SIDE], { seed: imageSeed(config.seed, a + r) }),
        );
        const x = B.lincomb([sigmas[0]!], [noise]);
        noise.dispose();
        let y: Tensor | undefined;
        try {
          y = await solveParallel(par, {
            denoiser,
            x,
            sigmas,
            sampler: g.sampler,
            seed: parallelNoiseSeed(config.seed, a),
            callback: pause,
            tally,
            ...(g.eta !== undefined ? { eta: g.eta } : {}),
            ...(signal ? { signal } : {}),
          });
          out.set(await y.data(), (a - start) * PIXELS);
        } finally {
          x.dispose();
          y?.dispose();
        }
      }
      return out;
    };
    return { generate, dispose, tally };
  }
  const generate: BatchGenerator = async (start, end, signal) => {
    const n = end - start;
    const seeds = Array.from({ length: n }, (_, r) => imageSeed(config.seed, start + r));
    const noise = perImage(B, n, (r) => B.randn([1, 1, IMAGE_SIDE, IMAGE_SIDE], { seed: seeds[r]! }));
    const x = B.lincomb([sigmas[0]!], [noise]);
    noise.dispose();
    let calls = 0;
    const pause = yielder();
    const noiseSampler: NoiseSampler = () => {
      const offset = 2 * PIXELS * ++calls;
      return perImage(B, n, (r) => B.randn([1, 1, IMAGE_SIDE, IMAGE_SIDE], { seed: seeds[r]!, offset }));
    };
    let out: Tensor | undefined;
    try {
      out = await sample(g.sampler, {
        denoiser,
        x,
        sigmas,
        noiseSampler,
        // Yield between steps by elapsed time: a worker's lock renewal must run during long batches.
        callback: pause,
        ...(g.eta !== undefined ? { eta: g.eta } : {}),
        ...(signal ? { signal } : {}),
      });
      return Float32Array.from(await out.data());
    } finally {
      x.dispose();
      out?.dispose();
    }
  };
  return { generate, dispose };
}

let tokenData: TokenDataset | undefined;
/** The procedural token grids the reference AR models are fitted to (as `tessera generate ar` uses). */
function arDataset(): TokenDataset {
  tokenData ??= proceduralTokenGrids({ count: 600, height: 16, width: 16, vocabSize: 3, seed: 11 });
  return tokenData;
}

/**
 * Autoregressive: image i is decoded alone with seed `imageSeed(seed, i)` and label `label ?? i mod 3`, and
 * its token grid is drawn as grey levels token/(V − 1)·2 − 1.
 */
async function trainedArGenerator(
  B: Backend,
  config: ResolvedJobConfig,
  g: ArGenerator & { model: TrainedArModel },
  opts: GeneratorOptions,
): Promise<BoundGenerator> {
  const m = await loadTrainedAr(B, g.model, opts.trainedDir);
  const generate: BatchGenerator = async (start, end, signal) => {
    const out = new Float32Array((end - start) * PIXELS);
    const pause = yielder();
    for (let i = start; i < end; i++) {
      signal?.throwIfAborted();
      const img = await m.sample({
        label: g.label ?? i % 10,
        seed: imageSeed(config.seed, i),
        sampling: { temperature: g.temperature ?? 1, topK: g.topK ?? 0, topP: g.topP ?? 0 },
        guidance: g.guidance ?? 1,
        numIter: g.numIter ?? 16,
        ...(signal ? { signal } : {}),
      });
      out.set(img, (i - start) * PIXELS);
      await pause();
    }
    return out;
  };
  return { generate, dispose: m.dispose };
}

function arGenerator(B: Backend, config: ResolvedJobConfig, g: ArGenerator): BoundGenerator {
  const data = arDataset();
  const model =
    g.decoder === 'raster'
      ? RasterCountModel.fit(data, { backend: B })
      : g.decoder === 'next-scale'
        ? ScaleCountModel.fit(data, { patchNums: VAR_PATCH_NUMS, backend: B })
        : MaskedCountModel.fit(data, { backend: B });
  const V = data.vocabSize;
  const C = data.numClasses ?? 1;
  const generate: BatchGenerator = async (start, end, signal) => {
    const n = end - start;
    const out = new Float32Array(n * PIXELS);
    const pause = yielder();
    for (let r = 0; r < n; r++) {
      signal?.throwIfAborted();
      const i = start + r;
      const labels = B.tensor(Int32Array.of(g.label ?? i % C), [1], 'int32');
      const common = {
        batch: 1,
        backend: B,
        cond: { labels },
        sampling: { temperature: g.temperature ?? 1, topK: g.topK ?? 0, topP: g.topP ?? 0 },
        seed: imageSeed(config.seed, i),
        ...((g.guidance ?? 1) !== 1 ? { guidance: { scale: g.guidance ?? 1 } } : {}),
      };
      let tokens: Tensor | undefined;
      const extra: Tensor[] = [];
      try {
        if (model instanceof RasterCountModel)
          tokens = await rasterDecode(model, { ...common, length: PIXELS });
        else if (model instanceof ScaleCountModel) {
          const scales = await nextScaleDecode(model, common);
          tokens = scales.pop();
          extra.push(...scales);
        } else tokens = await maskedDecode(model, { ...common, numIter: g.numIter ?? 16 });
        const t = await tokens!.data();
        for (let p = 0; p < PIXELS; p++) out[r * PIXELS + p] = (Number(t[p]) / (V - 1)) * 2 - 1;
      } finally {
        labels.dispose();
        tokens?.dispose();
        for (const e of extra) e.dispose();
      }
      await pause();
    }
    return out;
  };
  return { generate, dispose: () => model.dispose() };
}

/** Binds the job's generator to a backend (uploading, fitting or loading its model once). */
export async function bindGenerator(
  B: Backend,
  config: ResolvedJobConfig,
  opts: GeneratorOptions = {},
): Promise<BoundGenerator> {
  const g = config.generator;
  const bound =
    g.kind === 'diffusion'
      ? await diffusionGenerator(B, config, g, opts)
      : g.model !== undefined
        ? await trainedArGenerator(B, config, { ...g, model: g.model }, opts)
        : arGenerator(B, config, g);
  let features: FeatureExtractor;
  try {
    features = await bindFeatures(B, config, opts.trainedDir);
  } catch (err) {
    await bound.dispose();
    throw err;
  }
  return {
    ...bound,
    features,
    dispose: async () => {
      await bound.dispose();
      await features.dispose();
    },
  };
}
