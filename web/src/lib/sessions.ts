// The sessions panel, without the DOM: the API's rules for a user name and a quantity (checked
// before anything is sent), and the words for a browser that refused a request with cookies.

/** POST /sessions takes names of this alphabet (docs/sessions.md). */
export const USER_PATTERN = /^[a-z0-9_-]{1,32}$/;

export const QUANTITY_MIN = 1;
export const QUANTITY_MAX = 99;

/** Why `user` would be refused, or null. */
export function checkUser(user: string): string | null {
  if (!user) return 'Enter a user name.';
  return USER_PATTERN.test(user) ? null : 'Use 1 to 32 lowercase letters, digits, - or _.';
}

/** Why a product id would be refused, or null. */
export function checkProductId(id: string): string | null {
  return /^[1-9][0-9]{0,9}$/.test(id) && Number(id) <= 2147483647 ? null : 'Enter a product id (a positive whole number).';
}

/** Why a quantity would be refused, or null. */
export function checkQuantity(q: string): string | null {
  const n = Number(q);
  return /^[0-9]+$/.test(q) && n >= QUANTITY_MIN && n <= QUANTITY_MAX ? null : `Enter a quantity from ${QUANTITY_MIN} to ${QUANTITY_MAX}.`;
}

/**
 * The API answers other requests but the browser refused this one, which carried cookies: the
 * answer did not name this page's origin with Access-Control-Allow-Credentials (CORS_ORIGINS=*,
 * the default, or a list without it).
 */
export function corsRefusedText(pageOrigin: string): string {
  return `The browser refused the API’s answer to a request with cookies. Sessions from this page need the service started with CORS_ORIGINS listing this dashboard’s origin, e.g. CORS_ORIGINS=${pageOrigin} (the default * is refused by browsers when cookies are sent). See docs/sessions.md.`;
}
