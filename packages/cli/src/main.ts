import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { SAMPLER_NAMES, type SamplerName } from '@tessera/diffusion';
import { encodePng, imageGrid, VAR_PATCH_NUMS } from '@tessera/reference';
import { arDataset, DECODERS, generateAr, tokensToImages } from './ar.js';
import { BACKEND_NAMES, selectBackend } from './backends.js';
import { generateDiffusion } from './diffusion.js';
import { choiceFlag, intFlag, numFlag, oneLine, UsageError } from './errors.js';
import { upscale } from './images.js';
import { exportArModel, exportDefaultModel, MODEL_KINDS } from './onnx-model.js';
import { SD15_CONFIG, scheduleTable } from './schedule.js';

type Out = (line: string) => void;

const HELP: Record<string, string> = {
  main: `tessera: image generation mechanics on CPU, WebGPU and ONNX Runtime

Usage:
  tessera generate diffusion [options]   sample digits from the embedded default model by diffusion
  tessera generate ar [options]          sample token images by autoregression
  tessera schedule [options]             print a scheduler's timesteps and sigmas
  tessera export-model [options]         write the default digits model or an AR reference model as ONNX
  tessera showcase [--out dir]           run every pipeline and write an HTML report
  tessera worker --redis URL [options]   take shards of evaluation jobs from Redis (BullMQ)
  tessera eval --redis URL --config F    run an evaluation job on the workers, print and write metrics
  tessera fid DIR_A [DIR_B|--stats F]    FID, KID, precision/recall between PNG folders

Run 'tessera <command> --help' for a command's options.`,
  'generate diffusion': `Usage: tessera generate diffusion [options]

  --backend NAME            auto | cpu | webgpu | onnx (default auto: WebGPU if an adapter exists)
  --sampler NAME            ${SAMPLER_NAMES.join(', ')} (default dpmpp_2m)
  --steps N                 number of sampling steps (default 20)
  --seed N                  Philox seed (default 0)
  --count N                 number of images (default 16)
  --digit D                 sample one digit class 0–9 (default: all)
  --guidance W              classifier-free guidance scale with --digit (default 1 = off)
  --model FILE.onnx         your own ONNX x0-denoiser (inputs x, sigma), e.g. the exported default model
  --scheduler-config FILE   take the noise levels from a diffusers scheduler_config.json
  --out FILE.png            where to write the image grid (default out/diffusion.png)
  --zoom N                  integer upscaling of the 16×16 tiles (default 4)`,
  'generate ar': `Usage: tessera generate ar [options]

  --backend NAME            auto | cpu | webgpu | onnx (default auto; onnx with --model)
  --decoder NAME            ${DECODERS.join(', ')} (default next-scale; with --model the file's kind)
  --model FILE.onnx         decode with an exported token model (export-model --kind raster|next-scale|masked)
                            instead of fitting the reference model; it runs on ONNX Runtime (--backend onnx)
  --seed N                  Philox seed (default 0)
  --count N                 number of images (default 9)
  --label L                 shape class: 0 rectangles, 1 disks, 2 bars (default: cycle)
  --guidance W              classifier-free guidance scale (default 1 = off)
  --temperature T           sampling temperature (default 1)
  --top-k K                 keep the K most likely tokens (0 = off, default 0)
  --top-p P                 nucleus sampling (1 = off, default 1)
  --iters N                 masked decoder iterations (default 16)
  --out FILE.png            where to write the image grid (default out/ar.png)
  --zoom N                  integer upscaling of the 16×16 tiles (default 4)`,
  schedule: `Usage: tessera schedule [options]

  --scheduler-config FILE   a diffusers scheduler_config.json (default: Stable Diffusion 1.5's keys)
  --class NAME              scheduler class to use (default: the config's _class_name)
  --steps N                 number of inference steps (default 10)`,
  'export-model': `Usage: tessera export-model [options]

  --kind KIND               digits | raster | next-scale | masked (default digits)
  --out FILE.onnx           where to write the model (default out/default-digits.onnx for digits,
                            out/ar-<kind>.onnx for the others)
digits: the default diffusion model; it takes x [N, 1, 16, 16] and sigma, and returns x0; use it with
'generate diffusion --model'.
raster, next-scale, masked: the reference token model 'generate ar --decoder <kind>' fits (same data
and options); it takes tokens [N, L] (int64; unknown = outside 0..V-1) and labels [N], and returns
logits [N, L, V]; the kind is recorded in the file (tessera.kind); use it with 'generate ar --model'.`,
  showcase: `Usage: tessera showcase [options]

  --backend NAME            auto | cpu | webgpu (default auto)
  --out DIR                 output folder (default out)
  --quick                   fewer steps (for tests)`,
};

