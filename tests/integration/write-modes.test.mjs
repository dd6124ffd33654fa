// CACHE_WRITE_MODE invalidate (default) and write-through: what the next read sees after a write
// returns. invalidate: the write commits, then drops the cached copy, then answers — the next GET
// comes from the database with the new data (and stores it). write-through: the write commits, then
// stores the new value, then answers — the next GET comes from the cache with the new data. Also the
// X-Cache-Write-Mode / X-Cache-Action headers, write_mode in /cache/stats, and bad values of the
// setting (exit 2 naming it).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, runCacheme } from '../lib/stack.mjs';
import { assertDetail } from './lib/expect.mjs';
import { freePort } from '../lib/util.mjs';
import { getProduct, primeCache, sendJson } from './lib/writes.mjs';
import { cachedProduct } from './lib/resilience.mjs';

const ENV = { WORKERS: 2 };
const PRODUCT_FIELDS = ['id', 'name', 'description', 'price', 'category', 'created_at', 'updated_at'];

let stack;

before(async () => {
  stack = await startStack({ env: ENV });
});

after(async () => {
  await stack?.teardown();
});

const write = (method, pathname, body) => sendJson(stack.url, method, pathname, body);

/** The product fields of a GET answer equal those of a write's answer and of the database row. */
async function assertSameProduct(got, written, what) {
  for (const f of PRODUCT_FIELDS) assert.deepEqual(got[f], written[f], `${what}: ${f}`);
  const row = await stack.dbProduct(written.id);
  assert.equal(got.name, row.name, `${what}: name equals the database`);
  assert.equal(got.price, Number(row.price), `${what}: price equals the database`);
  assert.equal(got.description, row.description, `${what}: description equals the database`);
  assert.equal(got.category, row.category, `${what}: category equals the database`);
}

async function writeMode() {
  const s = await stack.get('/cache/stats');
  assert.equal(s.status, 200, s.text);
  return s.body.write_mode;
}

// ---------------------------------------------------------------------------------------------

test('invalidate (default): after a write returns, the next GET is from the database with the new data', async () => {
  await stack.redisCmd('FLUSHALL');
  await stack.restartService({ env: ENV });
  assert.equal(await writeMode(), 'invalidate', 'write_mode in /cache/stats');

  for (const [method, body] of [
    ['PATCH', { name: 'Patched once' }],
    ['PUT', { name: 'Put once', price: 42.42, description: 'all new', category: 'New' }],
    ['PATCH', { price: 0.5, category: null }],
  ]) {
    const old = await primeCache(stack, 3);
    const w = await write(method, '/products/3', body);
    assert.equal(w.status, 200, `${method}: ${w.text}`);
    assert.equal(w.headers.get('x-cache-write-mode'), 'invalidate');
    assert.equal(w.headers.get('x-cache-action'), 'deleted', `${method} dropped the cached copy`);
    assert.ok(PRODUCT_FIELDS.some((f) => JSON.stringify(w.body[f]) !== JSON.stringify(old[f])), 'the write changed something');
    const next = await getProduct(stack, 3);
    assert.equal(next.source, 'database', `${method}: the next GET misses`);
    await assertSameProduct(next, w.body, `${method}: next GET`);
    await stack.waitForKeys('product:3');
    const again = await getProduct(stack, 3);
    assert.equal(again.source, 'cache', `${method}: then it is cached again`);
    await assertSameProduct(again, w.body, `${method}: cached again`);
  }

  // A new product: its first GET comes from the database.
  const c = await write('POST', '/products', { name: 'Fresh', price: 3 });
  assert.equal(c.status, 201, c.text);
  const first = await getProduct(stack, c.body.id);
  assert.equal(first.source, 'database');
  await assertSameProduct(first, c.body, 'POST: next GET');

  // DELETE of a cached product: the next GET is 404 (and does not resurrect it).
  await primeCache(stack, 4);
  const d = await write('DELETE', '/products/4');
  assert.equal(d.status, 204, d.text);
  assert.equal(d.headers.get('x-cache-action'), 'deleted');
  assertDetail(await stack.get('/products/4'), 404, 'Product not found');
  // At most a negative entry (the 404 read caches "not found"), never the product.
  assert.equal(await cachedProduct(stack, 'product:4'), null, 'no cached product for a deleted product');
});

