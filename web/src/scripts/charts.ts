// The latency panel: the lookups chart with its percentile table and legend, and the service's hit
// rate over time (one sample per live snapshot, counted from the last clear like the figures).
//
// The charts' code (uPlot) is loaded only when the Live stats section is first shown, so the first
// view stays light; until then the page keeps the data, the table and the legends up to date, and
// data-points already says how many points each chart plots.

import type { HitRateChart, HitRateSample, LatencyChart } from '../lib/chart';
import { countersView, reconcile } from '../lib/counters';
import { formatCount, formatMs, formatPercent } from '../lib/format';
import { summarise, toneOf } from '../lib/history';
import type { LookupRecord, SourceSummary } from '../lib/history';
import type { Dashboard } from './context';
import { byId, setText } from './dom';

const MAX_SAMPLES = 300; // five minutes at one snapshot a second

export function mountCharts(d: Dashboard): void {
  const latencyBox = byId('latency-chart');
  const hitRateBox = byId('hitrate-chart');
  const table = byId('latency-summary');
  const legendValue = (list: string, key: string) => byId(list).querySelector(`[data-legend="${key}"] [data-legend-value]`) as Element;
  let charts: { latency: LatencyChart; hitRate: HitRateChart } | null = null;
  let loading = false;
  let records: LookupRecord[] = [];
  let summaries: SourceSummary[] = [];
  let samples: HitRateSample[] = [];

  const drawLatency = () => {
    latencyBox.dataset.points = String(records.filter((r) => r.fetch_time_ms !== null && toneOf(r) !== null).length);
    charts?.latency.update(records, summaries);
  };
  const drawHitRate = () => {
    hitRateBox.dataset.points = String(samples.length);
    charts?.hitRate.update(samples);
  };

  const load = () => {
    if (charts || loading || latencyBox.offsetParent === null) return;
    loading = true;
    void import('../lib/chart').then(({ LatencyChart, HitRateChart }) => {
      charts = { latency: new LatencyChart(latencyBox), hitRate: new HitRateChart(hitRateBox) };
      drawLatency();
      drawHitRate();
    });
  };
  new MutationObserver(load).observe(document.body, { attributes: true, attributeFilter: ['data-current-section'] });
  load();

  d.history.chartRecords.subscribe((next) => {
    records = next;
    summaries = summarise(records);
    drawLatency();
    for (const s of summaries) {
      // The legend: per source, how many lookups are plotted and the newest one's time, with p50 and p95.
      const newest = [...records].reverse().find((r) => toneOf(r) === s.tone && r.fetch_time_ms !== null);
      setText(
        legendValue('latency-legend', s.tone),
        s.count === 0 || !newest
          ? 'no lookups yet'
          : `${formatCount(s.count)} lookup${s.count === 1 ? '' : 's'}, latest ${formatMs(newest.fetch_time_ms)} (p50 ${formatMs(s.p50)}, p95 ${formatMs(s.p95)})`,
      );
      const tr = table.querySelector<HTMLTableRowElement>(`tr[data-tone="${s.tone}"]`);
      if (!tr) continue;
      const put = (col: string, text: string) => setText(tr.querySelector(`[data-col="${col}"]`) as Element, text);
      put('count', formatCount(s.count));
      put('p50', formatMs(s.p50));
      put('p95', formatMs(s.p95));
      put('p50rt', formatMs(s.p50RoundTrip));
      put('p95rt', formatMs(s.p95RoundTrip));
    }
  });

  let lastReceivedAt = 0;
  d.feed.snapshot.subscribe((s) => {
    if (!s || s.receivedAt === lastReceivedAt) return;
    lastReceivedAt = s.receivedAt;
    const view = countersView(s, reconcile(d.baseline.value, s));
    samples = [...samples, { t: s.receivedAt / 1000, service: view.app.hit_rate }].slice(-MAX_SAMPLES);
    drawHitRate();
    setText(legendValue('hitrate-legend', 'service'), view.app.hit_rate === null ? 'no lookups yet' : formatPercent(view.app.hit_rate));
  });
  // A clear (new baseline) starts both charts again.
  let previous = d.baseline.value;
  d.baseline.subscribe((b) => {
    if (b === previous) return;
    const cleared = b !== null && b.at !== previous?.at;
    previous = b;
    if (!cleared) return;
    samples = [];
    drawHitRate();
    d.history.resetChart();
  });
}
