// Issue 16, "pipelines on them": the CLI's `--model digits-unet | digits-gpt | digits-var` runs the
// trained networks of @tessera/models. Each PNG the CLI writes is decoded back and read by the trained
// digit classifier (an independent network, 100% on held-out digits), and equals, byte for byte, the
// library's own sampler (`sampleDigits`, `sampleDigitsRaster`, `sampleDigitsNextScale`) with the same
// seed and options, encoded by @tessera/reference's PNG writer.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createOnnxBackend, type OnnxBackend } from '@tessera/backend-onnx';
import { generateAr, generateDiffusion, runCli } from '@tessera/cli';
import type { Tensor } from '@tessera/core';
import {
  type DigitClassifier,
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
import { encodePng, imageGrid } from '@tessera/reference';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleCli, decodePng, runBin } from './helpers.js';

const seed = Number(process.env.TESSERA_TEST_SEED ?? Date.now() % 1e9);
const note = `TESSERA_TEST_SEED=${seed}`;
const dir = mkdtempSync(join(tmpdir(), 'tessera-trained-'));
let B: OnnxBackend;
let classifier: DigitClassifier;

beforeAll(async () => {
  B = createOnnxBackend({ ort: ort as never, executionProviders: ['cpu'] });
  classifier = await loadDigitClassifier({ backend: B });
});
afterAll(async () => {
  await classifier.dispose();
  await B.dispose();
  rmSync(dir, { recursive: true, force: true });
});

async function run(args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(
    args,
    (l) => out.push(l),
    (l) => err.push(l),
  );
  return { code, out, err };
}

/** The PNG bytes the CLI writes for `images` at --zoom 1 (grid with 1 pixel of padding). */
async function pngOf(images: Tensor): Promise<Buffer> {
  const g = imageGrid(await images.data(), images.shape, { pad: 1 });
  return Buffer.from(encodePng(g.pixels, g.width, g.height));
}

/** Reads the 16×16 grey tiles of a CLI grid (row-major, 1 pixel of padding) back as values in [-1, 1]. */
function tilesOf(file: string, n: number): Float32Array {
  const png = decodePng(new Uint8Array(readFileSync(file)));
  expect(png.channels).toBe(1);
  const cols = (png.width - 1) / 17;
  expect(Number.isInteger(cols) && cols * Math.ceil(n / cols) * 17 + 1 >= png.width).toBe(true);
  const out = new Float32Array(n * 256);
  for (let i = 0; i < n; i++) {
    const ox = 1 + (i % cols) * 17;
    const oy = 1 + Math.floor(i / cols) * 17;
    for (let y = 0; y < 16; y++)
      for (let x = 0; x < 16; x++)
        out[i * 256 + y * 16 + x] = (png.pixels[(oy + y) * png.width + ox + x]! / 255) * 2 - 1;
  }
  return out;
}

/** How many tiles of the CLI's PNG the classifier reads as the expected digit. */
async function hits(file: string, expected: number[]): Promise<number> {
  const x = B.tensor(tilesOf(file, expected.length), [expected.length, 1, 16, 16]);
  const p = await classifier.predict(x);
  x.dispose();
  return expected.filter((d, i) => p[i] === d).length;
}

