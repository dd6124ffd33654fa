// The result card and the request-performance panel: both show the last lookup.

import { formatDateTime, formatMs, formatPrice } from '../lib/format';
import { toneOf } from '../lib/history';
import type { LookupRecord } from '../lib/history';
import type { Product } from '../lib/api';
import type { Dashboard } from './context';
import { byId, setText, sourceBadge } from './dom';

/** What the card says when a lookup found no product. */
function failureText(r: LookupRecord): string {
  switch (r.outcome) {
    case 'not_found':
      return `Product ${r.id} does not exist (${r.detail ?? 'Product not found'}).`;
    case 'invalid':
      return `The API rejected id “${r.id}”: ${r.detail ?? 'invalid id'}.`;
    case 'unavailable':
      return `Product ${r.id} could not be fetched: ${r.detail ?? 'service unavailable'}. PostgreSQL is down and the product is not in the cache.`;
    case 'unreachable':
      return `Product ${r.id} could not be fetched: the API did not answer.`;
    default:
      return `Product ${r.id} could not be fetched: ${r.detail ?? `HTTP ${r.status}`}.`;
  }
}

function renderProduct(p: Product): void {
  const values: Record<string, string> = {
    id: String(p.id),
    name: p.name,
    description: p.description ?? '—',
    price: formatPrice(p.price),
    category: p.category ?? '—',
    created_at: formatDateTime(p.created_at),
    updated_at: formatDateTime(p.updated_at),
  };
  for (const dd of document.querySelectorAll<HTMLElement>('#product-card [data-field]')) {
    const key = dd.dataset.field as string;
    setText(dd, values[key] ?? '');
    // The raw ISO value stays available as a tooltip and for assistive technology.
    if (key === 'created_at' || key === 'updated_at') dd.title = p[key];
  }
}

export function mountResult(d: Dashboard): void {
  const message = byId('result-message');
  const card = byId('product-card');
  const perf = byId('perf');
  const perfEmpty = byId('perf-empty');

  d.lastLookup.subscribe((last) => {
    if (!last) return;
    const { record: r, product } = last;
    if (product) {
      renderProduct(product);
      card.hidden = false;
      setText(message, `Product ${product.id}, served from the ${r.fallback ? 'database because Redis is down' : product.source}.`);
      message.className = 'mb-3 text-sm text-slate-700';
    } else {
      card.hidden = true;
      setText(message, failureText(r));
      message.className = 'font-medium text-red-800';
    }

    perfEmpty.hidden = true;
    perf.hidden = false;
    const tone = toneOf(r);
    byId('perf-source').replaceChildren(sourceBadge(tone, tone ? undefined : r.status ? `no product (HTTP ${r.status})` : 'no answer'));
    setText(byId('perf-fetch-time'), formatMs(r.fetch_time_ms));
    setText(byId('perf-round-trip'), formatMs(r.roundTripMs));
    setText(byId('perf-request-id'), r.requestId ?? '—');
  });
}
