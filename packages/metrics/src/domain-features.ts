import { philoxWords, TesseraError, wordsToNormal } from '@tessera/core';

/** Feature dimension of {@link domainFeatures}. */
export const DOMAIN_FEATURE_DIM = 64;
/** Philox seed of the fixed projection of {@link domainFeatures}. */
export const DOMAIN_FEATURE_SEED = 0x7e55e2a;

const SIDE = 16;
const PIXELS = SIDE * SIDE;
let cached: { w: Float64Array; b: Float64Array } | undefined;

/** The fixed projection: W (64×256, N(0, 1/256)) from Philox words 0…, b (64, N(0, 1/4)) after them. */
function projection(): { w: Float64Array; b: Float64Array } {
  if (cached) return cached;
  const n = DOMAIN_FEATURE_DIM * PIXELS;
  const words = philoxWords(DOMAIN_FEATURE_SEED, 0, 2 * (n + DOMAIN_FEATURE_DIM));
  const w = new Float64Array(n);
  for (let i = 0; i < n; i++) w[i] = wordsToNormal(words[2 * i]!, words[2 * i + 1]!) / SIDE;
  const b = new Float64Array(DOMAIN_FEATURE_DIM);
  for (let k = 0; k < DOMAIN_FEATURE_DIM; k++)
    b[k] = 0.5 * wordsToNormal(words[2 * (n + k)]!, words[2 * (n + k) + 1]!);
  cached = { w, b };
  return cached;
}

/**
 * A fixed feature extractor for the 16×16 digits and shapes data, until a trained classifier replaces
 * it: each image (`[N, C, H, W]`, values in [−1, 1], H and W multiples of 16) is averaged over channels,
 * area-averaged down to 16×16, and mapped to 64 random ReLU features relu(W x + b), with W (64×256,
 * entries N(0, 1/256)) and b (64, entries N(0, 1/4)) drawn once from the Philox stream of
 * {@link DOMAIN_FEATURE_SEED} (`wordsToNormal` of consecutive word pairs, W row-major first). Random
 * ReLU features are a kernel embedding (the arc-cosine kernel), so Fréchet/KID/precision-recall on them
 * compare image distributions beyond pixel means, but they know nothing of what a digit is: use them to
 * rank samplers on this data, not to compare with published FIDs. Returns row-major `[N, 64]`.
 */
export function domainFeatures(images: ArrayLike<number>, shape: readonly number[]): Float64Array {
  if (shape.length !== 4 || shape.some((s) => !Number.isInteger(s) || s < 1)) {
    throw new TesseraError(
      'SHAPE_MISMATCH',
      `domainFeatures: shape [N, C, H, W] expected, got [${shape.join(', ')}]`,
    );
  }
  const [n, c, h, w] = shape as [number, number, number, number];
  if (h % SIDE !== 0 || w % SIDE !== 0) {
    throw new TesseraError(
      'SHAPE_MISMATCH',
      `domainFeatures: H and W should be multiples of 16, got ${h}×${w}`,
    );
  }
  if (images.length !== n * c * h * w) {
    throw new TesseraError(
      'SHAPE_MISMATCH',
      `domainFeatures: shape [${shape.join(', ')}] needs ${n * c * h * w} values, got ${images.length}`,
    );
  }
  const { w: W, b } = projection();
  const fy = h / SIDE;
  const fx = w / SIDE;
  const x = new Float64Array(PIXELS);
  const out = new Float64Array(n * DOMAIN_FEATURE_DIM);
  const norm = 1 / (c * fy * fx);
  for (let i = 0; i < n; i++) {
    x.fill(0);
    for (let ch = 0; ch < c; ch++) {
      const base = (i * c + ch) * h * w;
      for (let yy = 0; yy < h; yy++) {
        const row = Math.floor(yy / fy) * SIDE;
        for (let xx = 0; xx < w; xx++) {
          const v = images[base + yy * w + xx]!;
          if (!Number.isFinite(v)) {
            throw new TesseraError(
              'INVALID_ARGUMENT',
              `domainFeatures: image ${i} has a non-finite value ${v}`,
            );
          }
          x[row + Math.floor(xx / fx)]! += v;
        }
      }
    }
    for (let p = 0; p < PIXELS; p++) x[p] = x[p]! * norm;
    for (let k = 0; k < DOMAIN_FEATURE_DIM; k++) {
      let s = b[k]!;
      const o = k * PIXELS;
      for (let p = 0; p < PIXELS; p++) s += W[o + p]! * x[p]!;
      out[i * DOMAIN_FEATURE_DIM + k] = Math.max(s, 0);
    }
  }
  return out;
}
