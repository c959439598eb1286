import { maskedDecode, nextScaleDecode, rasterDecode, type SamplingOptions } from '@tessera/autoregressive';
import type { Backend, Tensor } from '@tessera/core';
import {
  MaskedCountModel,
  proceduralTokenGrids,
  RasterCountModel,
  ScaleCountModel,
  type TokenDataset,
  VAR_PATCH_NUMS,
} from '@tessera/reference';

/** Decoders the CLI offers. */
export const DECODERS = ['raster', 'next-scale', 'masked'] as const;
export type DecoderName = (typeof DECODERS)[number];

/** Options of {@link generateAr}. */
export interface ArJob {
  backend: Backend;
  decoder: DecoderName;
  seed: number;
  count: number;
  /** Class per image: 0 rectangles, 1 disks, 2 bars; default cycles through them. */
  label?: number;
  guidance: number;
  sampling: SamplingOptions;
  /** Masked decoder iterations (default 16). */
  numIter?: number;
  onStep?: (step: number) => void;
}

/** Result: token grids `[N, 16·16]` (int32, caller disposes), per-scale maps for next-scale, and counts. */
export interface ArResult {
  tokens: Tensor;
  /** Coarse-to-fine token maps (next-scale only), each `[N, p·p]`. */
  scales?: Tensor[];
  modelCalls: number;
  vocabSize: number;
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

/** Generates token grids with the count-based reference models. */
export async function generateAr(job: ArJob): Promise<ArResult> {
  const B = job.backend;
  const data = arDataset();
  const labels = B.tensor(
    Int32Array.from({ length: job.count }, (_, i) => job.label ?? i % data.numClasses),
    [job.count],
    'int32',
  );
  const common = {
    batch: job.count,
    backend: B,
    cond: { labels },
    sampling: job.sampling,
    seed: job.seed,
    onStep: job.onStep,
    ...(job.guidance !== 1 ? { guidance: { scale: job.guidance } } : {}),
  };
  const calls = { n: 0 };
  try {
    if (job.decoder === 'raster') {
      const model = counted(RasterCountModel.fit(data, { backend: B }), ['prefill', 'step'], calls);
      const tokens = rasterDecode(model, { ...common, length: data.height * data.width });
      return { tokens, modelCalls: calls.n, vocabSize: data.vocabSize };
    }
    if (job.decoder === 'next-scale') {
      const model = counted(
        ScaleCountModel.fit(data, { patchNums: VAR_PATCH_NUMS, backend: B }),
        ['begin', 'next'],
        calls,
      );
      const scales = nextScaleDecode(model, common);
      const tokens = scales[scales.length - 1]!;
      return { tokens, scales: scales.slice(0, -1), modelCalls: calls.n, vocabSize: data.vocabSize };
    }
    const model = counted(MaskedCountModel.fit(data, { backend: B }), ['logits'], calls);
    const tokens = maskedDecode(model, { ...common, numIter: job.numIter ?? 16 });
    return { tokens, modelCalls: calls.n, vocabSize: data.vocabSize };
  } finally {
    labels.dispose();
  }
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
