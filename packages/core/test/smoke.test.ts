import { describe, expect, it } from 'vitest';
import { philox4x32, randn, tensor, TesseraError } from '@tessera/core';

describe('core smoke', () => {
  it('round-trips data', async () => {
    const src = new Float32Array([1.5, -2, 3, 4, 5, 6]);
    const t = tensor(src, [2, 3]);
    expect(await t.data()).toEqual(src);
    t.dispose();
    await expect(t.data()).rejects.toBeInstanceOf(TesseraError);
  });
  it('philox KAT', () => {
    expect(Array.from(philox4x32([0, 0, 0, 0], [0, 0]))).toEqual([0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]);
  });
  it('randn moments', async () => {
    const z = await randn([20000], { seed: 1 }).data();
    let m = 0;
    for (const v of z) m += v;
    expect(Math.abs(m / z.length)).toBeLessThan(0.05);
  });
});
