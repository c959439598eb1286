// Shared setup of the exported-AR-model tests: a fresh seed (replay with TESSERA_TEST_SEED), its random
// helpers, an onnxruntime-node cpu backend, and a small procedural token data set (8×8 grids, V = 5,
// C = 3 classes, scales 1, 2, 4, 8). Each test file calls arFixture() once and disposes `B` afterwards.
import { createOnnxBackend } from '@tessera/backend-onnx';
import { proceduralTokenGrids } from '@tessera/reference';
import * as ort from 'onnxruntime-node';
import { rng } from '../../backend-onnx/test/ref64.ts';

export function arFixture() {
  const seed = Number(process.env.TESSERA_TEST_SEED ?? Date.now() % 1e9);
  const u = rng(seed);
  const ri = (k: number) => Math.floor(u() * k);
  const [H, W, V, C] = [8, 8, 5, 3];
  return {
    seed,
    note: `TESSERA_TEST_SEED=${seed}`,
    /** Uniform [0, 1) from the seed. */
    u,
    /** Uniform integer in [0, k). */
    ri,
    B: createOnnxBackend({
      ort: ort as never,
      executionProviders: ['cpu'],
      sessionOptions: { intraOpNumThreads: 1 },
    }),
    H,
    W,
    L: H * W,
    V,
    C,
    pn: [1, 2, 4, 8],
    data: proceduralTokenGrids({ count: 40, height: H, width: W, vocabSize: V, seed }),
    /** `n` label values in [0, C]; C is the null label. */
    randomLabels: (n: number) => Array.from({ length: n }, () => ri(C + 1)),
  };
}
