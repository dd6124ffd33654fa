// Sessions and a cart kept in Redis, shared by every instance (POST /sessions, /sessions/me, the
// cart under /sessions/me/cart). Three cacheme processes share one Redis and one PostgreSQL.
// Checked:
//   - a login through one instance, the cart used through the two others, the session's keys
//     ({session:<id>} and {session:<id>}:cart, same hash slot) with the TTL SESSION_TTL_SECONDS;
//   - the cookie: 128-bit hex id, HttpOnly, SameSite=Lax, Path=/, Secure only when configured;
//   - idle expiry with a 1 s TTL, and the TTL sliding with use;
//   - no fixation: a login with a cookie deletes the old session, whose id is then refused;
//   - SESSION_MAX_PER_USER: the oldest logins evicted;
//   - 401 without a cookie, with a malformed or unknown one; 422/404 for bad bodies and ids;
//   - Redis down: 503 on session routes, while GET /products/1 still answers 200.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack } from '../lib/stack.mjs';
import { request, waitFor } from '../lib/util.mjs';
import { assertDetail } from './lib/expect.mjs';

const ENV = { SESSION_TTL_SECONDS: 60, SESSION_MAX_PER_USER: 3 };
const ID = /^[0-9a-f]{32}$/;

let stack;
let instances;

before(async () => {
  stack = await startStack({ env: ENV });
  instances = [stack.service, await stack.startService({ env: ENV }), await stack.startService({ env: ENV })];
});

after(async () => {
  await stack?.teardown();
});

/** POST /sessions as user on url (with an optional cookie); returns the answer and the new cookie. */
async function login(url, user, cookie) {
  const headers = { 'Content-Type': 'application/json' };
  if (cookie) headers.Cookie = cookie;
  const r = await request(`${url}/sessions`, { method: 'POST', headers, body: JSON.stringify({ user }) });
  const set = r.headers.get('set-cookie');
  return { ...r, setCookie: set, cookie: set ? set.split(';')[0] : undefined };
}

function withCookie(cookie, init = {}) {
  return { ...init, headers: { ...(init.headers || {}), Cookie: cookie } };
}

