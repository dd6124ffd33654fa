// HTTP/1.1 framing over raw sockets (RFC 9112): HEAD answers without a body on kept-alive
// connections (API and dashboard ports, also for the event stream); requests whose framing could be
// read two ways (smuggling) are refused before any handler runs, in JSON, and the connection is
// closed so that nothing after them is read as a request; CONNECT closes; 417 has its reason.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack } from '../lib/stack.mjs';
import { rawExchange, rawRequest, buildRequest } from '../lib/raw-http.mjs';

let stack;

before(async () => {
  stack = await startStack();
});

after(async () => {
  await stack?.teardown();
});

const GET = (path, extra = '') => `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${extra}\r\n`;
const HEAD = (path) => `HEAD ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`;
// A request that must never run when it follows a refused one: it would empty the cache.
const SMUGGLED = 'DELETE /cache/clear HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n';

/** A product key that exists in Redis, so that a smuggled DELETE /cache/clear would be visible. */
async function cachedKey() {
  assert.equal((await stack.get('/products/4')).status, 200);
  await stack.waitForKeys('product:4');
  return 'product:4';
}

function assertJsonError(res, status, detail, what) {
  assert.equal(res.status, status, `${what}: status`);
  assert.match(res.headers['content-type'] ?? '', /application\/json/, `${what}: JSON`);
  assert.deepEqual(JSON.parse(res.body), { detail }, `${what}: body`);
  assert.equal(res.headers.connection, 'close', `${what}: Connection: close`);
}

test('the dashboard port is on in these stacks', async () => {
  assert.ok(stack.uiPort > 0, 'UI_PORT is set');
  const r = await fetch(`http://127.0.0.1:${stack.uiPort}/config.json`);
  assert.equal(r.status, 200);
});

test('HEAD answers carry the Content-Length of GET and no body, so the next response on the connection is read right', async () => {
  for (const path of ['/', '/openapi.json', '/products/1', '/products?limit=3', '/cache/stats']) {
    const { responses } = await rawExchange(stack.port, HEAD(path) + GET('/products/2'), { methods: ['HEAD', 'GET'] });
    assert.equal(responses.length, 2, `HEAD ${path}: two responses`);
    const [head, next] = responses;
    assert.equal(head.status, 200, `HEAD ${path}`);
    assert.match(head.headers['content-length'] ?? '', /^[1-9][0-9]*$/, `HEAD ${path}: Content-Length`);
    assert.equal(head.body, '');
    assert.equal(next.status, 200, `after HEAD ${path}: ${next.body.slice(0, 200)}`);
    assert.equal(JSON.parse(next.body).id, 2, `after HEAD ${path}: the GET's own answer`);
  }
  // Where the body does not change between requests, the length is exactly GET's.
  for (const path of ['/', '/openapi.json']) {
    const { responses } = await rawExchange(stack.port, HEAD(path) + GET(path), { methods: ['HEAD', 'GET'] });
    assert.equal(Number(responses[0].headers['content-length']), Buffer.byteLength(responses[1].body), path);
  }
});

test('HEAD /events answers the stream\'s headers without starting it', async () => {
  const { responses } = await rawExchange(stack.port, HEAD('/events') + GET('/health'), { methods: ['HEAD', 'GET'] });
  assert.equal(responses.length, 2);
  assert.equal(responses[0].status, 200);
  assert.match(responses[0].headers['content-type'], /text\/event-stream/);
  assert.equal(responses[1].status, 200);
  assert.equal(JSON.parse(responses[1].body).status, 'healthy');
});

test('HEAD on the dashboard port answers without a body too', async () => {
  const { responses } = await rawExchange(stack.uiPort, HEAD('/config.json') + GET('/config.json'), { methods: ['HEAD', 'GET'] });
  assert.equal(responses.length, 2);
  assert.equal(responses[0].body, '');
  assert.equal(Number(responses[0].headers['content-length']), Buffer.byteLength(responses[1].body));
  assert.equal(JSON.parse(responses[1].body).api_port, stack.port);
});

test('Transfer-Encoding other than chunked answers 501 and the request smuggled behind it never runs', async () => {
  const key = await cachedKey();
  const req = `POST /products HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: gzip\r\n\r\n${SMUGGLED}`;
  const { responses, closed, rest } = await rawExchange(stack.port, req, { waitClose: true });
  assert.equal(responses.length, 1, `one answer: ${JSON.stringify(responses.map((r) => r.status))} ${rest}`);
  assertJsonError(responses[0], 501, 'Not Implemented', 'Transfer-Encoding: gzip');
  assert.ok(closed, 'the connection is closed after the error');
  assert.equal(await stack.redisCmd('EXISTS', key), 1, 'DELETE /cache/clear did not run');
});

