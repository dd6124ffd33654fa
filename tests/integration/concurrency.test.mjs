// Concurrent clients: every answer correct for its request, and the counters exact afterwards
// (hits + misses = lookups sent, db_queries = misses + 2 per list request).
//
// The exact relations (every miss is one query, every hit a cache answer) are the cache-aside
// baseline, so those tests switch single-flight off (STAMPEDE_PROTECTION=false). With it on
// (the default), lookups that miss together wait for one load: misses still count, but
// db_queries <= misses — exactly one query per id from a cold cache, across both event loops.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack } from '../lib/stack.mjs';
import { assertProductMatches } from './lib/expect.mjs';

// The baseline: single-flight off, so that each miss is its own query.
const BASELINE = { STAMPEDE_PROTECTION: 'false' };

let stack;
let seed;

before(async () => {
  stack = await startStack();
  seed = await stack.dbProducts();
});

after(async () => {
  await stack?.teardown();
});

/** Run `clients` loops of `perClient` steps; `step(client, i)` returns an error string or null. */
async function runClients(clients, perClient, step) {
  const failures = [];
  let done = 0;
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      for (let i = 0; i < perClient; i++) {
        let problem;
        try {
          problem = await step(c, i);
        } catch (err) {
          problem = `client ${c} step ${i}: ${err.message}`;
        }
        if (problem && failures.length < 20) failures.push(problem);
        done++;
      }
    }),
  );
  return { failures, done };
}

function checkProduct(body, id) {
  try {
    assertProductMatches(body, seed[id - 1]);
    return null;
  } catch (err) {
    return `product ${id}: ${err.message}`;
  }
}

test('64 clients x 200 reads from a cold cache: all correct, counters exact (single-flight off)', { timeout: 300000 }, async () => {
  await stack.redisCmd('FLUSHALL');
  await stack.restartService({ env: BASELINE });
  const CLIENTS = 64;
  const PER = 200;
  const sources = { cache: 0, database: 0 };

  const { failures, done } = await runClients(CLIENTS, PER, async (c, i) => {
    const id = ((c * PER + i) % 15) + 1;
    const r = await stack.get(`/products/${id}`);
    if (r.status !== 200) return `GET /products/${id}: status ${r.status} ${r.text}`;
    sources[r.body.source] = (sources[r.body.source] ?? 0) + 1;
    return checkProduct(r.body, id);
  });

  assert.deepEqual(failures, [], 'every response is a 200 with the right product');
  assert.equal(done, CLIENTS * PER);
  assert.equal(sources.cache + sources.database, CLIENTS * PER, `sources ${JSON.stringify(sources)}`);

  const a = (await stack.get('/cache/stats')).body.app_stats;
  assert.equal(a.hits + a.misses, CLIENTS * PER, `hits ${a.hits} + misses ${a.misses} = lookups sent`);
  assert.equal(a.hits, sources.cache, 'hits = responses with source cache');
  assert.equal(a.misses, sources.database, 'misses = responses with source database');
  assert.equal(a.db_queries, a.misses, 'one query per miss');
  assert.ok(a.misses >= 15, 'at least one miss per id');
  assert.equal(a.db_errors, 0);
  assert.equal(a.redis_errors, 0);

  await stack.waitForKeys(Array.from({ length: 15 }, (_, i) => `product:${i + 1}`));
  const keys = await stack.redisKeys('product:*');
  assert.deepEqual(keys, Array.from({ length: 15 }, (_, i) => `product:${i + 1}`).sort());
});