describe(`generate diffusion --model digits-unet (${note})`, () => {
  it('writes the library sampler’s digits (bytes), read as the asked digit by the classifier', async () => {
    const digit = seed % 10;
    const n = 20;
    const f = join(dir, 'unet.png');
    // the CLI's defaults (dpmpp_2m, 20 steps) with guidance 2 through the U-Net's null class
    const args = ['generate', 'diffusion', '--model', 'digits-unet', '--digit', String(digit)];
    const r = await run([
      ...args,
      '--guidance',
      '2',
      '--count',
      `${n}`,
      '--seed',
      `${seed}`,
      '--zoom',
      '1',
      '--out',
      f,
    ]);
    expect([r.code, ...r.err], note).toEqual([0]);
    // the trained net runs where it lives (ONNX Runtime), one doubled-batch call per step
    expect(r.out[0]).toMatch(/20 model calls, [\d.]+ s on onnx, model digits-unet, digit \d/);
    const unet = await loadDigitsUNet({ backend: B });
    const classes = new Array<number>(n).fill(digit);
    const lib = await sampleDigits({
      denoiser: unet,
      classes,
      sampler: 'dpmpp_2m',
      steps: 20,
      guidanceScale: 2,
      seed,
    });
    expect(Buffer.compare(readFileSync(f), await pngOf(lib)), note).toBe(0);
    lib.dispose();
    // measured: 400/400 at guidance 2, 396/400 unguided (dpmpp_2m 20, 40 per digit); ≥ 16 of 20 fails
    // with probability < 1e-5 at a 1% error rate
    expect(await hits(f, classes), `digit ${digit}, ${note}`).toBeGreaterThanOrEqual(16);

    // a stochastic sampler takes the same seed in both; no tensor of the job is left on the backend
    const before = B.memory().tensors;
    const job = {
      backend: B,
      sampler: 'euler_ancestral' as const,
      steps: 8,
      seed: seed + 1,
      count: 3,
      guidance: 1,
    };
    const cli = await generateDiffusion({ ...job, model: 'digits-unet', digit });
    const three = [digit, digit, digit];
    const ref = await sampleDigits({
      denoiser: unet,
      classes: three,
      sampler: 'euler_ancestral',
      steps: 8,
      seed: seed + 1,
    });
    expect(Array.from(await cli.images.data())).toEqual(Array.from(await ref.data()));
    cli.images.dispose();
    ref.dispose();
    expect(B.memory().tensors, note).toBe(before);
    await unet.dispose();
  });

  it('is the default where it fits; --model reference keeps the exact model; bad names list the known', async () => {
    const f = join(dir, 'default.png');
    const common = ['generate', 'diffusion', '--steps', '2', '--count', '1', '--seed', `${seed}`, '--force'];
    const def = await run([...common, '--out', f]);
    expect([def.code, ...def.err]).toEqual([0]);
    expect(def.out[0]).toMatch(/on onnx, model digits-unet, digits 0–9 in turn$/);
    // without --digit the U-Net's images cycle through 0–9, and guidance steers each to its digit;
    // measured 400/400 at guidance 2: ≥ 7 of 10 fails with probability < 1e-5 at a 1% error rate
    const cyc = await run([
      'generate',
      'diffusion',
      '--guidance',
      '2',
      '--count',
      '10',
      '--zoom',
      '1',
      '--seed',
      `${seed}`,
      '--out',
      join(dir, 'cycle.png'),
    ]);
    expect([cyc.code, ...cyc.err], note).toEqual([0]);
    expect(cyc.out[0]).toMatch(/model digits-unet, digits 0–9 in turn$/);
    const digits = Array.from({ length: 10 }, (_, i) => i);
    expect(await hits(join(dir, 'cycle.png'), digits), note).toBeGreaterThanOrEqual(7);
    const ref = await run([...common, '--backend', 'cpu', '--model', 'reference', '--out', f]);
    expect([ref.code, ...ref.err]).toEqual([0]);
    expect(ref.out[0]).toMatch(/on cpu, model reference$/);
    const bad = await run([...common, '--model', 'digits-vae', '--out', f]);
    expect(bad.code).toBe(2);
    expect(bad.err).toHaveLength(1);
    for (const name of ['digits-vae', 'digits-unet', 'reference', '.onnx'])
      expect(bad.err[0]).toContain(name);
    const steps = await run([...common, '--model', 'digits-unet', '--steps', '1001', '--out', f]);
    expect([steps.code, steps.err[0]]).toEqual([2, expect.stringMatching(/--steps.*1000.*digits-unet/)]);
  });
});

