import { parseArgs } from 'node:util';
import { SAMPLER_NAMES, type SamplerName } from '@tessera/diffusion';
import { encodePng, imageGrid, VAR_PATCH_NUMS } from '@tessera/reference';
import { arDataset, DECODERS, generateAr, tokensToImages } from './ar.js';
import { BACKEND_NAMES, selectBackend } from './backends.js';
import { readConfig } from './config.js';
import { generateDiffusion } from './diffusion.js';
import { choiceFlag, intFlag, numFlag, oneLine, UsageError } from './errors.js';
import { upscale } from './images.js';
import { checkImageSize, LIMITS, MAX_SEED } from './limits.js';
import {
  AR_MODELS,
  DIFFUSION_MODELS,
  isTrainedArModel,
  parseModelFlag,
  TRAINED_AR_DECODER,
  trainedAvailable,
} from './models.js';
import { exportArModel, exportDefaultModel, MODEL_KINDS } from './onnx-model.js';
import { checkOutput, writeAtomic } from './output.js';
import { createProgress } from './progress.js';
import { SD15_CONFIG, scheduleTable } from './schedule.js';
import { VERSION } from './version.js';

type Out = (line: string) => void;

const HELP: Record<string, string> = {
  main: `tessera: image generation mechanics on CPU, WebGPU and ONNX Runtime

Usage:
  tessera generate diffusion [options]   sample digits by diffusion (the trained U-Net by default)
  tessera generate ar [options]          sample images by autoregression (the trained GPT/VAR by default)
  tessera schedule [options]             print a scheduler's timesteps and sigmas
  tessera export-model [options]         write the reference digits model or an AR reference model as ONNX
  tessera showcase [--out dir]           run every pipeline and write an HTML report
  tessera worker --redis URL [options]   take shards of evaluation jobs from Redis (BullMQ)
  tessera eval --redis URL --config F    run an evaluation job on the workers, print and write metrics
  tessera fid DIR_A [DIR_B|--stats F]    FID, KID, precision/recall between PNG folders
  tessera --version                      print the version

Run 'tessera <command> --help' for a command's options.

Exit codes: 0 done, 1 runtime failure (missing or bad file, unwritable output), 2 usage error (bad or
conflicting flags, a value beyond the limits each command's --help lists). Errors are one line on stderr.
Output files: an existing file is kept unless --force is given; a file is written to a temporary file
beside it and renamed into place, so a failure never leaves a partial or damaged file.
Progress bars (steps, rate, ETA) show on stderr when it is a terminal; --quiet turns them off.
Trained networks (--model digits-unet, digits-gpt, digits-var, digits-maskgit) are read from the
repository's models/ folder, or from $TESSERA_MODELS_DIR when set; each file's SHA-256 is checked
against its card.`,
  'generate diffusion': `Usage: tessera generate diffusion [options]

  --model NAME|FILE.onnx    digits-unet: the trained class-conditional U-Net (ONNX Runtime; the default
                            where onnxruntime-node and the models folder are here, else reference)
                            reference: the embedded Gaussian-mixture digits model (exact posterior mean)
                            FILE.onnx: your own x0-denoiser (inputs x, sigma), e.g. export-model's
  --backend NAME            auto | cpu | webgpu | onnx (default auto: onnx for digits-unet, else WebGPU if
                            an adapter exists, else cpu)
  --sampler NAME            ${SAMPLER_NAMES.join(', ')} (default dpmpp_2m)
  --steps N                 number of sampling steps, 1–${LIMITS.steps} (default 20; at most 1000 with digits-unet,
                            whose noise levels are its DDIM timesteps)
  --seed N                  Philox seed, 0–2^53−1 (default 0)
  --count N                 number of images, 1–${LIMITS.count} (default 16)
  --digit D                 sample one digit class 0–9; not with a FILE model (default: digits-unet's
                            images cycle through 0–9, reference samples its full mixture)
  --guidance W              classifier-free guidance scale ≥ 0 (default 1 = off); the unconditional
                            branch is the U-Net's null class, or the full mixture (reference: needs --digit)
  --scheduler-config FILE   take the noise levels from a diffusers scheduler_config.json
  --out FILE.png            where to write the image grid (default out/diffusion.png)
  --force                   replace --out if it exists (default: refuse)
  --zoom N                  integer upscaling of the 16×16 tiles, 1–${LIMITS.zoom} (default 4); the grid holds
                            at most ${LIMITS.imagePixels.toLocaleString('en-US')} pixels (count × (16·zoom)²)
  --quiet                   no progress bar`,
  'generate ar': `Usage: tessera generate ar [options]

  --model NAME|FILE.onnx    digits-gpt: trained VQ tokenizer + GPT over its 4×4 codes (raster decoder)
                            digits-var: trained multi-scale VQ + VAR transformer (next-scale decoder)
                            digits-maskgit: trained VQ + masked transformer over its codes (masked decoder)
                            reference: the count-based shape model of the decoder, fitted on the fly
                            FILE.onnx: an exported token model (export-model --kind raster|next-scale|masked)
                            Default: the decoder's trained network (raster → digits-gpt, next-scale →
                            digits-var, masked → digits-maskgit) on ONNX Runtime where it fits (--backend
                            auto or onnx, onnxruntime-node and the models folder here), else reference.
                            All but reference run on ONNX Runtime (--backend onnx).
  --backend NAME            auto | cpu | webgpu | onnx (default auto; onnx for every model but reference)
  --decoder NAME            ${DECODERS.join(', ')} (default next-scale; with --model the model's)
  --seed N                  Philox seed, 0–2^53−1 (default 0)
  --count N                 number of images, 1–${LIMITS.count} (default 9)
  --label L                 class: the digit 0–9 (the digits-* models); the shape for reference:
                            0 rectangles, 1 disks, 2 bars (default: cycle through the classes)
  --digit D                 the digit 0–9 (the same as --label, for the digit models)
  --guidance W              classifier-free guidance scale ≥ 0 (default 1 = off)
  --temperature T           sampling temperature ≥ 0 (0 = greedy, default 1)
  --top-k K                 keep the K most likely tokens (0 = off, default 0)
  --top-p P                 nucleus sampling, in (0, 1] (1 = off, default 1)
  --iters N                 masked decoder iterations, 1–${LIMITS.iters} (default 16); masked decoder only
  --out FILE.png            where to write the image grid (default out/ar.png)
  --force                   replace --out if it exists (default: refuse)
  --zoom N                  integer upscaling of the 16×16 tiles, 1–${LIMITS.zoom} (default 4); the grid holds
                            at most ${LIMITS.imagePixels.toLocaleString('en-US')} pixels (count × C × (16·zoom)²;
                            C = 1 grey for the digit models, 3 RGB for token palettes)
  --quiet                   no progress bar`,
  schedule: `Usage: tessera schedule [options]

  --scheduler-config FILE   a diffusers scheduler_config.json (default: Stable Diffusion 1.5's keys)
  --class NAME              scheduler class to use (default: the config's _class_name)
  --steps N                 number of inference steps, 1–${LIMITS.scheduleSteps} (default 10)

A missing or unreadable config exits with code 1, naming the file.`,
  'export-model': `Usage: tessera export-model [options]

  --kind KIND               digits | raster | next-scale | masked (default digits)
  --out FILE.onnx           where to write the model (default out/default-digits.onnx for digits,
                            out/ar-<kind>.onnx for the others)
  --force                   replace --out if it exists (default: refuse)
digits: the reference diffusion model (generate diffusion --model reference); it takes x [N, 1, 16, 16]
and sigma, and returns x0; use it with 'generate diffusion --model FILE.onnx'.
raster, next-scale, masked: the reference token model 'generate ar --decoder <kind>' fits (same data
and options); it takes tokens [N, L] (int64; unknown = outside 0..V-1) and labels [N], and returns
logits [N, L, V]; the kind is recorded in the file (tessera.kind); use it with 'generate ar --model'.`,
  showcase: `Usage: tessera showcase [options]

  --backend NAME            auto | cpu | webgpu (default auto)
  --out DIR                 output folder (default out); the showcase owns its files there and
                            replaces index.html and its PNGs on every run (each written whole)
  --quick                   fewer steps (for tests)
  --quiet                   no progress bars`,
};

