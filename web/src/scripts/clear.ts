// "Clear cache": the confirmation dialog (ConfirmDialog `clear`), DELETE /cache/clear, then a new counting baseline (the
// counters right after the clear) so the statistics and the charts start again from zero.

import { ApiUnreachableError, detailText } from '../lib/api';
import type { ClearBody, StatsBody } from '../lib/api';
import { formatClock } from '../lib/format';
import type { Dashboard } from './context';
import { byId, setText } from './dom';

export function mountClear(d: Dashboard): void {
  const open = byId<HTMLButtonElement>('clear-open');
  const dialog = byId<HTMLDialogElement>('clear-dialog');
  const confirm = byId<HTMLButtonElement>('clear-confirm');
  const error = byId('clear-dialog-error');
  const done = byId('stats-cleared');

  open.addEventListener('click', () => {
    setText(error, '');
    confirm.disabled = false;
    dialog.showModal();
  });
  // Focus goes back to the button that opened the dialog, however it was closed.
  dialog.addEventListener('close', () => open.focus());

  confirm.addEventListener('click', async (ev) => {
    ev.preventDefault(); // stay open until the API has answered
    confirm.disabled = true;
    setText(error, '');
    try {
      const ans = await d.api.clearCache();
      if (!ans.ok) {
        const why = ans.status === 503 ? 'Redis is down, so there is no cache to clear right now.' : (detailText(ans.body) ?? `HTTP ${ans.status}`);
        setText(error, `The cache was not cleared: ${why}`);
        return;
      }
      const cleared = (ans.body as ClearBody).cleared_keys;
      // The counters right after the clear become the new zero.
      const stats = await d.api.getStats();
      if (stats.ok) {
        const body = stats.body as StatsBody;
        d.baseline.set({ at: Date.now(), timestamp: body.timestamp, app: body.app_stats, cache: body.cache_stats });
      }
      dialog.close('confirm');
      setText(done, `Cache cleared at ${formatClock(Date.now()).slice(0, 8)}: ${cleared} key${cleared === 1 ? '' : 's'} removed.`);
      d.feed.refreshNow();
    } catch (err) {
      setText(error, err instanceof ApiUnreachableError ? 'The cache was not cleared: the API did not answer.' : String(err));
    } finally {
      confirm.disabled = false;
    }
  });
}
