import { UsageError } from './errors.js';

/**
 * The CLI's documented limits (`--help` lists them). Every size is checked before a backend is created,
 * so an oversized request fails at once with a message saying what was asked and what is allowed.
 */
export const LIMITS = {
  /** Diffusion sampling steps. */
  steps: 10_000,
  /** Images per run (diffusion and autoregression). */
  count: 1024,
  /** Tile upscaling factor. */
  zoom: 64,
  /** Masked-decoder iterations (at most one per token of the 16×16 grid). */
  iters: 256,
  /** Schedule rows `tessera schedule` prints. */
  scheduleSteps: 100_000,
  /** Pixels of the upscaled tiles together (2^26: a 256 MiB float32 buffer before PNG encoding). */
  imagePixels: 2 ** 26,
} as const;

/** Largest seed: Philox takes any non-negative safe integer. */
export const MAX_SEED = Number.MAX_SAFE_INTEGER;

/**
 * Checks that `count` tiles of `side`×`side` (× `channels`) at `zoom` fit {@link LIMITS}.imagePixels, and
 * says how much memory the request would need otherwise.
 */
export function checkImageSize(count: number, channels: number, side: number, zoom: number): void {
  const pixels = count * channels * (side * zoom) ** 2;
  if (pixels > LIMITS.imagePixels) {
    const mib = Math.ceil((pixels * 5) / 2 ** 20); // float32 tiles + 8-bit grid
    throw new UsageError(
      `--count ${count} with --zoom ${zoom} makes ${pixels.toLocaleString('en-US')} pixel values (about ${mib.toLocaleString('en-US')} MiB); at most ${LIMITS.imagePixels.toLocaleString('en-US')} are allowed: lower --zoom or --count`,
    );
  }
}

/**
 * Checks a numeric job option of the library functions (`generateDiffusion`, `generateAr`) as the CLI
 * checks its flag: an integer within `[min, max]`, else a UsageError naming the flag it stands for.
 */
export function checkInt(name: string, value: unknown, min: number, max: number): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got '${String(value)}'`);
  }
}

/** Checks a numeric job option: a finite number ≥ `min` (and ≤ `max` when given). */
export function checkNum(name: string, value: unknown, min: number, max = Number.POSITIVE_INFINITY): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    const range = Number.isFinite(max) ? ` in [${min}, ${max}]` : ` ≥ ${min}`;
    throw new UsageError(`--${name} must be a number${range}, got '${String(value)}'`);
  }
}