test('ambiguous framing answers 400 before any handler, and closes the connection', async () => {
  const key = await cachedKey();
  const post = (headers, body = '') => `POST /products HTTP/1.1\r\nHost: 127.0.0.1\r\n${headers}\r\n${body}`;
  const body = '{"name":"Smuggler","price":1}';
  const cases = [
    ['two Content-Length headers', post(`Content-Length: ${body.length}\r\nContent-Length: 0\r\n`, body + SMUGGLED)],
    ['Content-Length: +25', post(`Content-Length: +${body.length}\r\n`, body + SMUGGLED)],
    ['a NUL inside Content-Length', post(`Content-Length: ${body.length}\0 5\r\n`, body + SMUGGLED)],
    ['Content-Length with Transfer-Encoding', post(`Content-Length: ${body.length}\r\nTransfer-Encoding: chunked\r\n`, body + SMUGGLED)],
    ['"Transfer-Encoding :" with a space before the colon', post('Transfer-Encoding : chunked\r\n', `0\r\n\r\n${SMUGGLED}`)],
    ['chunk size 0x1d', post('Transfer-Encoding: chunked\r\n', `0x${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n${SMUGGLED}`)],
    ['chunk size +1d', post('Transfer-Encoding: chunked\r\n', `+${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n${SMUGGLED}`)],
    ['a chunked body on HTTP/1.0', `POST /products HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n${SMUGGLED}`],
    ['HTTP/1.1 without Host', `GET /products/1 HTTP/1.1\r\n\r\n${SMUGGLED}`],
    ['HTTP/1.1 with two Host headers', `GET /products/1 HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n${SMUGGLED}`],
    ['HEAD with a body it would not read', `HEAD /products/1 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}`],
    ['TRACE with a chunked body', `TRACE / HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`],
    ['a NUL in a header value', `GET /products/1 HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer token\0junk\r\n\r\n${SMUGGLED}`],
    ['a folded header line', `GET /products/1 HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: a\r\n b\r\n\r\n${SMUGGLED}`],
    ['a bare CR in a header line', `GET /products/1 HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: a\rb\r\n\r\n${SMUGGLED}`],
  ];
  const before = (await stack.get('/products?limit=1')).headers.get('x-total-count');
  for (const [what, req] of cases) {
    const method = req.split(' ')[0];
    const { responses, closed, rest } = await rawExchange(stack.port, Buffer.from(req, 'latin1'), { methods: [method], waitClose: true });
    assert.equal(responses.length, 1, `${what}: one answer (${rest.slice(0, 200)})`);
    assert.equal(responses[0].status, 400, `${what}: ${JSON.stringify(responses[0])}`);
    assert.equal(responses[0].headers.connection, 'close', `${what}: Connection: close`);
    if (method !== 'HEAD') assert.deepEqual(JSON.parse(responses[0].body), { detail: 'Bad Request' }, what);
    assert.ok(closed, `${what}: the connection is closed after the error`);
  }
  assert.equal(await stack.redisCmd('EXISTS', key), 1, 'no smuggled DELETE /cache/clear ran');
  assert.equal((await stack.get('/products?limit=1')).headers.get('x-total-count'), before, 'no product was created');
});

test('well-framed requests still work: chunked bodies, bodies with NUL bytes, pipelining, HTTP/1.0', async () => {
  const body = '{"name":"Chunked","price":2}';
  const chunked = `POST /products HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n${(10).toString(16)}\r\n${body.slice(0, 10)}\r\n${(body.length - 10).toString(16).toUpperCase()}\r\n${body.slice(10)}\r\n0\r\n\r\n`;
  const { responses } = await rawExchange(stack.port, chunked + GET('/products/1') + GET('/health'), { methods: ['POST', 'GET', 'GET'] });
  assert.deepEqual(responses.map((r) => r.status), [201, 200, 200]);
  assert.equal(JSON.parse(responses[0].body).name, 'Chunked');
  // A NUL inside a body is data (here: not JSON, so 422 from the handler, not 400 from framing).
  const nul = `POST /products HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3\r\n\r\n{\0}`;
  const r = await rawExchange(stack.port, nul + GET('/products/1'), { methods: ['POST', 'GET'] });
  assert.deepEqual(r.responses.map((x) => x.status), [422, 200]);
  // HTTP/1.0 needs no Host.
  const old = await rawRequest(stack.port, 'GET /products/1 HTTP/1.0\r\n\r\n');
  assert.equal(old.status, 200);
  assert.equal(old.json.id, 1);
});

test('CONNECT is answered and the connection closed at once', async () => {
  const req = `CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: 127.0.0.1:443\r\n\r\n${GET('/health')}`;
  const { responses, closed } = await rawExchange(stack.port, req, { methods: ['CONNECT', 'GET'], waitClose: true });
  assert.equal(responses.length, 1, 'nothing after CONNECT is answered');
  assert.ok(responses[0].status === 404 || responses[0].status === 405, `status ${responses[0].status}`);
  assert.ok('detail' in JSON.parse(responses[0].body));
  assert.equal(responses[0].headers.connection, 'close');
  assert.ok(closed);
});

test('an Expect the server does not know answers 417 Expectation Failed in JSON', async () => {
  const res = await rawRequest(stack.port, buildRequest('POST', '/products', { Expect: 'something-else', 'Content-Length': 2 }, '{}'));
  assert.equal(res.status, 417, res.raw.slice(0, 300));
  assert.equal(res.statusText, 'Expectation Failed');
  assert.deepEqual(res.json, { detail: 'Expectation Failed' });
});

test('a NUL in a path segment that is not a number answers 400 (scenario names, dashboard files)', async () => {
  const scenario = await stack.get('/lab/scenarios/stampede%00xyz', { method: 'POST' });
  assert.equal(scenario.status, 400, scenario.text);
  assert.deepEqual(scenario.body, { detail: 'Bad Request' });
  const file = await fetch(`http://127.0.0.1:${stack.uiPort}/index.html%00.png`);
  assert.equal(file.status, 400);
  assert.deepEqual(await file.json(), { detail: 'Bad Request' });
  const asset = await stack.get('/docs/swagger-ui.css%00.js');
  assert.equal(asset.status, 400, asset.text);
});

test('the service is healthy after all of this', async () => {
  const r = await stack.get('/health');
  assert.equal(r.status, 200);
  assert.equal(r.body.status, 'healthy');
});
