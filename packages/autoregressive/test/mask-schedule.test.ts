import { describe, expect, it } from 'vitest';
import { cosineMaskLen, maskPlan } from '../src/masked.js';

// MAR (LTH14/mar models/mar.py, sample_tokens) computes, in float64,
//   mask_ratio = np.cos(math.pi / 2. * (step + 1) / num_iter)
//   mask_len = np.floor(self.seq_len * mask_ratio)
// left to right: π/2·(step+1) first, then ÷ num_iter. Where (step+1)/num_iter = 2/3 this gives
// cos = 0.4999999999999999 and mask_len 127 for seq_len 256 (dividing first gives 128).
// Values from /usr/bin/python3 (numpy 1.x, float64):
//   import numpy as np, math
//   for n in [39, 51, 63, 75, 78, 87, 102, 126]:
//       v = [int(np.floor(256 * np.cos(math.pi / 2. * (s + 1) / n))) for s in range(n)]
//       print(n, 2 * n // 3 - 1, v[2 * n // 3 - 1], sum(v))
const MAR_256: [numIter: number, step: number, maskLen: number, sum: number][] = [
  [39, 25, 127, 6206],
  [51, 33, 127, 8157],
  [63, 41, 127, 10108],
  [75, 49, 127, 12058],
  [78, 51, 127, 12544],
  [87, 57, 127, 14004],
  [102, 67, 127, 16443],
  [126, 83, 127, 20346],
];

describe("MAR's cosine mask schedule (order of operations)", () => {
  for (const [numIter, step, want, sum] of MAR_256) {
    it(`num_iter ${numIter}: mask_len ${want} at step ${step}, the floors sum to ${sum}`, () => {
      // With remaining = L the clamp max(1, min(L − 1, ·)) leaves every floor but the last one as it is
      // (the first floor is 255 = L − 1; the last, ⌊256·cos(π/2)⌋ = 0, is raised to 1), so the clamped
      // lengths of steps 0 … n − 2 sum to MAR's floor sum.
      expect(cosineMaskLen(256, step, numIter, 256)).toBe(want);
      let total = 0;
      for (let s = 0; s < numIter - 1; s++) total += cosineMaskLen(256, s, numIter, 256);
      expect(cosineMaskLen(256, numIter - 1, numIter, 256)).toBe(1);
      expect(total, `num_iter ${numIter}`).toBe(sum);
      // The cfg ramp's mask_len (row 0) in the plan: progress (L − mask_len)/L at that step.
      const order = Array.from({ length: 256 }, (_, i) => i);
      const plan = maskPlan(1, 256, numIter, [order]);
      expect(plan.progress[step]).toBe((256 - want) / 256);
    });
  }
});
