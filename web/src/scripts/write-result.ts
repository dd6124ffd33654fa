// The write-result box: what the last save or delete did (request, status, X-Cache-Write-Mode,
// X-Cache-Action in words), what the next lookup should show, and "Look it up again", which makes
// that lookup and compares: its source (colour-coded as everywhere) and whether it holds the data
// just written, or, after a delete, that the product is gone.

import type { WriteMode } from '../lib/api';
import { formatMs, formatPrice } from '../lib/format';
import { toneOf } from '../lib/history';
import type { LookupRecord } from '../lib/history';
import { holds } from '../lib/product-form';
import { describeCacheAction, expectedSource, isWriteMode } from '../lib/write-mode';
import type { Dashboard, WriteOutcome } from './context';
import { byId, recordLabel, setText, sourceBadge } from './dom';
import { lookUpFrom } from './lookup';

const REASONS: Record<number, string> = { 200: 'OK', 201: 'Created', 202: 'Accepted', 204: 'No Content' };

/** Shown instead of a header value the browser cannot read. */
const NOT_READABLE = 'not readable (the API does not expose this header to other origins)';

function line(...parts: (string | Node)[]): HTMLParagraphElement {
  const p = document.createElement('p');
  p.className = 'flex flex-wrap items-center gap-2';
  p.append(...parts);
  return p;
}

export function mountWriteResult(d: Dashboard): void {
  const box = byId('write-result');
  const lookButton = byId<HTMLButtonElement>('write-lookup');
  const lookResult = byId('write-lookup-result');

  /** The mode the write used: its header, else the mode the live statistics report. */
  const modeOf = (w: WriteOutcome): WriteMode | null => {
    const fromHeader = w.headers.writeMode;
    if (isWriteMode(fromHeader)) return fromHeader;
    return d.feed.snapshot.value?.write_mode ?? null;
  };

  const render = (w: WriteOutcome | null) => {
    box.hidden = w === null;
    lookResult.replaceChildren();
    delete lookResult.dataset.verdict;
    if (!w) return;
    setText(byId('write-request'), `${w.method} /products/${w.id} → ${w.status} ${REASONS[w.status] ?? ''}`.trim());
    setText(byId('write-mode-header'), w.headers.writeMode ?? NOT_READABLE);
    setText(byId('write-cache-action'), w.headers.cacheAction ?? NOT_READABLE);
    const what = w.kind === 'delete' ? 'Deleted' : w.status === 202 ? 'Accepted' : 'Committed in PostgreSQL';
    const action = w.headers.cacheAction ? `; ${describeCacheAction(w.headers.cacheAction)}` : '';
    setText(byId('write-explain'), `${what}${action}.`);

    const expect = byId('write-expect');
    const mode = modeOf(w);
    if (w.kind === 'delete') {
      expect.replaceChildren('The next lookup should answer 404 Product not found.');
    } else if (mode) {
      const source = expectedSource(mode);
      expect.replaceChildren(`In ${mode} mode the next lookup should show`, sourceBadge(source), 'with the new data.');
    } else {
      expect.replaceChildren('The next lookup should show the new data.');
    }
  };

  const renderLookup = (w: WriteOutcome, rec: LookupRecord) => {
    const product = d.lastLookup.value?.record === rec ? d.lastLookup.value.product : null;
    const tone = toneOf(rec);
    lookResult.dataset.source = rec.source ?? 'none';
    const badge = sourceBadge(tone, tone ? recordLabel(rec) : rec.status ? `no product (HTTP ${rec.status})` : 'no answer');
    const lines: HTMLElement[] = [line('Next lookup:', badge, ...(tone ? [`fetch_time_ms ${formatMs(rec.fetch_time_ms)}`] : []))];
    let verdict: string;
    let text: string;
    if (w.kind === 'delete') {
      verdict = rec.outcome === 'not_found' ? 'as-expected' : 'unexpected';
      text = rec.outcome === 'not_found' ? `Product ${w.id} is gone: ${rec.detail ?? 'Product not found'}.` : `Expected 404 Product not found, got ${rec.status || 'no answer'}.`;
    } else if (product) {
      lines.push(line(`name “${product.name}”, price ${formatPrice(product.price)}, category ${product.category ?? '—'}`));
      const mode = modeOf(w);
      const fresh = w.sent ? holds(product, w.sent) : true;
      const sourceOk = !mode || product.source === expectedSource(mode);
      verdict = fresh && sourceOk ? 'as-expected' : 'unexpected';
      if (!fresh) text = 'This is not the data that was saved: another write may have changed it since.';
      else if (sourceOk) text = mode ? `The new data, from the ${product.source}, as ${mode} mode promises.` : 'The new data.';
      else text = `The new data, but from the ${product.source}: another lookup may have cached it since the save.`;
    } else {
      verdict = 'unexpected';
      text = `The lookup found no product: ${rec.detail ?? `HTTP ${rec.status}`}.`;
    }
    lines.push(line(text));
    lookResult.dataset.verdict = verdict;
    lookResult.replaceChildren(...lines);
  };

  lookButton.addEventListener('click', async () => {
    const w = d.lastWrite.value;
    if (!w) return;
    // The button stays enabled (disabling it would drop the keyboard focus); a click while another
    // lookup runs is ignored by lookUpFrom.
    const rec = await lookUpFrom(d, w.id);
    if (rec && d.lastWrite.value === w) renderLookup(w, rec);
  });
  d.lastWrite.subscribe(render);
}
