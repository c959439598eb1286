// OnnxModel.run(feeds, names) with only some of a model's outputs, on every onnxruntime-node target.
// onnxruntime-node 1.30 with outputs kept on the GPU (the webgpu provider) fails such a run with
// "Output count mismatch"; the engine then fetches every output and frees the ones not asked for.
import { encodeModel, GraphBuilder, onnxModel } from '@tessera/backend-onnx';
import { describe, expect, it } from 'vitest';
import { rng } from './ref64.ts';
import { type Target, tryOnnxBackend } from './targets.ts';

const seed = Number(process.env.TESSERA_TEST_SEED ?? Date.now() % 2 ** 31);

/** y = relu(x), z = 2x − 1, w = x²: three outputs of one graph. */
function threeOutputs(): Uint8Array {
  const g = new GraphBuilder();
  const x = g.input('float', ['batch', 4], 'x');
  g.output(g.op('Relu', [x]), 'float', 'y', ['batch', 4]);
  g.output(
    g.op('Sub', [g.op('Mul', [x, g.const('float', [2], [])]), g.const('float', [1], [])]),
    'float',
    'z',
    ['batch', 4],
  );
  g.output(g.op('Mul', [x, x]), 'float', 'w', ['batch', 4]);
  return encodeModel({ nodes: g.nodes, inputs: g.inputs, outputs: g.outputs, initializers: g.initializers });
}

describe.each<Target>(['node-cpu', 'node-webgpu'])(
  `a subset of the outputs on %s (seed ${seed})`,
  (target) => {
    it('returns exactly the outputs asked for, with their values, and frees the rest', async () => {
      const B = await tryOnnxBackend(target);
      if (!B) return;
      const m = await onnxModel(threeOutputs(), { backend: B, name: 'three.onnx' });
      const r = rng(seed);
      const xs = Array.from({ length: 8 }, () => Math.fround(4 * r() - 2));
      const x = B.tensor(xs, [2, 4]);
      const before = B.memory().tensors;
      for (const names of [['z'], ['w', 'y'], ['y', 'z', 'w']]) {
        const out = await m.run({ x }, names);
        expect(Object.keys(out).sort(), `${target} ${names}`).toEqual([...names].sort());
        const want: Record<string, (v: number) => number> = {
          y: (v) => Math.max(v, 0),
          z: (v) => 2 * v - 1,
          w: (v) => v * v,
        };
        for (const n of names) {
          const got = await out[n]!.data();
          xs.forEach((v, i) => {
            expect(got[i]!, `${target} ${n}[${i}]`).toBeCloseTo(want[n]!(v), 5);
          });
          out[n]!.dispose();
        }
      }
      expect(B.memory().tensors, target).toBe(before);
      x.dispose();
      await m.dispose();
      await B.dispose();
    });
  },
);