type FlagSpec = Record<string, { type: 'string' | 'boolean'; short?: string }>;

const str = (v: string | boolean | undefined): string | undefined => v as string | undefined;

function parse(args: string[], options: FlagSpec): { values: Record<string, string | boolean | undefined> } {
  // `--steps -3` would read -3 as a flag: glue a value that looks like a negative number to its flag
  const glued: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const next = args[i + 1];
    const spec = a.startsWith('--') ? options[a.slice(2)] : undefined;
    if (spec?.type === 'string' && next !== undefined && /^-\d|^-\.\d/.test(next)) {
      glued.push(`${a}=${next}`);
      i++;
    } else glued.push(a);
  }
  args = glued;
  try {
    const r = parseArgs({
      args,
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: false,
      strict: true,
    });
    return { values: r.values as Record<string, string | boolean | undefined> };
  } catch (err) {
    throw new UsageError((err as Error).message.split('\n')[0]!.replace(/^Unknown option/, 'unknown option'));
  }
}

async function cmdDiffusion(args: string[], out: Out): Promise<void> {
  const { values: v } = parse(args, {
    backend: { type: 'string' },
    sampler: { type: 'string' },
    steps: { type: 'string' },
    seed: { type: 'string' },
    count: { type: 'string' },
    digit: { type: 'string' },
    guidance: { type: 'string' },
    model: { type: 'string' },
    'scheduler-config': { type: 'string' },
    out: { type: 'string' },
    force: { type: 'boolean' },
    zoom: { type: 'string' },
    quiet: { type: 'boolean' },
  });
  if (v.help) return out(HELP['generate diffusion']!);
  const zoom = intFlag('zoom', str(v.zoom), 4, 1, LIMITS.zoom);
  const backendName = choiceFlag('backend', str(v.backend), BACKEND_NAMES, 'auto');
  const flags = {
    sampler: choiceFlag('sampler', str(v.sampler), SAMPLER_NAMES, 'dpmpp_2m') as SamplerName,
    steps: intFlag('steps', str(v.steps), 20, 1, LIMITS.steps),
    seed: intFlag('seed', str(v.seed), 0, 0, MAX_SEED),
    count: intFlag('count', str(v.count), 16, 1, LIMITS.count),
    digit: v.digit === undefined ? undefined : intFlag('digit', str(v.digit), 0, 0, 9),
    guidance: numFlag('guidance', str(v.guidance), 1, { min: 0 }),
    model: str(v.model),
    schedulerConfig: str(v['scheduler-config']),
  };
  const which = flags.model === undefined ? undefined : parseModelFlag(flags.model, DIFFUSION_MODELS);
  // a flag that does not apply is an error, never silently dropped
  if (which?.file !== undefined && (v.digit !== undefined || v.guidance !== undefined)) {
    throw new UsageError(
      `--digit and --guidance steer the digits models' classes; a --model file denoiser has none: leave them out`,
    );
  }
  // the default is the trained U-Net where it can run (onnxruntime-node and its file are here)
  flags.model ??= (await trainedAvailable('digits-unet')) ? 'digits-unet' : 'reference';
  // the U-Net's images cycle through the digits without --digit, so guidance has a class to steer to;
  // the reference model's images are then the full mixture's, which guidance cannot steer
  if (v.guidance !== undefined && flags.digit === undefined && flags.model !== 'digits-unet') {
    throw new UsageError(
      `--guidance needs --digit with --model ${which?.file ? 'FILE' : 'reference'} (it guides the samples toward that digit class)`,
    );
  }
  checkImageSize(flags.count, 1, 16, zoom);
  // the config is read and its schedule computed now too, so a bad file fails before any device starts
  if (flags.schedulerConfig) scheduleTable(await readConfig(flags.schedulerConfig), flags.steps);
  const file = str(v.out) ?? 'out/diffusion.png';
  const force = !!v.force;
  await checkOutput(file, force);
  // the U-Net runs on ONNX Runtime: there, by default, so that no step moves tensors between runtimes
  const onnxNet = flags.model === 'digits-unet';
  // every flag and the output path are checked before a backend (and its device) is created
  const backend = await selectBackend(onnxNet && backendName === 'auto' ? 'onnx' : backendName);
  const bar = createProgress(`${flags.sampler}`, flags.steps, { quiet: !!v.quiet });
  const job = { ...flags, backend, onStep: ({ step }: { step: number }) => bar.tick(step + 1) };
  const t0 = performance.now();
  let r: Awaited<ReturnType<typeof generateDiffusion>>;
  try {
    r = await generateDiffusion(job);
  } finally {
    bar.stop();
  }
  const big = upscale(await r.images.data(), [...r.images.shape], zoom);
  const grid = imageGrid(big.data, big.shape, { pad: 1 });
  r.images.dispose();
  await writeAtomic(file, encodePng(grid.pixels, grid.width, grid.height), force);
  out(
    `wrote ${file}: ${job.count} images, ${job.sampler}, ${job.steps} steps, ${r.modelCalls} model calls, ${((performance.now() - t0) / 1000).toFixed(2)} s on ${job.backend.name}, model ${job.model}${job.digit === undefined ? (onnxNet ? ', digits 0–9 in turn' : '') : `, digit ${job.digit}`}`,
  );
}

