import { philoxWords, scope, TesseraError } from '@tessera/core';
import { describe, expect, it } from 'vitest';
import { gpu, rng, SEED, uniform } from './helpers.ts';

describe.skipIf(!gpu)('webgpu engine', () => {
  const B = gpu!;

  it('a 1,000-iteration lincomb + randn loop inside scope() leaves the buffer count flat', async () => {
    const step = (x: ReturnType<typeof B.fill>, i: number) =>
      scope(() => B.lincomb([0.9, 0.1], [x, B.randn([256], { seed: 7, offset: 512 * i })]));
    let x = B.fill([256], 1);
    // warm up: the pool fills to its steady size during the first batch
    for (let i = 0; i < 100; i++) {
      const y = step(x, i);
      x.dispose();
      x = y;
    }
    await B.sync();
    const before = B.memory();
    for (let i = 100; i < 1100; i++) {
      const y = step(x, i);
      x.dispose();
      x = y;
    }
    await B.sync();
    const after = B.memory();
    expect(after.buffers).toBe(before.buffers);
    expect(after.tensors).toBe(before.tensors);
    expect(after.bytes).toBe(before.bytes);
    x.dispose();
  });

  it('compiles one pipeline per op and dtype, not per shape', async () => {
    const r = rng(SEED);
    const run = (n: number) =>
      scope(() => {
        const a = B.tensor(uniform(r, n * 3), [n, 3]);
        const b = B.tensor(uniform(r, 3), [3]);
        return B.reduce('sum', B.binary('mul', B.unary('exp', a), b), -1).data();
      });
    await run(5);
    const after1 = B.pipelineCount;
    for (const n of [1, 7, 64, 333]) await run(n);
    expect(B.pipelineCount).toBe(after1);
  });

  it('counts one readback per read() and none for queued ops', async () => {
    const start = B.readbacks;
    await scope(async () => {
      let x = B.randn([64], { seed: 1 });
      for (let i = 0; i < 20; i++) x = B.lincomb([1, 0.5], [x, B.unary('tanh', x)]);
      expect(B.readbacks).toBe(start);
      await x.data();
    });
    expect(B.readbacks).toBe(start + 1);
  });

  it('wrapBuffer reads an external GPU buffer in place and leaves it to its owner', async () => {
    const r = rng(SEED + 1);
    const vals = new Float32Array(uniform(r, 12));
    const buffer = B.device.createBuffer({
      size: 48,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    });
    B.device.queue.writeBuffer(buffer, 0, vals);
    const before = B.memory().buffers;
    const t = B.wrapBuffer(buffer, [3, 4], 'float32');
    expect(Array.from(await t.data())).toEqual(Array.from(vals));
    const doubled = B.binary('mul', t, 2);
    expect(Array.from(await doubled.data())).toEqual(Array.from(vals, (v) => v * 2));
    doubled.dispose();
    t.dispose();
    // still usable by its owner after the tensor is gone
    B.device.queue.writeBuffer(buffer, 0, new Float32Array([5]));
    const again = B.wrapBuffer(buffer, [1]);
    expect(Array.from(await again.data())).toEqual([5]);
    again.dispose();
    expect(B.memory().buffers).toBeGreaterThanOrEqual(before);
    expect(() => B.wrapBuffer(buffer, [13])).toThrow(TesseraError);
    buffer.destroy();
  });

  it('dispatches more than 65,535 workgroups (2-D grid)', async () => {
    const n = 65536 * 64 + 100; // 65,538 workgroups of 64
    const got = await B.rand([n], { seed: 3 }).data();
    const tail = philoxWords(3, n - 100, 100);
    expect(Array.from(got.subarray(n - 100))).toEqual(
      Array.from(tail, (w) => Math.fround(((w >>> 9) + 0.5) / 8388608)),
    );
  });

  it('throws the CPU backend’s errors for foreign and disposed tensors', () => {
    const t = B.fill([2], 1);
    t.dispose();
    expect(() => B.unary('exp', t)).toThrow(/exp: input tensor #\d+ \[2\] was disposed/);
    try {
      B.binary('add', B.fill([2, 3], 1), B.fill([4], 1));
      expect.unreachable();
    } catch (e) {
      expect((e as TesseraError).code).toBe('SHAPE_MISMATCH');
      expect((e as Error).message).toContain('add: shapes [2, 3] and [4] do not broadcast');
    }
  });
  it('trim() destroys the free pooled buffers and keeps live tensors working', async () => {
    scope(() => {
      for (let i = 1; i < 20; i++) B.fill([i * 100], i);
    });
    const keepMe = B.tensor([1, 2, 3], [3]);
    await B.sync();
    B.trim();
    const m = B.memory();
    // no views are alive here, so every remaining buffer belongs to exactly one live tensor
    expect(m.buffers).toBe(m.tensors);
    expect(Array.from(await B.binary('add', keepMe, 1).data())).toEqual([2, 3, 4]);
  });
});
