import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error plain JavaScript example
import { main } from '../index.mjs';

describe('diffusion-onnx', () => {
  it('the exported ONNX model samples the same images as the TypeScript model', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ex-onnx-'));
    const r = await main({ steps: 12, count: 4, seed: Date.now() % 100000, dir });
    expect(existsSync(r.file) && existsSync(r.png)).toBe(true);
    expect(r.fromOnnx.length).toBe(4 * 256);
    // both compute the exact mixture posterior mean; only float32 rounding separates them
    let worst = 0;
    for (let i = 0; i < r.fromTs.length; i++) worst = Math.max(worst, Math.abs(r.fromOnnx[i] - r.fromTs[i]));
    expect(worst).toBeLessThan(1e-4);
    expect(r.maxDiff).toBe(worst);
  });
});
