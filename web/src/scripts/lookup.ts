// The product lookup panel: validates the id, calls GET /products/{id}, records the lookup in the
// history and publishes it as the last lookup (for the result card and the performance panel).
// performLookup() is shared with the hammer.

import { ApiUnreachableError, detailText } from '../lib/api';
import { SPEC_BOUNDS } from '../lib/gen/spec';
import type { Product, Source } from '../lib/api';
import { breakerSkipsRedis } from '../lib/breaker';
import { inferXCache, parseXCache } from '../lib/xcache';
import type { LookupRecord, Outcome } from '../lib/history';
import type { Dashboard } from './context';
import { byId, setText } from './dom';

/** The bounds of a product id, as the API's contract gives them (ProductFields.id). */
export const MIN_ID = SPEC_BOUNDS.productId.minimum;
export const MAX_ID = SPEC_BOUNDS.productId.maximum;

export type IdCheck = { ok: true; id: string } | { ok: false; message: string };

/** Checks a typed product id; the normalised id ("007" -> "7") or a message saying what is wrong. */
export function validateId(raw: string): IdCheck {
  const s = raw.trim();
  if (s === '') return { ok: false, message: 'Enter a product id.' };
  if (!/^\+?\d+$/.test(s)) return { ok: false, message: `“${s.slice(0, 20)}” is not a product id: use a whole number such as 1.` };
  const n = Number(s.replace(/^\+/, ''));
  if (n < MIN_ID || n > MAX_ID) return { ok: false, message: `Product ids go from ${MIN_ID} to ${MAX_ID}.` };
  return { ok: true, id: String(n) };
}

function isProduct(body: unknown): body is Product {
  return !!body && typeof body === 'object' && typeof (body as Product).id === 'number' && typeof (body as Product).source === 'string';
}

function outcomeOf(status: number): Outcome {
  if (status === 404) return 'not_found';
  if (status === 422) return 'invalid';
  if (status === 503) return 'unavailable';
  return 'error';
}

/** The body of a 404: {"detail": ...}, with "source": "cache" when a negative cache entry answered. */
function notFoundSource(body: unknown): Source | null {
  return body && typeof body === 'object' && (body as { source?: unknown }).source === 'cache' ? 'cache' : null;
}

/** One lookup, recorded in the history and published as the last lookup. Never throws. */
export async function performLookup(d: Dashboard, id: string): Promise<LookupRecord> {
  let record: LookupRecord;
  let product: Product | null = null;
  try {
    const ans = await d.api.getProduct(id);
    d.feed.noteReachable();
    // Redis down or its breaker open: a database answer is the fallback path (amber, BYPASS).
    const snap = d.feed.snapshot.value;
    const redisSkipped = snap?.health?.redis === 'unhealthy' || breakerSkipsRedis(snap?.circuit_breaker?.state);
    const header = parseXCache(ans.headers.get('X-Cache'));
    const levelHeader = ans.headers.get('X-Cache-Level');
    const level: LookupRecord['level'] = levelHeader === 'L1' || levelHeader === 'L2' ? levelHeader : null;
    const served = (source: Source | null, infer: boolean) => ({
      level,
      source,
      xcache: header ?? (infer ? inferXCache(source, redisSkipped) : null),
      xcacheFrom: header ? ('header' as const) : infer ? ('inferred' as const) : null,
      fallback: source === 'database' && (redisSkipped || header === 'BYPASS'),
    });
    if (ans.status === 200 && isProduct(ans.body)) {
      product = ans.body;
      record = d.history.add({
        at: Date.now(),
        id,
        status: 200,
        outcome: 'found',
        ...served(product.source, true),
        fetch_time_ms: product.fetch_time_ms,
        roundTripMs: ans.roundTripMs,
        requestId: ans.requestId,
        instance: ans.instance,
        detail: null,
      });
    } else {
      // A 404 is a lookup too (cached "not found", or a miss); other errors carry X-Cache only when readable.
      record = d.history.add({
        at: Date.now(),
        id,
        status: ans.status,
        outcome: outcomeOf(ans.status),
        ...served(ans.status === 404 ? notFoundSource(ans.body) : null, ans.status === 404),
        fetch_time_ms: null,
        roundTripMs: ans.roundTripMs,
        requestId: ans.requestId,
        instance: ans.instance,
        detail: detailText(ans.body) ?? `HTTP ${ans.status}`,
      });
    }
  } catch (err) {
    const unreachable = err instanceof ApiUnreachableError;
    if (unreachable) d.feed.noteUnreachable(err.message);
    record = d.history.add({
      at: Date.now(),
      id,
      status: 0,
      outcome: 'unreachable',
      source: null,
      xcache: null,
      xcacheFrom: null,
      fallback: false,
      level: null,
      fetch_time_ms: null,
      roundTripMs: unreachable ? err.roundTripMs : 0,
      requestId: null,
      instance: null,
      detail: unreachable ? 'No answer from the API' : String(err),
    });
  }
  d.lastLookup.set({ record, product });
  return record;
}

