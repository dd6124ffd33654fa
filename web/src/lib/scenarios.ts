// The lab's scenarios (POST /lab/scenarios/{name}), without the DOM: what each one shows, and its
// answer turned into the comparison the panel draws — one metric per row, the run with the
// protection off beside the run with it on — plus a one-sentence verdict.

import type { LoadRun, ScenarioName, ScenarioResult, TtlRun } from './api';
import { formatCount, formatMs } from './format';

export interface ScenarioInfo {
  name: ScenarioName;
  title: string;
  /** What the scenario does, in one line. */
  what: string;
  /** The protection it switches off, then on. */
  protection: string;
}

export const SCENARIOS: readonly ScenarioInfo[] = [
  {
    name: 'stampede',
    title: 'Stampede',
    what: '100 simultaneous lookups of one product just after its key expired, with a 50 ms database (unless the lab sets a delay).',
    protection: 'stampede protection',
  },
  {
    name: 'penetration',
    title: 'Penetration',
    what: '1,000 lookups, one after another, of 10 ids that do not exist.',
    protection: 'negative caching',
  },
  {
    name: 'avalanche',
    title: 'Avalanche',
    what: 'The products cached at the same moment; compares how far apart their TTLs end.',
    protection: 'TTL jitter',
  },
];

export function scenarioInfo(name: ScenarioName): ScenarioInfo {
  return SCENARIOS.find((s) => s.name === name) as ScenarioInfo;
}

export function isScenarioName(v: unknown): v is ScenarioName {
  return SCENARIOS.some((s) => s.name === v);
}

export type Unit = 'count' | 'ms' | 's';

/** One row of the comparison. */
export interface Metric {
  /** The API's member name. */
  key: string;
  label: string;
  unit: Unit;
  without: number | null;
  with: number | null;
  /** Drawn in the bar chart (the others are in the table only). */
  charted: boolean;
}

export function formatValue(v: number | null, unit: Unit): string {
  if (v === null) return '—';
  if (unit === 'ms') return formatMs(v);
  if (unit === 's') return `${formatCount(v)} s`;
  return formatCount(v);
}

function isTtlRun(run: LoadRun | TtlRun): run is TtlRun {
  return 'ttl_spread_seconds' in run;
}

function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** The rows of the comparison, in the order the table shows them. */
export function metricsOf(r: ScenarioResult): Metric[] {
  const off = r.without_protection as unknown as Record<string, unknown>;
  const on = r.with_protection as unknown as Record<string, unknown>;
  const row = (key: string, label: string, unit: Unit, charted: boolean): Metric => ({ key, label, unit, without: num(off[key]), with: num(on[key]), charted });
  if (isTtlRun(r.without_protection)) {
    return [
      row('ttl_spread_seconds', 'TTL spread', 's', true),
      row('ttl_min_seconds', 'shortest TTL', 's', false),
      row('ttl_max_seconds', 'longest TTL', 's', false),
      row('keys', 'keys', 'count', false),
    ];
  }
  return [
    row('db_queries', 'db_queries', 'count', true),
    row('p50_ms', 'p50', 'ms', true),
    row('p95_ms', 'p95', 'ms', true),
    row('p99_ms', 'p99', 'ms', true),
    row('max_ms', 'max', 'ms', false),
    row('errors', 'errors', 'count', false),
    row('duration_ms', 'whole run', 'ms', false),
  ];
}

/** Bar lengths in percent of the larger of the two values (at least a sliver for non-zero values). */
export function barPercents(m: Metric): { without: number; with: number } {
  const top = Math.max(m.without ?? 0, m.with ?? 0);
  const pct = (v: number | null) => (v === null || v <= 0 || top <= 0 ? 0 : Math.max(1, (v / top) * 100));
  return { without: pct(m.without), with: pct(m.with) };
}

/** The result in one sentence. */
export function verdict(r: ScenarioResult): string {
  const m = Object.fromEntries(metricsOf(r).map((x) => [x.key, x]));
  const info = scenarioInfo(r.scenario);
  if (r.scenario === 'avalanche') {
    const s = m.ttl_spread_seconds;
    return `${formatCount(m.keys.with)} keys cached together: their TTLs end within ${formatValue(s.without, 's')} of each other without ${info.protection}, spread over ${formatValue(s.with, 's')} with it.`;
  }
  const q = m.db_queries;
  const p99 = m.p99_ms;
  return `${formatCount(r.requests)} lookups: ${formatValue(q.without, 'count')} database queries without ${info.protection}, ${formatValue(q.with, 'count')} with it; p99 ${formatValue(p99.without, 'ms')} → ${formatValue(p99.with, 'ms')}.`;
}
