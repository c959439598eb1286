import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error plain JavaScript example
import { main } from '../index.mjs';

describe('ar-raster', () => {
  it('decodes 16×16 grids with one model call per token, reproducibly', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ex-ar-'));
    const seed = Date.now() % 100000;
    const a = await main({ count: 3, seed, out: join(dir, 'a.png') });
    // raster order: a prefill for the first token and one step for each of the other 255
    expect(a.calls).toBe(16 * 16);
    expect(a.tokens.length).toBe(3 * 256);
    expect(Array.from(a.tokens as Int32Array).every((t) => t >= 0 && t < a.vocabSize)).toBe(true);
    const b = await main({ count: 3, seed, out: join(dir, 'b.png') });
    expect(Array.from(b.tokens)).toEqual(Array.from(a.tokens));
  });
});
