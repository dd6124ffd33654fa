// The Instances panel (components/InstancesPanel.astro): one row per instance heard on the live
// stream, the stream's own instance marked "this one", an instance silent for 5 s greyed as gone
// with how long ago it was last heard, and the total over the live ones. Redrawn on every message
// and once a second, so a silent instance turns gone without a message to say so.

import { formatCount, formatPercent } from '../lib/format';
import type { InstanceRow, InstancesView } from '../lib/instances';
import type { Dashboard } from './context';
import { byId, setText } from './dom';

const REDRAW_MS = 1000;
const BADGE = 'ml-2 inline-block whitespace-nowrap rounded-full px-2 py-0.5 font-sans text-xs font-semibold ring-1 ring-inset';
const FANOUT_CLASSES: Record<string, string> = {
  subscribed: 'text-green-900',
  connecting: 'text-amber-950',
  off: 'text-slate-700',
};

function cell(text: string, className: string, col?: string): HTMLTableCellElement {
  const td = document.createElement('td');
  td.className = className;
  td.textContent = text;
  if (col) td.dataset.col = col;
  return td;
}

function row(r: InstanceRow): HTMLTableRowElement {
  const tr = document.createElement('tr');
  tr.dataset.instance = r.instance;
  tr.dataset.local = String(r.local);
  tr.dataset.state = r.gone ? 'gone' : 'live';
  tr.className = r.gone ? 'bg-slate-50 text-slate-600 italic' : 'text-slate-900';
  const name = document.createElement('th');
  name.scope = 'row';
  name.className = 'px-2 py-1.5 text-left font-normal';
  name.append(r.instance);
  if (r.local) {
    const mark = document.createElement('span');
    mark.className = `${BADGE} bg-sky-100 text-sky-900 ring-sky-700/40 not-italic`;
    mark.dataset.mark = 'local';
    mark.textContent = 'this one';
    mark.title = 'The instance serving this page’s live stream';
    name.append(mark);
  }
  if (r.gone) {
    const gone = document.createElement('span');
    gone.className = `${BADGE} bg-slate-100 text-slate-800 ring-slate-400 not-italic`;
    gone.dataset.mark = 'gone';
    gone.textContent = `gone · last heard ${r.silentS} s ago`;
    name.append(gone);
  }
  const num = 'px-2 py-1.5 text-right whitespace-nowrap';
  tr.append(
    name,
    cell(formatCount(r.hits), num, 'hits'),
    cell(formatCount(r.misses), num, 'misses'),
    cell(formatPercent(r.hit_rate), num, 'hit_rate'),
    cell(formatCount(r.db_queries), num, 'db_queries'),
    cell(formatCount(r.writes), num, 'writes'),
    cell(r.events_fanout, `px-2 py-1.5 font-sans ${r.gone ? '' : (FANOUT_CLASSES[r.events_fanout] ?? '')}`, 'fanout'),
  );
  return tr;
}

function drawTotal(v: InstancesView): void {
  const total = byId('instances-total');
  total.dataset.instances = String(v.total.instances);
  setText(byId('instances-live'), String(v.total.instances));
  const values: Record<string, string> = {
    hits: formatCount(v.total.hits),
    misses: formatCount(v.total.misses),
    hit_rate: formatPercent(v.total.hit_rate),
    db_queries: formatCount(v.total.db_queries),
    writes: formatCount(v.total.writes),
  };
  for (const td of total.querySelectorAll<HTMLTableCellElement>('td[data-col]')) {
    setText(td, v.total.instances > 0 ? (values[td.dataset.col ?? ''] ?? '—') : '—');
  }
}

export function mountInstances(d: Dashboard): void {
  const tbody = byId('instances-table').querySelector('tbody') as HTMLTableSectionElement;
  const empty = byId('instances-empty');
  const count = byId('instances-count');
  const needsSse = byId('instances-sse-needed');
  const registry = d.feed.instances;

  const draw = () => {
    const v = registry.view();
    tbody.replaceChildren(...v.rows.map(row));
    empty.hidden = v.rows.length > 0;
    drawTotal(v);
    const gone = v.rows.length - v.total.instances;
    setText(count, v.rows.length === 0 ? 'none heard yet' : `${v.total.instances} live${gone > 0 ? `, ${gone} gone` : ''}`);
  };
  registry.changed.subscribe(draw);
  registry.localName.subscribe(draw);
  setInterval(draw, REDRAW_MS);
  d.feed.status.subscribe((s) => {
    needsSse.hidden = s.mode !== 'polling';
  });
}
