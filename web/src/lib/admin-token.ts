// The admin token (the service's ADMIN_TOKEN), which PUT /lab/config and the scenarios need when
// it is set. The user types it when the API answers 401; it is kept in sessionStorage only (this
// tab, until it closes), per API base, and sent as "Authorization: Bearer <token>". Never in
// localStorage, cookies or the address.

function key(apiBase: string): string {
  return `cacheme.adminToken:${apiBase}`;
}

export function loadToken(apiBase: string): string | null {
  try {
    return sessionStorage.getItem(key(apiBase)) || null;
  } catch {
    return null;
  }
}

/** Stores the token for this tab, or forgets it (null). Storage disabled: it lasts as long as the page. */
export function saveToken(apiBase: string, token: string | null): void {
  try {
    if (token) sessionStorage.setItem(key(apiBase), token);
    else sessionStorage.removeItem(key(apiBase));
  } catch {
    /* the store in memory still holds it */
  }
}
