import type { WebGPUBackend } from '@tessera/backend-webgpu';
import { expect } from 'vitest';
import { tryWebGPU } from '../../../test-utils/backends.ts';

/** The WebGPU backend, or undefined (tests skip with a notice; TESSERA_REQUIRE_WEBGPU=1 fails instead). */
export const gpu = (await tryWebGPU()) as WebGPUBackend | undefined;

/** Run seed: fresh each run, printed so a failure can be replayed with TESSERA_SEED. */
export const SEED = Number(process.env.TESSERA_SEED ?? Date.now() % 2 ** 31);
console.log(`[backend-webgpu tests] seed ${SEED}`);

export { mulberry32 as rng } from '../../../test-utils/random.ts';

/** n uniform values in [lo, hi), rounded to float32. */
export function uniform(r: () => number, n: number, lo = -3, hi = 3): number[] {
  return Array.from({ length: n }, () => Math.fround(lo + (hi - lo) * r()));
}

/** |got − want| ≤ tol·max(1, |want|) elementwise (NaN matches NaN, equal infinities match). */
export function expectClose(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  tol: number,
  what: string,
): void {
  expect(got.length, `${what}: length`).toBe(want.length);
  const bad: string[] = [];
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!;
    const w = want[i]!;
    const ok =
      g === w || (Number.isNaN(g) && Number.isNaN(w)) || Math.abs(g - w) <= tol * Math.max(1, Math.abs(w));
    if (!ok && bad.length < 5) bad.push(`[${i}] got ${g}, want ${w}`);
  }
  expect(bad, `${what} (seed ${SEED})`).toEqual([]);
}

/** Row-major strides. */
export function strides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

/** Multi-index of flat index j in `shape`. */
export function unravel(j: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = j % shape[d]!;
    j = Math.floor(j / shape[d]!);
  }
  return idx;
}
