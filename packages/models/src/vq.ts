import { type OnnxBackend, type OnnxModel, onnxModel } from '@tessera/backend-onnx';
import { isTensor, type Tensor, TesseraError } from '@tessera/core';
import type { ModelCard } from './card-types.js';
import { VQ_DIGITS16_CARD } from './cards.js';
import { viaOnnx } from './cross.js';
import type { ModelsLocation } from './files.js';
import { type ModelRuntimeOptions, readCardFile } from './session.js';

/**
 * The VQ tokenizer of 16×16 digits: image ↔ 4×4 grid of codes (K = 256). Inputs may live on any backend
 * (the ONNX backend, CPU, `@tessera/backend-webgpu`); results come back on the input's backend.
 */
export interface DigitsVQ {
  /** `[N, 1, 16, 16]` float32 → `[N, 16]` int32 codes (raster order of the 4×4 grid), on `x`'s backend. */
  encode(x: Tensor): Promise<Tensor>;
  /** `[N, 16]` or `[N, 4, 4]` int32 codes → `[N, 1, 16, 16]` float32 images, on `tokens`' backend. */
  decode(tokens: Tensor): Promise<Tensor>;
  /** Codebook size K. */
  readonly codebookSize: number;
  /** The encoder, quantizer and decoder graphs. */
  readonly models: { encoder: OnnxModel; quantizer: OnnxModel; decoder: OnnxModel };
  /** The card. */
  readonly card: ModelCard;
  /** Releases the three sessions. */
  dispose(): Promise<void>;
}

/** Options of {@link loadDigitsVQ}. */
export interface LoadVQOptions extends ModelRuntimeOptions {
  /** The ONNX backend the graphs run on (inputs of other backends cross to it and back). */
  backend: OnnxBackend;
  /** Folder (Node path) or base URL holding `vq-digits16/`. Default: the repository's `models/`. */
  dir?: ModelsLocation;
}

/**
 * Loads the VQ tokenizer trained on 16×16 digits (`models/vq-digits16`: encoder, quantizer and decoder as
 * separate ONNX graphs), verifying each file's SHA-256.
 *
 * @example
 * const vq = await loadDigitsVQ({ backend: B });
 * const codes = await vq.encode(images); // [N, 16] int32
 * const back = await vq.decode(codes); // [N, 1, 16, 16]
 */
export async function loadDigitsVQ(options: LoadVQOptions): Promise<DigitsVQ> {
  const card = VQ_DIGITS16_CARD;
  const load = async (file: string, expect: Parameters<typeof onnxModel>[1]['expect']) => {
    const { bytes, name, sessionOptions } = await readCardFile('loadDigitsVQ', card, file, options);
    return onnxModel(bytes, { backend: options.backend, name, expect, sessionOptions });
  };
  const B = options.backend;
  const loaded: OnnxModel[] = [];
  try {
    loaded.push(
      await load('encoder.onnx', {
        inputs: { pixel_values: { dtype: 'float32' } },
        outputs: { latents: { dtype: 'float32' } },
      }),
    );
    loaded.push(
      await load('quantizer.onnx', {
        inputs: { latents: { dtype: 'float32' } },
        outputs: { indices: { dtype: 'int64' } },
      }),
    );
    loaded.push(
      await load('decoder.onnx', {
        inputs: { indices: { dtype: 'int64' } },
        outputs: { sample: { dtype: 'float32' } },
      }),
    );
  } catch (err) {
    await Promise.all(loaded.map((m) => m.dispose()));
    throw err;
  }
  const [encoder, quantizer, decoder] = loaded as [OnnxModel, OnnxModel, OnnxModel];
  const label = `loadDigitsVQ '${card.name}'`;
  const own = (x: unknown, what: string): Tensor => {
    if (!isTensor(x)) throw new TesseraError('INVALID_ARGUMENT', `${label}: ${what} must be a Tensor`);
    return x;
  };
  return {
    codebookSize: Number(card.codebook_size ?? 256),
    models: { encoder, quantizer, decoder },
    card,
    async encode(x) {
      own(x, 'x');
      const s = x.shape;
      if (s.length !== 4 || s[1] !== 1 || s[2] !== 16 || s[3] !== 16 || x.dtype !== 'float32') {
        throw new TesseraError(
          'SHAPE_MISMATCH',
          `${label}.encode: x must be float32 [N, 1, 16, 16], got ${x.dtype} [${s.join(', ')}]`,
        );
      }
      return viaOnnx(B, x, async (xo) => {
        const { latents } = await encoder.run({ pixel_values: xo });
        const { indices } = await quantizer.run({ latents: latents! });
        latents!.dispose();
        const flat = B.reshape(indices!, [s[0]!, 16]);
        indices!.dispose();
        return flat;
      });
    },
    async decode(tokens) {
      own(tokens, 'tokens');
      const s = tokens.shape;
      const ok =
        tokens.dtype === 'int32' &&
        ((s.length === 2 && s[1] === 16) || (s.length === 3 && s[1] === 4 && s[2] === 4));
      if (!ok) {
        throw new TesseraError(
          'SHAPE_MISMATCH',
          `${label}.decode: tokens must be int32 [N, 16] or [N, 4, 4], got ${tokens.dtype} [${s.join(', ')}]`,
        );
      }
      return viaOnnx(B, tokens, async (to) => {
        const grid = B.reshape(to, [s[0]!, 4, 4]);
        try {
          const { sample } = await decoder.run({ indices: grid });
          return sample!;
        } finally {
          grid.dispose();
        }
      });
    },
    async dispose() {
      await Promise.all(loaded.map((m) => m.dispose()));
    },
  };
}
