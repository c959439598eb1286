import { createOnnxBackend, encodeModel, GraphBuilder, onnxModel } from '@tessera/backend-onnx';
import { TesseraError } from '@tessera/core';
import { inceptionFeatures, resizePilBicubic } from '@tessera/metrics';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { freshSeed, mulberry } from './helpers';

const seed = freshSeed();
const tag = `(TESSERA_TEST_SEED=${seed})`;
const backend = await createOnnxBackend({ ort, executionProviders: ['cpu'] });
afterAll(() => backend.destroy?.());

/** A stand-in feature model with FID-Inception's I/O: x [N, 3, 299, 299] → pool3 = mean over H, W. */
function poolModel(outName = 'pool3'): Uint8Array {
  const g = new GraphBuilder();
  const x = g.input('float', ['batch', 3, 299, 299], 'x');
  const m = g.op('ReduceMean', [x, g.i64([2, 3])], { keepdims: 0 });
  g.output(m, 'float', outName, ['batch', 3]);
  return encodeModel({
    nodes: g.nodes,
    inputs: g.inputs,
    outputs: g.outputs,
    initializers: g.initializers,
    opset: 18,
  });
}

/** PyTorch bilinear resize (align_corners=False, no antialias) of one plane, in float64. */
function bilinear(src: ArrayLike<number>, h: number, w: number, oh: number, ow: number): Float64Array {
  const out = new Float64Array(oh * ow);
  const coord = (o: number, inSize: number, outSize: number) => {
    const s = Math.max(0, (o + 0.5) * (inSize / outSize) - 0.5);
    const i0 = Math.min(Math.floor(s), inSize - 1);
    return [i0, Math.min(i0 + 1, inSize - 1), s - i0] as const;
  };
  for (let y = 0; y < oh; y++) {
    const [y0, y1, ly] = coord(y, h, oh);
    for (let x = 0; x < ow; x++) {
      const [x0, x1, lx] = coord(x, w, ow);
      const top = src[y0 * w + x0]! * (1 - lx) + src[y0 * w + x1]! * lx;
      const bot = src[y1 * w + x0]! * (1 - lx) + src[y1 * w + x1]! * lx;
      out[y * ow + x] = top * (1 - ly) + bot * ly;
    }
  }
  return out;
}

describe('inceptionFeatures (ONNX feature model adapter)', () => {
  it("applies pytorch-fid's preprocessing (bilinear to 299, 2x − 1) and reads pool3 per image", async () => {
    const rand = mulberry(seed);
    const n = 5;
    const h = 16;
    const w = 24;
    const img = Float32Array.from({ length: n * 3 * h * w }, () => rand());
    const model = await onnxModel(poolModel(), { backend });
    const x = backend.tensor(img, [n, 3, h, w]);
    const live = backend.memory().tensors;
    const f = await inceptionFeatures(model, x, { batchSize: 2 });
    expect(backend.memory().tensors, 'tensors left behind by the batch loop').toBe(live);
    x.dispose();
    expect(f.length).toBe(n * 3);
    for (let i = 0; i < n; i++) {
      for (let c = 0; c < 3; c++) {
        const plane = img.subarray((i * 3 + c) * h * w, (i * 3 + c + 1) * h * w);
        const r = bilinear(plane, h, w, 299, 299);
        const want = (2 * r.reduce((a, b) => a + b, 0)) / r.length - 1;
        expect(Math.abs(f[i * 3 + c]! - want), `image ${i} channel ${c} ${tag}`).toBeLessThan(2e-5);
      }
    }
    // clean-fid's resize: PIL bicubic on 0–255 values, clipped, back to [0, 1].
    const x2 = backend.tensor(img, [n, 3, h, w]);
    const g = await inceptionFeatures(model, x2, { resize: 'clean', batchSize: 3 });
    x2.dispose();
    for (let i = 0; i < n; i++) {
      for (let c = 0; c < 3; c++) {
        const plane = img.subarray((i * 3 + c) * h * w, (i * 3 + c + 1) * h * w).map((v) => v * 255);
        const r = resizePilBicubic(plane, h, w, 299, 299);
        let sum = 0;
        for (const v of r) sum += Math.min(255, Math.max(0, v)) / 255;
        const want = (2 * sum) / r.length - 1;
        expect(Math.abs(g[i * 3 + c]! - want), `clean: image ${i} channel ${c} ${tag}`).toBeLessThan(2e-5);
      }
    }
    await model.dispose();
  });

  it('a model with the wrong output or input name is a MODEL_MISMATCH naming what it has', async () => {
    const model = await onnxModel(poolModel('features'), { backend });
    const x = backend.tensor(new Float32Array(3 * 299 * 299).fill(0.5), [1, 3, 299, 299]);
    const err = await inceptionFeatures(model, x).then(
      () => undefined,
      (e) => e,
    );
    expect(err).toBeInstanceOf(TesseraError);
    expect((err as TesseraError).code).toBe('MODEL_MISMATCH');
    expect((err as TesseraError).message).toMatch(/no output 'pool3'; its outputs are \[features\]/);
    await expect(inceptionFeatures(model, x, { input: 'img', output: 'features' })).rejects.toThrow(
      /no input 'img'/,
    );
    const ok = await inceptionFeatures(model, x, { output: 'features', resize: 'none' });
    expect(Array.from(ok)).toEqual([0, 0, 0]);
    x.dispose();
    await model.dispose();
  });
});