test('write-through: after a write returns, the next GET is from the cache with the new data', async () => {
  await stack.redisCmd('FLUSHALL');
  await stack.restartService({ env: { ...ENV, CACHE_WRITE_MODE: 'write-through' } });
  assert.equal(await writeMode(), 'write-through', 'write_mode in /cache/stats');

  for (const [method, body, cachedBefore] of [
    ['PATCH', { name: 'WT patched' }, true],
    ['PUT', { name: 'WT put', price: 77.7, description: 'replaced', category: 'WT' }, true],
    ['PATCH', { description: null, price: 1.01 }, true],
    ['PATCH', { name: 'WT uncached' }, false],
  ]) {
    if (cachedBefore) await primeCache(stack, 5);
    else {
      await stack.redisCmd('DEL', 'product:5');
    }
    const w = await write(method, '/products/5', body);
    assert.equal(w.status, 200, `${method}: ${w.text}`);
    assert.equal(w.headers.get('x-cache-write-mode'), 'write-through');
    assert.equal(w.headers.get('x-cache-action'), 'stored', `${method} stored the new value`);
    // The value is in Redis before the answer.
    // Stored as the product's JSON.
    const cached = JSON.parse(await stack.redisCmd('GET', 'product:5'));
    for (const f of ['name', 'price', 'description', 'category']) assert.deepEqual(cached[f], w.body[f], `cached ${f} after ${method}`);
    const ttl = await stack.redisCmd('TTL', 'product:5');
    // The default TTL with its ±10 % jitter; the stale copy 300 s longer.
    assert.ok(ttl > 0 && ttl <= 3960, `stored with a TTL (${ttl})`);
    const staleTtl = await stack.redisCmd('TTL', '{product:5}:stale');
    assert.ok(staleTtl > ttl && staleTtl <= 3960 + 300, `stale copy kept longer (${staleTtl})`);
    const next = await getProduct(stack, 5);
    assert.equal(next.source, 'cache', `${method}: the next GET is a hit`);
    await assertSameProduct(next, w.body, `${method}: next GET`);
  }

  // POST stores the new product too.
  const c = await write('POST', '/products', { name: 'WT new', price: 8, category: 'X' });
  assert.equal(c.status, 201, c.text);
  assert.equal(c.headers.get('x-cache-write-mode'), 'write-through');
  const first = await getProduct(stack, c.body.id);
  assert.equal(first.source, 'cache', 'POST: the first GET is a hit');
  await assertSameProduct(first, c.body, 'POST: next GET');

  // DELETE drops the key: the next GET is 404.
  await primeCache(stack, 6);
  const d = await write('DELETE', '/products/6');
  assert.equal(d.status, 204, d.text);
  assert.equal(d.headers.get('x-cache-write-mode'), 'write-through');
  assert.equal(d.headers.get('x-cache-action'), 'deleted');
  assertDetail(await stack.get('/products/6'), 404, 'Product not found');
  assert.equal(await cachedProduct(stack, 'product:6'), null, 'no cached product for a deleted product');

  // Failed writes do not touch the cache.
  const before = await getProduct(stack, 5);
  const bad = await write('PATCH', '/products/5', { price: -1 });
  assert.equal(bad.status, 422);
  assertDetail(await write('PATCH', '/products/999999', { name: 'x' }), 404, 'Product not found');
  const after = await getProduct(stack, 5);
  assert.equal(after.source, 'cache');
  assert.equal(after.price, before.price);
});

test('write-through set by flag (--cache-write-mode); write_mode follows the setting', async () => {
  await stack.restartService({ env: ENV, args: ['serve', '--cache-write-mode', 'write-through'] });
  assert.equal(await writeMode(), 'write-through');
  const w = await write('PATCH', '/products/7', { name: 'by flag' });
  assert.equal(w.status, 200, w.text);
  assert.equal(w.headers.get('x-cache-write-mode'), 'write-through');
  await stack.restartService({ env: { ...ENV, CACHE_WRITE_MODE: 'invalidate' } });
  assert.equal(await writeMode(), 'invalidate');
});

test('a bad CACHE_WRITE_MODE exits 2 with a message naming the setting', async () => {
  // A free port each time, in case a bad value were accepted and the service started.
  for (const bad of ['bogus', 'INVALIDATE', 'write_through']) {
    const r = await runCacheme(['serve'], { env: stack.serviceEnv(await freePort(), { CACHE_WRITE_MODE: bad }), timeout: 15000 });
    assert.equal(r.code, 2, `CACHE_WRITE_MODE=${JSON.stringify(bad)}: exit ${r.code} ${r.signal ?? ''} ${r.stderr}`);
    assert.match(r.stderr, /CACHE_WRITE_MODE|cache-write-mode/, `message names the setting: ${r.stderr}`);
  }
  const flag = await runCacheme(['serve', '--cache-write-mode', 'sometimes'], { env: stack.serviceEnv(await freePort()), timeout: 15000 });
  assert.equal(flag.code, 2, `--cache-write-mode sometimes: exit ${flag.code} ${flag.stderr}`);
  assert.match(flag.stderr, /CACHE_WRITE_MODE|cache-write-mode/);
});

for (const [mode, id] of [['invalidate', 8], ['write-through', 9]]) {
  test(`${mode}: Redis refusing the cache update (OOM) — the write still succeeds, and no read after it returns the old value`, { timeout: 60000 }, async () => {
    await stack.redisCmd('FLUSHALL');
    await stack.restartService({ env: { ...ENV, CACHE_WRITE_MODE: mode } });
    const old = await primeCache(stack, id);
    const name = `${mode} during OOM`;
    await stack.redisCmd('CONFIG', 'SET', 'maxmemory-policy', 'noeviction');
    await stack.redisCmd('CONFIG', 'SET', 'maxmemory', '1');
    const seen = {};
    try {
      const w = await write('PATCH', `/products/${id}`, { name });
      seen.write = `${w.status} ${w.headers.get('x-cache-action')}`;
      assert.equal(w.status, 200, `Redis failing never makes a write fail once committed: ${w.text}`);
      assert.equal((await stack.dbProduct(id)).name, name, 'committed');
      const r = await stack.get(`/products/${id}`);
      seen.readDuringOom = `${r.body.name} (${r.body.source})`;
    } finally {
      await stack.redisCmd('CONFIG', 'SET', 'maxmemory', '0');
    }
    const r = await stack.get(`/products/${id}`);
    seen.readAfterOom = `${r.body.name} (${r.body.source})`;
    assert.notEqual(old.name, name);
    assert.deepEqual(
      { readDuringOom: seen.readDuringOom.replace(/ \(.*/, ''), readAfterOom: seen.readAfterOom.replace(/ \(.*/, '') },
      { readDuringOom: name, readAfterOom: name },
      `reads after the write returned (${JSON.stringify(seen)})`,
    );
  });
}
