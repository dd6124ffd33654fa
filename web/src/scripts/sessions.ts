// The sessions panel: log in (POST /sessions), the session (GET /sessions/me), the cart's items set
// and removed, log out. Every call carries cookies (credentials: 'include'); when the browser refuses
// such an answer while the API answers others, the service does not list this page's origin in
// CORS_ORIGINS, and the panel says so. The session is first asked for when the panel comes into
// view, so a page that never shows it sends nothing.

import { ApiUnreachableError, detailText } from '../lib/api';
import type { ApiAnswer, Cart, Session } from '../lib/api';
import { formatClock } from '../lib/format';
import { checkProductId, checkQuantity, checkUser, corsRefusedText } from '../lib/sessions';
import type { Dashboard } from './context';
import { byId, setText } from './dom';

export function mountSessions(d: Dashboard): void {
  const panel = byId('sessions');
  const cors = byId('session-cors');
  const status = byId('session-status');
  const loginForm = byId<HTMLFormElement>('session-login-form');
  const user = byId<HTMLInputElement>('session-user');
  const userError = byId('session-user-error');
  const box = byId('session-box');
  const cartForm = byId<HTMLFormElement>('cart-form');
  const product = byId<HTMLInputElement>('cart-product');
  const quantity = byId<HTMLInputElement>('cart-quantity');
  const cartError = byId('cart-error');
  const tbody = byId('cart-table').querySelector('tbody') as HTMLTableSectionElement;

  const say = (state: string, text: string) => {
    status.dataset.state = state;
    setText(status, text);
  };

  /**
   * Runs a call with cookies. A request that got no answer is told apart: the API answers an
   * uncredentialed request (CORS refused the credentialed one) or it does not answer at all.
   */
  const withCookies = async <T>(call: () => Promise<ApiAnswer<T>>): Promise<ApiAnswer<T> | null> => {
    try {
      const ans = await call();
      cors.hidden = true;
      return ans;
    } catch (err) {
      if (!(err instanceof ApiUnreachableError)) throw err;
      let reachable = false;
      try {
        reachable = (await d.api.getHealth()).status > 0;
      } catch {
        reachable = false;
      }
      if (reachable) {
        setText(cors, corsRefusedText(window.location.origin));
        cors.hidden = false;
        say('cors', 'Sessions are not available from this page (see above).');
      } else {
        say('error', 'The API did not answer.');
      }
      return null;
    }
  };

  const loggedOut = (text: string) => {
    box.hidden = true;
    loginForm.hidden = false;
    delete panel.dataset.user;
    say('out', text);
  };

  const showSession = (s: Session) => {
    panel.dataset.user = s.user;
    setText(byId('session-user-value'), s.user);
    setText(byId('session-created'), formatClock(s.created_at * 1000).slice(0, 8));
    setText(byId('session-last-seen'), formatClock(s.last_seen * 1000).slice(0, 8));
    setText(byId('session-ttl'), `${s.ttl_seconds} s`);
    box.hidden = false;
    loginForm.hidden = true;
    say('in', `Logged in as ${s.user}.`);
  };

  const showCart = (c: Cart) => {
    const total = c.items.length;
    setText(byId('cart-caption'), total === 0 ? 'The cart is empty.' : `${total} ${total === 1 ? 'product' : 'products'}, ${c.total_quantity} items in all.`);
    tbody.replaceChildren(
      ...c.items.map((item) => {
        const tr = document.createElement('tr');
        tr.className = 'border-b border-slate-100';
        tr.dataset.product = String(item.product_id);
        const cells = [String(item.product_id), item.name ?? '—', String(item.quantity)];
        cells.forEach((text, i) => {
          const td = document.createElement('td');
          td.className = `py-1 pr-3 ${i === 2 ? 'text-right font-mono' : ''} text-slate-900`;
          td.textContent = text;
          tr.append(td);
        });
        const td = document.createElement('td');
        const remove = document.createElement('button');
        remove.type = 'button';
        remove.className = 'text-sm text-sky-800 underline underline-offset-2 hover:text-sky-950';
        remove.textContent = 'Remove';
        remove.setAttribute('aria-label', `Remove product ${item.product_id} from the cart`);
        remove.addEventListener('click', () => void removeItem(String(item.product_id)));
        td.append(remove);
        tr.append(td);
        return tr;
      }),
    );
  };

  /** The session and its cart, or the logged-out state on a 401. */
  const refresh = async () => {
    const me = await withCookies(() => d.api.getSession());
    if (!me) return;
    if (me.status === 401) return loggedOut('Not logged in.');
    if (me.status !== 200) return say('error', `The session could not be read: ${detailText(me.body) ?? `HTTP ${me.status}`}.`);
    showSession(me.body as Session);
    const cart = await withCookies(() => d.api.getCart());
    if (cart?.status === 200) showCart(cart.body as Cart);
  };

  const removeItem = async (id: string) => {
    const ans = await withCookies(() => d.api.removeCartItem(id));
    if (ans && ans.status !== 204) setText(cartError, `Not removed: ${detailText(ans.body) ?? `HTTP ${ans.status}`}.`);
    await refresh();
  };

  loginForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const name = user.value.trim();
    const problem = checkUser(name);
    setText(userError, problem ?? '');
    user.setAttribute('aria-invalid', problem ? 'true' : 'false');
    if (problem) return user.focus();
    const ans = await withCookies(() => d.api.login(name));
    if (!ans) return;
    if (ans.status !== 201) return setText(userError, `Not logged in: ${detailText(ans.body) ?? `HTTP ${ans.status}`}.`);
    await refresh();
  });

  byId('session-logout').addEventListener('click', async () => {
    const ans = await withCookies(() => d.api.logout());
    if (ans) loggedOut(ans.status === 204 || ans.status === 401 ? 'Logged out: the session is gone from Redis.' : `Log out failed: HTTP ${ans.status}.`);
  });

  cartForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const id = product.value.trim();
    const problem = checkProductId(id) ?? checkQuantity(quantity.value.trim());
    setText(cartError, problem ?? '');
    if (problem) return;
    const ans = await withCookies(() => d.api.setCartItem(id, Number(quantity.value)));
    if (!ans) return;
    if (ans.status === 401) return loggedOut('The session ended: log in again.');
    if (ans.status !== 200) setText(cartError, `Not put in the cart: ${detailText(ans.body) ?? `HTTP ${ans.status}`}.`);
    await refresh();
  });

  // The first look at the session when the panel is seen (the section shown and scrolled to).
  let checked = false;
  const observer = new IntersectionObserver((entries) => {
    if (checked || !entries.some((e) => e.isIntersecting)) return;
    checked = true;
    observer.disconnect();
    void refresh();
  });
  observer.observe(panel);
}
