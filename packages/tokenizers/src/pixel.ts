import { fmtShape, type Tensor, TesseraError, tidy } from '@tessera/core';
import { NearestCodeSearch } from './nearest.js';
import { kmeans } from './training.js';
import { checkCodebook } from './util.js';

/** Options of {@link PixelTokenizer}. */
export interface PixelTokenizerOptions {
  /** Levels per channel (default 256: uint8 pixels). Ignored with `palette`. */
  levels?: number;
  /** Value range of the float images, [low, high] (default [0, 1]). */
  range?: readonly [number, number];
  /** A colour palette [K, C] in the image's value range: tokens are nearest palette entries instead. */
  palette?: Tensor;
}

/**
 * Pixel tokens for PixelCNN-style models. Per-channel mode: each channel value x ∈ [low, high] becomes
 * round((x − low)/(high − low)·(L − 1)), clamped to [0, L − 1] (L = 256 gives uint8 values), token maps
 * [B, C, H, W] with vocabulary L. Palette mode: each pixel becomes the index of its nearest palette colour,
 * token maps [B, H, W] with vocabulary K (see {@link PixelTokenizer.fitPalette} for a k-means palette).
 * Images are channel-first float32 [B, C, H, W].
 */
export class PixelTokenizer {
  readonly levels: number;
  readonly range: readonly [number, number];
  readonly palette: Tensor | undefined;
  #search: NearestCodeSearch | undefined;
  #ownsPalette = false;

  constructor(options: PixelTokenizerOptions = {}) {
    this.levels = options.levels ?? 256;
    this.range = options.range ?? [0, 1];
    if (!Number.isInteger(this.levels) || this.levels < 2) {
      throw new TesseraError(
        'INVALID_ARGUMENT',
        `PixelTokenizer: levels must be an integer ≥ 2, got ${this.levels}`,
      );
    }
    if (!(this.range[1] > this.range[0])) {
      throw new TesseraError(
        'INVALID_ARGUMENT',
        `PixelTokenizer: range must be [low, high] with high > low, got [${this.range.join(', ')}]`,
      );
    }
    this.palette = options.palette;
    if (this.palette) {
      checkCodebook('PixelTokenizer palette', this.palette);
      this.#search = new NearestCodeSearch(this.palette);
    }
  }

  /**
   * Fits a k-means colour palette of `K` colours to the pixels of `images` [B, C, H, W] (k-means++ seeds
   * from `seed`, then `iters` Lloyd iterations, default 10) and returns a palette tokenizer.
   */
  static fitPalette(
    images: Tensor,
    K: number,
    options: { seed: number; iters?: number; range?: readonly [number, number] },
  ): PixelTokenizer {
    checkImages('PixelTokenizer.fitPalette', images);
    const B = images.backend;
    const { codebook, counts } = tidy(() =>
      kmeans(B.transpose(images, [0, 2, 3, 1]), K, { seed: options.seed, iters: options.iters ?? 10 }),
    );
    counts.dispose();
    const t = new PixelTokenizer({ palette: codebook, range: options.range ?? [0, 1] });
    t.#ownsPalette = true;
    return t;
  }

  /** Vocabulary size: L per channel, or K palette colours. */
  get vocabSize(): number {
    return this.palette ? this.palette.shape[0]! : this.levels;
  }

  /** Tokens of `images` [B, C, H, W]: int32 [B, C, H, W] (levels) or [B, H, W] (palette). */
  encode(images: Tensor): Tensor {
    checkImages('PixelTokenizer.encode', images);
    const B = images.backend;
    if (this.#search) {
      if (images.shape[1] !== this.palette!.shape[1]) {
        throw new TesseraError(
          'SHAPE_MISMATCH',
          `PixelTokenizer.encode: palette has ${this.palette!.shape[1]} channels, images ${fmtShape(images.shape)}`,
        );
      }
      return tidy(() => this.#search!.search(B.transpose(images, [0, 2, 3, 1])));
    }
    const [lo, hi] = this.range;
    const L = this.levels;
    return tidy(() => {
      const t = B.unary('round', B.binary('mul', B.binary('sub', images, lo), (L - 1) / (hi - lo)));
      return B.cast(B.clamp(t, 0, L - 1), 'int32');
    });
  }

  /** Images [B, C, H, W] of int32 tokens (the level centres, or the palette colours). */
  decode(tokens: Tensor): Tensor {
    const B = tokens.backend;
    if (tokens.dtype !== 'int32' && tokens.dtype !== 'uint32') {
      throw new TesseraError(
        'DTYPE_MISMATCH',
        `PixelTokenizer.decode: tokens must be int32, got ${tokens.dtype}`,
      );
    }
    if (this.palette) {
      if (tokens.rank !== 3)
        throw new TesseraError(
          'SHAPE_MISMATCH',
          `PixelTokenizer.decode: palette tokens must be [B, H, W], got ${fmtShape(tokens.shape)}`,
        );
      return tidy(() => B.transpose(B.gather(this.palette!, tokens, 0), [0, 3, 1, 2]));
    }
    const [lo, hi] = this.range;
    return tidy(() =>
      B.binary('add', B.binary('mul', B.cast(tokens, 'float32'), (hi - lo) / (this.levels - 1)), lo),
    );
  }

  /** Frees the palette search state, and the palette when {@link PixelTokenizer.fitPalette} made it. */
  dispose(): void {
    this.#search?.dispose();
    if (this.#ownsPalette) this.palette?.dispose();
  }
}

function checkImages(op: string, x: Tensor): void {
  if (x.rank !== 4 || x.dtype !== 'float32') {
    throw new TesseraError(
      'SHAPE_MISMATCH',
      `${op}: images must be float32 [B, C, H, W], got ${x.dtype} ${fmtShape(x.shape)}`,
    );
  }
}
