// The "Server-side latency by source" table of the latency panel: the service's own percentiles of
// GET /products/{id} (lib/server-latency.ts), rewritten on every live snapshot.

import { formatClock } from '../lib/format';
import type { Snapshot } from '../lib/live';
import { LATENCY_COLUMNS, latencyRows } from '../lib/server-latency';
import type { Dashboard } from './context';
import { byId, setText } from './dom';

export function mountServerLatency(d: Dashboard): void {
  const table = byId<HTMLTableElement>('server-latency');
  const status = byId('server-latency-status');

  const render = (s: Snapshot | null) => {
    if (!s) return;
    table.dataset.state = s.latency ? 'live' : 'unsupported';
    for (const row of latencyRows(s.latency)) {
      const tr = table.querySelector<HTMLTableRowElement>(`tbody tr[data-source="${row.source}"]`);
      if (!tr) continue;
      for (const col of LATENCY_COLUMNS) {
        const td = tr.querySelector<HTMLElement>(`[data-col="${col}"]`);
        if (!td) continue;
        const cell = row.cells[col];
        setText(td, cell.text);
        td.dataset.value = cell.value === null ? '' : String(cell.value);
      }
    }
    setText(
      status,
      s.latency
        ? `Every client, since the service started; updated ${formatClock(s.receivedAt).slice(0, 8)}.`
        : 'This service does not report its latency (no latency in /cache/stats).',
    );
  };

  d.feed.snapshot.subscribe(render);
}