test('64 clients x 200 reads from a cold cache with single-flight (default): one query per id, misses still counted', { timeout: 300000 }, async (t) => {
  await stack.redisCmd('FLUSHALL');
  await stack.restartService();
  const CLIENTS = 64;
  const PER = 200;
  const sources = { cache: 0, database: 0 };
  const xcache = {};

  const { failures, done } = await runClients(CLIENTS, PER, async (c, i) => {
    const id = ((c * PER + i) % 15) + 1;
    const r = await stack.get(`/products/${id}`);
    if (r.status !== 200) return `GET /products/${id}: status ${r.status} ${r.text}`;
    sources[r.body.source] = (sources[r.body.source] ?? 0) + 1;
    const x = r.headers.get('x-cache');
    xcache[x] = (xcache[x] ?? 0) + 1;
    const want = r.body.source === 'cache' ? 'HIT' : 'MISS';
    if (x !== want) return `GET /products/${id}: source ${r.body.source} with X-Cache ${x}, expected ${want}`;
    return checkProduct(r.body, id);
  });
  const a = (await stack.get('/cache/stats')).body.app_stats;
  t.diagnostic(`sources ${JSON.stringify(sources)}, X-Cache ${JSON.stringify(xcache)}, app_stats hits ${a.hits} misses ${a.misses} db_queries ${a.db_queries}`);

  assert.deepEqual(failures, [], 'every response is a 200 with the right product and a matching X-Cache');
  assert.equal(done, CLIENTS * PER);
  assert.equal(sources.cache + sources.database, CLIENTS * PER, `sources ${JSON.stringify(sources)}`);
  assert.equal(a.hits + a.misses, CLIENTS * PER, `hits ${a.hits} + misses ${a.misses} = lookups sent`);
  assert.equal(a.db_queries, 15, 'exactly one query per id: single-flight in a loop, the Redis lock across loops');
  assert.ok(a.db_queries <= a.misses, 'db_queries <= misses');
  // A lookup that waited for another one's load counts as a miss even when its answer was read
  // back from the cache (the lock holder on another loop stored it), so hits <= cache answers.
  assert.ok(a.hits <= sources.cache, `hits ${a.hits} <= cache answers ${sources.cache}`);
  assert.ok(a.misses >= sources.database, `misses ${a.misses} >= database answers ${sources.database}`);
  assert.ok(sources.database >= 15, 'each id was loaded from the database once');
  assert.equal(a.db_errors, 0);
  assert.equal(a.redis_errors, 0);
});

test('mixed concurrent traffic (items, 404s, lists, stats, clears): answers and counters consistent (single-flight off)', { timeout: 300000 }, async () => {
  await stack.redisCmd('FLUSHALL');
  await stack.restartService({ env: BASELINE });
  const CLIENTS = 32;
  const PER = 100;
  let lookups = 0;
  let lists = 0;
  let fromCache = 0;
  let fromDb = 0;

  const { failures } = await runClients(CLIENTS, PER, async (c, i) => {
    const kind = (c * 7 + i * 13) % 20;
    if (kind < 12) {
      const id = ((c + i * 3) % 15) + 1;
      lookups++;
      const r = await stack.get(`/products/${id}`);
      if (r.status !== 200) return `GET /products/${id}: ${r.status} ${r.text}`;
      if (r.body.source === 'cache') fromCache++;
      else fromDb++;
      return checkProduct(r.body, id);
    }
    if (kind < 14) {
      lookups++;
      const r = await stack.get('/products/999999');
      // Negative caching: a repeated 404 is a hit, and says so ("source":"cache").
      if (r.body?.source === 'cache') fromCache++;
      else fromDb++;
      if (r.status !== 404 || r.body?.detail !== 'Product not found') return `404 expected: ${r.status} ${r.text}`;
      return null;
    }
    if (kind < 17) {
      const offset = (c + i) % 15;
      lists++;
      const r = await stack.get(`/products?limit=5&offset=${offset}`);
      if (r.status !== 200) return `list: ${r.status} ${r.text}`;
      const want = seed.slice(offset, offset + 5).map((p) => p.id);
      const got = r.body.map((p) => p.id);
      if (JSON.stringify(got) !== JSON.stringify(want)) return `list offset ${offset}: ${got} != ${want}`;
      if (r.headers.get('x-total-count') !== '15') return `X-Total-Count ${r.headers.get('x-total-count')}`;
      return null;
    }
    if (kind < 19) {
      const r = await stack.get('/cache/stats');
      if (r.status !== 200 || typeof r.body?.app_stats?.hits !== 'number') return `stats: ${r.status} ${r.text}`;
      return null;
    }
    const r = await stack.get('/cache/clear', { method: 'DELETE' });
    if (r.status !== 200 || typeof r.body?.cleared_keys !== 'number') return `clear: ${r.status} ${r.text}`;
    // 15 products plus the negative entry of 999999.
    if (r.body.cleared_keys < 0 || r.body.cleared_keys > 16) return `cleared_keys ${r.body.cleared_keys}`;
    return null;
  });

  assert.deepEqual(failures, [], 'every response correct');
  const a = (await stack.get('/cache/stats')).body.app_stats;
  assert.equal(a.hits + a.misses, lookups, 'hits + misses = lookups (404s included)');
  assert.equal(a.hits, fromCache, 'hits = responses from cache');
  assert.equal(a.misses, fromDb, 'misses = database answers + 404s from the database');
  assert.equal(a.db_queries, a.misses + 2 * lists, 'db_queries = misses + 2 per list');
  assert.equal(a.hit_rate, Math.round((a.hits / (a.hits + a.misses)) * 10000) / 100);
});
