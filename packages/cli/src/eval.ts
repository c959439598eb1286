import { readFile } from 'node:fs/promises';
import type { EvalReport } from '@tessera/distributed';
import { BACKEND_NAMES, selectBackend } from './backends.js';
import { choiceFlag, intFlag, UsageError } from './errors.js';
import { parseFlags, REDIS_FLAGS, REDIS_HELP, redisFromFlags } from './worker.js';

type Out = (line: string) => void;

/** `tessera eval --help`. */
export const EVAL_HELP = `Usage: tessera eval --redis URL --config job.json [options]
       tessera eval --local --config job.json [--backend NAME] [--out-images DIR]

Runs an evaluation job on the workers listening to Redis ('tessera worker'): enqueues its shards,
shows progress (images/s, ETA), merges the shard statistics in a fixed order, prints the metrics and
writes the report JSON (configuration, metrics, statistics, each worker's backend). Re-running a job id
reuses its finished shards. --local runs the whole job in this process instead (same results).

job.json: { "id": "dpmpp-20", "count": 10000, "seed": 0, "shardSize": 256, "batchSize": 64,
            "generator": { "kind": "diffusion", "sampler": "dpmpp_2m", "steps": 20 },
            (add "model": "digits-unet" (with "digit": 0-9, "guidance": 2) for the trained U-Net, or
             "model": "mine/x0.onnx" for your own ONNX x0-denoiser under each worker's --models;
             add "parallel": { "method": "parataa" | "paradigms", "window": 16, "tol": 1e-3 } to solve
             each image's steps in parallel rounds: euler, euler_ancestral, ddim, ddpm, heun, dpm_2,
             lcm, dpmpp_2m; same images on any sharding, the sequential ones to the tolerance)
            "output": "dpmpp-20", "reference": { "count": 1000, "seed": 1 } }
  (add "features": "classifier" to score on the trained digit classifier's features)
  (or "generator": { "kind": "ar", "decoder": "next-scale", "temperature": 1 }, with
   "model": "digits-var" (next-scale), "digits-gpt" (raster) or "digits-maskgit" (masked) for the
   trained digit networks)

  --config FILE             the job (required)
  --out FILE                where to write the report (default out/eval-<id>.json)
  --timeout S               give up waiting for workers after S seconds (default: wait)
  --local                   run in this process, no Redis
  --backend NAME            with --local: auto | cpu | webgpu | onnx (default auto)
  --out-images DIR          with --local: root the job's "output" directory resolves inside
  --models DIR              with --local: root the job's "model" path resolves inside
${REDIS_HELP}`;

/** Reads a job file as JSON, with one-line errors naming the file. */
async function readJob(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read '${path}' (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UsageError(`'${path}' is not valid JSON: ${(err as Error).message}`);
  }
}

/** One summary line of a report. */
export function summary(r: EvalReport): string {
  const workers = Object.entries(r.workers)
    .map(([w, b]) => `${w} (${b})`)
    .join(', ');
  const secs = r.ms !== undefined ? `, ${(r.ms / 1000).toFixed(1)} s` : '';
  const m = r.metrics.sample;
  const sample = m
    ? `, KID ${m.kid.mean.toFixed(5)} ± ${m.kid.std.toFixed(5)}, precision ${m.precision.toFixed(3)}, recall ${m.recall.toFixed(3)}`
    : '';
  const p = r.parallel;
  const parallel = p
    ? `; parallel sampling: ${p.solves} solves, ${p.rounds} rounds (${(p.rounds / Math.max(p.solves, 1)).toFixed(1)} per solve), ${p.unconverged} unconverged`
    : '';
  return `${r.config.id}: ${r.images} images, Fréchet distance to the reference ${r.metrics.frechet?.toFixed(4) ?? 'n/a'}${sample}${secs}${parallel}; workers: ${workers}`;
}

/** `tessera eval`. */
export async function cmdEval(args: string[], out: Out, err: Out = console.error): Promise<void> {
  const v = parseFlags(args, {
    ...REDIS_FLAGS,
    config: { type: 'string' },
    out: { type: 'string' },
    timeout: { type: 'string' },
    local: { type: 'boolean' },
    backend: { type: 'string' },
    'out-images': { type: 'string' },
    models: { type: 'string' },
  });
  if (v.help) return out(EVAL_HELP);
  // every flag is checked before the job file is read
  const redis = v.local ? undefined : redisFromFlags(v);
  if (!v.config) throw new UsageError('--config job.json is required');
  const dist = await import('@tessera/distributed');
  const config = dist.resolveJobConfig(await readJob(v.config as string));
  const file = (v.out as string | undefined) ?? `out/eval-${config.id}.json`;
  const timeout = v.timeout === undefined ? undefined : intFlag('timeout', v.timeout as string, 0, 1) * 1000;
  const tty = process.stderr.isTTY === true;
  let lastLine = 0;
  const progress = (p: Parameters<typeof dist.formatProgress>[0]) => {
    const line = dist.formatProgress(p);
    if (tty) process.stderr.write(`\r${line}`);
    else if (Date.now() - lastLine > 5000 || p.done === p.total) {
      err(line);
      lastLine = Date.now();
    }
  };
  let report: EvalReport;
  if (v.local) {
    const backendName = choiceFlag('backend', v.backend as string | undefined, BACKEND_NAMES, 'auto');
    const backend = await selectBackend(backendName);
    const t0 = Date.now();
    report = await dist.runLocal(config, {
      backend,
      ...(v['out-images'] ? { outputRoot: v['out-images'] as string } : {}),
      ...(v.models ? { models: { modelRoot: v.models as string } } : {}),
      onProgress: (done, total) => {
        const rate = done / Math.max(1e-3, (Date.now() - t0) / 1000);
        progress({ done, total, shardsDone: 0, shards: 0, rate, eta: (total - done) / rate });
      },
    });
    const { mkdir, writeFile } = await import('node:fs/promises');
    const { dirname } = await import('node:path');
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
  } else {
    report = await dist.runEvaluation(config, {
      redis: redis!,
      ...(v.queue ? { queue: v.queue as string } : {}),
      ...(timeout !== undefined ? { timeoutMs: timeout } : {}),
      onProgress: progress,
      log: (line) => err(`tessera eval: ${line}`),
      out: file,
    });
  }
  if (tty) process.stderr.write('\n');
  out(summary(report));
  out(
    JSON.stringify({
      id: report.config.id,
      images: report.images,
      metrics: report.metrics,
      workers: report.workers,
    }),
  );
  out(`wrote ${file}`);
}
