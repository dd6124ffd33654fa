// Small DOM helpers for the panel scripts: typed look-ups that fail loudly when the markup and
// the script disagree, and the source badge every panel uses.

import type { XCache } from '../lib/api';
import type { LookupRecord, Tone } from '../lib/history';
import { describeXCache, sourceLabel, xcacheTone } from '../lib/xcache';

/** The element with this id; throws when missing, since that is a bug in the page. */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`dashboard: #${id} is missing from the page`);
  return el as T;
}

export function setText(el: Element, text: string): void {
  if (el.textContent !== text) el.textContent = text;
}

const BADGE_BASE = 'inline-flex items-center gap-1.5 rounded-full px-2.5 py-0.5 text-sm font-semibold ring-1 ring-inset';

/** Tailwind classes per tone: dark text on a light tint, well above 4.5:1 contrast. */
export const TONE_CLASSES: Record<Tone, string> = {
  cache: 'bg-green-100 text-green-900 ring-green-700/40',
  database: 'bg-blue-100 text-blue-900 ring-blue-700/40',
  fallback: 'bg-amber-100 text-amber-950 ring-amber-700/50',
};

const TONE_DOT: Record<Tone, string> = {
  cache: 'bg-green-600',
  database: 'bg-blue-600',
  fallback: 'bg-amber-600',
};

/** The words on a badge for a tone alone (when there is no lookup to describe). */
export function toneLabel(tone: Tone): string {
  return tone === 'fallback' ? 'fallback (stale or Redis skipped)' : tone;
}

/** The words on a lookup's source badge: the API's source, with the reason for a fallback or a cached 404. */
export function recordLabel(r: LookupRecord): string {
  if (r.outcome === 'not_found' && r.source === 'cache') return 'cache (“not found” cached)';
  return sourceLabel(r);
}

/** A coloured badge for a source; the text carries the meaning, the colour only repeats it. */
export function sourceBadge(tone: Tone | null, text?: string): HTMLSpanElement {
  const span = document.createElement('span');
  if (tone) {
    span.className = `${BADGE_BASE} ${TONE_CLASSES[tone]}`;
    span.dataset.tone = tone;
    const dot = document.createElement('span');
    dot.className = `inline-block size-2 rounded-full ${TONE_DOT[tone]}`;
    dot.setAttribute('aria-hidden', 'true');
    span.append(dot, text ?? toneLabel(tone));
  } else {
    span.className = `${BADGE_BASE} bg-slate-100 text-slate-800 ring-slate-400`;
    span.dataset.tone = 'none';
    span.append(text ?? '—');
  }
  return span;
}

/**
 * A badge for an X-Cache value, coloured like the sources (HIT green, MISS blue, STALE and BYPASS
 * amber) when `coloured`; grey for an answer that served no product (a 503 carries X-Cache: MISS,
 * but nothing was read from PostgreSQL and cached). An inferred value (the API does not let the page
 * read the header) carries an asterisk, explained beside the table or panel that shows it, and says
 * so to screen readers.
 */
export function xcacheBadge(x: XCache | null, from: 'header' | 'inferred' | null, coloured = true): HTMLSpanElement {
  if (!x) {
    const none = sourceBadge(null, '—');
    none.dataset.xcache = 'none';
    return none;
  }
  const span = sourceBadge(coloured ? xcacheTone(x) : null, '');
  span.classList.add('font-mono');
  const value = document.createElement('span');
  value.textContent = x;
  span.append(value);
  span.dataset.xcache = x;
  span.dataset.from = from ?? 'header';
  span.title = `X-Cache: ${x}: ${coloured ? describeXCache(x) : 'no product was served'}${from === 'inferred' ? ' (inferred from source and Redis health)' : ''}`;
  if (from === 'inferred') {
    const mark = document.createElement('span');
    mark.setAttribute('aria-hidden', 'true');
    mark.textContent = '*';
    const sr = document.createElement('span');
    sr.className = 'sr-only';
    sr.textContent = ' (inferred)';
    value.append(mark, sr);
  }
  return span;
}
