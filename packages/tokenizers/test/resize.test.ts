// backend.resize against float64 re-derivations of PyTorch `F.interpolate` (align_corners=False): area =
// adaptive_avg_pool2d windows, bicubic = Keys A=-0.75 with border-clamped taps (see helpers.ts for sources).
import { describe, expect, it } from 'vitest';
import { testBackends } from '../../../test-utils/backends.ts';
import { freshSeed, maxAbsDiff, normals, resizeRef } from './helpers.ts';

const backends = await testBackends();

// [H, W] → [h, w]: non-integer ratios both ways (16↔13 as in VAR's last scales), integer up/down, 1×1, mixed.
const CASES: Array<[number, number, number, number]> = [
  [16, 16, 13, 13],
  [13, 13, 16, 16],
  [16, 16, 8, 8],
  [8, 8, 16, 16],
  [16, 16, 1, 1],
  [1, 1, 16, 16],
  [16, 16, 10, 10],
  [10, 10, 16, 16],
  [5, 7, 7, 3],
  [16, 13, 13, 16],
  [3, 3, 3, 3],
];

describe.each(backends)('resize on %s', (_name, B) => {
  for (const mode of ['area', 'bicubic'] as const) {
    it.each(CASES)(`${mode} %i×%i → %i×%i matches PyTorch's formula to 1e-5`, async (H, W, h, w) => {
      const seed = freshSeed(H * 100 + W + h + w);
      const planes = 2 * 3;
      const x = normals(seed, planes * H * W);
      const t = B.tensor(Float32Array.from(x), [2, 3, H, W]);
      const y = B.resize(t, [h, w], mode);
      expect(y.shape).toEqual([2, 3, h, w]);
      const got = await y.data();
      // the reference sees the same float32-rounded inputs as the backend
      const ref = resizeRef(Float32Array.from(x), planes, H, W, h, w, mode);
      expect(maxAbsDiff(got, ref), `seed ${seed}`).toBeLessThan(1e-5);
      t.dispose();
      y.dispose();
    });
  }

  it('bicubic 1×2 → 1×4 of [0, 1] gives the hand-computed PyTorch values', async () => {
    // src = (i + 0.5)·2/4 − 0.5 = −0.25, 0.25, 0.75, 1.25. i = 0: t = 0.75, taps [−2..1] clamp to [0,0,0,1],
    // so y₀ = w₂(1.25) = −0.10546875. i = 1: t = 0.25, taps clamp to [0,0,1,1], y₁ = w₁(0.75) + w₂(1.75)
    // = 0.26171875 − 0.03515625 = 0.2265625. By symmetry y₂ = 1 − y₁, y₃ = 1 − y₀.
    const t = B.tensor([0, 1], [1, 1, 1, 2]);
    const y = B.resize(t, [1, 4], 'bicubic');
    const got = Array.from(await y.data());
    const want = [-0.10546875, 0.2265625, 0.7734375, 1.10546875];
    for (let i = 0; i < 4; i++) expect(got[i]).toBeCloseTo(want[i]!, 6);
    t.dispose();
    y.dispose();
  });

  it('area 1×5 → 1×3 averages the adaptive-pool windows [0,2) [1,4) [3,5)', async () => {
    const t = B.tensor([1, 2, 4, 8, 16], [1, 1, 1, 5]);
    const y = B.resize(t, [1, 3], 'area');
    const got = Array.from(await y.data());
    const want = [1.5, 14 / 3, 12];
    for (let i = 0; i < 3; i++) expect(got[i]).toBeCloseTo(want[i]!, 5);
    t.dispose();
    y.dispose();
  });
});
