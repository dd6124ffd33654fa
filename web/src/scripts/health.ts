// The health chip: one summary in the header, which expands to Redis and PostgreSQL, the circuit
// breaker and the live-update mode.

import { breakerShort } from '../lib/breaker';
import { formatMs } from '../lib/format';
import type { BreakerStats, ComponentStatus } from '../lib/api';
import type { FeedStatus, HealthState, Latencies } from '../lib/live';
import type { Dashboard } from './context';
import { byId, setText } from './dom';

type State = 'up' | 'down' | 'unknown';

const PILL: Record<State, string> = {
  up: 'bg-green-100 text-green-900',
  down: 'bg-red-100 text-red-900',
  unknown: 'bg-slate-200 text-slate-800',
};
const DOT: Record<State, string> = { up: 'bg-green-600', down: 'bg-red-600', unknown: 'bg-slate-500' };

function renderComponent(key: 'redis' | 'postgres', status: ComponentStatus | null, latency: number | null): State {
  const el = byId(`health-${key}`);
  const state: State = status === 'healthy' ? 'up' : status === 'unhealthy' ? 'down' : 'unknown';
  el.dataset.state = state;
  el.className = `flex items-center gap-1.5 rounded-full px-3 py-1 ${PILL[state]}`;
  (el.querySelector('.dot') as HTMLElement).className = `dot inline-block size-2.5 shrink-0 rounded-full ${DOT[state]}`;
  const words = state === 'up' ? `up${latency !== null ? ` (${formatMs(latency)})` : ''}` : state === 'down' ? 'down' : 'unknown';
  setText(el.querySelector('.state') as Element, words);
  return state;
}

// The breaker: green when closed, amber (degraded: Redis skipped) when open or half-open.
const BREAKER_PILL: Record<string, [string, string]> = {
  closed: ['bg-green-100 text-green-900', 'bg-green-600'],
  open: ['bg-amber-100 text-amber-950', 'bg-amber-600'],
  'half-open': ['bg-amber-100 text-amber-950', 'bg-amber-600'],
  disabled: ['bg-slate-200 text-slate-800', 'bg-slate-500'],
  unknown: ['bg-slate-200 text-slate-800', 'bg-slate-500'],
};

/**
 * The breaker's line. Hidden for a service without a breaker, and while Redis is down and the
 * breaker still reads closed or off: "closed (using Redis)" would then say the opposite of the truth.
 */
function renderBreaker(b: BreakerStats | null, known: boolean, reported: boolean, redis: State): void {
  const el = byId('health-breaker');
  const state = known && b ? b.state : 'unknown';
  el.hidden = (known && !reported) || (redis === 'down' && state !== 'open' && state !== 'half-open');
  const [pill, dot] = BREAKER_PILL[state];
  el.dataset.state = state;
  el.className = `flex items-center gap-1.5 rounded-full px-3 py-1 ${pill}`;
  (el.querySelector('.dot') as HTMLElement).className = `dot inline-block size-2.5 shrink-0 rounded-full ${dot}`;
  setText(el.querySelector('.state') as Element, state === 'unknown' ? 'unknown' : breakerShort(b!.state));
}

/** The chip's words: the overall status, and what is down when something is. */
function summary(status: string, redis: State, postgres: State): string {
  if (status === 'unreachable') return 'API unreachable';
  if (status === 'checking…') return 'Checking…';
  const down = [redis === 'down' && 'Redis', postgres === 'down' && 'PostgreSQL'].filter(Boolean);
  const word = `${status.charAt(0).toUpperCase()}${status.slice(1)}`;
  return down.length ? `${word}: ${down.join(' and ')} down` : word;
}

export function mountHealth(d: Dashboard): void {
  const overall = byId('health-overall');
  const mode = byId('feed-mode');

  const render = (h: HealthState | null, feed: FeedStatus, lat: Latencies | null) => {
    const known = feed.reachable !== false && h !== null;
    // A latency older than a few seconds says little: show it only while fresh.
    const fresh = lat && Date.now() - lat.at < 12000 ? lat : null;
    const redis = renderComponent('redis', known ? h.redis : null, known ? (fresh?.redis ?? null) : null);
    const postgres = renderComponent('postgres', known ? h.postgres : null, known ? (fresh?.postgres ?? null) : null);
    const snap = d.feed.snapshot.value;
    renderBreaker(snap?.circuit_breaker ?? null, feed.reachable !== false && snap !== null, Boolean(snap?.circuit_breaker), redis);
    const status = feed.reachable === false ? 'unreachable' : (h?.status ?? 'checking…');
    overall.dataset.state = status;
    const tone =
      status === 'healthy' ? PILL.up : status === 'degraded' ? 'bg-amber-100 text-amber-950' : status === 'checking…' ? PILL.unknown : PILL.down;
    overall.className = `flex cursor-pointer list-none items-center gap-1.5 rounded-full px-3 py-1 font-medium whitespace-nowrap [&::-webkit-details-marker]:hidden ${tone}`;
    setText(overall, summary(status, redis, postgres));
    const how = feed.reachable === false ? 'retrying' : feed.mode === 'sse' ? 'live stream (SSE)' : feed.mode === 'polling' ? 'polling every second' : 'connecting…';
    mode.dataset.mode = feed.reachable === false ? 'offline' : feed.mode;
    setText(mode, `Live updates: ${how}`);
  };

  const update = () => render(d.feed.snapshot.value?.health ?? null, d.feed.status.value, d.feed.latencies.value);
  d.feed.snapshot.subscribe(update);
  d.feed.status.subscribe(update);
  d.feed.latencies.subscribe(update);
}
