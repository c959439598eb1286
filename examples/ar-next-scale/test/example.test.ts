import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error plain JavaScript example
import { main } from '../index.mjs';

const PATCH_NUMS = [1, 2, 3, 4, 5, 6, 8, 10, 13, 16]; // VAR's default (FoundationVision/VAR train.py)

describe('ar-next-scale', () => {
  it('decodes every scale with one model call each: 10 calls for VAR patch numbers', async () => {
    const seed = Date.now() % 100000;
    const r = await main({ count: 3, seed, dir: mkdtempSync(join(tmpdir(), 'ex-ns-')) });
    expect(r.calls).toBe(PATCH_NUMS.length);
    expect(r.maps.map((m: Int32Array) => m.length)).toEqual(PATCH_NUMS.map((p) => 3 * p * p));
    for (const m of r.maps)
      expect(Array.from(m as Int32Array).every((t) => t >= 0 && t < r.vocabSize)).toBe(true);
  });
});