/**
 * A lookup asked for by another panel (edit form, write result, invalidations feed): shown in the
 * lookup field too, and, like the lookup buttons, only when no other lookup is running (then null).
 */
export async function lookUpFrom(d: Dashboard, id: string): Promise<LookupRecord | null> {
  if (d.busy.value) return null;
  const input = byId<HTMLInputElement>('product-id');
  input.value = id;
  input.setAttribute('aria-invalid', 'false');
  setText(byId('product-id-error'), '');
  d.busy.set(true);
  try {
    return await performLookup(d, id);
  } finally {
    d.busy.set(false);
  }
}

/**
 * "15 products exist: ids 1–15": the hint under the id field, from the catalogue itself (the first and
 * the last product of GET /products by id, and X-Total-Count). Null when the API does not say.
 */
export async function catalogueHint(d: Dashboard): Promise<string | null> {
  try {
    const first = await d.api.listProducts(1, 0);
    const total = Number(first.headers.get('X-Total-Count'));
    const firstId = Array.isArray(first.body) ? first.body[0]?.id : undefined;
    if (!first.ok || !Number.isInteger(total) || total < 1 || typeof firstId !== 'number') return null;
    const last = total === 1 ? first : await d.api.listProducts(1, total - 1);
    const lastId = Array.isArray(last.body) ? last.body[0]?.id : undefined;
    if (typeof lastId !== 'number') return null;
    if (total === 1) return `One product exists: id ${firstId}.`;
    return total === lastId - firstId + 1 ? `Products ${firstId}–${lastId} exist.` : `${total} products exist, ids from ${firstId} to ${lastId}.`;
  } catch {
    return null;
  }
}

/** Scrolls an element into view when part of it is off the screen (a phone, a long page). */
export function reveal(el: HTMLElement): void {
  const box = el.getBoundingClientRect();
  if (box.top < 0 || box.bottom > window.innerHeight) el.scrollIntoView({ block: 'nearest', behavior: 'instant' });
}

export function mountLookup(d: Dashboard): void {
  const form = byId<HTMLFormElement>('lookup-form');
  const input = byId<HTMLInputElement>('product-id');
  const error = byId('product-id-error');
  const submit = byId<HTMLButtonElement>('lookup-submit');
  const quick = [...document.querySelectorAll<HTMLButtonElement>('[data-quick-id]')];

  const showError = (message: string) => {
    setText(error, message);
    input.setAttribute('aria-invalid', message ? 'true' : 'false');
  };

  const run = async (raw: string) => {
    if (d.busy.value) return;
    const check = validateId(raw);
    if (!check.ok) {
      showError(check.message);
      input.focus();
      return;
    }
    showError('');
    d.busy.set(true);
    try {
      const rec = await performLookup(d, check.id);
      // The API validates too; show its words next to the field.
      if (rec.outcome === 'invalid' && rec.detail) showError(rec.detail);
      // The answer's source and time, where the click was.
      reveal(byId('perf'));
    } finally {
      d.busy.set(false);
    }
  };

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    void run(input.value);
  });
  input.addEventListener('input', () => {
    if (input.getAttribute('aria-invalid') === 'true') showError('');
  });
  for (const b of quick) {
    b.addEventListener('click', () => {
      input.value = b.dataset.quickId ?? '';
      void run(input.value);
    });
  }
  void catalogueHint(d).then((hint) => {
    if (hint) setText(byId('product-id-hint'), hint);
  });
  d.busy.subscribe((busy) => {
    submit.disabled = busy;
    for (const b of quick) b.disabled = busy;
  });
}
