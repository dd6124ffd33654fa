// The edit form: load a product (by id, through a lookup, or from the product card), check the
// values with the API's rules (lib/product-form.ts) before anything is sent, and save with PATCH
// /products/{id} carrying only the changed fields. The API's 422 entries land next to the same
// fields. What the save did to the cache is shown by scripts/write-result.ts.

import { ApiUnreachableError, detailText, writeHeaders } from '../lib/api';
import type { Product, ProductFields, StoredProduct } from '../lib/api';
import { formatClock } from '../lib/format';
import { FIELDS, apiErrors, changedFields, toValues, validate } from '../lib/product-form';
import type { Field, FieldErrors, FormValues } from '../lib/product-form';
import { describeWriteMode } from '../lib/write-mode';
import type { Dashboard } from './context';
import { byId, setText } from './dom';
import { lookUpFrom, validateId } from './lookup';

type Control = HTMLInputElement | HTMLTextAreaElement;

function fieldsOf(p: ProductFields): ProductFields {
  return { name: p.name, description: p.description, price: p.price, category: p.category };
}

function isStored(body: unknown): body is StoredProduct {
  return !!body && typeof body === 'object' && typeof (body as StoredProduct).id === 'number' && typeof (body as StoredProduct).name === 'string';
}

/** "name and price", "price": the changed fields in words. */
function fieldList(fields: string[]): string {
  return fields.length <= 1 ? (fields[0] ?? '') : `${fields.slice(0, -1).join(', ')} and ${fields[fields.length - 1]}`;
}