async function cmdAr(args: string[], out: Out): Promise<void> {
  const { values: v } = parse(args, {
    backend: { type: 'string' },
    decoder: { type: 'string' },
    seed: { type: 'string' },
    count: { type: 'string' },
    label: { type: 'string' },
    digit: { type: 'string' },
    guidance: { type: 'string' },
    temperature: { type: 'string' },
    'top-k': { type: 'string' },
    'top-p': { type: 'string' },
    iters: { type: 'string' },
    model: { type: 'string' },
    out: { type: 'string' },
    force: { type: 'boolean' },
    zoom: { type: 'string' },
    quiet: { type: 'boolean' },
  });
  if (v.help) return out(HELP['generate ar']!);
  const modelFlag = str(v.model);
  const which = modelFlag === undefined ? undefined : parseModelFlag(modelFlag, AR_MODELS);
  const zoom = intFlag('zoom', str(v.zoom), 4, 1, LIMITS.zoom);
  if (v.label !== undefined && v.digit !== undefined)
    throw new UsageError(`--label and --digit both set the class: give one of them`);
  const label =
    v.digit !== undefined
      ? intFlag('digit', str(v.digit), 0, 0, 9)
      : v.label === undefined
        ? undefined
        : intFlag('label', str(v.label), 0, 0);
  const p = numFlag('top-p', str(v['top-p']), 1, { above: 0, max: 1 });
  let backendName = choiceFlag('backend', str(v.backend), BACKEND_NAMES, 'auto');
  const decoderFlag = str(v.decoder);
  const decoderChoice =
    decoderFlag === undefined ? undefined : choiceFlag('decoder', decoderFlag, DECODERS, 'next-scale');
  // the default model: the trained network of the decoder where it fits (a raster or next-scale decoder,
  // on ONNX Runtime, with onnxruntime-node and the files here), else the reference shape model
  let model = which?.name ?? which?.file;
  if (model === undefined) {
    const d = decoderChoice ?? 'next-scale';
    const trained = d === 'raster' ? 'digits-gpt' : d === 'next-scale' ? 'digits-var' : 'digits-maskgit';
    const fits = backendName === 'auto' || backendName === 'onnx';
    model = fits && (await trainedAvailable(trained)) ? trained : 'reference';
  }
  const digits = isTrainedArModel(model);
  if (model === 'reference' && v.digit !== undefined)
    throw new UsageError(
      `--digit applies to the digit models (--model digits-gpt, digits-var or digits-maskgit); the reference shapes take --label 0, 1 or 2`,
    );
  // a file model's number of classes bounds the label (checked once it is loaded)
  if (model === 'reference' && label !== undefined && label > 2)
    throw new UsageError(`--label must be 0, 1 or 2 for the reference shapes, got '${label}'`);
  if (digits && label !== undefined && label > 9)
    throw new UsageError(`--label must be a digit 0–9 for --model ${model}, got '${label}'`);
  if (model !== 'reference') {
    // the model runs on ONNX Runtime, and the decoder must keep its buffers on the same backend
    if (backendName === 'auto') backendName = 'onnx';
    if (backendName !== 'onnx')
      throw new UsageError(
        `--model ${digits ? model : '(a file)'} runs the token model on ONNX Runtime and decodes next to it: use --backend onnx (or leave --backend out), not '${backendName}'`,
      );
  }
  const trainedDecoder = isTrainedArModel(model) ? TRAINED_AR_DECODER[model] : undefined;
  if (trainedDecoder && decoderChoice !== undefined && decoderChoice !== trainedDecoder)
    throw new UsageError(
      `--model ${model} decodes with the ${trainedDecoder} decoder, not '${decoderChoice}': use --decoder ${trainedDecoder} or leave it out`,
    );
  const flags = {
    // with a file --model and no --decoder, the decoder is the kind the file records
    decoder: trainedDecoder ?? (which?.file !== undefined ? decoderChoice : (decoderChoice ?? 'next-scale')),
    seed: intFlag('seed', str(v.seed), 0, 0, MAX_SEED),
    count: intFlag('count', str(v.count), 9, 1, LIMITS.count),
    label,
    guidance: numFlag('guidance', str(v.guidance), 1, { min: 0 }),
    sampling: {
      temperature: numFlag('temperature', str(v.temperature), 1, { min: 0 }),
      topK: intFlag('top-k', str(v['top-k']), 0, 0),
      topP: p,
    },
    // only when given: generateAr rejects it for a decoder other than masked (known after loading --model)
    numIter: v.iters === undefined ? undefined : intFlag('iters', str(v.iters), 16, 1, LIMITS.iters),
    model,
  };
  if (flags.numIter !== undefined && flags.decoder !== undefined && flags.decoder !== 'masked') {
    throw new UsageError(`--iters applies to the masked decoder only, not '${flags.decoder}'`);
  }
  checkImageSize(flags.count, digits ? 1 : 3, 16, zoom);
  const file = str(v.out) ?? 'out/ar.png';
  const force = !!v.force;
  await checkOutput(file, force);
  const backend = await selectBackend(backendName);
  let bar: ReturnType<typeof createProgress> | undefined;
  const onProgress = (done: number, total: number) => {
    bar ??= createProgress('decoding', total, { quiet: !!v.quiet });
    bar.tick(done);
  };
  const job = { ...flags, backend, onProgress };
  const t0 = performance.now();
  let r: Awaited<ReturnType<typeof generateAr>>;
  try {
    r = await generateAr(job);
  } finally {
    bar?.stop();
  }
  let big: { data: Float32Array; shape: number[] };
  if (r.images) {
    // a trained model's digits: grey images [N, 1, 16, 16]
    const shape = [...r.images.shape];
    const pixels = await r.images.data();
    for (const t of [r.images, r.tokens, ...(r.scales ?? [])]) t.dispose();
    big = upscale(pixels, shape, zoom);
  } else {
    const tokens = await r.tokens.data();
    for (const t of [r.tokens, ...(r.scales ?? [])]) t.dispose();
    const side = r.side;
    checkImageSize(job.count, 3, side, zoom);
    big = upscale(tokensToImages(tokens, job.count, side), [job.count, 3, side, side], zoom);
  }
  const grid = imageGrid(big.data, big.shape, { pad: 1 });
  await writeAtomic(file, encodePng(grid.pixels, grid.width, grid.height), force);
  out(
    `wrote ${file}: ${job.count} images, ${r.decoder} decoder (${r.model}), ${r.modelCalls} model calls, ${((performance.now() - t0) / 1000).toFixed(2)} s on ${job.backend.name}`,
  );
}

