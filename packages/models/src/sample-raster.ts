import { type GuidanceOptions, rasterDecode, type SamplingOptions } from '@tessera/autoregressive';
import type { OnnxBackend } from '@tessera/backend-onnx';
import { type Backend, type Tensor, TesseraError } from '@tessera/core';
import { viaOnnx } from './cross.js';
import type { DigitsTokenModel } from './gpt.js';
import type { DigitsVQ } from './vq.js';

/** Options the digit-token samplers share. */
export interface DigitTokenSampleOptions {
  /** The digit of each image (0–9; 10 = no class). */
  classes: readonly number[];
  /** Logit processing (temperature, top-k, top-p, min-p). */
  sampling?: SamplingOptions;
  /**
   * Backend the images come back on (say `@tessera/backend-webgpu`'s). Default: the model's ONNX backend.
   * Decoding runs inside ONNX Runtime either way (on the providers the backend and the loaders chose).
   */
  backend?: Backend;
  /** Philox seed. Default 0. */
  seed?: number;
}

/** Checks `classes`: a non-empty array of integers in 0–10. */
export function checkDigitClasses(op: string, classes: unknown): asserts classes is readonly number[] {
  if (
    !Array.isArray(classes) ||
    classes.length < 1 ||
    classes.some((c) => !Number.isInteger(c) || c < 0 || c > 10)
  ) {
    throw new TesseraError(
      'INVALID_ARGUMENT',
      `${op}: classes must be a non-empty array of integers in 0–10, got [${String(classes)}]`,
    );
  }
}

/** Options of {@link sampleDigitsRaster}. */
export interface SampleRasterOptions extends DigitTokenSampleOptions {
  /** The loaded GPT. */
  gpt: DigitsTokenModel;
  /** The loaded VQ tokenizer (its decoder turns codes into images). */
  vq: DigitsVQ;
  /** Classifier-free guidance scale (1: none). Default 1. */
  guidanceScale?: number;
  /** Checked between tokens. */
  signal?: AbortSignal;
}

/**
 * Class-conditional digits from the GPT through `@tessera/autoregressive`'s `rasterDecode` (16 tokens,
 * KV cache, one doubled batch under guidance), decoded to `[N, 1, 16, 16]` images by the VQ decoder.
 *
 * @example
 * const images = await sampleDigitsRaster({ gpt, vq, classes: [0, 1, 2], guidanceScale: 2, seed: 3 });
 */
export async function sampleDigitsRaster(o: SampleRasterOptions): Promise<Tensor> {
  const { gpt, vq, classes } = o;
  checkDigitClasses('sampleDigitsRaster', classes);
  const scale = o.guidanceScale ?? 1;
  return decodeDigitCodes(gpt.model.backend, o, vq, (labels) =>
    rasterDecode(gpt, {
      batch: classes.length,
      length: 16,
      backend: gpt.model.backend,
      cond: { labels },
      guidance: scale !== 1 ? ({ scale } satisfies GuidanceOptions) : undefined,
      sampling: o.sampling,
      seed: o.seed ?? 0,
      signal: o.signal,
    }),
  );
}

/**
 * The part the VQ-code samplers share: `decode(labels)` draws `[N, 16]` codes for `o.classes` (labels
 * int32 `[N]` on the model's ONNX backend `B`), and the VQ decoder turns them into `[N, 1, 16, 16]`
 * images on `o.backend` (default `B`). Frees the labels and the codes.
 */
export async function decodeDigitCodes(
  B: OnnxBackend,
  o: DigitTokenSampleOptions,
  vq: DigitsVQ,
  decode: (labels: Tensor) => Promise<Tensor>,
): Promise<Tensor> {
  const labels = B.tensor(Int32Array.from(o.classes), [o.classes.length], 'int32');
  let codes: Tensor | undefined;
  try {
    codes = await decode(labels);
    return await viaOnnx(B, codes, (c) => vq.decode(c), o.backend ?? B);
  } finally {
    labels.dispose();
    codes?.dispose();
  }
}