export function mountEdit(d: Dashboard): void {
  const loadForm = byId<HTMLFormElement>('edit-load-form');
  const idInput = byId<HTMLInputElement>('edit-id');
  const idError = byId('edit-id-error');
  const loadButton = byId<HTMLButtonElement>('edit-load');
  const status = byId('edit-status');
  const form = byId<HTMLFormElement>('edit-form');
  const save = byId<HTMLButtonElement>('edit-save');
  const formError = byId('edit-form-error');
  const modeHint = byId('edit-mode-hint');
  const cardEdit = byId<HTMLButtonElement>('card-edit');
  const controls = Object.fromEntries(FIELDS.map((f) => [f, byId<Control>(`edit-${f}`)])) as Record<Field, Control>;
  const errors = Object.fromEntries(FIELDS.map((f) => [f, byId(`edit-${f}-error`)])) as Record<Field, HTMLElement>;

  const values = (): FormValues => Object.fromEntries(FIELDS.map((f) => [f, controls[f].value])) as FormValues;

  const showFieldErrors = (found: FieldErrors) => {
    for (const f of FIELDS) {
      setText(errors[f], found[f] ?? '');
      controls[f].setAttribute('aria-invalid', found[f] ? 'true' : 'false');
    }
  };

  /** Field messages, a summary in the live region, and focus on the first field to fix. */
  const reject = (found: FieldErrors, other: string[] = []) => {
    showFieldErrors(found);
    const bad = FIELDS.filter((f) => found[f]);
    const parts = [...other];
    if (bad.length) parts.unshift(`Check ${fieldList(bad)}.`);
    setText(formError, parts.join(' '));
    if (bad.length) controls[bad[0]].focus();
  };

  const clearMessages = () => {
    showFieldErrors({});
    setText(formError, '');
  };

  const fill = (p: ProductFields) => {
    const v = toValues(p);
    for (const f of FIELDS) controls[f].value = v[f];
  };

  /** Puts a product in the form. */
  const startEditing = (p: Product | StoredProduct) => {
    d.editing.set({ id: String(p.id), original: fieldsOf(p), at: Date.now() });
    idInput.value = String(p.id);
    idInput.setAttribute('aria-invalid', 'false');
    setText(idError, '');
    fill(p);
    clearMessages();
  };

  // ----- loading ---------------------------------------------------------------------------

  loadForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const check = validateId(idInput.value);
    idInput.setAttribute('aria-invalid', check.ok ? 'false' : 'true');
    setText(idError, check.ok ? '' : check.message);
    if (!check.ok) return idInput.focus();
    const rec = await lookUpFrom(d, check.id);
    if (!rec) return setText(idError, 'A lookup is running: try again in a moment.');
    const product = d.lastLookup.value?.record === rec ? d.lastLookup.value.product : null;
    if (product) {
      startEditing(product);
      controls.name.focus();
    } else {
      idInput.focus();
      idInput.setAttribute('aria-invalid', 'true');
      setText(idError, rec.outcome === 'not_found' ? `Product ${check.id} does not exist.` : `Product ${check.id} could not be loaded: ${rec.detail ?? 'no answer'}.`);
    }
  });
  idInput.addEventListener('input', () => {
    if (idInput.getAttribute('aria-invalid') === 'true') {
      idInput.setAttribute('aria-invalid', 'false');
      setText(idError, '');
    }
  });

  cardEdit.addEventListener('click', () => {
    const product = d.lastLookup.value?.product;
    if (!product) return;
    startEditing(product);
    // The form is under Writes & invalidation: go there, to the first field.
    d.showSection('writes');
    byId('edit-name').focus();
    controls.name.focus({ preventScroll: true });
  });
  d.lastLookup.subscribe((last) => {
    cardEdit.hidden = !last?.product;
  });
  d.busy.subscribe((busy) => {
    loadButton.disabled = busy;
  });

  // ----- editing ---------------------------------------------------------------------------

  for (const f of FIELDS) {
    controls[f].addEventListener('input', () => {
      if (controls[f].getAttribute('aria-invalid') === 'true') {
        controls[f].setAttribute('aria-invalid', 'false');
        setText(errors[f], '');
      }
    });
  }

  byId('edit-reset').addEventListener('click', () => {
    const e = d.editing.value;
    if (!e) return;
    fill(e.original);
    clearMessages();
    controls.name.focus();
  });

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const e = d.editing.value;
    if (!e || save.disabled) return;
    const v = values();
    const found = validate(v);
    if (Object.keys(found).length > 0) return reject(found);
    const changes = changedFields(e.original, v);
    const changed = Object.keys(changes);
    if (changed.length === 0) {
      clearMessages();
      setText(formError, 'Nothing to save: no field changed.');
      return;
    }
    clearMessages();
    save.disabled = true;
    try {
      const ans = await d.api.patchProduct(e.id, changes);
      d.feed.noteReachable();
      if (ans.ok && isStored(ans.body)) {
        startEditing(ans.body);
        d.lastWrite.set({ kind: 'update', id: e.id, method: 'PATCH', status: ans.status, headers: writeHeaders(ans), sent: changes, at: Date.now() });
        setText(status, `Saved product ${e.id} (${fieldList(changed)}) at ${formatClock(Date.now()).slice(0, 8)}.`);
        return;
      }
      const detail = (ans.body as { detail?: unknown } | undefined)?.detail;
      if (ans.status === 422) {
        const api = apiErrors(detail);
        return reject(api.fields, api.other.length ? [`The API said: ${api.other.join('; ')}.`] : []);
      }
      const why =
        ans.status === 404
          ? `product ${e.id} does not exist any more (${detailText(ans.body) ?? 'Product not found'}).`
          : `${detailText(ans.body) ?? `HTTP ${ans.status}`}.`;
      setText(formError, `Not saved: ${why}`);
    } catch (err) {
      if (err instanceof ApiUnreachableError) d.feed.noteUnreachable(err.message);
      setText(formError, err instanceof ApiUnreachableError ? 'Not saved: the API did not answer.' : `Not saved: ${String(err)}`);
    } finally {
      save.disabled = false;
      // A disabled button loses the focus: give it back unless a field took it.
      if (document.activeElement === document.body) save.focus();
    }
  });

  // ----- what the panel says ---------------------------------------------------------------

  d.editing.subscribe((e) => {
    form.hidden = e === null;
    if (e) setText(status, `Editing product ${e.id}, as loaded at ${formatClock(e.at).slice(0, 8)}.`);
  });
  d.lastWrite.subscribe((w) => {
    if (w?.kind === 'delete') setText(status, `Product ${w.id} was deleted at ${formatClock(w.at).slice(0, 8)}.`);
  });
  const renderHint = () => {
    const id = d.editing.value?.id ?? '{id}';
    const mode = d.feed.snapshot.value?.write_mode;
    setText(modeHint, `Save sends PATCH /products/${id} with only the fields you changed.${mode ? ` ${describeWriteMode(mode)}` : ''}`);
  };
  d.editing.subscribe(renderHint);
  d.feed.snapshot.subscribe(renderHint);
}
