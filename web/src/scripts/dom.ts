// Small DOM helpers for the panel scripts: typed look-ups that fail loudly when the markup and
// the script disagree, and the source badge every panel uses.

import type { Tone } from '../lib/history';

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

/** The words on a badge: the API's source, with the reason when it is a fallback. */
export function toneLabel(tone: Tone): string {
  return tone === 'fallback' ? 'database (fallback: Redis down)' : tone;
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
