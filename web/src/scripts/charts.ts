// The latency panel: the lookups chart with its percentile table, and the hit rate over time
// (one sample per live snapshot, counted from the last clear like the statistics panel).

import { HitRateChart, LatencyChart } from '../lib/chart';
import type { HitRateSample } from '../lib/chart';
import { countersView, reconcile } from '../lib/counters';
import { formatCount, formatMs } from '../lib/format';
import { summarise } from '../lib/history';
import type { Dashboard } from './context';
import { byId, setText } from './dom';

const MAX_SAMPLES = 300; // five minutes at one snapshot a second

export function mountCharts(d: Dashboard): void {
  const latency = new LatencyChart(byId('latency-chart'));
  const hitRate = new HitRateChart(byId('hitrate-chart'));
  const table = byId('latency-summary');

  d.history.chartRecords.subscribe((records) => {
    const summaries = summarise(records);
    latency.update(records, summaries);
    for (const s of summaries) {
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

  let samples: HitRateSample[] = [];
  let lastReceivedAt = 0;
  d.feed.snapshot.subscribe((s) => {
    if (!s || s.receivedAt === lastReceivedAt) return;
    lastReceivedAt = s.receivedAt;
    const view = countersView(s, reconcile(d.baseline.value, s));
    samples = [...samples, { t: s.receivedAt / 1000, service: view.app.hit_rate, redis: view.cache?.hit_rate ?? null }].slice(-MAX_SAMPLES);
    hitRate.update(samples);
  });
  // A clear (new baseline) starts both charts again.
  let previous = d.baseline.value;
  d.baseline.subscribe((b) => {
    if (b === previous) return;
    const cleared = b !== null && b.at !== previous?.at;
    previous = b;
    if (!cleared) return;
    samples = [];
    hitRate.update(samples);
    d.history.resetChart();
  });
}
