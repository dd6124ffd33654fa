// The admin token prompt: shown when the API answers 401 to an admin action (applying the lab
// settings, running a scenario). The token the user types is kept in this tab (d.adminToken, saved
// in sessionStorage by dashboard.ts) and the refused action is tried again with it.

import type { Dashboard } from './context';
import { byId, setText } from './dom';

/**
 * The API said 401 to `action`: ask for the token (again, if the one sent was refused), and call
 * `retry` once the user has given one.
 */
export function askForToken(d: Dashboard, action: string, retry: () => void): void {
  const refused = d.adminToken.value !== null;
  if (refused) d.adminToken.set(null);
  d.tokenRequest.set({ action, refused, retry });
}

export function mountAdminToken(d: Dashboard): void {
  const form = byId<HTMLFormElement>('admin-token-form');
  const why = byId('admin-token-why');
  const input = byId<HTMLInputElement>('admin-token');
  const error = byId('admin-token-error');
  const isSet = byId('admin-token-set');

  const renderSet = () => {
    isSet.hidden = !d.adminToken.value || d.tokenRequest.value !== null;
  };

  d.tokenRequest.subscribe((req) => {
    form.hidden = req === null;
    renderSet();
    if (!req) return;
    setText(
      why,
      req.refused
        ? `The service refused that admin token: enter the right one to ${req.action}.`
        : `The service needs its admin token (ADMIN_TOKEN) to ${req.action}.`,
    );
    setText(error, '');
    input.value = '';
    input.setAttribute('aria-invalid', 'false');
    input.focus();
  });
  d.adminToken.subscribe(renderSet);

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const token = input.value.trim();
    if (!token) {
      setText(error, 'Enter the token.');
      input.setAttribute('aria-invalid', 'true');
      input.focus();
      return;
    }
    const req = d.tokenRequest.value;
    input.value = '';
    d.adminToken.set(token);
    d.tokenRequest.set(null);
    req?.retry();
  });
  input.addEventListener('input', () => {
    if (input.getAttribute('aria-invalid') === 'true') {
      input.setAttribute('aria-invalid', 'false');
      setText(error, '');
    }
  });
  byId('admin-token-forget').addEventListener('click', () => d.adminToken.set(null));
}
