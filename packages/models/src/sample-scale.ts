import { type GuidanceOptions, nextScaleDecode } from '@tessera/autoregressive';
import { dispose, type Tensor } from '@tessera/core';
import { viaOnnx } from './cross.js';
import { checkDigitClasses, type DigitTokenSampleOptions } from './sample-raster.js';
import type { DigitsMSVQ, DigitsScaleModel } from './var.js';

/** Options of {@link sampleDigitsNextScale}. */
export interface SampleScaleOptions extends DigitTokenSampleOptions {
  /** The loaded VAR transformer. */
  model: DigitsScaleModel;
  /** The loaded multi-scale VQ decoder. */
  msvq: DigitsMSVQ;
  /** Classifier-free guidance (a scale, or full options such as VAR's linear ramp). Default none. */
  guidance?: number | GuidanceOptions;
  /** Checked between scales. */
  signal?: AbortSignal;
}

/**
 * Class-conditional digits from the VAR transformer through `@tessera/autoregressive`'s
 * `nextScaleDecode` (4 model calls: scales 1, 2, 3, 4), decoded by the multi-scale VQ.
 *
 * @example
 * const images = await sampleDigitsNextScale({ model, msvq, classes: [0, 1, 2], guidance: 2, seed: 3 });
 */
export async function sampleDigitsNextScale(o: SampleScaleOptions): Promise<Tensor> {
  const { model, msvq, classes } = o;
  checkDigitClasses('sampleDigitsNextScale', classes);
  const B = model.backend;
  const labels = B.tensor(Int32Array.from(classes), [classes.length], 'int32');
  const g = o.guidance;
  const guidance = g === undefined || g === 1 ? undefined : typeof g === 'number' ? { scale: g } : g;
  let scales: Tensor[] = [];
  let all: Tensor | undefined;
  try {
    scales = await nextScaleDecode(model, {
      batch: classes.length,
      backend: B,
      cond: { labels },
      guidance,
      sampling: o.sampling,
      seed: o.seed ?? 0,
      signal: o.signal,
    });
    all = B.concat(scales, 1);
    return await viaOnnx(B, all, (t) => msvq.decode(t), o.backend ?? B);
  } finally {
    dispose(labels, all, ...scales);
  }
}
