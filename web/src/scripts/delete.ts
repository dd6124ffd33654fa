// Delete from the edit form: the confirmation dialog (ConfirmDialog `delete`), then
// DELETE /products/{id}. On success the form empties and the write-result box offers the lookup
// that shows the product is gone.

import { ApiUnreachableError, detailText, writeHeaders } from '../lib/api';
import type { Dashboard } from './context';
import { byId, setText } from './dom';

export function mountDelete(d: Dashboard): void {
  const open = byId<HTMLButtonElement>('edit-delete');
  const dialog = byId<HTMLDialogElement>('delete-dialog');
  const confirm = byId<HTMLButtonElement>('delete-confirm');
  const error = byId('delete-dialog-error');
  let deleted = false;

  open.addEventListener('click', () => {
    const e = d.editing.value;
    if (!e) return;
    deleted = false;
    setText(byId('delete-dialog-id'), e.id);
    setText(byId('delete-dialog-path-id'), e.id);
    setText(byId('delete-dialog-name'), `“${e.original.name}”`);
    setText(error, '');
    confirm.disabled = false;
    dialog.showModal();
  });
  // Focus goes back to the Delete button; after a delete (the form is gone) to "Look it up again".
  dialog.addEventListener('close', () => (deleted ? byId('write-lookup') : open).focus());

  confirm.addEventListener('click', async (ev) => {
    ev.preventDefault(); // stay open until the API has answered
    const e = d.editing.value;
    if (!e) return dialog.close('cancel');
    confirm.disabled = true;
    setText(error, '');
    try {
      const ans = await d.api.deleteProduct(e.id);
      d.feed.noteReachable();
      if (!ans.ok) {
        const why = ans.status === 404 ? `product ${e.id} does not exist any more.` : `${detailText(ans.body) ?? `HTTP ${ans.status}`}.`;
        setText(error, `Not deleted: ${why}`);
        return;
      }
      deleted = true;
      d.editing.set(null);
      d.lastWrite.set({ kind: 'delete', id: e.id, method: 'DELETE', status: ans.status, headers: writeHeaders(ans), sent: null, at: Date.now() });
      dialog.close('confirm');
    } catch (err) {
      if (err instanceof ApiUnreachableError) d.feed.noteUnreachable(err.message);
      setText(error, err instanceof ApiUnreachableError ? 'Not deleted: the API did not answer.' : `Not deleted: ${String(err)}`);
    } finally {
      confirm.disabled = false;
    }
  });
}
