import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error plain JavaScript example
import { main } from '../index.mjs';

describe('trained-digits', () => {
  it('samples one image per digit and the classifier reads most of them as the asked digit', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ex-trained-'));
    const seed = Number(process.env.TESSERA_TEST_SEED ?? Date.now() % 100000);
    const r = await main({ perDigit: 1, seed, dir });
    expect(existsSync(r.png)).toBe(true);
    expect(Array.from(r.classes)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(r.data.length).toBe(10 * 256);
    // measured: 500 of 500 DDIM-50 samples at guidance 2 read as the asked digit (models/README.md); with a per-image error
    // rate q ≤ 0.02, P(4 or more of 10 wrong) < 2e-5
    const correct = r.classes.filter((c: number, i: number) => r.predicted[i] === c).length;
    expect(correct, `predicted ${Array.from(r.predicted)}, seed ${seed}`).toBeGreaterThanOrEqual(7);
  });
});
