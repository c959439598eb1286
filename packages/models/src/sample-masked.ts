import { type GuidanceOptions, maskedDecode } from '@tessera/autoregressive';
import type { Tensor } from '@tessera/core';
import type { DigitsMaskedModel } from './maskgit.js';
import { checkDigitClasses, type DigitTokenSampleOptions, decodeDigitCodes } from './sample-raster.js';
import type { DigitsVQ } from './vq.js';

/** Options of {@link sampleDigitsMasked}. */
export interface SampleMaskedOptions extends DigitTokenSampleOptions {
  /** The loaded masked token transformer. */
  model: DigitsMaskedModel;
  /** The loaded VQ tokenizer (its decoder turns codes into images). */
  vq: DigitsVQ;
  /** Model calls: tokens are revealed over this many iterations (cosine schedule). Default 8. */
  numIter?: number;
  /** Classifier-free guidance scale (1: none), the same at every iteration. Default 1. */
  guidanceScale?: number;
  /** Checked between iterations. */
  signal?: AbortSignal;
}

/**
 * Class-conditional digits from the masked transformer through `@tessera/autoregressive`'s
 * `maskedDecode` (16 tokens in `numIter` parallel iterations, random order per image, cosine schedule),
 * decoded to `[N, 1, 16, 16]` images by the VQ decoder.
 *
 * @example
 * const images = await sampleDigitsMasked({ model, vq, classes: [0, 1, 2], numIter: 8, guidanceScale: 2, seed: 3 });
 */
export async function sampleDigitsMasked(o: SampleMaskedOptions): Promise<Tensor> {
  const { model, vq, classes } = o;
  checkDigitClasses('sampleDigitsMasked', classes);
  const scale = o.guidanceScale ?? 1;
  return decodeDigitCodes(model.model.backend, o, vq, (labels) =>
    maskedDecode(model, {
      batch: classes.length,
      numIter: o.numIter ?? 8,
      backend: model.model.backend,
      cond: { labels },
      guidance: scale !== 1 ? ({ scale } satisfies GuidanceOptions) : undefined,
      sampling: o.sampling,
      seed: o.seed ?? 0,
      signal: o.signal,
    }),
  );
}