type FlagSpec = Record<string, { type: 'string' | 'boolean'; short?: string }>;

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

async function writeOut(path: string, bytes: Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, bytes);
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
    zoom: { type: 'string' },
  });
  if (v.help) return out(HELP['generate diffusion']!);
  const zoom = intFlag('zoom', v.zoom as string | undefined, 4, 1);
  const backendName = choiceFlag('backend', v.backend as string | undefined, BACKEND_NAMES, 'auto');
  const flags = {
    sampler: choiceFlag('sampler', v.sampler as string | undefined, SAMPLER_NAMES, 'dpmpp_2m') as SamplerName,
    steps: intFlag('steps', v.steps as string | undefined, 20, 1),
    seed: intFlag('seed', v.seed as string | undefined, 0, 0),
    count: intFlag('count', v.count as string | undefined, 16, 1),
    digit: v.digit === undefined ? undefined : intFlag('digit', v.digit as string, 0, 0),
    guidance: numFlag('guidance', v.guidance as string | undefined, 1, 0),
    model: v.model as string | undefined,
    schedulerConfig: v['scheduler-config'] as string | undefined,
  };
  // every flag is checked before a backend (and its device) is created
  const job = { ...flags, backend: await selectBackend(backendName) };
  const file = (v.out as string | undefined) ?? 'out/diffusion.png';
  const t0 = performance.now();
  const r = await generateDiffusion(job);
  const big = upscale(await r.images.data(), [...r.images.shape], zoom);
  const grid = imageGrid(big.data, big.shape, { pad: 1 });
  r.images.dispose();
  await writeOut(file, encodePng(grid.pixels, grid.width, grid.height));
  out(
    `wrote ${file}: ${job.count} images, ${job.sampler}, ${job.steps} steps, ${r.modelCalls} model calls, ${((performance.now() - t0) / 1000).toFixed(2)} s on ${job.backend.name}`,
  );
}