function putItem(url, cookie, id, body) {
  return request(`${url}/sessions/me/cart/items/${id}`, withCookie(cookie, {
    method: 'PUT',
    headers: { 'Content-Type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  }));
}

/** A 422 whose first entry has this type, loc and input (objects compared by value). */
function invalid(res, { type, loc, input }) {
  assert.equal(res.status, 422, res.text);
  const d = res.body.detail[0];
  assert.equal(d.type, type, res.text);
  assert.deepEqual(d.loc, loc, res.text);
  assert.ok(typeof d.msg === 'string' && d.msg.length > 0, res.text);
  assert.deepEqual(d.input, input, res.text);
}

function idOf(cookie) {
  return cookie.split('=')[1];
}

test('a login on one instance, the cart through two others', async () => {
  const [a, b, c] = instances;
  const r = await login(a.url, 'alice');
  assert.equal(r.status, 201, r.text);
  assert.equal(r.body.user, 'alice');
  assert.equal(r.body.ttl_seconds, 60);
  assert.equal(r.body.cart_items, 0);
  assert.equal(r.body.evicted, 0);
  assert.match(idOf(r.cookie), ID);

  const put = await putItem(b.url, r.cookie, 1, { quantity: 2 });
  assert.equal(put.status, 200, put.text);
  assert.deepEqual(put.body, { product_id: 1, quantity: 2, name: (await stack.dbProduct(1)).name });
  assert.notEqual(put.headers.get('x-instance'), r.headers.get('x-instance'));
  assert.equal((await putItem(c.url, r.cookie, 3, { quantity: 5 })).status, 200);
  assert.equal((await putItem(b.url, r.cookie, 1, { quantity: 4 })).status, 200, 'PUT sets, not adds');

  const cart = await request(`${c.url}/sessions/me/cart`, withCookie(r.cookie));
  assert.equal(cart.status, 200, cart.text);
  assert.deepEqual(cart.body, {
    items: [
      { product_id: 1, quantity: 4, name: (await stack.dbProduct(1)).name },
      { product_id: 3, quantity: 5, name: (await stack.dbProduct(3)).name },
    ],
    total_quantity: 9,
  });
  const item = await request(`${a.url}/sessions/me/cart/items/3`, withCookie(r.cookie));
  assert.deepEqual([item.status, item.body], [200, { product_id: 3, quantity: 5 }]);

  const del = await request(`${b.url}/sessions/me/cart/items/3`, withCookie(r.cookie, { method: 'DELETE' }));
  assert.equal(del.status, 204);
  assertDetail(await request(`${c.url}/sessions/me/cart/items/3`, withCookie(r.cookie)), 404, 'Item not in cart');
  assert.equal((await request(`${c.url}/sessions/me/cart/items/3`, withCookie(r.cookie, { method: 'DELETE' }))).status, 204, 'DELETE is idempotent');

  const me = await request(`${b.url}/sessions/me`, withCookie(r.cookie));
  assert.equal(me.status, 200, me.text);
  assert.equal(me.body.user, 'alice');
  assert.equal(me.body.cart_items, 1);
  assert.ok(me.body.last_seen >= me.body.created_at);
  assert.equal(me.headers.get('cache-control'), 'no-store');

  // The keys: one hash slot per session (hash tag), both with the session's TTL.
  const id = idOf(r.cookie);
  assert.equal(await stack.redisCmd('HGET', `{session:${id}}`, 'user'), 'alice');
  assert.deepEqual(await stack.redisCmd('HGETALL', `{session:${id}}:cart`), ['1', '4']);
  for (const key of [`{session:${id}}`, `{session:${id}}:cart`]) {
    const ttl = await stack.redisCmd('PTTL', key);
    assert.ok(ttl > 50000 && ttl <= 60000, `${key} TTL ${ttl}`);
  }
  assert.deepEqual(await stack.redisCmd('ZRANGE', '{user:alice}:sessions', 0, -1), [id]);

  // Logout on yet another instance: the cookie is cleared and the session gone everywhere.
  const out = await request(`${c.url}/sessions/me`, withCookie(r.cookie, { method: 'DELETE' }));
  assert.equal(out.status, 204);
  assert.match(out.headers.get('set-cookie'), /^cacheme_session=; Path=\/; Max-Age=0; HttpOnly; SameSite=Lax$/);
  for (const svc of instances) assertDetail(await request(`${svc.url}/sessions/me`, withCookie(r.cookie)), 401, 'Not authenticated');
  assert.equal(await stack.redisCmd('EXISTS', `{session:${id}}`, `{session:${id}}:cart`), 0);
  assert.deepEqual(await stack.redisCmd('ZRANGE', '{user:alice}:sessions', 0, -1), []);
});

test('the cookie: a random 128-bit id, HttpOnly, SameSite=Lax, Path=/, Secure only when configured', async () => {
  const ids = new Set();
  for (let i = 0; i < 5; i++) {
    const r = await login(instances[0].url, 'cookie-check');
    assert.match(r.setCookie, /^cacheme_session=[0-9a-f]{32}; Path=\/; HttpOnly; SameSite=Lax$/);
    ids.add(idOf(r.cookie));
  }
  assert.equal(ids.size, 5, 'every login makes a new id');
  const secure = await stack.startService({ env: { ...ENV, SESSION_COOKIE_SECURE: 'true' } });
  try {
    const r = await login(secure.url, 'cookie-check');
    assert.match(r.setCookie, /^cacheme_session=[0-9a-f]{32}; Path=\/; HttpOnly; SameSite=Lax; Secure$/);
  } finally {
    await secure.signal('SIGTERM');
  }
});

test('idle expiry: the TTL slides with each use, and an idle session dies', async () => {
  const svc = await stack.startService({ env: { ...ENV, SESSION_TTL_SECONDS: 1 } });
  try {
    const r = await login(svc.url, 'idler');
    assert.equal(r.status, 201);
    const key = `{session:${idOf(r.cookie)}}`;
    // Used again after most of its second has gone: the TTL starts over.
    await waitFor(async () => (await stack.redisCmd('PTTL', key)) < 500, { timeout: 5000, interval: 20, message: 'TTL under 500 ms' });
    assert.equal((await putItem(svc.url, r.cookie, 2, { quantity: 1 })).status, 200);
    const ttl = await stack.redisCmd('PTTL', key);
    assert.ok(ttl > 500, `TTL refreshed by use: ${ttl}`);
    assert.ok((await stack.redisCmd('PTTL', `${key}:cart`)) > 500, 'the cart slides with it');
    // Left alone, it expires (watched in Redis: asking the service would be a use, and slide it),
    // and then every instance refuses it.
    await waitFor(async () => (await stack.redisCmd('EXISTS', key, `${key}:cart`)) === 0, {
      timeout: 10000,
      interval: 50,
      message: 'idle session expired',
    });
    assertDetail(await request(`${svc.url}/sessions/me`, withCookie(r.cookie)), 401, 'Not authenticated');
    assertDetail(await request(`${instances[1].url}/sessions/me/cart`, withCookie(r.cookie)), 401, 'Not authenticated');
  } finally {
    await svc.signal('SIGTERM');
  }
});

test('no fixation: a login with a cookie gets a new id and the old one is dead', async () => {
  const [a, b, c] = instances;
  const first = await login(a.url, 'mallory');
  assert.equal((await putItem(a.url, first.cookie, 1, { quantity: 1 })).status, 200);
  // The client logs in again (as anyone) carrying the old cookie: the old session is deleted.
  const second = await login(b.url, 'victim', first.cookie);
  assert.equal(second.status, 201);
  assert.notEqual(idOf(second.cookie), idOf(first.cookie));
  assertDetail(await request(`${c.url}/sessions/me`, withCookie(first.cookie)), 401, 'Not authenticated');
  assert.equal(await stack.redisCmd('EXISTS', `{session:${idOf(first.cookie)}}`, `{session:${idOf(first.cookie)}}:cart`), 0);
  assert.deepEqual(await stack.redisCmd('ZRANGE', '{user:mallory}:sessions', 0, -1), []);
  const me = await request(`${c.url}/sessions/me`, withCookie(second.cookie));
  assert.equal(me.body.user, 'victim');
  assert.equal(me.body.cart_items, 0, 'nothing carried over');
  // A forged, well-formed id that no login made is refused, and a login with it makes a new one.
  const forged = `cacheme_session=${'ab'.repeat(16)}`;
  assertDetail(await request(`${a.url}/sessions/me`, withCookie(forged)), 401, 'Not authenticated');
  const third = await login(a.url, 'victim', forged);
  assert.notEqual(idOf(third.cookie), 'ab'.repeat(16));
});

test('SESSION_MAX_PER_USER: the oldest logins are evicted', async () => {
  const cookies = [];
  for (let i = 0; i < 5; i++) {
    const r = await login(instances[i % 3].url, 'busy');
    assert.equal(r.status, 201);
    assert.equal(r.body.evicted, i < 3 ? 0 : 1, `login ${i}`);
    cookies.push(r.cookie);
  }
  for (const [i, cookie] of cookies.entries()) {
    const r = await request(`${instances[(i + 1) % 3].url}/sessions/me`, withCookie(cookie));
    assert.equal(r.status, i < 2 ? 401 : 200, `session ${i}`);
  }
  assert.equal(await stack.redisCmd('ZCARD', '{user:busy}:sessions'), 3);
  // Another user's sessions are not touched.
  const other = await login(instances[0].url, 'calm');
  assert.equal((await request(`${instances[1].url}/sessions/me`, withCookie(other.cookie))).status, 200);
});

test('401: no cookie, a malformed cookie, an unknown id', async () => {
  const url = instances[1].url;
  const paths = [
    ['GET', '/sessions/me'],
    ['DELETE', '/sessions/me'],
    ['GET', '/sessions/me/cart'],
    ['GET', '/sessions/me/cart/items/1'],
    ['DELETE', '/sessions/me/cart/items/1'],
  ];
  const cookies = [undefined, 'cacheme_session=', 'cacheme_session=xyz', `cacheme_session=${'A'.repeat(32)}`, `cacheme_session=${'0'.repeat(31)}%00`, `other=${'0'.repeat(32)}`, `cacheme_session=${'0'.repeat(32)}`];
  for (const cookie of cookies) {
    for (const [method, path] of paths) {
      const r = await request(`${url}${path}`, { method, headers: cookie ? { Cookie: cookie } : {} });
      assertDetail(r, 401, 'Not authenticated');
      assert.match(r.headers.get('www-authenticate'), /^Cookie /);
    }
    assertDetail(await putItem(url, cookie ?? 'x=1', 1, { quantity: 1 }), 401, 'Not authenticated');
  }
  // A product that does not exist, without a valid session: 401 before 404.
  assertDetail(await putItem(url, `cacheme_session=${'0'.repeat(32)}`, 999999, { quantity: 1 }), 401, 'Not authenticated');
});

test('bad bodies and ids: 422 in FastAPI shape, 404 for a product that does not exist', async () => {
  const url = instances[2].url;
  const post = (body) => request(`${url}/sessions`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body });
  invalid(await post('{'), { type: 'json_invalid', loc: ['body'], input: null });
  invalid(await post(''), { type: 'json_invalid', loc: ['body'], input: null });
  const list = await post('[]');
  assert.equal(list.status, 422);
  assert.deepEqual(list.body.detail, [{ type: 'model_attributes_type', loc: ['body'], msg: 'Input should be a valid object', input: [] }]);
  invalid(await post('{}'), { type: 'missing', loc: ['body', 'user'], input: {} });
  invalid(await post('{"user": 7}'), { type: 'string_type', loc: ['body', 'user'], input: 7 });
  for (const user of ['', 'Alice', 'a b', 'x'.repeat(33), '{user}', 'a:b', 'é']) {
    invalid(await post(JSON.stringify({ user })), { type: 'string_pattern_mismatch', loc: ['body', 'user'], input: user });
  }
  // A NUL inside the name: jansson refuses the text, so it never becomes a key name.
  invalid(await post('{"user": "a\\u0000b"}'), { type: 'json_invalid', loc: ['body'], input: null });
  const extra = await post('{"user": "ok", "admin": true}');
  invalid(extra, { type: 'extra_forbidden', loc: ['body', 'admin'], input: true });
  assert.equal((await post(JSON.stringify({ user: 'x'.repeat(32) }))).status, 201, '32 characters log in');

  const { cookie } = await login(url, 'shopper');
  for (const [body, type, input] of [
    [{}, 'missing', {}],
    [{ quantity: 0 }, 'greater_than_equal', 0],
    [{ quantity: -1 }, 'greater_than_equal', -1],
    [{ quantity: 100 }, 'less_than_equal', 100],
    [{ quantity: 1.5 }, 'int_type', 1.5],
    [{ quantity: '2' }, 'int_type', '2'],
    [{ quantity: null }, 'int_type', null],
  ]) {
    invalid(await putItem(url, cookie, 1, body), { type, loc: ['body', 'quantity'], input });
  }
  invalid(await putItem(url, cookie, 1, 'not json'), { type: 'json_invalid', loc: ['body'], input: null });
  invalid(await putItem(url, cookie, 'abc', { quantity: 1 }), { type: 'int_parsing', loc: ['path', 'product_id'], input: 'abc' });
  invalid(await putItem(url, cookie, '1%00', { quantity: 1 }), { type: 'int_parsing', loc: ['path', 'product_id'], input: '1\u0000' });
  invalid(await request(`${url}/sessions/me/cart/items/x`, withCookie(cookie)), { type: 'int_parsing', loc: ['path', 'product_id'], input: 'x' });
  assertDetail(await putItem(url, cookie, 999999, { quantity: 1 }), 404, 'Product not found');
  assertDetail(await putItem(url, cookie, 99999999999, { quantity: 1 }), 404, 'Product not found');
  assert.equal((await putItem(url, cookie, 1, { quantity: 99 })).status, 200, '99 is allowed');
  assert.equal((await request(`${url}/sessions/me`, withCookie(cookie))).body.cart_items, 1, 'nothing else was stored');
});

test('Redis down: 503 on session routes, product reads still 200', async () => {
  const [a, b] = instances;
  const { cookie } = await login(a.url, 'outage');
  await stack.killRedis();
  try {
    for (const [method, path, body] of [
      ['POST', '/sessions', '{"user": "outage"}'],
      ['GET', '/sessions/me'],
      ['DELETE', '/sessions/me'],
      ['GET', '/sessions/me/cart'],
      ['PUT', '/sessions/me/cart/items/1', '{"quantity": 1}'],
      ['DELETE', '/sessions/me/cart/items/1'],
    ]) {
      const r = await request(`${b.url}${path}`, { method, body, headers: { Cookie: cookie, 'Content-Type': 'application/json' } });
      assertDetail(r, 503, 'Session store unavailable');
    }
    const p = await request(`${b.url}/products/1`);
    assert.equal(p.status, 200, p.text);
    // Bad input is still answered as such, without the store.
    assertDetail(await request(`${b.url}/sessions/me`), 401, 'Not authenticated');
  } finally {
    await stack.startRedis();
  }
  // Redis came back empty: the old session is gone, a new login works.
  await waitFor(async () => (await login(b.url, 'outage')).status === 201, { timeout: 15000, message: 'login after Redis restart' });
});
