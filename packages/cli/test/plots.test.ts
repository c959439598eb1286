import { createCpuBackend } from '@tessera/core';
import { DOMAIN_FEATURE_DIM, domainFeatures, FeatureStats, frechetDistance } from '@tessera/metrics';
import { defaultDigitsModel, digitsDataset } from '@tessera/reference';
import { describe, expect, it } from 'vitest';
import { convergenceChart, lineChart, metricBars, renderSvg } from '../src/plots.js';
import { qualityAndSpectra } from '../src/showcase-metrics.js';

describe('showcase plots (Vega-Lite → SVG)', () => {
  it('renders line, log-log, bar and convergence charts to standalone SVG', async () => {
    const pts = [1, 2, 4, 8].flatMap((x) => [
      { series: 'a', x, y: x * x },
      { series: 'b', x, y: 1 / x },
    ]);
    const line = await renderSvg(
      lineChart(pts, { title: 'Squares', xTitle: 'x', yTitle: 'y', logX: true, logY: true }),
    );
    expect(line.startsWith('<svg')).toBe(true);
    expect(line).toContain('Squares');
    expect(line).toMatch(/<path[^>]*d="M/);
    const bars = await renderSvg(
      metricBars(
        [
          { pipeline: 'p1', metric: 'FID', value: 2 },
          { pipeline: 'p2', metric: 'FID', value: 3 },
          { pipeline: 'p1', metric: 'recall', value: 0.5 },
          { pipeline: 'p2', metric: 'recall', value: 0.7 },
        ],
        'Quality',
      ),
    );
    expect(bars).toContain('Quality');
    expect(bars).toContain('recall');
    const conv = await renderSvg(
      convergenceChart([
        { series: 'picard', x: 1, y: 1e-2 },
        { series: 'picard', x: 2, y: 1e-5 },
      ]),
    );
    expect(conv).toContain('residual');
  });

  it('the showcase section measures each panel against held-out digits and draws the spectral plots', async () => {
    const B = createCpuBackend();
    const denoiser = defaultDigitsModel().denoiser(B);
    const fake = digitsDataset({ count: 8, seed: 4242 }).data;
    const logs: string[] = [];
    const html = await qualityAndSpectra({
      backend: B,
      denoiser,
      panels: [{ title: 'Some sampler', images: { data: fake, shape: [8, 1, 16, 16], kind: 'digits' } }],
      quick: true,
      log: (l) => logs.push(l),
    });
    expect(html.match(/<svg/g)?.length).toBe(4);
    // The FID printed for the panel is the Fréchet distance of its domain features to the reference set
    // (quick mode: 64 held-out digits from seed 99).
    const ref = new FeatureStats(DOMAIN_FEATURE_DIM).add(
      domainFeatures(digitsDataset({ count: 64, seed: 99 }).data, [64, 1, 16, 16]),
    );
    const mine = new FeatureStats(DOMAIN_FEATURE_DIM).add(domainFeatures(fake, [8, 1, 16, 16]));
    const fid = frechetDistance(ref, mine).toFixed(2);
    expect(html).toMatch(
      new RegExp(`<tr><td>Some sampler</td><td>8</td><td>${fid.replace('.', '\\.')}</td>`),
    );
    expect(html).toContain('<tr><td>real digits</td><td>8</td>');
    expect(logs[0]).toMatch(/metrics and spectra/);
    B.destroy?.();
  });
});
