// Measures the classifier accuracy of class-conditional samples from the trained networks, through the
// TypeScript pipelines (not Python): DDIM-50 from the U-Net, raster decoding from the GPT + VQ,
// next-scale decoding from the VAR + multi-scale VQ and masked decoding from the MaskGIT + VQ.
// Run from the repository root after `npx turbo run build --filter=@tessera/models...`:
//   node models/eval.mjs [perDigit=20] [seed=1000] [guidance scales, comma-separated = 1,2] [only]
//   (only: ddim | raster | scale | masked; masked runs 8 iterations, or MASKED_ITERS)
import { createOnnxBackend } from '@tessera/backend-onnx';
import {
  loadDigitClassifier,
  loadDigitsGPT,
  loadDigitsMaskGIT,
  loadDigitsMSVQ,
  loadDigitsUNet,
  loadDigitsVAR,
  loadDigitsVQ,
  sampleDigits,
  sampleDigitsMasked,
  sampleDigitsNextScale,
  sampleDigitsRaster,
} from '@tessera/models';
import * as ort from 'onnxruntime-node';

const perDigit = Number(process.argv[2] ?? 20);
const seed = Number(process.argv[3] ?? 1000);
const scales = (process.argv[4] ?? '1,2').split(',').map(Number);
const only = process.argv[5]; // 'ddim' | 'raster' | 'scale' | 'masked' | undefined (all)
const B = createOnnxBackend({ ort, executionProviders: ['cpu'], sessionOptions: { intraOpNumThreads: 1 } });
const C = await loadDigitClassifier({ backend: B });
const classes = Array.from({ length: 10 * perDigit }, (_, i) => i % 10);

async function rate(images) {
  const pred = await C.predict(images);
  images.dispose();
  const perClass = new Array(10).fill(0);
  let ok = 0;
  for (let i = 0; i < classes.length; i++) {
    if (pred[i] === classes[i]) {
      ok++;
      perClass[classes[i]]++;
    }
  }
  return `${((100 * ok) / classes.length).toFixed(1)}% (${ok}/${classes.length}; per digit ${perClass.join(' ')})`;
}

if (!only || only === 'ddim') {
  const unet = await loadDigitsUNet({ backend: B });
  for (const g of scales) {
    const t0 = performance.now();
    const images = await sampleDigits({ denoiser: unet, classes, guidanceScale: g, seed });
    const r = await rate(images);
    const ms = performance.now() - t0;
    console.log(`DDIM-50, guidance ${g}: ${r} in ${(ms / 1000).toFixed(1)} s, seed ${seed}`);
  }
  await unet.dispose();
}
if (!only || only === 'raster') {
  const gpt = await loadDigitsGPT({ backend: B });
  const vq = await loadDigitsVQ({ backend: B });
  for (const g of scales) {
    const t0 = performance.now();
    const images = await sampleDigitsRaster({ gpt, vq, classes, guidanceScale: g, seed });
    const r = await rate(images);
    const ms = performance.now() - t0;
    console.log(`raster GPT, guidance ${g}: ${r} in ${(ms / 1000).toFixed(1)} s, seed ${seed}`);
  }
  await gpt.dispose();
  await vq.dispose();
}
if (!only || only === 'scale') {
  const model = await loadDigitsVAR({ backend: B });
  const msvq = await loadDigitsMSVQ({ backend: B });
  for (const g of scales) {
    const t0 = performance.now();
    const images = await sampleDigitsNextScale({ model, msvq, classes, guidance: g, seed });
    const r = await rate(images);
    const ms = performance.now() - t0;
    console.log(`next-scale VAR, guidance ${g}: ${r} in ${(ms / 1000).toFixed(1)} s, seed ${seed}`);
  }
  await model.dispose();
  await msvq.dispose();
}
if (!only || only === 'masked') {
  const model = await loadDigitsMaskGIT({ backend: B });
  const vq = await loadDigitsVQ({ backend: B });
  const numIter = Number(process.env.MASKED_ITERS ?? 8);
  for (const g of scales) {
    const t0 = performance.now();
    const images = await sampleDigitsMasked({ model, vq, classes, numIter, guidanceScale: g, seed });
    const r = await rate(images);
    const ms = performance.now() - t0;
    console.log(`masked MaskGIT (${numIter} iterations), guidance ${g}: ${r} in ${(ms / 1000).toFixed(1)} s, seed ${seed}`);
  }
  await model.dispose();
  await vq.dispose();
}
await C.dispose();
await B.dispose();
