// The instances panel's pure parts: the `event: instance` messages of GET /events (each instance
// publishes its figures once a second on Redis Pub/Sub, and every instance's stream relays them), who
// was heard from lately, and the total over the live ones.
//
// Liveness is judged by the browser's clock (when a message arrived), not by the instances'
// timestamps: the instances may run on machines whose clocks disagree, the browser is one clock.

import { Store } from './store';

/** The fan-out of an instance's /events: off (EVENTS_FANOUT=false), subscribed, or connecting. */
export type FanoutState = 'off' | 'subscribed' | 'connecting';

/** One `event: instance` message, as the API sends it: the instance's counters since it started. */
export interface InstanceEvent {
  instance: string;
  /** Service time, unix seconds. */
  timestamp: number;
  hits: number;
  misses: number;
  /** Percent 0..100, as app_stats.hit_rate. */
  hit_rate: number;
  db_queries: number;
  writes: number;
  invalidations: number;
  redis_errors: number;
  db_errors: number;
  events_fanout: FanoutState | string;
  /** True for the instance that serves this stream. */
  local: boolean;
}

/** An instance not heard from for this long is shown as gone. */
export const GONE_AFTER_MS = 5000;

/** An instance's last message and when it arrived. */
export interface InstanceRow extends InstanceEvent {
  /** Browser time the last message arrived, ms since the epoch. */
  heardAt: number;
  /** Not heard from for GONE_AFTER_MS. */
  gone: boolean;
  /** Whole seconds since the last message. */
  silentS: number;
}

/** The sums over the live instances; the hit rate from the sums, null without a lookup. */
export interface InstanceTotal {
  instances: number;
  hits: number;
  misses: number;
  hit_rate: number | null;
  db_queries: number;
  writes: number;
}

export interface InstancesView {
  /** The instance serving this stream first, then by name; gone ones stay, marked. */
  rows: InstanceRow[];
  total: InstanceTotal;
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0;
}

/** The message's data as an event, or null when it is not one. */
export function parseInstance(data: string): InstanceEvent | null {
  let v: unknown;
  try {
    v = JSON.parse(data);
  } catch {
    return null;
  }
  if (!v || typeof v !== 'object') return null;
  const e = v as Partial<InstanceEvent>;
  if (typeof e.instance !== 'string' || e.instance === '') return null;
  if (!isCount(e.hits) || !isCount(e.misses) || !isCount(e.db_queries) || !isCount(e.writes)) return null;
  const count = (n: unknown) => (isCount(n) ? n : 0);
  const lookups = e.hits + e.misses;
  return {
    instance: e.instance,
    timestamp: typeof e.timestamp === 'number' ? e.timestamp : Date.now() / 1000,
    hits: e.hits,
    misses: e.misses,
    hit_rate: typeof e.hit_rate === 'number' ? e.hit_rate : lookups > 0 ? (e.hits / lookups) * 100 : 0,
    db_queries: e.db_queries,
    writes: e.writes,
    invalidations: count(e.invalidations),
    redis_errors: count(e.redis_errors),
    db_errors: count(e.db_errors),
    events_fanout: typeof e.events_fanout === 'string' ? e.events_fanout : 'off',
    local: e.local === true,
  };
}

/** The hit rate (percent) of these counts; null without a lookup. */
export function hitRate(hits: number, misses: number): number | null {
  const lookups = hits + misses;
  return lookups > 0 ? (hits / lookups) * 100 : null;
}

/** The table at time `now` (ms): every instance heard from since the page opened, and the live ones' total. */
export function instancesView(heard: Iterable<{ event: InstanceEvent; heardAt: number }>, now: number): InstancesView {
  const rows: InstanceRow[] = [...heard].map(({ event, heardAt }) => ({
    ...event,
    heardAt,
    gone: now - heardAt >= GONE_AFTER_MS,
    silentS: Math.max(0, Math.floor((now - heardAt) / 1000)),
  }));
  rows.sort((a, b) => Number(b.local) - Number(a.local) || a.instance.localeCompare(b.instance));
  const live = rows.filter((r) => !r.gone);
  const sum = (k: 'hits' | 'misses' | 'db_queries' | 'writes') => live.reduce((s, r) => s + r[k], 0);
  const hits = sum('hits');
  const misses = sum('misses');
  return { rows, total: { instances: live.length, hits, misses, hit_rate: hitRate(hits, misses), db_queries: sum('db_queries'), writes: sum('writes') } };
}

/** Every instance heard from on the stream since the page opened, by name. */
export class InstanceRegistry {
  private readonly heard = new Map<string, { event: InstanceEvent; heardAt: number }>();
  /** Bumped on every message, for the panel to redraw. */
  readonly changed = new Store(0);
  /** The name of the instance serving this stream (from `local`, or from `event: stats`); null until known. */
  readonly localName = new Store<string | null>(null);

  add(e: InstanceEvent, at = Date.now()): void {
    this.heard.set(e.instance, { event: e, heardAt: at });
    if (e.local) this.noteLocal(e.instance);
    this.changed.set(this.changed.value + 1);
  }

  /** The stream's own instance, as `event: stats` names it. */
  noteLocal(name: string): void {
    if (this.localName.value !== name) this.localName.set(name);
  }

  view(now = Date.now()): InstancesView {
    const local = this.localName.value;
    const entries = [...this.heard.values()].map((h) => (local !== null && h.event.instance === local && !h.event.local ? { ...h, event: { ...h.event, local: true } } : h));
    return instancesView(entries, now);
  }
}
