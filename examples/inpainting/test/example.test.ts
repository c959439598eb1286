import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error plain JavaScript example
import { main } from '../index.mjs';

describe('inpainting', () => {
  it('keeps the known half exactly and fills the hidden half with clean, non-blank pixels', async () => {
    const seed = Date.now() % 100000;
    const r = await main({
      count: 4,
      steps: 20,
      seed,
      out: join(mkdtempSync(join(tmpdir(), 'ex-inp-')), 'i.png'),
    });
    let hiddenInk = 0;
    for (let n = 0; n < 4; n++) {
      for (let i = 0; i < 256; i++) {
        const got = r.filled[n * 256 + i];
        if (!r.mask[i]) expect(got, `seed ${seed}, image ${n}, pixel ${i}`).toBe(r.original[n * 256 + i]);
        else {
          // denoised, not noise: data lies in [-1, 1] plus the mixture's small per-component spread,
          // while un-denoised noise at sigma_max (80) would be tens of units
          expect(Math.abs(got), `seed ${seed}, image ${n}, pixel ${i}`).toBeLessThan(3);
          if (got > 0) hiddenInk++;
        }
      }
    }
    // digits have strokes on both halves: the model draws some ink where it was hidden
    expect(hiddenInk).toBeGreaterThan(4 * 4);
  });
});