async function cmdAr(args: string[], out: Out): Promise<void> {
  const { values: v } = parse(args, {
    backend: { type: 'string' },
    decoder: { type: 'string' },
    seed: { type: 'string' },
    count: { type: 'string' },
    label: { type: 'string' },
    guidance: { type: 'string' },
    temperature: { type: 'string' },
    'top-k': { type: 'string' },
    'top-p': { type: 'string' },
    iters: { type: 'string' },
    model: { type: 'string' },
    out: { type: 'string' },
    zoom: { type: 'string' },
  });
  if (v.help) return out(HELP['generate ar']!);
  const model = v.model as string | undefined;
  const zoom = intFlag('zoom', v.zoom as string | undefined, 4, 1);
  const label = v.label === undefined ? undefined : intFlag('label', v.label as string, 0, 0);
  // with --model, the model's number of classes bounds the label (checked once it is loaded)
  if (!model && label !== undefined && label > 2)
    throw new UsageError(`--label must be 0, 1 or 2, got '${label}'`);
  const p = numFlag('top-p', v['top-p'] as string | undefined, 1, 0);
  if (p > 1) throw new UsageError(`--top-p must be in (0, 1], got '${p}'`);
  let backendName = choiceFlag('backend', v.backend as string | undefined, BACKEND_NAMES, 'auto');
  if (model) {
    // the exported model runs on ONNX Runtime, and the decoder must keep its buffers on the same backend
    if (backendName === 'auto') backendName = 'onnx';
    if (backendName !== 'onnx')
      throw new UsageError(
        `--model runs the token model on ONNX Runtime and decodes next to it: use --backend onnx (or leave --backend out), not '${backendName}'`,
      );
  }
  const decoderFlag = v.decoder as string | undefined;
  const flags = {
    // with --model and no --decoder, the decoder is the kind the file records
    decoder:
      model && decoderFlag === undefined
        ? undefined
        : choiceFlag('decoder', decoderFlag, DECODERS, 'next-scale'),
    seed: intFlag('seed', v.seed as string | undefined, 0, 0),
    count: intFlag('count', v.count as string | undefined, 9, 1),
    label,
    guidance: numFlag('guidance', v.guidance as string | undefined, 1, 0),
    sampling: {
      temperature: numFlag('temperature', v.temperature as string | undefined, 1, 0),
      topK: intFlag('top-k', v['top-k'] as string | undefined, 0, 0),
      topP: p,
    },
    numIter: intFlag('iters', v.iters as string | undefined, 16, 1),
    model,
  };
  const job = { ...flags, backend: await selectBackend(backendName) };
  const file = (v.out as string | undefined) ?? 'out/ar.png';
  const t0 = performance.now();
  const r = await generateAr(job);
  const tokens = await r.tokens.data();
  for (const t of [r.tokens, ...(r.scales ?? [])]) t.dispose();
  const side = r.side;
  const big = upscale(tokensToImages(tokens, job.count, side), [job.count, 3, side, side], zoom);
  const grid = imageGrid(big.data, big.shape, { pad: 1 });
  await writeOut(file, encodePng(grid.pixels, grid.width, grid.height));
  out(
    `wrote ${file}: ${job.count} images, ${r.decoder} decoder${model ? ` (${model})` : ''}, ${r.modelCalls} model calls, ${((performance.now() - t0) / 1000).toFixed(2)} s on ${job.backend.name}`,
  );
}

async function cmdExportModel(args: string[], out: Out): Promise<void> {
  const { values: v } = parse(args, { kind: { type: 'string' }, out: { type: 'string' } });
  if (v.help) return out(HELP['export-model']!);
  const kind = choiceFlag('kind', v.kind as string | undefined, MODEL_KINDS, 'digits');
  if (kind === 'digits') {
    const file = (v.out as string | undefined) ?? 'out/default-digits.onnx';
    const bytes = await exportDefaultModel();
    await writeOut(file, bytes);
    return out(`wrote ${file} (${bytes.length} bytes): inputs x [N, 1, 16, 16] and sigma, output x0`);
  }
  const file = (v.out as string | undefined) ?? `out/ar-${kind}.onnx`;
  const bytes = await exportArModel(kind);
  await writeOut(file, bytes);
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
  const steps = intFlag('steps', v.steps as string | undefined, 10, 1);
  const path = v['scheduler-config'] as string | undefined;
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

/** Reads and parses a JSON config, with one-line errors naming the file. */
export async function readConfig(path: string): Promise<Record<string, unknown>> {
  const { readFile } = await import('node:fs/promises');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read '${path}' (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  try {
    const json = JSON.parse(text);
    if (json === null || typeof json !== 'object' || Array.isArray(json))
      throw new Error('not a JSON object');
    return json;
  } catch (err) {
    throw new UsageError(`'${path}' is not a valid scheduler config: ${(err as Error).message}`);
  }
}

/**
 * Runs the `tessera` command line. Returns the exit code: 0 on success, 1 on a runtime failure (bad model,
 * missing file), 2 on a usage error. Errors are printed as one line on `err`, never a stack trace.
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
      });
      if (v.help) out(HELP.showcase!);
      else
        await runShowcase({
          backend: choiceFlag('backend', v.backend as string | undefined, BACKEND_NAMES, 'auto'),
          outDir: (v.out as string | undefined) ?? 'out',
          quick: !!v.quick,
          log: out,
        });
    } else throw new UsageError(`unknown command '${cmd}'`);
    return 0;
  } catch (e) {
    err(oneLine(e));
    return e instanceof UsageError ? 2 : 1;
  }
}
