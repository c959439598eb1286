// Writes the VQ codes of the fixed digit sets for models/maskgit.py: each image of
// data/digits16-{train,test}.f32 (export-data.mjs) through the shipped vq-digits16 encoder and
// quantizer on ONNX Runtime (CPU), as data/digits16-{train,test}-vq.i32 (N·16 little-endian int32,
// the 4×4 grid row-major). The masked transformer is trained on exactly the codes the pipeline sees.
// Run from the repository root after export-data.mjs:
//   node models/export-codes.mjs
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';

const here = dirname(fileURLToPath(import.meta.url));
const data = join(here, 'data');
const opts = { intraOpNumThreads: 2, interOpNumThreads: 1 };
const enc = await ort.InferenceSession.create(join(here, 'vq-digits16', 'encoder.onnx'), opts);
const quant = await ort.InferenceSession.create(join(here, 'vq-digits16', 'quantizer.onnx'), opts);
for (const split of ['train', 'test']) {
  const buf = readFileSync(join(data, `digits16-${split}.f32`));
  const x = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
  const n = x.length / 256;
  const codes = new Int32Array(n * 16);
  const chunk = 2000;
  for (let i = 0; i < n; i += chunk) {
    const m = Math.min(chunk, n - i);
    const pixel_values = new ort.Tensor('float32', x.slice(i * 256, (i + m) * 256), [m, 1, 16, 16]);
    const { latents } = await enc.run({ pixel_values });
    const { indices } = await quant.run({ latents });
    const ids = indices.data;
    for (let k = 0; k < m * 16; k++) codes[i * 16 + k] = Number(ids[k]);
  }
  writeFileSync(join(data, `digits16-${split}-vq.i32`), Buffer.from(codes.buffer));
  console.log(`digits16-${split}-vq.i32: ${n} × 16 codes`);
}
