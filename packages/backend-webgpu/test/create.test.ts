import { createWebGPUBackend, registerWebGPUBackend } from '@tessera/backend-webgpu';
import { getBackend, listBackends, resetBackends, TesseraError } from '@tessera/core';
import { describe, expect, it } from 'vitest';
import { gpu } from './helpers.ts';

describe('createWebGPUBackend', () => {
  it('rejects with BACKEND_UNAVAILABLE when there is no adapter', async () => {
    const noAdapter = { requestAdapter: async () => null } as unknown as GPU;
    const err = await createWebGPUBackend({ gpu: noAdapter }).catch((e) => e);
    expect(err).toBeInstanceOf(TesseraError);
    expect((err as TesseraError).code).toBe('BACKEND_UNAVAILABLE');
    expect((err as Error).message).toContain('no GPU adapter');
  });

  it('registers "webgpu" only when asked; getBackend() picks it when an adapter exists, else falls through to cpu', async () => {
    expect(listBackends()).not.toContain('webgpu');
    registerWebGPUBackend(5);
    expect(listBackends()[0]).toBe('webgpu');
    resetBackends();
    const B = await getBackend();
    expect(B.name).toBe(gpu ? 'webgpu' : 'cpu');
  });
});

describe.skipIf(!gpu)('sharing a device', () => {
  it('a second backend on the caller’s device reads buffers of the first through wrapBuffer', async () => {
    const A = gpu!;
    const other = await createWebGPUBackend({ device: A.device });
    expect(other.device).toBe(A.device);
    const t = A.tensor([1, -2, 3.5], [3]);
    // tensors belong to one backend instance...
    expect(() => other.unary('neg', t)).toThrow(/another WebGPU backend/);
    // ...but the buffer can be wrapped without a copy
    const w = other.wrapBuffer((t.storage as { buffer: GPUBuffer }).buffer, [3]);
    expect(Array.from(await other.unary('neg', w).data())).toEqual([-1, 2, -3.5]);
    await other.dispose(); // frees its pools only; the shared device keeps working
    expect(Array.from(await t.data())).toEqual([1, -2, 3.5]);
    t.dispose();
  });

  it('exportBuffer submits queued work: a raw copy on the device sees the final values', async () => {
    const A = gpu!;
    const seed = Date.now() % 1e9;
    const x = A.randn([37], { seed });
    const xs = await x.data();
    // queued, not yet submitted: exportBuffer must flush it before another user reads the buffer
    const y = A.lincomb([2, -1], [x, A.unary('exp', x)]);
    const buffer = A.exportBuffer(y);
    expect(buffer.size).toBeGreaterThanOrEqual(37 * 4);
    const staging = A.device.createBuffer({
      size: 37 * 4,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    const enc = A.device.createCommandEncoder();
    enc.copyBufferToBuffer(buffer, 0, staging, 0, 37 * 4);
    A.device.queue.submit([enc.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    const got = new Float32Array(staging.getMappedRange().slice(0));
    staging.unmap();
    staging.destroy();
    for (let i = 0; i < 37; i++) {
      const want = 2 * xs[i]! - Math.exp(xs[i]!);
      expect(Math.abs(got[i]! - want), `seed ${seed}, i ${i}`).toBeLessThanOrEqual(
        4e-7 * Math.max(1, Math.abs(want)),
      );
    }
    y.dispose();
    expect(() => A.exportBuffer(y)).toThrow(/disposed/);
    x.dispose();
  });

  it('refuses tensors larger than one storage binding with UNSUPPORTED', () => {
    const B = gpu!;
    const n = B.device.limits.maxStorageBufferBindingSize / 4 + 1;
    expect(() => B.fill([n], 0)).toThrow(expect.objectContaining({ code: 'UNSUPPORTED' }));
    expect(() => B.fill([n], 0)).toThrow(/maxStorageBufferBindingSize/);
  });

  it('asks for the adapter’s own limits, not WebGPU’s defaults', async () => {
    const B = gpu!;
    // an adapter of the same machine, from its own instance (the backend's is private)
    const { create } = (await import('webgpu' as string)) as { create: (flags: string[]) => GPU };
    const adapter = await create([]).requestAdapter();
    expect(adapter).not.toBeNull();
    if (adapter) {
      for (const key of [
        'maxComputeWorkgroupStorageSize',
        'maxComputeInvocationsPerWorkgroup',
        'maxBufferSize',
      ] as const)
        expect(B.device.limits[key], key).toBe(adapter.limits[key]);
    }
  });
  it('a kernel that fails to compile makes the next read reject (no silent garbage)', async () => {
    const other = await createWebGPUBackend({ device: gpu!.device });
    const out = other.fill([4], 1);
    const params = other.engine.params(new Uint32Array([4]));
    other.engine.dispatch(
      'bogus',
      () => 'this is not WGSL',
      [params, (out.storage as { buffer: GPUBuffer }).buffer],
      1,
    );
    const err = await out.data().catch((e) => e);
    expect(err).toBeInstanceOf(TesseraError);
    expect((err as TesseraError).code).toBe('UNSUPPORTED');
    expect((err as Error).message).toContain('bogus');
    out.dispose();
    await other.dispose();
  });
});
