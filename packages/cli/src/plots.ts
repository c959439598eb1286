/**
 * Every plot of the showcase report: Vega-Lite specs compiled by `vega-lite` and rendered to static SVG
 * by `vega` in Node (no browser, no canvas), so the report stays one self-contained HTML file.
 */
import { parse, View } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

/** Colours matching the report's dark page. */
const DARK = {
  background: '#111',
  axis: {
    labelColor: '#ccc',
    titleColor: '#ddd',
    gridColor: '#2a2a2a',
    domainColor: '#666',
    tickColor: '#666',
  },
  legend: { labelColor: '#ccc', titleColor: '#ddd', labelLimit: 0 },
  title: { color: '#eee', subtitleColor: '#aaa' },
  header: { labelColor: '#ddd', titleColor: '#ddd' },
  view: { stroke: '#333' },
};

/** Renders a Vega-Lite spec to an SVG string (the dark report theme is merged into its config). */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const themed = { ...spec, config: { ...DARK, ...(spec.config ?? {}) } } as TopLevelSpec;
  const view = new View(parse(compile(themed).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** One point of a line chart. */
export interface SeriesPoint {
  series: string;
  x: number;
  y: number;
}

/** Options of {@link lineChart}. */
export interface LineChartOptions {
  title: string;
  subtitle?: string;
  xTitle: string;
  yTitle: string;
  logX?: boolean;
  logY?: boolean;
  /** Reverse the x axis (e.g. σ falling from left to right). */
  reverseX?: boolean;
  /** Draw points on the lines. */
  points?: boolean;
  /** Series drawn dashed. */
  dashed?: string[];
  width?: number;
  height?: number;
}

/** A multi-series line chart as a Vega-Lite spec (`series` is the colour legend). */
export function lineChart(points: SeriesPoint[], o: LineChartOptions): TopLevelSpec {
  const dashed = new Set(o.dashed ?? []);
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: o.subtitle ? { text: o.title, subtitle: o.subtitle } : o.title,
    width: o.width ?? 420,
    height: o.height ?? 260,
    data: { values: points.map((p) => ({ ...p, dash: dashed.has(p.series) ? 'dashed' : 'solid' })) },
    mark: { type: 'line', point: o.points ?? false, clip: true },
    encoding: {
      x: {
        field: 'x',
        type: 'quantitative',
        title: o.xTitle,
        scale: o.logX
          ? { type: 'log', reverse: o.reverseX ?? false }
          : { zero: false, reverse: o.reverseX ?? false },
      },
      y: {
        field: 'y',
        type: 'quantitative',
        title: o.yTitle,
        scale: o.logY ? { type: 'log' } : { zero: false },
      },
      color: { field: 'series', type: 'nominal', title: null, sort: null, scale: { scheme: 'tableau10' } },
      strokeDash: {
        field: 'dash',
        type: 'nominal',
        legend: null,
        scale: {
          domain: ['solid', 'dashed'],
          range: [
            [1, 0],
            [4, 3],
          ],
        },
      },
    },
  };
}

/** One measured value of a pipeline. */
export interface MetricRow {
  pipeline: string;
  metric: string;
  value: number;
}

/** Small-multiple horizontal bar charts: one panel per metric, one bar per pipeline, independent scales. */
export function metricBars(rows: MetricRow[], title: string, subtitle?: string): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: subtitle ? { text: title, subtitle } : title,
    data: { values: rows },
    facet: { column: { field: 'metric', type: 'nominal', title: null, sort: null } },
    spec: {
      width: 150,
      height: { step: 16 },
      mark: { type: 'bar', tooltip: true },
      encoding: {
        y: { field: 'pipeline', type: 'nominal', title: null, sort: null, axis: { labelLimit: 0 } },
        x: { field: 'value', type: 'quantitative', title: null },
        color: {
          field: 'pipeline',
          type: 'nominal',
          legend: null,
          sort: null,
          scale: { scheme: 'tableau10' },
        },
      },
    },
    resolve: { scale: { x: 'independent' } },
  };
}

/** A parallel-sampling convergence chart: residual (log) against Picard/Anderson round, one line per run. */
export function convergenceChart(
  points: SeriesPoint[],
  title = 'Parallel sampling convergence',
): TopLevelSpec {
  return lineChart(points, { title, xTitle: 'round', yTitle: 'residual', logY: true, points: true });
}
