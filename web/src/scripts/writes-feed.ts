// The writes feed panel (components/WritesFeedPanel.astro): the `event: write` messages of the live
// stream, newest first, each with the instance that took the write ("this one" when it is the
// instance serving this page's stream). While the page polls instead, the panel says the feed needs
// the stream.

import { formatClock } from '../lib/format';
import { describeCacheAction } from '../lib/write-mode';
import { WRITES_FEED_SIZE } from '../lib/writes';
import type { WriteEntry } from '../lib/writes';
import type { Dashboard } from './context';
import { byId, setText } from './dom';

const BADGE = 'inline-block whitespace-nowrap rounded-full px-2 py-0.5 text-xs font-semibold ring-1 ring-inset';
const ACTION_CLASSES: Record<string, string> = {
  deleted: 'bg-sky-100 text-sky-900 ring-sky-700/40',
  stored: 'bg-green-100 text-green-900 ring-green-700/40',
  queued: 'bg-violet-100 text-violet-900 ring-violet-700/40',
  skipped: 'bg-slate-100 text-slate-800 ring-slate-400',
  failed: 'bg-red-100 text-red-900 ring-red-700/40',
};

function cell(content: string | Node, className = 'px-2 py-1', col?: string): HTMLTableCellElement {
  const td = document.createElement('td');
  td.className = className;
  td.append(content);
  if (col) td.dataset.col = col;
  return td;
}

function row(e: WriteEntry, local: string | null): HTMLTableRowElement {
  const tr = document.createElement('tr');
  tr.dataset.seq = String(e.seq);
  tr.dataset.id = String(e.id);
  tr.dataset.op = e.op;
  tr.dataset.instance = e.instance;
  tr.dataset.local = String(local !== null && e.instance === local);
  const instance = document.createElement('span');
  instance.append(e.instance || '—');
  if (tr.dataset.local === 'true') {
    const mark = document.createElement('span');
    mark.className = `ml-1 ${BADGE} bg-sky-100 font-sans text-sky-900 ring-sky-700/40`;
    mark.textContent = 'this one';
    mark.title = 'The instance serving this page’s live stream';
    instance.append(mark);
  }
  const action = document.createElement('span');
  action.className = `${BADGE} ${ACTION_CLASSES[e.cache_action] ?? ACTION_CLASSES.skipped}`;
  action.textContent = e.cache_action;
  action.title = describeCacheAction(e.cache_action);
  tr.append(
    cell(formatClock(e.timestamp * 1000)),
    cell(instance, 'px-2 py-1', 'instance'),
    cell(e.op, 'px-2 py-1 font-sans', 'op'),
    cell(String(e.id), 'px-2 py-1', 'id'),
    cell(e.version === null ? '—' : String(e.version), 'px-2 py-1 text-right', 'version'),
    cell(action, 'px-2 py-1 font-sans', 'cache_action'),
  );
  return tr;
}

export function mountWritesFeed(d: Dashboard): void {
  const tbody = byId('writes-feed-table').querySelector('tbody') as HTMLTableSectionElement;
  const empty = byId('writes-feed-empty');
  const count = byId('writes-feed-count');
  const needsSse = byId('writes-feed-sse-needed');
  const log = d.feed.writes;

  log.entries.subscribe((entries) => {
    // Rows are immutable: keep those already shown, add the new ones, drop the oldest.
    const shown = new Map([...tbody.rows].map((tr) => [tr.dataset.seq, tr]));
    const local = d.feed.instances.localName.value;
    tbody.replaceChildren(...entries.map((e) => shown.get(String(e.seq)) ?? row(e, local)));
    empty.hidden = entries.length > 0;
    setText(count, `${log.total} write${log.total === 1 ? '' : 's'}${log.total > WRITES_FEED_SIZE ? ` (last ${WRITES_FEED_SIZE})` : ''}`);
  });
  d.feed.status.subscribe((s) => {
    needsSse.hidden = s.mode !== 'polling';
  });
}