describe(`generate ar --model digits-gpt | digits-var | digits-maskgit (${note})`, () => {
  it('raster (GPT + VQ): the library’s digits byte for byte, each read as its class', async () => {
    const n = 30;
    const f = join(dir, 'gpt.png');
    const r = await run([
      'generate',
      'ar',
      '--model',
      'digits-gpt',
      '--count',
      `${n}`,
      '--seed',
      `${seed}`,
      '--temperature',
      '0.9',
      '--top-k',
      '40',
      '--zoom',
      '1',
      '--out',
      f,
    ]);
    expect([r.code, ...r.err], note).toEqual([0]);
    // 16 codes: one prefill and 15 cached steps
    expect(r.out[0]).toMatch(/raster decoder \(digits-gpt\), 16 model calls, [\d.]+ s on onnx$/);
    const classes = Array.from({ length: n }, (_, i) => i % 10);
    const [gpt, vq] = await Promise.all([loadDigitsGPT({ backend: B }), loadDigitsVQ({ backend: B })]);
    const lib = await sampleDigitsRaster({
      gpt,
      vq,
      classes,
      sampling: { temperature: 0.9, topK: 40, topP: 1 },
      seed,
    });
    expect(Buffer.compare(readFileSync(f), await pngOf(lib)), note).toBe(0);
    lib.dispose();
    // measured 396/400 unguided at temperature 1; ≥ 24 of 30 fails with probability < 1e-5 at 2.5% errors
    expect(await hits(f, classes), note).toBeGreaterThanOrEqual(24);
    // the same through the library job with --digit, and nothing left on the backend
    const before = B.memory().tensors;
    const job = await generateAr({
      backend: B,
      model: 'digits-gpt',
      count: 2,
      seed,
      label: 4,
      guidance: 1,
      sampling: {},
    });
    expect([job.images?.shape, job.tokens.shape, job.side]).toEqual([[2, 1, 16, 16], [2, 16], 4]);
    for (const t of [job.images!, job.tokens]) t.dispose();
    expect(B.memory().tensors, note).toBe(before);
    await Promise.all([gpt.dispose(), vq.dispose()]);
  });

  it('next-scale (VAR + multi-scale VQ) with guidance and top-p: the library’s digits, read as the asked digit', async () => {
    const n = 30;
    const digit = (seed + 5) % 10;
    const f = join(dir, 'var.png');
    const r = await run([
      'generate',
      'ar',
      '--model',
      'digits-var',
      '--digit',
      String(digit),
      '--guidance',
      '2',
      '--top-p',
      '0.95',
      '--count',
      `${n}`,
      '--seed',
      `${seed}`,
      '--zoom',
      '1',
      '--out',
      f,
    ]);
    expect([r.code, ...r.err], note).toEqual([0]);
    expect(r.out[0]).toMatch(/next-scale decoder \(digits-var\), 4 model calls, [\d.]+ s on onnx$/);
    const classes = new Array<number>(n).fill(digit);
    const [model, msvq] = await Promise.all([loadDigitsVAR({ backend: B }), loadDigitsMSVQ({ backend: B })]);
    const lib = await sampleDigitsNextScale({
      model,
      msvq,
      classes,
      guidance: 2,
      sampling: { temperature: 1, topK: 0, topP: 0.95 },
      seed,
    });
    expect(Buffer.compare(readFileSync(f), await pngOf(lib)), note).toBe(0);
    lib.dispose();
    // measured at guidance 2: 392/400 over all digits, 35/40 for the weakest (8); ≥ 20 of 30 fails
    // with probability < 1e-5 at a 12.5% error rate
    expect(await hits(f, classes), `digit ${digit}, ${note}`).toBeGreaterThanOrEqual(20);
    await Promise.all([model.dispose(), msvq.dispose()]);
  });

  it('masked (MaskGIT + VQ), the default of --decoder masked: the library’s digits, each read as its class', async () => {
    const n = 30;
    const f = join(dir, 'maskgit.png');
    const r = await run([
      'generate',
      'ar',
      '--decoder',
      'masked',
      '--iters',
      '8',
      '--guidance',
      '2',
      '--count',
      `${n}`,
      '--seed',
      `${seed}`,
      '--zoom',
      '1',
      '--out',
      f,
    ]);
    expect([r.code, ...r.err], note).toEqual([0]);
    expect(r.out[0]).toMatch(/masked decoder \(digits-maskgit\), 8 model calls, [\d.]+ s on onnx$/);
    const classes = Array.from({ length: n }, (_, i) => i % 10);
    const [model, vq] = await Promise.all([loadDigitsMaskGIT({ backend: B }), loadDigitsVQ({ backend: B })]);
    const lib = await sampleDigitsMasked({
      model,
      vq,
      classes,
      numIter: 8,
      guidanceScale: 2,
      sampling: { temperature: 1, topK: 0, topP: 1 },
      seed,
    });
    expect(Buffer.compare(readFileSync(f), await pngOf(lib)), note).toBe(0);
    lib.dispose();
    // measured 499/500 at guidance 2 (models/README); ≥ 24 of 30 fails with probability < 1e-5 at 2.5%
    expect(await hits(f, classes), note).toBeGreaterThanOrEqual(24);
    await Promise.all([model.dispose(), vq.dispose()]);
  });

  it('flags that do not fit the trained models are usage errors naming what fits', async () => {
    const f = join(dir, 'bad.png');
    const A = ['generate', 'ar', '--count', '1', '--out', f];
    for (const [args, parts] of [
      [
        ['--model', 'digits'],
        ['digits-gpt', 'digits-var', 'digits-maskgit', 'reference'],
      ],
      [['--model', 'digits-gpt', '--decoder', 'next-scale'], ['raster']],
      [['--model', 'digits-maskgit', '--decoder', 'raster'], ['masked']],
      [['--model', 'digits-var', '--backend', 'cpu'], ['--backend onnx']],
      [['--model', 'digits-var', '--label', '10'], ['0–9']],
      [['--model', 'reference', '--digit', '3'], ['--label']],
      [
        ['--model', 'digits-gpt', '--digit', '3', '--label', '3'],
        ['--digit', '--label'],
      ],
      [
        ['--model', 'digits-gpt', '--iters', '3'],
        ['--iters', 'masked'],
      ],
    ] as const) {
      const r = await run([...A, ...args]);
      expect([r.code, r.err.length], args.join(' ')).toEqual([2, 1]);
      for (const p of parts) expect(r.err[0], args.join(' ')).toContain(p);
    }
    // with the default model (the decoder's trained net where it fits) and a CPU backend: the shapes
    const cpu = await run([...A, '--backend', 'cpu', '--decoder', 'raster']);
    expect([cpu.code, ...cpu.err]).toEqual([0]);
    expect(cpu.out[0]).toContain('raster decoder (reference), 256 model calls');
    const def = await run([...A, '--force']);
    expect(def.out[0]).toContain('next-scale decoder (digits-var), 4 model calls');
  });
});

