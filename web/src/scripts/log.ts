// The request log: the last 50 lookups this page made, newest first.

import { formatClock, formatMs } from '../lib/format';
import { LOG_SIZE, toneOf } from '../lib/history';
import type { LookupRecord } from '../lib/history';
import type { Dashboard } from './context';
import { byId, recordLabel, setText, sourceBadge, xcacheBadge } from './dom';

function cell(text: string, className = 'px-2 py-1'): HTMLTableCellElement {
  const td = document.createElement('td');
  td.className = className;
  td.textContent = text;
  return td;
}

function statusText(r: LookupRecord): string {
  if (r.status === 0) return 'no answer';
  return r.detail ? `${r.status} ${r.detail}` : String(r.status);
}

function row(r: LookupRecord): HTMLTableRowElement {
  const tr = document.createElement('tr');
  const tone = toneOf(r);
  tr.dataset.seq = String(r.seq);
  tr.dataset.source = r.source ?? 'none';
  const source = document.createElement('td');
  source.className = 'px-2 py-1 font-sans';
  source.append(sourceBadge(tone, tone ? recordLabel(r) : '—'));
  const xcache = document.createElement('td');
  // X-Cache and the round trip are left out on a phone (they are in the result card's details).
  xcache.className = 'hidden px-2 py-1 sm:table-cell';
  xcache.append(xcacheBadge(r.xcache, r.xcacheFrom, r.outcome === 'found' || r.outcome === 'not_found'));
  tr.dataset.xcache = r.xcache ?? 'none';
  tr.append(
    cell(formatClock(r.at)),
    cell(r.id),
    source,
    xcache,
    cell(formatMs(r.fetch_time_ms), 'px-2 py-1 text-right'),
    cell(formatMs(r.roundTripMs), 'hidden px-2 py-1 text-right sm:table-cell'),
    cell(statusText(r), `px-2 py-1 font-sans ${r.status === 200 ? 'text-slate-700' : 'text-red-800'}`),
  );
  return tr;
}

export function mountLog(d: Dashboard): void {
  const tbody = byId('request-log').querySelector('tbody') as HTMLTableSectionElement;
  const empty = byId('log-empty');
  const count = byId('log-count');
  const inferred = byId('log-xcache-inferred');
  d.history.records.subscribe((records) => {
    const newest = records.slice(-LOG_SIZE).reverse();
    // Rows are immutable: keep those already shown, add the new ones, drop the oldest.
    const shown = new Map([...tbody.rows].map((tr) => [tr.dataset.seq, tr]));
    tbody.replaceChildren(...newest.map((r) => shown.get(String(r.seq)) ?? row(r)));
    empty.hidden = newest.length > 0;
    inferred.hidden = !newest.some((r) => r.xcacheFrom === 'inferred');
    setText(count, `${newest.length} request${newest.length === 1 ? '' : 's'}${records.length > LOG_SIZE ? ` (last ${LOG_SIZE})` : ''}`);
  });
}
