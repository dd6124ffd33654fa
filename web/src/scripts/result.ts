// The result card and the request-performance panel: both show the last lookup.

import { formatDateTime, formatMs, formatPrice } from '../lib/format';
import { toneOf } from '../lib/history';
import type { LookupRecord } from '../lib/history';
import type { Product } from '../lib/api';
import { describeXCache } from '../lib/xcache';
import type { Dashboard } from './context';
import { byId, recordLabel, setText, sourceBadge, xcacheBadge } from './dom';

/** How the product got here, for the card's first line. */
function servedText(r: LookupRecord, p: Product): string {
  if (p.source === 'stale') return 'served stale from the cache: PostgreSQL failed, and this copy had expired';
  if (r.fallback) return 'served from the database because Redis is down or skipped';
  return `served from the ${p.source}`;
}

/** The X-Cache line under the badge: what the value means, and where the page got it. */
function xcacheNote(r: LookupRecord): string {
  if (!r.xcache) return r.status ? 'No X-Cache on this answer, or the browser may not read it.' : '';
  const text = describeXCache(r.xcache);
  const meaning = `${text.charAt(0).toUpperCase()}${text.slice(1)}`;
  return r.xcacheFrom === 'inferred'
    ? `${meaning}. * Inferred from source and Redis health: the API does not let this page read the header (not in Access-Control-Expose-Headers).`
    : `${meaning}.`;
}

/** What the card says when a lookup found no product. */
function failureText(r: LookupRecord): string {
  switch (r.outcome) {
    case 'not_found':
      return r.source === 'cache'
        ? `Product ${r.id} does not exist (${r.detail ?? 'Product not found'}): answered from the cache, which remembers ids that do not exist (negative caching).`
        : `Product ${r.id} does not exist (${r.detail ?? 'Product not found'}).`;
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
      setText(message, `Product ${product.id}, ${servedText(r, product)}.`);
      message.className = 'mb-3 text-sm text-slate-700';
    } else {
      card.hidden = true;
      setText(message, failureText(r));
      message.className = 'font-medium text-red-800';
    }

    perfEmpty.hidden = true;
    perf.hidden = false;
    const tone = toneOf(r);
    byId('perf-source').replaceChildren(sourceBadge(tone, tone ? recordLabel(r) : r.status ? `no product (HTTP ${r.status})` : 'no answer'));
    byId('perf-xcache').replaceChildren(xcacheBadge(r.xcache, r.xcacheFrom));
    setText(byId('perf-xcache-note'), xcacheNote(r));
    setText(byId('perf-fetch-time'), formatMs(r.fetch_time_ms));
    setText(byId('perf-round-trip'), formatMs(r.roundTripMs));
    setText(byId('perf-request-id'), r.requestId ?? '—');
    setText(byId('perf-instance'), r.instance ?? '—');
  });
}