describe('without onnxruntime-node', () => {
  it('a trained --model fails with one line saying what to do; the defaults fall back to reference', async () => {
    // the bundled program beside a node_modules without onnxruntime-node (nor webgpu: auto is the CPU)
    const bin = await bundleCli();
    const root = dirname(dirname(bin));
    unlinkSync(join(root, 'node_modules'));
    mkdirSync(join(root, 'node_modules'));
    const cwd = mkdtempSync(join(dir, 'no-ort-'));
    for (const args of [
      ['generate', 'diffusion', '--model', 'digits-unet', '--count', '1'],
      ['generate', 'ar', '--model', 'digits-gpt', '--count', '1'],
    ]) {
      const r = await runBin(bin, args, { cwd });
      expect([r.code, r.err.length], r.err.join(' | ')).toEqual([2, 1]);
      expect(r.err[0]).toMatch(
        /^tessera: onnxruntime-node is not installed \(npm install onnxruntime-node; --model reference/,
      );
    }
    const d = await runBin(bin, ['generate', 'diffusion', '--count', '1', '--steps', '2', '--out', 'd.png'], {
      cwd,
    });
    expect([d.code, ...d.err]).toEqual([0]);
    expect(d.out[0]).toMatch(/on cpu, model reference$/);
    const a = await runBin(bin, ['generate', 'ar', '--count', '1', '--out', 'a.png'], { cwd });
    expect([a.code, ...a.err]).toEqual([0]);
    expect(a.out[0]).toContain('next-scale decoder (reference)');
    rmSync(root, { recursive: true, force: true });
  });
});
