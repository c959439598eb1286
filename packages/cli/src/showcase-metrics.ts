/**
 * The showcase's measurements: FID / KID / precision-recall of every sampler and decoder on the domain
 * features, and the spectral ("coarse to fine") view of a diffusion run beside the next-scale decoder's
 * scales. Returns the report's HTML section; every plot goes through plots.ts (Vega-Lite → SVG).
 */
import type { Backend } from '@tessera/core';
import { type Denoiser, sample } from '@tessera/diffusion';
import {
  cutoffFrequency,
  DOMAIN_FEATURE_DIM,
  domainFeatures,
  FeatureStats,
  frechetDistance,
  kernelInceptionDistance,
  precisionRecall,
  type Rapsd,
  rapsd,
  spectralRecorder,
} from '@tessera/metrics';
import { digitsDataset, VAR_PATCH_NUMS } from '@tessera/reference';
import { karrasSigmas } from '@tessera/schedules';
import { arDataset, tokensToImages } from './ar.js';
import { lineChart, type MetricRow, metricBars, renderSvg, type SeriesPoint } from './plots.js';

/** What the measurements need of a showcase panel. */
export interface MeasuredPanel {
  title: string;
  images?: { data: ArrayLike<number>; shape: [number, number, number, number]; kind: 'digits' | 'shapes' };
}

interface QualityRow {
  pipeline: string;
  n: number;
  fid: number;
  kid: number;
  precision: number;
  recall: number;
}

/** Real images of a kind: held-out procedural digits, or the AR training shapes rendered as colours. */
function realImages(
  kind: 'digits' | 'shapes',
  count: number,
  offset: number,
): { data: Float32Array; shape: [number, number, number, number] } {
  if (kind === 'digits') {
    return { data: digitsDataset({ count, seed: 99 + offset }).data, shape: [count, 1, 16, 16] };
  }
  const ds = arDataset();
  const grids = ds.grids.slice(offset, offset + count);
  const tokens = new Int32Array(grids.length * 256);
  for (const [i, g] of grids.entries()) tokens.set(g, i * 256);
  return { data: tokensToImages(tokens, grids.length, 16), shape: [grids.length, 3, 16, 16] };
}

function measure(
  pipeline: string,
  images: ArrayLike<number>,
  shape: number[],
  ref: Float64Array,
  refN: number,
): QualityRow {
  const f = domainFeatures(images, shape);
  const n = shape[0]!;
  const stats = new FeatureStats(DOMAIN_FEATURE_DIM).add(f);
  const refStats = new FeatureStats(DOMAIN_FEATURE_DIM).add(ref);
  const a = { data: ref, dim: DOMAIN_FEATURE_DIM };
  const b = { data: f, dim: DOMAIN_FEATURE_DIM };
  const kid = kernelInceptionDistance(a, b, { subsets: 50, subsetSize: Math.min(n, refN), seed: 7 });
  const pr = precisionRecall(a, b);
  return {
    pipeline,
    n,
    fid: frechetDistance(refStats, stats),
    kid: kid.mean,
    precision: pr.precision,
    recall: pr.recall,
  };
}

function qualityTable(rows: QualityRow[], refN: Record<string, number>): string {
  const body = rows
    .map(
      (r) =>
        `<tr><td>${r.pipeline}</td><td>${r.n}</td><td>${r.fid.toFixed(2)}</td><td>${r.kid.toExponential(2)}</td>` +
        `<td>${r.precision.toFixed(2)}</td><td>${r.recall.toFixed(2)}</td></tr>`,
    )
    .join('\n');
  return `<table><tr><th>pipeline</th><th>images</th><th>FID</th><th>KID</th><th>precision</th><th>recall</th></tr>
${body}
</table>
<p class="cap">Against ${refN.digits} held-out procedural digits (diffusion) and ${refN.shapes} training shapes (AR),
on ${DOMAIN_FEATURE_DIM} fixed random ReLU features of the 16×16 image (not Inception: these rank samplers on this
data only). “real” rows are another real sample of the same size: the floor that sample size alone gives.</p>`;
}

const positive = (r: Rapsd) => {
  const out: Array<{ f: number; p: number }> = [];
  for (let k = 1; k <= r.nyquist; k++)
    if (r.power[k]! > 0) out.push({ f: r.frequencies[k]!, p: r.power[k]! });
  return out;
};

/**
 * Measures every panel against real data and runs the spectral study (a 20-step DPM-Solver++(2M) run
 * recording the spectra of x_t and x̂₀), returning the report's HTML section.
 */
