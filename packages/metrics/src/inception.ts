import { type Backend, fmtShape, type Tensor, TesseraError } from '@tessera/core';
import { resizePilBicubic } from './resize-pil.js';

/**
 * The slice of an ONNX feature model the adapter needs — `@tessera/backend-onnx`'s `OnnxModel` fits
 * (this package does not import it).
 */
export interface FeatureModel {
  readonly inputs: readonly { name: string }[];
  readonly outputs: readonly { name: string }[];
  /** The backend the model's input and output tensors live on. */
  readonly backend: Backend;
  run(feeds: Record<string, Tensor>, outputs?: readonly string[]): Promise<Record<string, Tensor>>;
}

/** Options of {@link inceptionFeatures}. */
export interface InceptionFeatureOptions {
  /** Input name (default `x`, as models/inception/convert.py writes it). */
  input?: string;
  /** Output to read: `pool3` (2048-d FID features, default) or `logits` (1008-way, for IS), or another name. */
  output?: string;
  /**
   * Resize to 299×299 first: `bilinear` (default) is pytorch-fid's F.interpolate(mode='bilinear',
   * align_corners=False) on the model's backend; `clean` is clean-fid's: Pillow's antialiased bicubic
   * per channel on 0–255 values, clipped to [0, 255] (on the host, {@link resizePilBicubic}); `none`
   * feeds the images as they are (they must already be 299×299).
   */
  resize?: 'bilinear' | 'clean' | 'none';
  /** Images per model call (default 50, pytorch-fid's batch size). */
  batchSize?: number;
}

/**
 * Features of images `[N, 3, H, W]` (RGB in [0, 1], on `model.backend`) from an FID-InceptionV3 ONNX
 * model, with pytorch-fid's preprocessing: bilinear resize to 299×299 (align_corners=False, no
 * antialias), then x ↦ 2x − 1. Returns row-major float64 `[N, dim]` ready for `FeatureStats.add`.
 * A model without the requested input or output is a `MODEL_MISMATCH` TesseraError naming what it has.
 * `resize: 'clean'` swaps in clean-fid's PIL-bicubic resize (the two differ by several FID points on
 * real data).
 */
export async function inceptionFeatures(
  model: FeatureModel,
  images: Tensor,
  options: InceptionFeatureOptions = {},
): Promise<Float64Array> {
  const input = options.input ?? 'x';
  const output = options.output ?? 'pool3';
  const names = (xs: readonly { name: string }[]) => `[${xs.map((x) => x.name).join(', ')}]`;
  if (!model.inputs.some((i) => i.name === input)) {
    throw new TesseraError(
      'MODEL_MISMATCH',
      `inceptionFeatures: the model has no input '${input}'; its inputs are ${names(model.inputs)}`,
    );
  }
  if (!model.outputs.some((o) => o.name === output)) {
    throw new TesseraError(
      'MODEL_MISMATCH',
      `inceptionFeatures: the model has no output '${output}'; its outputs are ${names(model.outputs)}`,
    );
  }
  const shape = images.shape;
  if (shape.length !== 4 || shape[1] !== 3) {
    throw new TesseraError(
      'SHAPE_MISMATCH',
      `inceptionFeatures: images [N, 3, H, W] expected, got ${fmtShape(shape)}`,
    );
  }
  const resize = options.resize ?? 'bilinear';
  if (resize === 'none' && (shape[2] !== 299 || shape[3] !== 299)) {
    throw new TesseraError(
      'SHAPE_MISMATCH',
      `inceptionFeatures: with resize 'none' the images must be 299×299, got ${fmtShape(shape)}`,
    );
  }
  const B = model.backend;
  if (images.backend !== B) {
    throw new TesseraError(
      'BACKEND_MISMATCH',
      `inceptionFeatures: images live on '${images.backend.name}', the model on '${B.name}'`,
    );
  }
  const n = shape[0]!;
  const batch = options.batchSize ?? 50;
  if (!Number.isInteger(batch) || batch < 1) {
    throw new TesseraError(
      'INVALID_ARGUMENT',
      `inceptionFeatures: batchSize should be a positive integer, got ${batch}`,
    );
  }
  let out: Float64Array | undefined;
  let dim = 0;
  for (let s = 0; s < n; s += batch) {
    const e = Math.min(n, s + batch);
    const owned: Tensor[] = [];
    try {
      const part = B.slice(images, [s, 0, 0, 0], [e - s, 3, shape[2]!, shape[3]!]);
      owned.push(part);
      let x = part;
      const h = shape[2]!;
      const w = shape[3]!;
      if (resize === 'bilinear' && (h !== 299 || w !== 299)) {
        x = B.resize(part, [299, 299], 'bilinear');
        owned.push(x);
      } else if (resize === 'clean' && (h !== 299 || w !== 299)) {
        const host = await part.data();
        const planes = (e - s) * 3;
        const up = new Float32Array(planes * 299 * 299);
        const plane = new Float32Array(h * w);
        for (let q = 0; q < planes; q++) {
          for (let i = 0; i < h * w; i++) plane[i] = host[q * h * w + i]! * 255;
          const r = resizePilBicubic(plane, h, w, 299, 299);
          for (let i = 0; i < r.length; i++) up[q * 299 * 299 + i] = Math.min(255, Math.max(0, r[i]!)) / 255;
        }
        x = B.tensor(up, [e - s, 3, 299, 299]);
        owned.push(x);
      }
      const scaled = B.lincomb([2], [x]);
      owned.push(scaled);
      const shifted = B.binary('sub', scaled, 1);
      owned.push(shifted);
      const res = await model.run({ [input]: shifted }, [output]);
      const t = res[output]!;
      owned.push(...Object.values(res));
      const data = await t.data();
      const rows = e - s;
      if (data.length % rows !== 0) {
        throw new TesseraError(
          'MODEL_MISMATCH',
          `inceptionFeatures: output '${output}' of shape ${fmtShape(t.shape)} is not one row per image (${rows} images)`,
        );
      }
      if (!out) {
        dim = data.length / rows;
        out = new Float64Array(n * dim);
      }
      out.set(data, s * dim);
    } finally {
      for (const t of owned) t.dispose();
    }
  }
  return out ?? new Float64Array(0);
}
