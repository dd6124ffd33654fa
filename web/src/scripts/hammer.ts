// The hammer: N lookups of the same id one after the other. The first usually misses the cache
// (source database) and fills it; the rest are hits. The panel compares the first with the median
// of the rest.

import { formatMs, percentile } from '../lib/format';
import { toneOf } from '../lib/history';
import type { LookupRecord } from '../lib/history';
import type { Dashboard } from './context';
import { byId, recordLabel, setText, sourceBadge } from './dom';
import { performLookup, reveal, validateId } from './lookup';

const MIN_COUNT = 2;
const MAX_COUNT = 200;

function sourcesSummary(records: LookupRecord[]): HTMLElement[] {
  const counts = new Map<string, { n: number; rec: LookupRecord }>();
  for (const r of records) {
    const key = `${toneOf(r) ?? 'none'}:${recordLabel(r)}:${r.outcome}`;
    const c = counts.get(key);
    if (c) c.n += 1;
    else counts.set(key, { n: 1, rec: r });
  }
  return [...counts.values()].map(({ n, rec }) => {
    const tone = toneOf(rec);
    return sourceBadge(tone, `${n}× ${tone ? recordLabel(rec) : rec.outcome.replace('_', ' ')}`);
  });
}

export function mountHammer(d: Dashboard): void {
  const form = byId<HTMLFormElement>('hammer-form');
  const idInput = byId<HTMLInputElement>('hammer-id');
  const countInput = byId<HTMLInputElement>('hammer-count');
  const submit = byId<HTMLButtonElement>('hammer-submit');
  const error = byId('hammer-error');
  const progress = byId('hammer-progress');
  const result = byId('hammer-result');

  const fail = (input: HTMLInputElement, message: string) => {
    setText(error, message);
    input.setAttribute('aria-invalid', 'true');
    input.focus();
  };

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (d.busy.value) return;
    idInput.setAttribute('aria-invalid', 'false');
    countInput.setAttribute('aria-invalid', 'false');
    setText(error, '');
    const check = validateId(idInput.value);
    if (!check.ok) return fail(idInput, check.message);
    const count = Number(countInput.value);
    if (!Number.isInteger(count) || count < MIN_COUNT || count > MAX_COUNT) {
      return fail(countInput, `Lookups in a row: a whole number from ${MIN_COUNT} to ${MAX_COUNT}.`);
    }

    d.busy.set(true);
    result.hidden = true;
    const records: LookupRecord[] = [];
    try {
      for (let i = 0; i < count; i++) {
        setText(progress, `Lookup ${i + 1} of ${count} for product ${check.id}…`);
        const rec = await performLookup(d, check.id);
        records.push(rec);
        if (rec.outcome === 'unreachable') break; // no point hammering a missing API
      }
    } finally {
      d.busy.set(false);
    }
    render(check.id, count, records);
  });

  function render(id: string, count: number, records: LookupRecord[]) {
    const [first, ...rest] = records;
    setText(progress, records.length < count ? `Stopped after ${records.length} of ${count}: the API did not answer.` : `Done: ${count} lookups of product ${id}.`);
    if (!first) return;
    const firstTone = toneOf(first);
    byId('hammer-first-source').replaceChildren(sourceBadge(firstTone, firstTone ? recordLabel(first) : first.outcome.replace('_', ' ')));
    setText(byId('hammer-first-time'), formatMs(first.fetch_time_ms));
    setText(byId('hammer-first-rt'), formatMs(first.roundTripMs));
    setText(byId('hammer-rest-count'), `${rest.length}`);
    byId('hammer-rest-sources').replaceChildren(...sourcesSummary(rest));
    const restFetch = rest.filter((r) => r.fetch_time_ms !== null).map((r) => r.fetch_time_ms as number);
    const medianFetch = percentile(restFetch, 50);
    setText(byId('hammer-rest-time'), formatMs(medianFetch));
    setText(byId('hammer-rest-rt'), formatMs(percentile(rest.map((r) => r.roundTripMs), 50)));
    let summary = '';
    if (first.fetch_time_ms !== null && medianFetch !== null && medianFetch > 0) {
      const ratio = first.fetch_time_ms / medianFetch;
      summary =
        ratio >= 1
          ? `The first lookup took ${ratio.toFixed(1)}× as long as the median of the rest.`
          : `The first lookup was faster than the median of the rest (${(1 / ratio).toFixed(1)}×): it was probably already cached.`;
    }
    setText(byId('hammer-summary'), summary);
    result.hidden = false;
    // The comparison, where the click was (on a phone it starts below the button).
    reveal(result);
  }

  d.busy.subscribe((busy) => {
    submit.disabled = busy;
  });
}