async function cmdExportModel(args: string[], out: Out): Promise<void> {
  const { values: v } = parse(args, {
    kind: { type: 'string' },
    out: { type: 'string' },
    force: { type: 'boolean' },
  });
  if (v.help) return out(HELP['export-model']!);
  const kind = choiceFlag('kind', str(v.kind), MODEL_KINDS, 'digits');
  const force = !!v.force;
  if (kind === 'digits') {
    const file = str(v.out) ?? 'out/default-digits.onnx';
    await checkOutput(file, force);
    const bytes = await exportDefaultModel();
    await writeAtomic(file, bytes, force);
    return out(`wrote ${file} (${bytes.length} bytes): inputs x [N, 1, 16, 16] and sigma, output x0`);
  }
  const file = str(v.out) ?? `out/ar-${kind}.onnx`;
  await checkOutput(file, force);
  const bytes = await exportArModel(kind);
  await writeAtomic(file, bytes, force);
  const { vocabSize: V, height, width } = arDataset();
  const L = kind === 'next-scale' ? VAR_PATCH_NUMS.reduce((a, p) => a + p * p, 0) : height * width;
  out(
    `wrote ${file} (${bytes.length} bytes): ${kind} token model, inputs tokens [N, ${L}] and labels [N], output logits [N, ${L}, ${V}]; use it with 'generate ar --model'`,
  );
}

