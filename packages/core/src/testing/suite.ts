/**
 * The Backend conformance suite, written once and run against every backend (CPU, WebGPU, ONNX).
 *
 * Every op of the Backend interface is checked against float64 references written in this folder
 * (reference.ts, and the sections' own formulas), never against another backend's code. Inputs are fresh
 * each run: the seed comes from TESSERA_TEST_SEED or the clock and is printed in the suite's name, so a
 * failure can be replayed with `TESSERA_TEST_SEED=<seed>`.
 *
 * Usage, from any package's test file (published as `@tessera/core/testing`; needs `vitest` and
 * `fast-check`, optional peer dependencies of core):
 * ```ts
 * import { describeConformance } from '@tessera/core/testing';
 * describeConformance('webgpu', () => tryWebGPU(), { tolerance: { float32: 1e-4 } });
 * ```
 * Self-contained: imports only `vitest`, `fast-check`, `@tessera/core` and its sibling files.
 */
import type { Backend } from '@tessera/core';
import { describe } from 'vitest';
import { makeCtx } from './context.js';
import { elementwiseTests } from './elementwise.js';
import { largeTests } from './large.js';
import { layoutTests } from './layout.js';
import { lifecycleTests } from './lifecycle.js';
import { messageTests } from './messages.js';
import { probabilityTests } from './probability.js';
import { reduceTests } from './reduce.js';
import { resizeTests } from './resize.js';
import { storageTests } from './storage.js';

export { expectClose, expectExact, Rng, rngFor } from './reference.js';

/** Options of {@link describeConformance}. */
export interface ConformanceOptions {
  /**
   * Per-dtype tolerance: a float32 result passes when |got − want| ≤ tol · max(1, |want|) (sums and
   * products scale by the sum of the magnitudes of their terms). Integer dtypes, layout ops, comparisons
   * and `rand` are always exact; `randn` is always held to 1e-6. Default float32 tolerance: 1e-5.
   */
  tolerance?: { float32?: number };
}

/** The run seed: `TESSERA_TEST_SEED` if set, else fresh from the clock. */
export function conformanceSeed(): number {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  const fromEnv = env?.TESSERA_TEST_SEED;
  return fromEnv !== undefined && fromEnv !== '' ? Number(fromEnv) >>> 0 : Date.now() % 2147483647;
}

/**
 * Registers the conformance suite for one backend. When `getBackend()` resolves to `undefined` (say, no
 * WebGPU adapter on this machine) the whole suite is skipped with a console notice.
 */
export function describeConformance(
  label: string,
  getBackend: () => Promise<Backend | undefined>,
  opts: ConformanceOptions = {},
): void {
  const seed = conformanceSeed();
  const tol = opts.tolerance?.float32 ?? 1e-5;
  describe(`${label} backend conformance`, async () => {
    const backend = await getBackend();
    if (!backend) console.warn(`[tessera] conformance suite for '${label}' skipped: no backend available`);
    describe.skipIf(!backend)(`seed ${seed} (replay: TESSERA_TEST_SEED=${seed})`, () => {
      if (!backend) return;
      const ctx = makeCtx(backend, seed, tol);
      storageTests(ctx);
      elementwiseTests(ctx);
      reduceTests(ctx);
      layoutTests(ctx);
      probabilityTests(ctx);
      resizeTests(ctx);
      largeTests(ctx);
      lifecycleTests(ctx);
      messageTests(ctx);
    });
  });
}
