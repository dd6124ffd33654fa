// The two charts, drawn with uPlot: recent lookups by source (fetch_time_ms, log scale, with p50 and
// p95 lines per source) and the service's hit rate over time. Each keeps its canvas as wide as its
// container (scripts/charts.ts writes the number of plotted points to data-points).
// Their legends are HTML beside the canvas (scripts/charts.ts), with the latest values: uPlot's own
// legend shows values only under the cursor, "—" otherwise. Nothing is written on the plot area, so
// no label can cover another; both axes are named, with their unit.

import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { LookupRecord, SourceSummary, Tone } from './history';
import { toneOf } from './history';
import { formatClock } from './format';

/** Series colours; the same hues as the badges (Tailwind green-600, blue-600, amber-600). */
export const TONE_COLOUR: Record<Tone, string> = {
  cache: '#16a34a',
  database: '#2563eb',
  fallback: '#d97706',
};

const AXIS = { stroke: '#334155', grid: { stroke: '#e2e8f0', width: 1 }, ticks: { stroke: '#cbd5e1', width: 1 } };

/** The time axis: ticks on whole seconds (or coarser), labelled with the local clock time. */
const TIME_AXIS: uPlot.Axis = {
  ...AXIS,
  label: 'time (local clock)',
  labelSize: 20,
  space: 80,
  incrs: [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600],
  values: (_u, splits) => splits.map((v) => formatClock(v * 1000).slice(0, 8)),
};
const HEIGHT = 220;

/**
 * Keeps a chart's width equal to its container's, and names its axes on the container (data-axes):
 * uPlot draws them on the canvas, where neither assistive technology nor a test can read them.
 */
function autosize(chart: uPlot, container: HTMLElement): void {
  container.dataset.axes = chart.axes.map((a) => a.label ?? '').join(' | ');
  const resize = () => chart.setSize({ width: Math.max(200, container.clientWidth), height: HEIGHT });
  new ResizeObserver(resize).observe(container);
  resize();
}

function pointsOnly(colour: string, label: string): uPlot.Series {
  return {
    label,
    stroke: colour,
    width: 0,
    paths: () => null,
    points: { show: true, size: 7, width: 1, stroke: colour, fill: colour },
  };
}

export class LatencyChart {
  private readonly chart: uPlot;
  private summaries: SourceSummary[] = [];

  constructor(private readonly container: HTMLElement) {
    const opts: uPlot.Options = {
      width: Math.max(200, container.clientWidth),
      height: HEIGHT,
      scales: { x: { time: true }, y: { distr: 3, log: 10 } },
      axes: [TIME_AXIS, { ...AXIS, label: 'fetch time (ms, log scale)', size: 56, values: (_u, vals) => vals.map((v) => (v === null ? '' : `${+v.toPrecision(3)}`)) }],
      series: [{ label: 'time' }, pointsOnly(TONE_COLOUR.cache, 'cache'), pointsOnly(TONE_COLOUR.database, 'database'), pointsOnly(TONE_COLOUR.fallback, 'fallback')],
      legend: { show: false },
      cursor: { points: { size: 9 } },
      hooks: { draw: [(u) => this.drawPercentiles(u)] },
    };
    this.chart = new uPlot(opts, [[], [], [], []], container);
    autosize(this.chart, container);
  }

  /** Replaces the plotted lookups (those with a fetch_time_ms) and the percentile lines. */
  update(records: LookupRecord[], summaries: SourceSummary[]): void {
    this.summaries = summaries;
    const plotted = records.filter((r) => r.fetch_time_ms !== null && toneOf(r) !== null);
    const xs: number[] = [];
    const ys: Record<Tone, (number | null)[]> = { cache: [], database: [], fallback: [] };
    let lastX = -Infinity;
    for (const r of plotted) {
      // uPlot wants strictly increasing x; lookups in the same millisecond are nudged apart.
      const x = Math.max(r.at / 1000, lastX + 0.0005);
      lastX = x;
      xs.push(x);
      const tone = toneOf(r) as Tone;
      // A log scale cannot show 0: a sub-microsecond time is drawn at 1 µs.
      const y = Math.max(r.fetch_time_ms as number, 0.001);
      for (const t of ['cache', 'database', 'fallback'] as Tone[]) ys[t].push(t === tone ? y : null);
    }
    this.chart.setData([xs, ys.cache, ys.database, ys.fallback]);
  }

  // Dashed line at p95, dotted at p50, in the colour of each source that has points; their values are
  // in the legend, not on the plot, where labels of close lines would overlap.
  private drawPercentiles(u: uPlot): void {
    const ctx = u.ctx;
    const { left, width, top, height } = u.bbox;
    ctx.save();
    ctx.lineWidth = Math.max(1, devicePixelRatio);
    for (const s of this.summaries) {
      if (s.count === 0) continue;
      for (const [value, dash] of [[s.p50, [2, 3]], [s.p95, [8, 4]]] as const) {
        if (value === null) continue;
        const y = Math.round(u.valToPos(Math.max(value, 0.001), 'y', true));
        if (y < top || y > top + height) continue;
        ctx.strokeStyle = TONE_COLOUR[s.tone];
        ctx.fillStyle = TONE_COLOUR[s.tone];
        ctx.setLineDash(dash.map((d) => d * devicePixelRatio));
        ctx.beginPath();
        ctx.moveTo(left, y);
        ctx.lineTo(left + width, y);
        ctx.stroke();
      }
    }
    ctx.restore();
  }
}

export interface HitRateSample {
  /** Unix seconds. */
  t: number;
  service: number | null;
}

export class HitRateChart {
  private readonly chart: uPlot;

  constructor(private readonly container: HTMLElement) {
    const opts: uPlot.Options = {
      width: Math.max(200, container.clientWidth),
      height: HEIGHT,
      scales: { x: { time: true }, y: { range: [0, 100] } },
      axes: [TIME_AXIS, { ...AXIS, label: 'hit rate (%)', size: 56 }],
      series: [{ label: 'time' }, { label: 'service hit rate', stroke: '#0f766e', width: 2, spanGaps: false }],
      legend: { show: false },
    };
    this.chart = new uPlot(opts, [[], []], container);
    autosize(this.chart, container);
  }

  update(samples: HitRateSample[]): void {
    this.chart.setData([samples.map((s) => s.t), samples.map((s) => s.service)]);
  }
}
