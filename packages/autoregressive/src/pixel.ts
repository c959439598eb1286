import { dispose, type Tensor, TesseraError, tidy } from '@tessera/core';
import { type RasterDecodeOptions, rasterDecode } from './raster.js';
import type { NextTokenModel } from './types.js';

/** Options of {@link pixelRasterDecode}. */
export interface PixelRasterDecodeOptions extends Omit<RasterDecodeOptions, 'length' | 'order' | 'known'> {
  height: number;
  width: number;
  /** Channels per pixel (3 for RGB). */
  channels: number;
  /** Known pixels' tokens, int32 `[B, C, H, W]`, and mask of the same shape (non-zero = known). */
  known?: { tokens: Tensor; mask: Tensor };
}

/**
 * PixelCNN-style decoding over pixel tokens (e.g. uint8 levels from the pixel tokenizer): pixels in
 * raster order, the channels of a pixel one after another (R then G then B), so the model sees the
 * sequence `[p₀c₀, p₀c₁, p₀c₂, p₁c₀, …]` of length H·W·C. Returns int32 `[B, C, H, W]` tokens; map them
 * to an image with the pixel tokenizer's decode.
 */
export async function pixelRasterDecode<S>(
  model: NextTokenModel<S>,
  o: PixelRasterDecodeOptions,
): Promise<Tensor> {
  const { height: H, width: W, channels: C } = o;
  for (const [k, v] of [
    ['height', H],
    ['width', W],
    ['channels', C],
  ] as const) {
    if (!Number.isInteger(v) || v < 1)
      throw new TesseraError(
        'INVALID_ARGUMENT',
        `pixelRasterDecode: ${k} must be a positive integer, got ${v}`,
      );
  }
  const n = o.batch;
  const L = H * W * C;
  let known: RasterDecodeOptions['known'];
  if (o.known) {
    const Bk = o.known.tokens.backend;
    // [B, C, H, W] → [B, H, W, C] → [B, L] in the decoding sequence order.
    known = tidy(() => ({
      tokens: Bk.reshape(Bk.transpose(o.known!.tokens, [0, 2, 3, 1]), [n, L]),
      mask: Bk.reshape(Bk.transpose(o.known!.mask, [0, 2, 3, 1]), [n, L]),
    }));
  }
  let seq: Tensor;
  try {
    seq = await rasterDecode(model, { ...o, length: L, known });
  } catch (e) {
    if (known) dispose(known);
    throw e;
  }
  const Bk = seq.backend;
  const out = tidy(() => Bk.transpose(Bk.reshape(seq, [n, H, W, C]), [0, 3, 1, 2]));
  seq.dispose();
  if (known) {
    known.tokens.dispose();
    known.mask.dispose();
  }
  return out;
}
