// Every counter of the page, wherever it is shown (data-stat): the hit rate and its figures in the
// Lookup section, the service's counters and Redis INFO under Live stats, the write mode and the
// write counters under Writes, the breaker under Failure labs; counted from the last clear
// (lib/counters.ts), updated on every live snapshot.

import { describeBreaker } from '../lib/breaker';
import { countersView, reconcile } from '../lib/counters';
import type { CounterView } from '../lib/counters';
import { deadLettersOf, describeDeadLetter } from '../lib/dead-letters';
import { formatClock, formatCount, formatPercent } from '../lib/format';
import type { Snapshot } from '../lib/live';
import { describeWriteMode } from '../lib/write-mode';
import type { Dashboard } from './context';
import { byId, setText } from './dom';

function values(v: CounterView, s: Snapshot): Record<string, string> {
  const c = v.cache;
  const q = s.write_behind;
  return {
    'app.hits': formatCount(v.app.hits),
    'app.misses': formatCount(v.app.misses),
    'app.hit_rate': formatPercent(v.app.hit_rate),
    'app.db_queries': formatCount(v.app.db_queries),
    'app.redis_errors': formatCount(v.app.redis_errors),
    'app.db_errors': formatCount(v.app.db_errors),
    'app.writes': formatCount(v.app.writes),
    'app.invalidations': formatCount(v.app.invalidations),
    'app.notifications': formatCount(v.app.notifications),
    'wb.pending': formatCount(q?.pending),
    'wb.lag': formatCount(q?.lag),
    'wb.applied': formatCount(q?.applied),
    'wb.retries': formatCount(q?.retries),
    'wb.dead_letters': formatCount(q?.dead_letters),
    'cache.keyspace_hits': formatCount(c?.keyspace_hits),
    'cache.keyspace_misses': formatCount(c?.keyspace_misses),
    'cache.hit_rate': formatPercent(c?.hit_rate),
    'cache.used_memory_human': c?.used_memory_human || '—',
    'cache.connected_clients': formatCount(c?.connected_clients),
    'cache.total_commands_processed': formatCount(c?.total_commands_processed),
  };
}

export function mountStats(d: Dashboard): void {
  const cells = [...document.querySelectorAll<HTMLElement>('[data-stat]')];
  const since = byId('stats-since');
  const drop = byId<HTMLButtonElement>('stats-drop-baseline');
  const updated = byId('stats-updated');
  const totals = byId('stats-totals');
  const redisDown = byId('redis-unavailable');
  const mode = byId('write-mode');
  const modeText = byId('write-mode-text');
  const queue = byId('write-behind-stats');
  const queueNote = byId('write-behind-note');
  const dead = byId('dead-letters');
  const deadList = byId('dead-letter-list');
  let deadShown = '';
  const breakerBox = byId('breaker-box');
  const breakerState = byId('breaker-state');
  const breakerOpened = byId('breaker-opened');
  const breakerText = byId('breaker-text');

  drop.addEventListener('click', () => d.baseline.set(null));

  const render = (s: Snapshot | null) => {
    if (!s) return;
    const baseline = reconcile(d.baseline.value, s);
    if (baseline !== d.baseline.value) {
      d.baseline.set(baseline); // renders again through the subscription below
      return;
    }
    const view = countersView(s, baseline);
    const text = values(view, s);
    for (const el of cells) setText(el, text[el.dataset.stat as string] ?? '—');
    redisDown.hidden = s.cache_stats !== null;
    mode.dataset.mode = s.write_mode ?? 'unknown';
    setText(mode, s.write_mode ?? '—');
    setText(modeText, s.write_mode ? describeWriteMode(s.write_mode) : 'This service does not report a write mode.');
    queue.hidden = s.write_behind === null;
    queueNote.hidden = queue.hidden;
    const letters = deadLettersOf(s.write_behind?.recent_dead_letters);
    dead.hidden = letters.length === 0;
    const key = JSON.stringify(letters);
    if (key !== deadShown) {
      deadShown = key; // rebuilt only when the list changed, so a reader's selection survives updates
      deadList.replaceChildren(
        ...letters.map((d) => {
          const line = describeDeadLetter(d);
          const li = document.createElement('li');
          li.dataset.streamId = d.stream_id;
          const what = document.createElement('span');
          what.className = 'font-semibold';
          what.textContent = line.what;
          const when = document.createElement('span');
          when.className = 'ml-1 text-xs';
          when.textContent = line.when;
          const error = document.createElement('span');
          error.className = 'dead-letter-error block break-words font-mono text-xs';
          error.textContent = line.error;
          li.append(what, when, error);
          return li;
        }),
      );
    }
    const b = s.circuit_breaker;
    breakerBox.hidden = b === null;
    if (b) {
      breakerState.dataset.state = b.state;
      setText(breakerState, b.state);
      setText(breakerOpened, b.state === 'disabled' ? '' : `opened ${formatCount(b.opened)} time${b.opened === 1 ? '' : 's'} since this event loop started`);
      setText(breakerText, describeBreaker(b.state));
    }
    setText(
      since,
      view.since === null
        ? 'The share of lookups the cache answered, counted since the service started.'
        : `The share of lookups the cache answered, counted since the cache was cleared at ${formatClock(view.since).slice(0, 8)}.`,
    );
    drop.hidden = view.since === null;
    setText(updated, `Updated ${formatClock(s.receivedAt).slice(0, 8)} (${s.via === 'sse' ? 'live stream' : 'polling'})`);
    const t = view.appTotals;
    setText(
      totals,
      view.since === null ? '' : `Service totals since it started: ${formatCount(t.hits)} hits, ${formatCount(t.misses)} misses, hit rate ${formatPercent(t.hit_rate)}.`,
    );
  };

  d.feed.snapshot.subscribe(render);
  d.baseline.subscribe(() => render(d.feed.snapshot.value));
}
