import { moveToBackend, type OnnxBackend } from '@tessera/backend-onnx';
import { type Backend, createCpuBackend, type DType, type Shape, TesseraError } from '@tessera/core';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { tryWebGPU } from '../../../test-utils/backends.ts';
import { tryOnnxBackend } from './targets.ts';

describe('handing ONNX tensors to another backend', () => {
  it('a WebGPU buffer (as onnxruntime-web hands out) is adopted by wrapBuffer, not read back', async () => {
    const B = (await tryOnnxBackend('node-cpu'))!;
    const fakeBuffer = { size: 16, usage: 0x80 | 0x04 | 0x08 };
    const value = ort.Tensor.fromGpuBuffer(fakeBuffer as never, { dataType: 'float32', dims: [2, 2] });
    const t = B.wrap(value as never);
    const cpu = createCpuBackend();
    const seen: unknown[] = [];
    const target = Object.assign(cpu, {
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
