/**
 * The showcase's parallel-sampling panel: one sampler run sequentially and solved in parallel rounds by
 * ParaDiGMS (Picard iteration) and ParaTAA (triangular Anderson acceleration) from the same start and
 * seed, with the residual per round (a plot), the three image grids side by side and the round counts.
 */
import type { Backend, Tensor } from '@tessera/core';
import { type Denoiser, type RowDenoiser, sample } from '@tessera/diffusion';
import { convergencePlot, type ParallelResult, paradigms, parataa } from '@tessera/parallel-sampling';
import { encodePng, imageGrid } from '@tessera/reference';
import { lineChart, renderSvg, type SeriesPoint } from './plots.js';

/** ParaDiGMS' tolerance in the panel (its paper uses 0.1; 0.01 keeps the image within ~1e-2). */
export const PARADIGMS_TOL = 0.01;
/** ParaTAA's relative and absolute tolerances in the panel (its defaults are 1e-3). */
export const PARATAA_TOL = 3e-4;

/** One parallel run of the panel, as recorded in the report's facts. */
export interface ParallelRunFacts {
  name: 'ParaDiGMS' | 'ParaTAA';
  file: string;
  rounds: number;
  steps: number;
  evaluations: number;
  batchedCalls: number;
  largestBatch: number;
  residuals: number[];
  converged: boolean;
  tol: number;
  atol: number;
  seconds: number;
  /** Largest |parallel − sequential| over every value of the images (before 8-bit rounding). */
  maxAbsDiff: number;
}

/** What {@link parallelPanel} returns. */
export interface ParallelPanel {
  /** The report section (plot, images, table, facts). */
  html: string;
  /** PNG grids to write next to the report. */
  files: Array<{ file: string; png: Uint8Array }>;
  /** The sequential run. */
  sequential: { file: string; steps: number; modelCalls: number; seconds: number; data: Float32Array };
  /** The two parallel runs with their images. */
  runs: Array<ParallelRunFacts & { data: Float32Array }>;
}

/** Options of {@link parallelPanel}. */
export interface ParallelPanelOptions {
  backend: Backend;
  /** A denoiser taking one σ per row (one batched call per round). */
  denoiser: Denoiser | RowDenoiser;
  /** Starting sample `[n, 1, 16, 16]` at `sigmas[0]` (not disposed). */
  x: Tensor;
  sigmas: ArrayLike<number>;
  seed: number;
  /** Window (steps per round). */
  window: number;
  /** What the panel runs on, for the text (e.g. "the trained U-Net, DDIM-50, guidance 2"). */
  label: string;
  /** Images per grid row. */
  cols: number;
  log: (line: string) => void;
}

