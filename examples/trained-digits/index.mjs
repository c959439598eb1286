// trained-digits: class-conditional digits from the trained DDPM U-Net (models/unet-digits16), sampled
// with DDIM-50 through @tessera/diffusion on ONNX Runtime, then read by the trained classifier
// (models/classifier-digits16). Writes a grid: row r holds digit r, one column per seed.
//
//   npx turbo run build --filter=@tessera/models... && npm start -w @tessera/example-trained-digits
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createOnnxBackend } from '@tessera/backend-onnx';
import { loadDigitClassifier, loadDigitsUNet, sampleDigits } from '@tessera/models';
import { encodePng, imageGrid } from '@tessera/reference';
import * as ort from 'onnxruntime-node';

const here = dirname(fileURLToPath(import.meta.url));

export async function main({
  perDigit = 8,
  steps = 50,
  guidanceScale = 2,
  seed = 1,
  dir = join(here, 'out'),
} = {}) {
  mkdirSync(dir, { recursive: true });
  const B = createOnnxBackend({ ort, executionProviders: ['cpu'] });
  const unet = await loadDigitsUNet({ backend: B }); // checks the file's SHA-256 against its card
  const classifier = await loadDigitClassifier({ backend: B });

  // digit r in row r: classes 0,0,…,1,1,… (perDigit of each)
  const classes = Array.from({ length: 10 * perDigit }, (_, i) => Math.floor(i / perDigit));
  const t0 = performance.now();
  const images = await sampleDigits({ denoiser: unet, classes, steps, guidanceScale, seed });
  const predicted = await classifier.predict(images);
  const ms = performance.now() - t0;
  const data = await images.data();
  images.dispose();

  let correct = 0;
  for (let i = 0; i < classes.length; i++) if (predicted[i] === classes[i]) correct++;
  const grid = imageGrid(data, [classes.length, 1, 16, 16], { cols: perDigit, scale: 4 });
  const png = join(dir, 'trained-digits.png');
  writeFileSync(png, encodePng(grid.pixels, grid.width, grid.height));
  await unet.dispose();
  await classifier.dispose();
  await B.dispose();
  return { png, classes, predicted, accuracy: correct / classes.length, ms, data };
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const r = await main();
  console.log(
    `wrote ${r.png}: ${r.classes.length} DDIM-50 digits in ${(r.ms / 1000).toFixed(1)} s, ` +
      `${(100 * r.accuracy).toFixed(1)}% classified as the asked digit`,
  );
}
