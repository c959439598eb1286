import { createOnnxBackend, encodeModel, GraphBuilder, onnxDenoiser, onnxModel } from '@tessera/backend-onnx';
import { TesseraError } from '@tessera/core';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { rng } from './ref64.ts';

const seed = Date.now() % 1e9;
const u = rng(seed);
const B = createOnnxBackend({
  ort: ort as never,
  executionProviders: ['cpu'],
  sessionOptions: { intraOpNumThreads: 1 },
});
afterAll(() => B.dispose());

/** y = relu(x) + c with x float [batch, 3] and a constant c of `constSize` values (to make sessions heavy). */
function reluModel(opset = 18, constSize = 3): Uint8Array {
  const g = new GraphBuilder();
  const x = g.input('float', ['batch', 3], 'x');
  const c = g.op(
    'ReduceSum',
    [g.const('float', new Float32Array(constSize).fill(1 / constSize), [constSize]), g.i64([0])],
    { keepdims: 1 },
  );
  g.output(g.op('Add', [g.op('Relu', [x]), c]), 'float', 'y', ['batch', 3]);
  return encodeModel({
    nodes: g.nodes,
    inputs: g.inputs,
    outputs: g.outputs,
    initializers: g.initializers,
    opset,
  });
}

async function rejection(p: Promise<unknown>): Promise<TesseraError> {
  const e = await p.then(
    () => undefined,
    (err) => err,
  );
  expect(e, 'expected a rejection').toBeInstanceOf(TesseraError);
  return e as TesseraError;
}

describe(`model loading and I/O errors (seed ${seed})`, () => {
  it('a missing file is FILE_NOT_FOUND naming the path', async () => {
    const path = `/tmp/tessera-missing-${seed}.onnx`;
    const e = await rejection(onnxModel(path, { backend: B }));
    expect(e.code).toBe('FILE_NOT_FOUND');
    expect(e.message).toContain(path);
  });

  it('corrupt, truncated and empty bytes are CORRUPT_FILE naming the model', async () => {
    const junk = Uint8Array.from({ length: 64 }, () => Math.floor(u() * 256));
    junk[0] = 0xff; // an invalid field tag, so the bytes cannot parse as a ModelProto
    for (const [name, bytes] of [
      ['junk.onnx', junk],
      ['cut.onnx', reluModel().slice(0, 40)],
      ['empty.onnx', new Uint8Array(0)],
    ] as const) {
      const e = await rejection(onnxModel(bytes, { backend: B, name }));
      expect(e.code, e.message).toBe('CORRUPT_FILE');
      expect(e.message).toContain(name);
    }
  });

  it('an operator set newer than the runtime is UNSUPPORTED naming the opset', async () => {
    const e = await rejection(onnxModel(reluModel(99), { backend: B, name: 'future.onnx' }));
    expect(e.code).toBe('UNSUPPORTED');
    expect(e.message).toContain('future.onnx');
    expect(e.message).toContain('ai.onnx 99');
  });

  it('expected I/O that the model lacks is MODEL_MISMATCH listing expected and declared', async () => {
    const e = await rejection(
      onnxModel(reluModel(), {
        backend: B,
        name: 'relu.onnx',
        expect: { inputs: { sample: { dtype: 'float32' } }, outputs: { y: { shape: [null, 4] } } },
      }),
    );
    expect(e.code).toBe('MODEL_MISMATCH');
    for (const s of [
      'relu.onnx',
      "missing input 'sample'",
      "output 'y' axis 1 is 3, expected 4",
      'x float32 [batch, 3]',
      'in sample float32',
    ])
      expect(e.message).toContain(s);
    const d = await rejection(
      onnxDenoiser(reluModel(), { backend: B, predictionType: 'epsilon', name: 'relu.onnx' }),
    );
    expect(d.code).toBe('MODEL_MISMATCH');
    expect(d.message).toContain("missing input 'sample'");
  });

  it('wrong feed names, shapes and dtypes throw synchronously; the backend stays usable', async () => {
    const m = await onnxModel(reluModel(), { backend: B, name: 'relu.onnx' });
    const good = B.tensor([1, -2, 3], [1, 3]);
    const wrong = (fn: () => unknown, code: string, words: string[]) => {
      let err: unknown;
      try {
        fn();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(TesseraError);
      expect((err as TesseraError).code).toBe(code);
      for (const w of words) expect((err as TesseraError).message).toContain(w);
    };
    wrong(() => m.runSync({ z: good }, { y: [1, 3] }), 'MODEL_MISMATCH', [
      'relu.onnx',
      'missing input(s) x',
      'unknown input(s) z',
    ]);
    wrong(() => m.runSync({ x: B.tensor([1, 2, 3, 4], [1, 4]) }, { y: [1, 4] }), 'SHAPE_MISMATCH', [
      'relu.onnx',
      "'x'",
      '[1, 4]',
    ]);
    wrong(() => m.runSync({ x: B.tensor([1, 2, 3], [1, 3], 'uint32') }, { y: [1, 3] }), 'DTYPE_MISMATCH', [
      'relu.onnx',
      'uint32',
    ]);
    // a wrong declared output shape surfaces on read, and later runs still work
    const bad = m.runSync({ x: good }, { y: [3, 1] }).y!;
    const e = await rejection(bad.data());
    expect(e.code).toBe('SHAPE_MISMATCH');
    const { y } = await m.run({ x: good });
    expect(Array.from(await y!.data())).toEqual([2, 1, 4]);
    await m.dispose();
    await rejection(Promise.resolve().then(() => m.runSync({ x: good }, { y: [1, 3] })));
  });
});

describe('sessions are released on dispose', () => {
  it('300 model loads and disposals (1 MB constant each) do not grow RSS by 1 MB per load', async () => {
    const bytes = reluModel(18, 262144);
    const cycle = async () => {
      const m = await onnxModel(bytes, {
        ort: ort as never,
        executionProviders: ['cpu'],
        sessionOptions: { intraOpNumThreads: 1 },
      });
      const { y } = await m.run({ x: m.backend.tensor([0.5, -1, 2], [1, 3]) });
      expect(Array.from(await y!.data())).toEqual([1.5, 1, 3]);
      await m.dispose();
    };
    const gc = () => (globalThis as { gc?: () => void }).gc?.();
    for (let i = 0; i < 20; i++) await cycle();
    gc();
    // RSS after each block of 100 loads: a leaked session holds its 1 MB constant, so every block would
    // add ≥ 100 MB. The allocator's own growth levels off (10–40 MB over the first 200 loads here), so the
    // last block must add under 50 MB and all three under 150 MB.
    const rss = [process.memoryUsage().rss];
    for (let b = 0; b < 3; b++) {
      for (let i = 0; i < 100; i++) await cycle();
      gc();
      rss.push(process.memoryUsage().rss);
    }
    const blocks = rss.slice(1).map((v, i) => (v - rss[i]!) / 2 ** 20);
    const note = `RSS growth per block of 100 loads: ${blocks.map((g) => g.toFixed(1))} MB`;
    expect(blocks[2]!, note).toBeLessThan(50);
    expect(blocks[0]! + blocks[1]! + blocks[2]!, note).toBeLessThan(150);
  });
});
