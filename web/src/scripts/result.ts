// The result card: where the last lookup's answer came from and how long it took, the product, and
// behind "Details" the headers and the round trip. The words follow the status code: an answer
// without a product (404, 503, …) never shows a source badge that says it was read and cached.

import { formatDateTime, formatMs, formatPrice } from '../lib/format';
import { toneOf } from '../lib/history';
import type { LookupRecord } from '../lib/history';
import type { Product } from '../lib/api';
import { describeXCache } from '../lib/xcache';
import type { Tone } from '../lib/xcache';
import type { Dashboard } from './context';
import { byId, setText, sourceBadge, xcacheBadge } from './dom';

/** The words on the big source badge. */
function headline(r: LookupRecord, tone: Tone | null): string {
  if (r.outcome === 'not_found') return r.source === 'cache' ? 'Cache (“not found” cached)' : 'Database: not found';
  if (r.outcome !== 'found') return r.status ? `Not served (HTTP ${r.status})` : 'No answer';
  if (r.source === 'stale') return 'Stale (database down)';
  if (tone === 'fallback') return 'Database (fallback: Redis down or skipped)';
  return tone === 'cache' ? 'Cache (fast)' : 'Database (slow)';
}

/** How the product got here, for the card's first line. */
function servedText(r: LookupRecord, p: Product): string {
  if (p.source === 'stale') return 'served stale from the cache: PostgreSQL failed, and this copy had expired';
  if (r.fallback) return 'served from the database because Redis is down or skipped';
  if (p.source !== 'cache') return 'served from the database, and now cached';
  if (r.level === 'L1') return "served from the cache: this process's own memory (near cache, L1), without asking Redis";
  return r.level === 'L2' ? 'served from the cache (Redis)' : 'served from the cache';
}

/** The X-Cache line in the details: what the value means for this answer, and where the page got it. */
function xcacheNote(r: LookupRecord): string {
  if (!r.xcache) return r.status ? 'No X-Cache on this answer, or the browser may not read it.' : '';
  const text = r.outcome === 'found' || r.outcome === 'not_found' ? describeXCache(r.xcache) : 'no product was served';
  const meaning = `X-Cache ${r.xcache}: ${text}`;
  return r.xcacheFrom === 'inferred'
    ? `${meaning}. * Inferred from source and Redis health: the API does not let this page read the header (not in Access-Control-Expose-Headers).`
    : `${meaning}.`;
}

function lower(text: string): string {
  return `${text.charAt(0).toLowerCase()}${text.slice(1)}`;
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
      return `Product ${r.id} not served: ${lower(r.detail ?? 'database unavailable')}. PostgreSQL is down and the product is not in the cache.`;
    case 'unreachable':
      return `Product ${r.id} could not be fetched: the API did not answer.`;
    default:
      return `Product ${r.id} not served: ${r.detail ?? `HTTP ${r.status}`}.`;
  }
}

function renderProduct(p: Product): void {
  const values: Record<string, string> = {
    id: String(p.id),
    name: p.name,
    description: p.description ?? '—',
    price: formatPrice(p.price),
    category: p.category ?? '—',
    created_at: p.created_at ? formatDateTime(p.created_at) : '—',
    updated_at: p.updated_at ? formatDateTime(p.updated_at) : '—',
  };
  for (const dd of document.querySelectorAll<HTMLElement>('#product-card [data-field]')) {
    const key = dd.dataset.field as string;
    setText(dd, values[key] ?? '');
    // The raw ISO value stays available as a tooltip and for assistive technology.
    if (key === 'created_at' || key === 'updated_at') dd.title = p[key] ?? '';
  }
}

export function mountResult(d: Dashboard): void {
  const message = byId('result-message');
  const card = byId('product-card');
  const perf = byId('perf');
  const more = byId('perf-more');

  d.lastLookup.subscribe((last) => {
    if (!last) return;
    const { record: r, product } = last;
    if (product) {
      renderProduct(product);
      card.hidden = false;
      setText(message, `Product ${product.id}, ${servedText(r, product)}.`);
      message.className = 'mt-2 text-sm text-slate-700';
    } else {
      card.hidden = true;
      setText(message, failureText(r));
      message.className = r.outcome === 'not_found' ? 'mt-2 font-medium text-slate-800' : 'mt-2 font-medium text-red-800';
    }

    perf.hidden = false;
    more.hidden = false;
    // Only an answer with a product, or a 404 with its source, gets a colour: a 503 was not served from anywhere.
    const tone = r.outcome === 'found' || r.outcome === 'not_found' ? toneOf(r) : null;
    byId('perf-source').replaceChildren(sourceBadge(tone, headline(r, tone)));
    byId('perf-xcache').replaceChildren(xcacheBadge(r.xcache, r.xcacheFrom, tone !== null || r.outcome === 'not_found'));
    setText(byId('perf-xcache-note'), xcacheNote(r));
    setText(byId('perf-fetch-time'), formatMs(r.fetch_time_ms));
    setText(byId('perf-round-trip'), formatMs(r.roundTripMs));
    setText(byId('perf-request-id'), r.requestId ?? '—');
    setText(byId('perf-instance'), r.instance ?? '—');
  });
}
