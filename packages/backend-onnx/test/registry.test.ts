import { createOnnxBackend, registerOnnxBackend } from '@tessera/backend-onnx';
import { getBackend, TesseraError } from '@tessera/core';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';

describe('creating and registering', () => {
  it('registerOnnxBackend makes getBackend(name) create it', async () => {
    registerOnnxBackend({ ort: ort as never, executionProviders: ['cpu'], name: 'onnx-test' });
    const B = await getBackend('onnx-test');
    expect(B.name).toBe('onnx-test');
    const v = await B.binary('mul', B.tensor([1.5, -2], [2]), 4).data();
    expect(Array.from(v)).toEqual([6, -8]);
  });

  it('a missing runtime or empty provider list is INVALID_ARGUMENT', () => {
    expect(() => createOnnxBackend({} as never)).toThrow(TesseraError);
    expect(() => createOnnxBackend({ ort: ort as never, executionProviders: [] })).toThrow(
      /executionProviders/,
    );
  });
});
