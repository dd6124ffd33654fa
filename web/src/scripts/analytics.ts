// The Analytics section (components/AnalyticsPanel.astro): trending, the leaderboard and one
// product's views per minute, read every two seconds while the section is shown — and not at all
// while it is hidden, since each read is one Redis counts in its keyspace hits and misses.

import { leaderboardRows, minuteRows, trendingRows } from '../lib/analytics';
import type { RankRow } from '../lib/analytics';
import type { AnalyticsLeaderboard, AnalyticsProduct, AnalyticsTrending } from '../lib/api';
import { formatClock, formatCount } from '../lib/format';
import type { Dashboard } from './context';
import { byId, setText } from './dom';

const REFRESH_MS = 2000;
const HALF_LIFE_MINUTES = 5;
const MINUTES = 15;

/** Rewrites a ranking table's body; an empty ranking gets one row that says so. */
function renderRanking(table: HTMLTableElement, rows: RankRow[], empty: string): void {
  const body = table.tBodies[0];
  const trs = rows.map((r) => {
    const tr = document.createElement('tr');
    tr.className = 'border-b border-slate-100';
    tr.dataset.productId = String(r.productId);
    for (const [text, cls] of [
      [String(r.rank), 'py-1 pr-3 text-slate-600'],
      [`Product ${r.productId}`, 'py-1 pr-3 font-medium text-slate-900'],
      [r.value, 'py-1 text-right tabular-nums text-slate-900'],
    ]) {
      const td = document.createElement('td');
      td.className = cls;
      td.textContent = text;
      tr.append(td);
    }
    return tr;
  });
  if (trs.length === 0) {
    const tr = document.createElement('tr');
    const td = document.createElement('td');
    td.colSpan = 3;
    td.className = 'py-2 text-slate-600';
    td.textContent = empty;
    tr.append(td);
    trs.push(tr);
  }
  body.replaceChildren(...trs);
  table.dataset.state = rows.length ? 'live' : 'empty';
}

function renderProduct(p: AnalyticsProduct | null): void {
  const table = byId<HTMLTableElement>('analytics-minutes');
  setText(byId('analytics-product-shown'), p ? String(p.product_id) : '–');
  setText(byId('analytics-product-total'), p ? formatCount(p.total_views) : '–');
  setText(byId('analytics-product-visitors'), p ? formatCount(p.unique_visitors) : '–');
  const rows = p ? minuteRows(p) : [];
  table.tBodies[0].replaceChildren(
    ...rows.map((m) => {
      const tr = document.createElement('tr');
      const when = document.createElement('td');
      when.className = 'py-0.5 pr-3 tabular-nums text-slate-600';
      when.textContent = m.label;
      const bar = document.createElement('td');
      bar.className = 'py-0.5';
      const wrap = document.createElement('div');
      wrap.className = 'flex items-center gap-2';
      const fill = document.createElement('div');
      fill.className = 'h-3 rounded-sm bg-sky-600';
      fill.style.width = `${m.percent}%`;
      fill.setAttribute('aria-hidden', 'true');
      const n = document.createElement('span');
      n.className = 'tabular-nums text-slate-900';
      n.textContent = formatCount(m.views);
      wrap.append(fill, n);
      bar.append(wrap);
      tr.append(when, bar);
      return tr;
    }),
  );
  table.dataset.state = p ? 'live' : 'empty';
  table.dataset.productId = p ? String(p.product_id) : '';
}

export function mountAnalytics(d: Dashboard): void {
  const status = byId('analytics-status');
  const windowSelect = byId<HTMLSelectElement>('analytics-window');
  const idInput = byId<HTMLInputElement>('analytics-product-id');
  const trending = byId<HTMLTableElement>('analytics-trending-table');
  const leaderboard = byId<HTMLTableElement>('analytics-leaderboard-table');
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running = false;

  const shown = () => document.body.dataset.currentSection === 'analytics' && !document.hidden;

  const refresh = async () => {
    if (running || !shown()) return;
    running = true;
    try {
      const [t, l] = await Promise.all([d.api.getTrending(10, Number(windowSelect.value), HALF_LIFE_MINUTES), d.api.getLeaderboard(10)]);
      if (!t.ok || !l.ok) {
        setText(status, t.status === 503 || l.status === 503 ? 'Redis is not answering: no analytics to show.' : `The API answered ${t.ok ? l.status : t.status}.`);
        return;
      }
      const top = t.body as AnalyticsTrending;
      renderRanking(trending, trendingRows(top), 'No views in this window yet: look a product up.');
      renderRanking(leaderboard, leaderboardRows(l.body as AnalyticsLeaderboard), 'No views yet: look a product up.');
      const typed = idInput.value.trim();
      const id = typed || (top.products[0] ? String(top.products[0].product_id) : '');
      if (id) {
        const p = await d.api.getProductViews(id, MINUTES);
        renderProduct(p.ok ? (p.body as AnalyticsProduct) : null);
        idInput.setAttribute('aria-invalid', String(!p.ok));
      } else {
        renderProduct(null);
      }
      setText(status, `Updated ${formatClock(Date.now()).slice(0, 8)}, every ${REFRESH_MS / 1000} s while this section is open.`);
    } catch {
      setText(status, 'The API is not answering.');
    } finally {
      running = false;
    }
  };

  const loop = () => {
    clearTimeout(timer);
    void refresh().finally(() => {
      timer = setTimeout(loop, REFRESH_MS);
    });
  };

  // At once when the section is shown or the page comes back into view, then every REFRESH_MS.
  new MutationObserver(() => shown() && loop()).observe(document.body, { attributes: true, attributeFilter: ['data-current-section'] });
  document.addEventListener('visibilitychange', () => shown() && loop());
  windowSelect.addEventListener('change', loop);
  byId<HTMLFormElement>('analytics-product-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    loop();
  });
  loop();
}
