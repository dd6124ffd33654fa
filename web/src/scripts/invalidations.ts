// The invalidations feed panel: the change notifications of the live stream, newest first, each
// with a button to look the product up. While the page polls instead, the panel says the feed
// needs the stream.

import { formatClock } from '../lib/format';
import { FEED_SIZE } from '../lib/invalidations';
import type { InvalidationEntry } from '../lib/invalidations';
import type { Dashboard } from './context';
import { byId, setText } from './dom';
import { lookUpFrom } from './lookup';

const BADGE = 'inline-block whitespace-nowrap rounded-full px-2 py-0.5 text-xs font-semibold ring-1 ring-inset';
const OUTCOME_CLASSES: Record<string, string> = {
  dropped: 'bg-sky-100 text-sky-900 ring-sky-700/40',
  'already applied': 'bg-slate-100 text-slate-800 ring-slate-400',
  failed: 'bg-red-100 text-red-900 ring-red-700/40',
};

function cell(content: string | Node, className = 'px-2 py-1'): HTMLTableCellElement {
  const td = document.createElement('td');
  td.className = className;
  td.append(content);
  return td;
}

function row(d: Dashboard, e: InvalidationEntry): HTMLTableRowElement {
  const tr = document.createElement('tr');
  tr.dataset.seq = String(e.seq);
  tr.dataset.id = String(e.id);
  tr.dataset.outcome = e.outcome;
  const outcome = document.createElement('span');
  outcome.className = `${BADGE} ${OUTCOME_CLASSES[e.outcome] ?? OUTCOME_CLASSES['already applied']}`;
  outcome.textContent = e.outcome;
  const look = document.createElement('button');
  look.type = 'button';
  look.className = 'rounded px-2 py-0.5 font-sans text-sm font-medium text-sky-800 underline underline-offset-2 hover:text-sky-950';
  look.textContent = 'Look up';
  look.setAttribute('aria-label', `Look up product ${e.id}`);
  // The answer shows in the Lookup section's result card, so the lookup is made there.
  look.addEventListener('click', () => {
    d.showSection('lookup');
    void lookUpFrom(d, String(e.id));
  });
  tr.append(
    cell(formatClock(e.timestamp * 1000)),
    cell(String(e.id)),
    cell(String(e.version), 'px-2 py-1 text-right'),
    cell(outcome, 'px-2 py-1 font-sans'),
    cell(look, 'px-2 py-1 text-right'),
  );
  return tr;
}

export function mountInvalidations(d: Dashboard): void {
  const tbody = byId('inval-feed').querySelector('tbody') as HTMLTableSectionElement;
  const empty = byId('inval-empty');
  const count = byId('inval-count');
  const needsSse = byId('inval-sse-needed');
  const log = d.feed.invalidations;

  log.entries.subscribe((entries) => {
    // Rows are immutable: keep those already shown, add the new ones, drop the oldest.
    const shown = new Map([...tbody.rows].map((tr) => [tr.dataset.seq, tr]));
    tbody.replaceChildren(...entries.map((e) => shown.get(String(e.seq)) ?? row(d, e)));
    empty.hidden = entries.length > 0;
    setText(count, `${log.total} event${log.total === 1 ? '' : 's'}${log.total > FEED_SIZE ? ` (last ${FEED_SIZE})` : ''}`);
  });
  d.feed.status.subscribe((s) => {
    needsSse.hidden = s.mode !== 'polling';
  });
}