export async function qualityAndSpectra(o: {
  backend: Backend;
  denoiser: Denoiser;
  panels: MeasuredPanel[];
  quick: boolean;
  log: (line: string) => void;
}): Promise<string> {
  const t0 = performance.now();
  const refN = { digits: o.quick ? 64 : 256, shapes: o.quick ? 64 : 256 };
  const refs = {
    digits: realImages('digits', refN.digits, 0),
    shapes: realImages('shapes', refN.shapes, 0),
  };
  const refFeatures = {
    digits: domainFeatures(refs.digits.data, refs.digits.shape),
    shapes: domainFeatures(refs.shapes.data, refs.shapes.shape),
  };
  const rows: QualityRow[] = [];
  const baselines = new Set<string>();
  for (const p of o.panels) {
    if (!p.images) continue;
    const { kind, shape, data } = p.images;
    if (!baselines.has(kind)) {
      baselines.add(kind);
      // A second real sample of the same size, disjoint from the reference set.
      const real = realImages(kind, shape[0], kind === 'digits' ? 1 : refN.shapes);
      rows.push(measure(`real ${kind}`, real.data, real.shape, refFeatures[kind], refN[kind]));
    }
    rows.push(measure(p.title, data, shape, refFeatures[kind], refN[kind]));
  }
  const bars: MetricRow[] = rows.flatMap((r) => [
    { pipeline: r.pipeline, metric: 'FID', value: r.fid },
    { pipeline: r.pipeline, metric: 'KID', value: r.kid },
    { pipeline: r.pipeline, metric: 'precision', value: r.precision },
    { pipeline: r.pipeline, metric: 'recall', value: r.recall },
  ]);
  const qualitySvg = await renderSvg(
    metricBars(
      bars,
      'Sample quality per pipeline',
      'domain features; lower FID/KID, higher precision/recall are better',
    ),
  );

  // Spectral study: record x_t and x̂₀ spectra along a Karras-spaced DPM-Solver++(2M) run.
  const B = o.backend;
  const count = o.quick ? 8 : 16;
  const sigmas = new Float64Array(21);
  sigmas.set(karrasSigmas(20, 0.002, 80, 7));
  const rec = spectralRecorder();
  const noise = B.randn([count, 1, 16, 16], { seed: 6 });
  const x = B.lincomb([sigmas[0]!], [noise]);
  const out = await sample('dpmpp_2m', { denoiser: o.denoiser, x, sigmas, seed: 6, callback: rec.callback });
  const finalSpectrum = rapsd(await out.data(), out.shape);
  for (const t of [noise, x, out]) t.dispose();
  const dataSpectrum = rapsd(refs.digits.data, refs.digits.shape);
  const steps = rec.steps;
  const pick = [0, 4, 8, 12, 16, steps.length - 1].filter(
    (i, k, a) => i < steps.length && a.indexOf(i) === k,
  );
  const label = (i: number) => `step ${steps[i]!.step} (σ=${steps[i]!.sigma.toPrecision(2)})`;
  const spectrumPoints = (which: 'x' | 'denoised'): SeriesPoint[] => [
    ...positive(dataSpectrum).map(({ f, p }) => ({ series: 'data', x: f, y: p })),
    ...pick.flatMap((i) => positive(steps[i]![which]).map(({ f, p }) => ({ series: label(i), x: f, y: p }))),
    ...(which === 'denoised'
      ? positive(finalSpectrum).map(({ f, p }) => ({ series: 'final sample', x: f, y: p }))
      : []),
  ];
  const xtSvg = await renderSvg(
    lineChart(spectrumPoints('x'), {
      title: 'Spectrum of the noisy sample x_t',
      subtitle: 'white noise adds a flat σ² floor that hides every frequency below it',
      xTitle: 'frequency (cycles / pixel)',
      yTitle: 'power',
      logX: true,
      logY: true,
    }),
  );
  const x0Svg = await renderSvg(
    lineChart(spectrumPoints('denoised'), {
      title: 'Spectrum of the x̂₀ estimate',
      subtitle: 'coarse structure (low frequencies) settles first, detail last',
      xTitle: 'frequency (cycles / pixel)',
      yTitle: 'power',
      logX: true,
      logY: true,
      dashed: ['data'],
    }),
  );
  const progressPoints: SeriesPoint[] = [
    ...steps.map((s, i) => ({
      series: 'diffusion: f where σ² meets the data spectrum',
      x: i / Math.max(1, steps.length - 1),
      y: cutoffFrequency(dataSpectrum, s.sigma),
    })),
    ...VAR_PATCH_NUMS.map((p, k) => ({
      series: 'next-scale AR: Nyquist of the p×p scale',
      x: k / (VAR_PATCH_NUMS.length - 1),
      y: p / 32,
    })),
  ];
  const cutSvg = await renderSvg(
    lineChart(progressPoints, {
      title: 'Coarse to fine',
      subtitle: 'highest resolved frequency as generation proceeds (diffusion step vs VAR scale)',
      xTitle: 'fraction of the run',
      yTitle: 'frequency (cycles / pixel)',
      points: true,
    }),
  );
  o.log(`  metrics and spectra: ${((performance.now() - t0) / 1000).toFixed(2)} s`);
  return `<h2>Sample quality</h2>
${qualityTable(rows, refN)}
<figure>${qualitySvg}</figure>
<h2>The spectral view</h2>
<p>Radially averaged power spectra along a 20-step DPM-Solver++(2M) run of ${count} digits (“diffusion is spectral
autoregression”): noise of level σ drowns every frequency whose data power is below σ², so as σ falls the
resolved band widens from coarse to fine, much as the next-scale decoder adds finer token scales.</p>
<figure>${xtSvg}</figure>
<figure>${x0Svg}</figure>
<figure>${cutSvg}</figure>`;
}
