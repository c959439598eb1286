import {
  type MaskedTokenModel,
  maskedDecode,
  type NextScaleModel,
  type NextTokenModel,
  nextScaleDecode,
  rasterDecode,
  type SamplingOptions,
} from '@tessera/autoregressive';
import { type Backend, type Tensor, TesseraError } from '@tessera/core';
import {
  MaskedCountModel,
  proceduralTokenGrids,
  RasterCountModel,
  ScaleCountModel,
  type TokenDataset,
  VAR_PATCH_NUMS,
} from '@tessera/reference';
import { UsageError } from './errors.js';
import { checkInt, checkNum, LIMITS, MAX_SEED } from './limits.js';
import {
  AR_MODELS,
  isTrainedArModel,
  modelsDir,
  parseModelFlag,
  TRAINED_AR_DECODER,
  type TrainedArModel,
} from './models.js';

/** Decoders the CLI offers. */
export const DECODERS = ['raster', 'next-scale', 'masked'] as const;
export type DecoderName = (typeof DECODERS)[number];

/** Options of {@link generateAr}. */
export interface ArJob {
  backend: Backend;
  /**
   * Default `next-scale`; with `model`, the kind the file records (`tessera.kind`), and a decoder that
   * differs from it is a UsageError.
   */
  decoder?: DecoderName;
  seed: number;
  count: number;
  /**
   * Class per image: 0 rectangles, 1 disks, 2 bars for the reference shapes; the digit 0–9 for
   * `digits-gpt`, `digits-var` and `digits-maskgit`. Default: cycle through the classes.
   */
  label?: number;
  guidance: number;
  sampling: SamplingOptions;
  /** Masked decoder iterations (default 16); a UsageError with another decoder. */
  numIter?: number;
  /**
   * The token model: `reference` (default: the count-based shape model of the decoder, fitted on the
   * fly), `digits-gpt` (the trained VQ + GPT of `@tessera/models`, raster decoder), `digits-var` (the
   * trained multi-scale VQ + VAR transformer, next-scale decoder), `digits-maskgit` (the trained VQ +
   * masked transformer, masked decoder), or the path of an ONNX token model
   * (as `tessera export-model --kind raster|next-scale|masked` writes). All but `reference` run on ONNX
   * Runtime, so `backend` must then be an ONNX backend (`selectBackend('onnx')`): the decoders keep their
   * token buffers on the model's backend.
   */
  model?: string;
  onStep?: (step: number) => void;
  /** Called after each decoding step with the steps done and the total (for progress bars). */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Result: token grids `[N, side·side]` (int32, caller disposes), per-scale maps for next-scale, the
 * decoded images of a trained model, and counts.
 */
export interface ArResult {
  /** The model that ran: `reference`, `digits-gpt`, `digits-var`, `digits-maskgit` or the file's path. */
  model: string;
  /**
   * The digit images `[N, 1, 16, 16]` in about [-1, 1] that the trained models' VQ decoders make of the
   * tokens (`digits-gpt`, `digits-var`, `digits-maskgit`; caller disposes); absent for token-palette
   * models.
   */
  images?: Tensor;
  /** The decoder that ran (the file's kind with `model`). */
  decoder: DecoderName;
  tokens: Tensor;
  /** Coarse-to-fine token maps (next-scale only), each `[N, p·p]`. */
  scales?: Tensor[];
  modelCalls: number;
  vocabSize: number;
  /** Side of the square token grids (16 for the reference models, 4 for the trained digit models). */
  side: number;
}

/** The palette the token images are drawn with (index 0 = background). */
export const PALETTE: ReadonlyArray<readonly [number, number, number]> = [
  [24, 26, 38],
  [230, 72, 66],
  [250, 190, 60],
  [70, 170, 110],
  [70, 130, 230],
  [200, 110, 220],
];

let dataset: TokenDataset | undefined;
/** The procedural token data set the reference models are fitted to (cached). */
export function arDataset(): TokenDataset {
  dataset ??= proceduralTokenGrids({ count: 600, height: 16, width: 16, vocabSize: 3, seed: 11 });
  return dataset;
}

/** A reference token model the CLI decodes with. */
export type ArModel = RasterCountModel | ScaleCountModel | MaskedCountModel;

/**
 * Fits the reference model of a decoder to {@link arDataset} on `backend`: the model `generate ar`
 * samples from and `export-model --kind` writes. The caller disposes it.
 */
export function fitArModel(decoder: DecoderName, backend: Backend): ArModel {
  const data = arDataset();
  if (decoder === 'raster') return RasterCountModel.fit(data, { backend });
  if (decoder === 'next-scale') return ScaleCountModel.fit(data, { patchNums: VAR_PATCH_NUMS, backend });
  if (decoder === 'masked') return MaskedCountModel.fit(data, { backend });
  throw new TesseraError('INVALID_ARGUMENT', `fitArModel: unknown decoder '${decoder}'`);
}

/** What generateAr decodes with: a model, its kind, facts about it, and how to release it. */
interface Source {
  name: string;
  decoder: DecoderName;
  model: object;
  vocabSize: number;
  numClasses: number | undefined;
  /** Sequence length (raster, masked) or the last scale's side (next-scale). */
  length: number;
  /** Turns the decoded tokens (all scales for next-scale) into images (trained models). */
  images?: (tokens: Tensor[]) => Promise<Tensor>;
  dispose(): void | Promise<void>;
}

/** The trained digit token model `name` and its VQ decoder, on the job's ONNX backend. */
async function trainedSource(job: ArJob, name: TrainedArModel): Promise<Source> {
  const decoder = TRAINED_AR_DECODER[name];
  if (job.decoder !== undefined && job.decoder !== decoder) {
    throw new UsageError(
      `--model ${name} decodes with the ${decoder} decoder, not '${job.decoder}': use --decoder ${decoder} or leave it out`,
    );
  }
  const { OnnxBackend } = await import('@tessera/backend-onnx');
  const B = job.backend;
  if (!(B instanceof OnnxBackend)) {
    throw new UsageError(
      `--model ${name} runs on ONNX Runtime and decodes next to it: use --backend onnx (or leave --backend out), not '${B.name}'`,
    );
  }
  const m = await import('@tessera/models');
  const dir = await modelsDir();
  if (name === 'digits-gpt' || name === 'digits-maskgit') {
    const net =
      name === 'digits-gpt'
        ? await m.loadDigitsGPT({ backend: B, dir })
        : await m.loadDigitsMaskGIT({ backend: B, dir });
    const vq = await m.loadDigitsVQ({ backend: B, dir }).catch(async (err) => {
      await net.dispose();
      throw err;
    });
    return {
      name,
      decoder,
      model: net,
      vocabSize: vq.codebookSize,
      numClasses: net.numClasses,
      length: 16,
      images: (t) => vq.decode(t[0]!),
      dispose: async () => {
        await net.dispose();
        await vq.dispose();
      },
    };
  }
  const model = await m.loadDigitsVAR({ backend: B, dir });
  const msvq = await m.loadDigitsMSVQ({ backend: B, dir }).catch(async (err) => {
    await model.dispose();
    throw err;
  });
  const last = model.patchNums.at(-1)!;
  return {
    name,
    decoder,
    model,
    vocabSize: model.vocabSize,
    numClasses: model.numClasses,
    length: last * last,
    images: async (scales) => {
      const all = B.concat(scales, 1);
      try {
        return await msvq.decode(all);
      } finally {
        all.dispose();
      }
    },
    dispose: async () => {
      await model.dispose();
      await msvq.dispose();
    },
  };
}

async function modelSource(job: ArJob): Promise<Source> {
  const which =
    job.model === undefined ? { name: 'reference' as const } : parseModelFlag(job.model, AR_MODELS);
  if (isTrainedArModel(which.name)) return trainedSource(job, which.name);
  if (which.file !== undefined) {
    const { loadOnnxTokenModel } = await import('./onnx-model.js');
    const m = await loadOnnxTokenModel(which.file, job.backend, job.decoder);
    const last = m.kind === 'next-scale' ? m.model.patchNums.at(-1)! : 0;
    return {
      name: which.file,
      decoder: m.kind,
      model: m.model,
      vocabSize: m.model.vocabSize,
      numClasses: m.model.numClasses,
      length: m.kind === 'next-scale' ? last * last : m.model.length,
      dispose: () => m.model.dispose(),
    };
  }
  const decoder = job.decoder ?? 'next-scale';
  const data = arDataset();
  const model = fitArModel(decoder, job.backend);
  return {
    name: 'reference',
    decoder,
    model,
    vocabSize: data.vocabSize,
    numClasses: data.numClasses,
    length: data.height * data.width,
    dispose: () => model.dispose(),
  };
}

/**
 * Generates token grids with the count-based reference models, or with an exported ONNX token model
 * (`job.model`).
 */
export async function generateAr(job: ArJob): Promise<ArResult> {
  // the CLI's limits hold for library callers too (checked before the model is fitted or loaded)
  checkInt('count', job.count, 1, LIMITS.count);
  checkInt('seed', job.seed, 0, MAX_SEED);
  checkNum('guidance', job.guidance, 0);
  if (job.numIter !== undefined) checkInt('iters', job.numIter, 1, LIMITS.iters);
  if (job.label !== undefined) checkInt('label', job.label, 0, 2 ** 31 - 1);
  const B = job.backend;
  const src = await modelSource(job);
  try {
    const side = Math.round(Math.sqrt(src.length));
    if (side * side !== src.length) {
      throw new TesseraError(
        'UNSUPPORTED',
        `generate ar: the model's ${src.length} tokens do not form a square grid, which the image needs`,
      );
    }
    const C = src.numClasses;
    if (job.numIter !== undefined && src.decoder !== 'masked') {
      throw new UsageError(`--iters applies to the masked decoder only, not '${src.decoder}'`);
    }
    if (C === undefined && (job.label !== undefined || job.guidance !== 1)) {
      throw new UsageError(`--label and --guidance need a class-conditional model; this one has no classes`);
    }
    if (job.label !== undefined && C !== undefined && !(job.label >= 0 && job.label < C)) {
      throw new UsageError(
        `--label must be ${C === 1 ? '0' : `0..${C - 1}`} for this model, got '${job.label}'`,
      );
    }
    const labels =
      C === undefined
        ? undefined
        : B.tensor(
            Int32Array.from({ length: job.count }, (_, i) => job.label ?? i % C),
            [job.count],
            'int32',
          );
    const common = {
      batch: job.count,
      backend: B,
      ...(labels ? { cond: { labels } } : {}),
      sampling: job.sampling,
      seed: job.seed,
      onStep: (step: number) => {
        job.onStep?.(step);
        job.onProgress?.(step + 1, total);
      },
      ...(job.guidance !== 1 ? { guidance: { scale: job.guidance } } : {}),
    };
    const numIter = job.numIter ?? 16;
    const total =
      src.decoder === 'raster' ? src.length : src.decoder === 'masked' ? numIter : scaleCount(src.model);
    const calls = { n: 0 };
    const done = async (tokens: Tensor, scales?: Tensor[]): Promise<ArResult> => {
      let images: Tensor | undefined;
      if (src.images) {
        try {
          images = await src.images([...(scales ?? []), tokens]);
        } catch (err) {
          for (const t of [tokens, ...(scales ?? [])]) t.dispose();
          throw err;
        }
      }
      return {
        model: src.name,
        decoder: src.decoder,
        tokens,
        ...(scales ? { scales } : {}),
        ...(images ? { images } : {}),
        modelCalls: calls.n,
        vocabSize: src.vocabSize,
        side,
      };
    };
    try {
      if (src.decoder === 'raster') {
        const model = counted(src.model as NextTokenModel, ['prefill', 'step'], calls);
        return await done(await rasterDecode(model, { ...common, length: src.length }));
      }
      if (src.decoder === 'next-scale') {
        const model = counted(src.model as NextScaleModel, ['begin', 'next'], calls);
        const scales = await nextScaleDecode(model, common);
        return await done(scales[scales.length - 1]!, scales.slice(0, -1));
      }
      const model = counted(src.model as MaskedTokenModel, ['logits'], calls);
      return await done(await maskedDecode(model, { ...common, numIter }));
    } finally {
      labels?.dispose();
    }
  } finally {
    await src.dispose();
  }
}

/** Number of scales of a next-scale model (its `patchNums`). */
function scaleCount(model: object): number {
  return (model as { patchNums?: readonly number[] }).patchNums?.length ?? 0;
}

/** Wraps a model so that each call of the named methods (the sequential model evaluations) is counted. */
function counted<M extends object>(model: M, names: readonly string[], calls: { n: number }): M {
  return new Proxy(model, {
    get(target, key, receiver) {
      const v = Reflect.get(target, key, receiver);
      if (typeof v !== 'function') return v;
      if (!names.includes(String(key))) return v.bind(target);
      return (...args: unknown[]) => {
        calls.n++;
        return v.apply(target, args);
      };
    },
  });
}

/** Paints `[N, side·side]` token grids as RGB `[N, 3, side, side]` values in [-1, 1] (for imageGrid). */
export function tokensToImages(tokens: ArrayLike<number>, n: number, side: number): Float32Array {
  const out = new Float32Array(n * 3 * side * side);
  for (let b = 0; b < n; b++) {
    for (let p = 0; p < side * side; p++) {
      const c = PALETTE[tokens[b * side * side + p]!] ?? [255, 255, 255];
      for (let ch = 0; ch < 3; ch++) out[(b * 3 + ch) * side * side + p] = (c[ch]! / 255) * 2 - 1;
    }
  }
  return out;
}
