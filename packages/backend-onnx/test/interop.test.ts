import { createOnnxBackend, moveToBackend, moveToOnnx, type OnnxBackend } from '@tessera/backend-onnx';
import { type Backend, createCpuBackend, type DType, type Shape, TesseraError } from '@tessera/core';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { tryWebGPU } from '../../../test-utils/backends.ts';
import { tryOnnxBackend } from './targets.ts';

describe('handing ONNX tensors to another backend', () => {
  it('a WebGPU buffer (as onnxruntime-web hands out) is adopted by wrapBuffer, not read back', async () => {
    // an ONNX backend whose WebGPU provider entry names the target's device (nothing runs here)
    const device = { label: 'shared' };
    const B = createOnnxBackend({
      ort: ort as never,
      executionProviders: [{ name: 'webgpu', device } as never],
    });
    const fakeBuffer = { size: 16, usage: 0x80 | 0x04 | 0x08 };
    const value = ort.Tensor.fromGpuBuffer(fakeBuffer as never, { dataType: 'float32', dims: [2, 2] });
    const t = B.wrap(value as never);
    const cpu = createCpuBackend();
    const seen: unknown[] = [];
    const target = Object.assign(cpu, {
      device,
      wrapBuffer(buffer: unknown, shape: Shape, dtype?: DType) {
        seen.push(buffer, shape, dtype);
        return cpu.tensor([1, 2, 3, 4], shape, dtype);
      },
    });
    const reads = B.transferStats().readbacks;
    const moved = await moveToBackend(t, B, target as Backend);
    expect(moved.zeroCopy).toBe(true);
    expect(seen).toEqual([fakeBuffer, [2, 2], 'float32']);
    expect(Array.from(await moved.tensor.data())).toEqual([1, 2, 3, 4]);
    expect(B.transferStats().readbacks).toBe(reads);
    // a target on no known device (or another one) is refused: wrapping would cross devices
    const stranger = Object.assign(createCpuBackend(), { wrapBuffer: target.wrapBuffer });
    await expect(moveToBackend(t, B, stranger as Backend, { requireZeroCopy: true })).rejects.toThrow(
      /WebGPU device is not the device of 'cpu'/,
    );
    expect(seen).toHaveLength(3);
    t.dispose();
  });

  it('onnxruntime-node webgpu → WebGPU backend: no shared device in Node, so a host copy (or UNSUPPORTED)', async (ctx) => {
    const B = (await tryOnnxBackend('node-webgpu')) as OnnxBackend | undefined;
    const W = await tryWebGPU();
    if (!B || !W) return ctx.skip();
    const x = B.unary('exp', B.tensor([0, 1, -1, 2], [2, 2]));
    const err = await moveToBackend(x, B, W, { requireZeroCopy: true }).catch((e) => e);
    expect(err).toBeInstanceOf(TesseraError);
    expect(err.code).toBe('UNSUPPORTED');
    expect(err.message).toContain('opaque native handles');
    const moved = await moveToBackend(x, B, W);
    expect(moved.zeroCopy).toBe(false);
    const got = Array.from(await moved.tensor.data());
    for (const [i, v] of [0, 1, -1, 2].entries()) expect(got[i]).toBeCloseTo(Math.exp(v), 5);
  });
});

describe('handing tensors of another backend to ONNX', () => {
  const seed = Date.now() % 1e9;
  const values = (n: number) => {
    let s = seed;
    return Array.from({ length: n }, () => {
      s = (s * 1103515245 + 12345) % 2 ** 31;
      return Math.fround((s / 2 ** 31) * 6 - 3);
    });
  };

  it('CPU → onnxruntime-node cpu: a host copy; requireZeroCopy is UNSUPPORTED', async () => {
    const B = (await tryOnnxBackend('node-cpu'))!;
    const cpu = createCpuBackend();
    const v = values(6);
    const x = cpu.tensor(v, [3, 2]);
    const moved = await moveToOnnx(x, B);
    expect(moved.zeroCopy).toBe(false);
    expect(moved.tensor.backend).toBe(B);
    expect(moved.tensor.shape).toEqual([3, 2]);
    expect(Array.from(await moved.tensor.data()), `seed ${seed}`).toEqual(v);
    const err = await moveToOnnx(x, B, { requireZeroCopy: true }).catch((e) => e);
    expect(err).toBeInstanceOf(TesseraError);
    expect(err.code).toBe('UNSUPPORTED');
    expect(err.message).toMatch(/moveToOnnx: no zero-copy path from 'cpu' to 'onnx': .*host memory/);
    moved.tensor.dispose();
  });

  it('WebGPU backend → onnxruntime-node webgpu: different devices, so a host copy (or UNSUPPORTED)', async (ctx) => {
    const B = (await tryOnnxBackend('node-webgpu')) as OnnxBackend | undefined;
    const W = await tryWebGPU();
    if (!B || !W) return ctx.skip();
    const v = values(5);
    const x = W.tensor(v, [5]);
    const err = await moveToOnnx(x, B, { requireZeroCopy: true }).catch((e) => e);
    expect(err).toBeInstanceOf(TesseraError);
    expect(err.message).toContain('not the device of');
    const moved = await moveToOnnx(x, B);
    expect(moved.zeroCopy).toBe(false);
    expect(Array.from(await B.unary('neg', moved.tensor).data())).toEqual(v.map((a) => -a));
    x.dispose();
  });

  it("a backend on the provider's device: the tensor is copied on the GPU and handed over with fromGpuBuffer, freed on dispose", async () => {
    // structural stand-ins: a "device", a source backend that exports buffers, and an ONNX backend whose
    // WebGPU provider entry names that device (nothing runs on ONNX Runtime here)
    const device = { label: 'shared' };
    const cpu = createCpuBackend();
    const buffers = new Map<unknown, number[]>();
    const source = Object.assign(cpu, {
      device,
      exportBuffer(t: { storage: unknown; size: number }) {
        const buffer = { size: t.size * 4, usage: 0x80 | 0x04 | 0x08 };
        buffers.set(buffer, Array.from(t.storage as Float32Array));
        return buffer;
      },
    });
    const B = createOnnxBackend({
      ort: ort as never,
      executionProviders: [{ name: 'webgpu', device } as never],
    });
    const v = values(4);
    const x = source.tensor(v, [2, 2]);
    const live = source.memory().tensors;
    const moved = await moveToOnnx(x, B, { requireZeroCopy: true });
    expect(moved.zeroCopy).toBe(true);
    // the handed-over buffer holds a copy of x (made on the source backend), not x itself
    const [buffer, data] = [...buffers.entries()][0]!;
    expect(data).toEqual(v);
    expect(buffer).not.toBe(x.storage);
    expect(source.memory().tensors).toBe(live + 1);
    const value = (
      moved.tensor.storage as { value: { location: string; gpuBuffer: unknown; dims: number[] } }
    ).value;
    expect(value.location).toBe('gpu-buffer');
    expect(value.gpuBuffer).toBe(buffer);
    expect(value.dims).toEqual([2, 2]);
    moved.tensor.dispose();
    await B.engine.idle();
    expect(source.memory().tensors, 'the copy is freed with the ONNX tensor').toBe(live);
    // a different device is refused
    const other = createOnnxBackend({
      ort: ort as never,
      executionProviders: [{ name: 'webgpu', device: { label: 'other' } } as never],
    });
    await expect(moveToOnnx(x, other, { requireZeroCopy: true })).rejects.toThrow(/not the device of 'cpu'/);
    x.dispose();
  });
});