async function cmdSchedule(args: string[], out: Out): Promise<void> {
  const { values: v } = parse(args, {
    'scheduler-config': { type: 'string' },
    class: { type: 'string' },
    steps: { type: 'string' },
  });
  if (v.help) return out(HELP.schedule!);
  const steps = intFlag('steps', str(v.steps), 10, 1, LIMITS.scheduleSteps);
  const path = str(v['scheduler-config']);
  const json = path ? await readConfig(path) : SD15_CONFIG;
  const { timesteps, sigmas } = scheduleTable(json, steps, v.class as string | undefined);
  out(
    `${String(v.class ?? json._class_name ?? 'EulerDiscreteScheduler')}, ${steps} steps${path ? ` (${path})` : ' (SD-1.5 config)'}`,
  );
  out('step   timestep        sigma');
  for (let i = 0; i < sigmas.length; i++) {
    const t = i < timesteps.length ? String(Number(timesteps[i]!.toFixed(4))) : '-';
    out(`${String(i).padStart(4)} ${t.padStart(10)} ${sigmas[i]!.toPrecision(8).padStart(14)}`);
  }
}

export { readConfig };

/**
 * Runs the `tessera` command line. Returns the exit code: 0 on success, 1 on a runtime failure (bad model,
 * missing or bad file, unwritable output), 2 on a usage error (bad, conflicting or out-of-limit flags).
 * Errors are printed as one line on `err`, never a stack trace.
 */