function grid(data: ArrayLike<number>, n: number, cols: number): Uint8Array {
  const g = imageGrid(data, [n, 1, 16, 16], { pad: 1, cols });
  return encodePng(g.pixels, g.width, g.height);
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Runs the sampler (DDIM, η = 0) sequentially, by ParaDiGMS and by ParaTAA, and renders the panel. */
export async function parallelPanel(o: ParallelPanelOptions): Promise<ParallelPanel> {
  const n = o.x.shape[0]!;
  const steps = o.sigmas.length - 1;
  let calls = 0;
  const counted: Denoiser = (x, s, c) => {
    calls++;
    return o.denoiser(x, s, c);
  };
  let t0 = performance.now();
  const seqT = await sample('ddim', { denoiser: counted, x: o.x, sigmas: o.sigmas, seed: o.seed });
  const seqData = Float32Array.from(await seqT.data());
  seqT.dispose();
  const sequential = {
    file: 'parallel-sequential.png',
    steps,
    modelCalls: calls,
    seconds: (performance.now() - t0) / 1000,
    data: seqData,
  };
  o.log(`  parallel panel: sequential DDIM-${steps} ${sequential.seconds.toFixed(2)} s`);
  const runs: ParallelPanel['runs'] = [];
  for (const name of ['ParaDiGMS', 'ParaTAA'] as const) {
    t0 = performance.now();
    const common = {
      denoiser: o.denoiser,
      x: o.x,
      sigmas: o.sigmas,
      sampler: 'ddim' as const,
      seed: o.seed,
      window: o.window,
    };
    const r: ParallelResult =
      name === 'ParaDiGMS'
        ? await paradigms({ ...common, tol: PARADIGMS_TOL })
        : await parataa({ ...common, tol: PARATAA_TOL, atol: PARATAA_TOL });
    const data = Float32Array.from(await r.x.data());
    r.x.dispose();
    const seconds = (performance.now() - t0) / 1000;
    runs.push({
      name,
      file: `parallel-${name.toLowerCase()}.png`,
      rounds: r.rounds,
      steps: r.steps,
      evaluations: r.evaluations,
      batchedCalls: r.batchedCalls,
      largestBatch: r.largestBatch,
      residuals: r.residuals,
      converged: r.converged,
      tol: r.tol,
      atol: r.atol,
      seconds,
      maxAbsDiff: maxAbsDiff(data, seqData),
      data,
    });
    o.log(`  parallel panel: ${name} ${r.rounds} rounds for ${r.steps} steps, ${seconds.toFixed(2)} s`);
  }
  const files = [
    { file: sequential.file, png: grid(seqData, n, o.cols) },
    ...runs.map((r) => ({ file: r.file, png: grid(r.data, n, o.cols) })),
  ];
  const points: SeriesPoint[] = runs.flatMap((r) => {
    const p = convergencePlot(r, `${r.name} (${r.rounds} rounds)`);
    return p.rounds.map((x, i) => ({ series: p.name, x, y: p.residuals[i]! }));
  });
  const last = Math.max(...runs.map((r) => r.rounds));
  points.push({ series: 'tolerance', x: 1, y: 1 }, { series: 'tolerance', x: last, y: 1 });
  const svg = await renderSvg(
    lineChart(points, {
      title: `Parallel sampling: residual per round (DDIM-${steps})`,
      subtitle: 'worst step error ÷ tolerance; a run stops when every step is ≤ 1',
      xTitle: 'round',
      yTitle: 'residual / tolerance',
      logY: true,
      points: true,
      dashed: ['tolerance'],
    }),
  );
  const uri = (png: Uint8Array) => `data:image/png;base64,${Buffer.from(png).toString('base64')}`;
  const pngOf = (f: string) => files.find((x) => x.file === f)!.png;
  const figure = (title: string, file: string) =>
    `<figure class="par"><img class="par" src="${uri(pngOf(file))}" alt="${title}"><figcaption>${title}</figcaption></figure>`;
  const rows = runs
    .map(
      (r) =>
        `<tr data-run="${r.name}"><td>${r.name}</td><td>${r.rounds}</td><td>${r.steps}</td><td>${r.batchedCalls}</td>` +
        `<td>${r.largestBatch}</td><td>${r.seconds.toFixed(2)} s</td><td>${r.maxAbsDiff.toExponential(1)}</td>` +
        `<td>${r.converged ? 'yes' : 'no'}</td></tr>`,
    )
    .join('\n');
  const facts = {
    label: o.label,
    images: n,
    window: o.window,
    sequential: { ...sequential, data: undefined },
    runs: runs.map(({ data: _d, ...f }) => f),
  };
  const html = `<h2>Parallel sampling</h2>
<p>${o.label}: ${n} images by DDIM-${steps} (η = 0) step by step, and the same start and seed solved in parallel
rounds (window ${o.window}: one batched denoiser call of up to window·${n} rows per round) by ParaDiGMS (Picard
iteration, tol ${PARADIGMS_TOL}) and ParaTAA (triangular Anderson acceleration, tol = atol = ${PARATAA_TOL}).
Both converge to the sequential images; rounds, not steps, are what a device able to batch pays for. On a CPU a
batch costs about as much as its rows one by one, so here the parallel runs take longer than the sequential one
(<code>node bench/parallel-sampling.mjs</code> measures the batch cost per backend).</p>
<figure>${svg}</figure>
<div class="row">${figure(`sequential: ${steps} steps, ${sequential.modelCalls} calls`, sequential.file)}
${runs.map((r) => figure(`${r.name}: ${r.rounds} rounds`, r.file)).join('\n')}</div>
<table><tr><th>solver</th><th>rounds</th><th>sequential steps</th><th>batched calls</th><th>largest batch</th><th>wall time</th><th>max |Δ| vs sequential</th><th>converged</th></tr>
<tr data-run="sequential"><td>sequential DDIM</td><td>—</td><td>${steps}</td><td>${sequential.modelCalls}</td><td>${n}</td><td>${sequential.seconds.toFixed(2)} s</td><td>0</td><td>—</td></tr>
${rows}
</table>
<script type="application/json" id="parallel-facts">${JSON.stringify(facts)}</script>`;
  return { html, files, sequential, runs };
}
