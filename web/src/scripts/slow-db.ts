// The "slow database" switch beside Quick test: the lab's db_delay_ms, on at SLOW_DB_MS or off at 0
// (PUT /lab/config), so that a database read visibly costs more than a cache hit. It follows the
// service's setting as the live statistics report it (another page or the lab panel may change it).
// A 401 asks for the admin token in the Failure labs section and tries again with it.

import { SPEC_BOUNDS } from '../lib/gen/spec';
import { askForToken } from './admin-token';
import type { Dashboard } from './context';
import { byId, setText } from './dom';

/** The delay the switch sets: enough to see, well inside the contract's bounds of db_delay_ms. */
export const SLOW_DB_MS = Math.min(100, SPEC_BOUNDS.lab.db_delay_ms.maximum);

export function mountSlowDb(d: Dashboard): void {
  const toggle = byId<HTMLInputElement>('slow-db');
  const status = byId('slow-db-status');
  setText(byId('slow-db-ms'), String(SLOW_DB_MS));
  let sending = false;

  const say = (text: string, link = false) => {
    status.replaceChildren(text);
    if (link) {
      const a = document.createElement('a');
      a.href = '#labs';
      a.className = 'font-medium text-sky-800 underline underline-offset-2 hover:text-sky-950';
      a.textContent = 'Enter it under Failure labs.';
      status.append(' ', a);
    }
  };

  const apply = async (on: boolean): Promise<void> => {
    sending = true;
    toggle.disabled = true;
    try {
      const ans = await d.api.putLab({ db_delay_ms: on ? SLOW_DB_MS : 0 }, d.adminToken.value);
      if (ans.status === 401) {
        askForToken(d, on ? 'slow the database down' : 'make the database fast again', () => void apply(on));
        toggle.checked = !on;
        say('The service needs its admin token for this.', true);
        return;
      }
      if (!ans.ok) {
        toggle.checked = !on;
        say(`The service refused the change (HTTP ${ans.status}).`);
        return;
      }
      say(on ? `Each database read now waits ${SLOW_DB_MS} ms: look a product up twice to compare.` : 'The database answers at full speed again.');
    } catch {
      toggle.checked = !on;
      say('No answer from the API: the setting is unchanged.');
    } finally {
      sending = false;
      toggle.disabled = false;
    }
  };

  toggle.addEventListener('change', () => void apply(toggle.checked));
  d.feed.snapshot.subscribe((s) => {
    const delay = s?.protections?.db_delay_ms;
    if (sending || typeof delay !== 'number') return;
    toggle.checked = delay > 0;
    toggle.title = delay > 0 ? `db_delay_ms is ${delay}` : 'db_delay_ms is 0';
  });
}
