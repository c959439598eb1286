/** Small image helpers for the CLI's PNG output. */

/** Upscales `[N, C, h, w]` images by an integer factor (nearest) so small tiles are visible. */
export function upscale(
  data: ArrayLike<number>,
  shape: number[],
  f: number,
): { data: Float32Array; shape: number[] } {
  const [N, C, H, W] = shape as [number, number, number, number];
  const out = new Float32Array(N * C * H * f * W * f);
  for (let p = 0; p < N * C; p++) {
    for (let y = 0; y < H * f; y++) {
      for (let x = 0; x < W * f; x++)
        out[(p * H * f + y) * W * f + x] = data[(p * H + Math.floor(y / f)) * W + Math.floor(x / f)]!;
    }
  }
  return { data: out, shape: [N, C, H * f, W * f] };
}