export async function runCli(
  argv: string[],
  out: Out = console.log,
  err: Out = console.error,
): Promise<number> {
  try {
    const [cmd, sub, ...rest] = argv;
    if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
      out(HELP.main!);
      return 0;
    }
    if (cmd === '--version' || cmd === '-v' || cmd === 'version') {
      out(VERSION);
      return 0;
    }
    if (cmd === 'generate') {
      if (sub === 'diffusion') await cmdDiffusion(rest, out);
      else if (sub === 'ar') await cmdAr(rest, out);
      else if (sub === '--help' || sub === '-h')
        out(`${HELP['generate diffusion']}\n\n${HELP['generate ar']}`);
      else throw new UsageError(`generate needs 'diffusion' or 'ar', got '${sub ?? ''}'`);
    } else if (cmd === 'schedule') await cmdSchedule(argv.slice(1), out);
    else if (cmd === 'export-model') await cmdExportModel(argv.slice(1), out);
    else if (cmd === 'worker') await (await import('./worker.js')).cmdWorker(argv.slice(1), out);
    else if (cmd === 'eval') await (await import('./eval.js')).cmdEval(argv.slice(1), out, err);
    else if (cmd === 'fid') await (await import('./fid.js')).cmdFid(argv.slice(1), out);
    else if (cmd === 'showcase') {
      const { runShowcase } = await import('./showcase.js');
      const { values: v } = parse(argv.slice(1), {
        backend: { type: 'string' },
        out: { type: 'string' },
        quick: { type: 'boolean' },
        quiet: { type: 'boolean' },
      });
      if (v.help) out(HELP.showcase!);
      else
        await runShowcase({
          backend: choiceFlag('backend', str(v.backend), BACKEND_NAMES, 'auto'),
          outDir: str(v.out) ?? 'out',
          quick: !!v.quick,
          quiet: !!v.quiet,
          log: out,
        });
    } else throw new UsageError(`unknown command '${cmd}'`);
    return 0;
  } catch (e) {
    err(oneLine(e));
    return e instanceof UsageError ? 2 : 1;
  }
}
