// The Topology panel: GET /topology every 5 s (and after each topology event), the slot bar of a
// cluster, the key lookup box, and the topology events of the live stream, newest first.

import type { TopologyBody, TopologyNode } from '../lib/api';
import { formatClock } from '../lib/format';
import { describeEvent, describeLag, segmentBox, slotSegments } from '../lib/topology';
import type { TopologyEntry } from '../lib/topology';
import type { Dashboard } from './context';
import { byId, setText } from './dom';

const REFRESH_MS = 5000;
// One colour per master, dark enough for white text on every one of them.
const MASTER_COLOURS = ['bg-sky-700', 'bg-emerald-700', 'bg-violet-700', 'bg-amber-700', 'bg-rose-700', 'bg-teal-700'];
const STATE_CLASSES: Record<string, string> = {
  up: 'text-green-800',
  down: 'font-semibold text-red-800',
};

function cell(text: string, className = 'px-2 py-1'): HTMLTableCellElement {
  const td = document.createElement('td');
  td.className = className;
  td.textContent = text;
  return td;
}

function nodeRow(n: TopologyNode): HTMLTableRowElement {
  const tr = document.createElement('tr');
  tr.dataset.address = n.address ?? '';
  tr.dataset.role = n.role;
  tr.dataset.state = n.state;
  const role = n.replica_of ? `replica of ${n.replica_of}` : n.role;
  tr.append(
    cell(n.address ?? '(no master)'),
    cell(role, 'px-2 py-1 font-sans'),
    cell(n.state, `px-2 py-1 font-sans ${STATE_CLASSES[n.state] ?? ''}`),
    cell(n.keys === null ? '—' : n.keys.toLocaleString('en-US'), 'px-2 py-1 text-right'),
    cell(n.slots === null ? '—' : n.slots.toLocaleString('en-US'), 'px-2 py-1 text-right'),
  );
  return tr;
}

function renderSlots(body: TopologyBody): void {
  const figure = byId('topo-slots');
  const bar = byId('topo-slot-bar');
  figure.hidden = body.redis.mode !== 'cluster';
  if (figure.hidden) return;
  setText(byId('topo-covered'), (body.redis.slots_covered ?? 0).toLocaleString('en-US'));
  bar.replaceChildren(
    ...slotSegments(body.redis.nodes).map((s) => {
      const seg = document.createElement('div');
      const box = segmentBox(s);
      seg.className = `absolute inset-y-0 border-r border-white ${MASTER_COLOURS[s.master % MASTER_COLOURS.length]}`;
      seg.style.left = `${box.left}%`;
      seg.style.width = `${box.width}%`;
      seg.setAttribute('role', 'listitem');
      seg.dataset.address = s.address;
      const label = `slots ${s.from}–${s.to}: ${s.address}`;
      seg.title = label;
      seg.setAttribute('aria-label', label);
      return seg;
    }),
  );
}

function render(body: TopologyBody): void {
  const r = body.redis;
  setText(byId('topo-mode'), `Redis: ${r.mode}${r.master ? ` · master ${r.master}` : ''}`);
  byId('topo-mode').dataset.mode = r.mode;
  const tbody = byId('topo-nodes').querySelector('tbody') as HTMLTableSectionElement;
  tbody.replaceChildren(...r.nodes.map(nodeRow));
  renderSlots(body);
  const p = body.postgres;
  setText(byId('topo-primary'), `${p.primary.address} · ${p.primary.state}`);
  const rep = p.replica;
  setText(byId('topo-replica'), rep ? `${rep.address} · ${rep.state}` : 'none (DATABASE_REPLICA_URL not set)');
  setText(byId('topo-lag'), rep ? describeLag(rep.lag_bytes, rep.lag_ms) : '—');
  setText(byId('topo-reads'), rep ? (rep.reads === 'replica' ? 'the replica' : 'the primary (fallback: the replica is down)') : 'the primary');
}

function eventItem(e: TopologyEntry): HTMLLIElement {
  const li = document.createElement('li');
  li.dataset.seq = String(e.seq);
  li.dataset.type = e.type;
  li.className = 'rounded bg-slate-50 px-2 py-1 ring-1 ring-slate-200';
  const type = document.createElement('span');
  type.className = 'font-mono font-semibold text-slate-900';
  type.textContent = e.type;
  li.append(`${formatClock(e.timestamp * 1000)} `, type, ` ${describeEvent(e)}`);
  return li;
}

export function mountTopology(d: Dashboard): void {
  const form = byId<HTMLFormElement>('topo-key-form');
  const input = byId<HTMLInputElement>('topo-key');
  const result = byId('topo-key-result');
  let inFlight = false;

  const refresh = async (): Promise<void> => {
    if (inFlight) return;
    inFlight = true;
    try {
      const ans = await d.api.topology();
      if (ans.status === 200 && ans.body && 'redis' in ans.body) render(ans.body);
    } catch {
      /* unreachable: the banner says so; the next refresh tries again */
    } finally {
      inFlight = false;
    }
  };

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const key = input.value;
    setText(result, 'Asking…');
    void d.api
      .topology(`key=${encodeURIComponent(key)}`)
      .then((ans) => {
        const b = ans.body;
        if (ans.status === 200 && b && 'key' in b && b.key) {
          const k = b.key;
          const where = k.node ?? 'no node known';
          const slot = k.slot === null ? '' : `slot ${k.slot}, `;
          const there = k.exists === null ? 'presence unknown' : k.exists ? 'present' : 'not there now';
          setText(result, `${k.key}: ${slot}on ${where} (${there})`);
          result.dataset.node = k.node ?? '';
        } else {
          const detail = b && 'detail' in b && typeof b.detail === 'string' ? b.detail : `HTTP ${ans.status}`;
          setText(result, `Not asked: ${detail}`);
          result.dataset.node = '';
        }
      })
      .catch(() => setText(result, 'The API did not answer.'));
  });

  const list = byId('topo-events');
  const empty = byId('topo-events-empty');
  d.feed.topology.entries.subscribe((entries) => {
    const shown = new Map([...list.children].map((li) => [(li as HTMLElement).dataset.seq, li]));
    list.replaceChildren(...entries.map((e) => shown.get(String(e.seq)) ?? eventItem(e)));
    empty.hidden = entries.length > 0;
    if (entries.length > 0) void refresh();
  });

  void refresh();
  setInterval(() => {
    if (document.visibilityState === 'visible') void refresh();
  }, REFRESH_MS);
}
