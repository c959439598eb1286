#!/usr/bin/env node
// Proves the FID-Inception path: features from ONNX Runtime through @tessera/metrics' inceptionFeatures
// (pytorch-fid's preprocessing done on the ONNX backend) against PyTorch's own features for the same
// images, written by `convert.py --check`. Needs a build (`npx turbo run build --filter=@tessera/metrics...
// --filter=@tessera/backend-onnx...`) and onnxruntime-node.
//
//   python3 convert.py --seed 7 --out /tmp/inc.onnx --check /tmp/inc-check.npz
//   node check-parity.mjs /tmp/inc.onnx /tmp/inc-check.npz
import { readFileSync } from 'node:fs';
import { createOnnxBackend, onnxModel } from '@tessera/backend-onnx';
import { inceptionFeatures, loadNpz } from '@tessera/metrics';
import * as ort from 'onnxruntime-node';

const [modelPath, checkPath] = process.argv.slice(2);
if (!modelPath || !checkPath) {
  console.error('usage: node check-parity.mjs MODEL.onnx CHECK.npz');
  process.exit(2);
}
const ref = await loadNpz(new Uint8Array(readFileSync(checkPath)));
const images = ref.get('images');
const backend = await createOnnxBackend({ ort, executionProviders: ['cpu'] });
const model = await onnxModel(modelPath, { backend });
const x = backend.tensor(Float32Array.from(images.data), images.shape);
let worst = 0;
for (const output of ['pool3', 'logits']) {
  const got = await inceptionFeatures(model, x, { output, batchSize: 2 });
  const want = ref.get(output).data;
  let scale = 0;
  for (const v of want) scale = Math.max(scale, Math.abs(v));
  let maxErr = 0;
  for (let i = 0; i < want.length; i++) maxErr = Math.max(maxErr, Math.abs(got[i] - want[i]));
  const rel = maxErr / scale;
  worst = Math.max(worst, rel);
  console.log(
    `${output}: ${want.length / images.shape[0]}-d, max |ours − torch| / max |torch| = ${rel.toExponential(2)}`,
  );
}
x.dispose();
await model.dispose();
backend.destroy?.();
console.log(worst <= 1e-4 ? 'parity OK (≤ 1e-4 relative)' : 'parity FAILED (> 1e-4 relative)');
process.exit(worst <= 1e-4 ? 0 : 1);
