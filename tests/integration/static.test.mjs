// Files served from memory (the dashboard port, /docs and /redoc assets) in their pre-compressed
// variants: scripts/compress-assets.mjs writes <file>.br and <file>.gz, and the service picks one by
// the request's Accept-Encoding (q-values, "*", identity), with Content-Encoding, Vary, a
// Content-Length and an ETag of each variant's own; variants are not paths of their own. Ends with
// the weight of the built dashboard's first view (web/dist, scripts/build-ui.sh).
//
// Bodies are read with node:http, which neither asks for nor decodes a coding, so that the test sees
// the bytes on the wire.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import zlib from 'node:zlib';
import { startStack, REPO_ROOT } from '../lib/stack.mjs';
import { rawExchange } from '../lib/raw-http.mjs';
import { makeTempDir } from '../lib/util.mjs';
import { run } from '../lib/process.mjs';

const COMPRESS = path.join(REPO_ROOT, 'scripts', 'compress-assets.mjs');
const WEB_DIST = path.join(REPO_ROOT, 'web', 'dist');
const FIRST_VIEW_LIMIT = 70 * 1024;

let stack;
let fixtures;
let ui; // The dashboard port of the service serving the fixture dashboard.

/** Text that compresses well and differs between files. */
function text(name, lines) {
  let out = '';
  for (let i = 0; i < lines; i++) out += `/* ${name} line ${i}: the cache answers before the database does */\n`;
  return out;
}

// A dashboard: an HTML page, hashed assets, an image (no variants), a file too small to gain from
// compression, an archive that is not a variant of anything, and a hand-made .gz larger than its file.
const UI_FILES = {
  'index.html': `<!doctype html><html><head><link rel="stylesheet" href="/_astro/app.css"></head><body><script type="module" src="/_astro/app.js"></script>${text('index', 200)}</body></html>`,
  '_astro/app.js': `console.log(1);\n${text('app.js', 400)}`,
  '_astro/app.css': `body{margin:0}\n${text('app.css', 100)}`,
  'logo.png': Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, ...Array.from({ length: 300 }, (_, i) => (i * 7919) % 256)]),
  'tiny.txt': 'ok',
  'notes.txt': text('notes', 50),
  'archive.gz': zlib.gzipSync(Buffer.from(text('archive', 20))),
};
const SWAGGER_FILES = {
  'swagger-ui.css': text('swagger css', 300),
  'swagger-ui-bundle.js': text('swagger bundle', 900),
  'favicon-32x32.png': Buffer.from([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]),
  'favicon-16x16.png': Buffer.from([0x89, 0x50, 0x4e, 0x47, 4, 5, 6]),
};
const REDOC_FILES = { 'redoc.standalone.js': text('redoc', 900) };

function writeTree(dir, files) {
  for (const [rel, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), content);
  }
}

async function compress(...paths) {
  const r = await run(process.execPath, [COMPRESS, ...paths], { timeout: 120000 });
  assert.equal(r.code, 0, `compress-assets: ${r.stderr}`);
  return r.stderr;
}

/**
 * One request with node:http: { status, headers, body (Buffer, as sent), wire (bytes of the status
 * line, headers and body) }. headers: the request's; the body is not decoded.
 */
function get(port, pathname, headers = {}, method = 'GET') {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: pathname, method, headers, agent: false, timeout: 10000 }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        let head = `HTTP/1.1 ${res.statusCode} ${res.statusMessage}\r\n`;
        for (let i = 0; i < res.rawHeaders.length; i += 2) head += `${res.rawHeaders[i]}: ${res.rawHeaders[i + 1]}\r\n`;
        resolve({ status: res.statusCode, headers: res.headers, body, wire: Buffer.byteLength(`${head}\r\n`) + body.length });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${pathname}: timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/** The body decoded by its Content-Encoding, with node's zlib. */
function decode(res) {
  switch (res.headers['content-encoding']) {
    case undefined:
      return res.body;
    case 'br':
      return zlib.brotliDecompressSync(res.body);
    case 'gzip':
      return zlib.gunzipSync(res.body);
    default:
      throw new Error(`unexpected Content-Encoding ${res.headers['content-encoding']}`);
  }
}

const varyOf = (res) => (res.headers.vary ?? '').split(',').map((s) => s.trim().toLowerCase());

before(async () => {
  fixtures = makeTempDir('static');
  writeTree(path.join(fixtures, 'ui'), UI_FILES);
  writeTree(path.join(fixtures, 'swagger'), SWAGGER_FILES);
  writeTree(path.join(fixtures, 'redoc'), REDOC_FILES);
  await compress(path.join(fixtures, 'ui'), path.join(fixtures, 'swagger'), path.join(fixtures, 'redoc'));
  // A variant that would cost more than it saves (and no other): the service must not use it, nor
  // serve it.
  fs.rmSync(path.join(fixtures, 'ui', 'notes.txt.br'));
  fs.writeFileSync(path.join(fixtures, 'ui', 'notes.txt.gz'), Buffer.concat([zlib.gzipSync(UI_FILES['notes.txt'], { level: 0 }), Buffer.alloc(5000)]));
  stack = await startStack({
    env: { UI_DIR: path.join(fixtures, 'ui'), SWAGGER_UI_DIR: path.join(fixtures, 'swagger'), REDOC_DIR: path.join(fixtures, 'redoc') },
  });
  ui = stack.uiPort;
});

after(async () => {
  await stack?.teardown();
  if (fixtures) fs.rmSync(fixtures, { recursive: true, force: true });
});

test('compress-assets writes .br and .gz of text files when smaller, decoding to the file, and rewrites them only when the file changes', async () => {
  const dir = path.join(fixtures, 'ui');
  for (const rel of ['index.html', '_astro/app.js', '_astro/app.css']) {
    const file = fs.readFileSync(path.join(dir, rel));
    const br = fs.readFileSync(path.join(dir, `${rel}.br`));
    const gz = fs.readFileSync(path.join(dir, `${rel}.gz`));
    assert.ok(br.length < file.length && gz.length < file.length, `${rel}: variants smaller`);
    assert.deepEqual(zlib.brotliDecompressSync(br), file, `${rel}.br decodes to the file`);
    assert.deepEqual(zlib.gunzipSync(gz), file, `${rel}.gz decodes to the file`);
  }
  for (const rel of ['logo.png', 'tiny.txt', 'archive.gz']) {
    assert.ok(!fs.existsSync(path.join(dir, `${rel}.br`)) && !fs.existsSync(path.join(dir, `${rel}.gz`)), `${rel}: no variants`);
  }
  // A second run finds everything up to date; a changed file gets new variants.
  const scratch = path.join(fixtures, 'scratch');
  writeTree(scratch, { 'a.js': text('a', 100) });
  assert.match(await compress(scratch), /2 variants written/);
  assert.match(await compress(scratch), /0 variants written, 2 up to date/);
  const changed = text('a changed', 120);
  fs.writeFileSync(path.join(scratch, 'a.js'), changed);
  fs.utimesSync(path.join(scratch, 'a.js'), new Date(), new Date(Date.now() + 5000));
  assert.match(await compress(scratch), /2 variants written/);
  assert.equal(zlib.brotliDecompressSync(fs.readFileSync(path.join(scratch, 'a.js.br'))).toString(), changed);
});

test('Brotli when the request accepts it, gzip when only gzip, the file itself when neither; the decoded body is the file byte for byte', async () => {
  const cases = [
    ['br, gzip', 'br'],
    ['gzip, deflate, br, zstd', 'br'],
    ['gzip', 'gzip'],
    ['x-gzip', 'gzip'],
    ['deflate', undefined],
    [undefined, undefined],
    ['', undefined],
    ['identity', undefined],
  ];
  for (const rel of ['/index.html', '/_astro/app.js', '/_astro/app.css']) {
    const identity = await get(ui, rel);
    assert.equal(identity.status, 200, rel);
    assert.deepEqual(identity.body, Buffer.from(UI_FILES[rel.slice(1)]), `${rel}: the file as it is`);
    for (const [accept, coding] of cases) {
      const what = `${rel} with Accept-Encoding ${JSON.stringify(accept)}`;
      const res = await get(ui, rel, accept === undefined ? {} : { 'Accept-Encoding': accept });
      assert.equal(res.status, 200, what);
      assert.equal(res.headers['content-encoding'], coding, `${what}: Content-Encoding`);
      assert.equal(Number(res.headers['content-length']), res.body.length, `${what}: Content-Length`);
      assert.ok(varyOf(res).includes('accept-encoding'), `${what}: Vary: Accept-Encoding (${res.headers.vary})`);
      assert.equal(res.headers['content-type'], identity.headers['content-type'], `${what}: Content-Type`);
      assert.equal(res.headers['cache-control'], identity.headers['cache-control'], `${what}: Cache-Control`);
      if (coding) assert.ok(res.body.length < identity.body.length, `${what}: smaller`);
      assert.deepEqual(decode(res), identity.body, `${what}: decodes to the file`);
    }
  }
});

test('q-values, "*" and identity are read as RFC 9110 has them: case, whitespace, refusals, malformed elements', async () => {
  const cases = [
    ['gzip;q=1, br;q=0.5', 'gzip'],
    ['br;q=0, gzip', 'gzip'],
    ['br;q=0', undefined],
    ['br;q=0, gzip;q=0', undefined],
    ['*', 'br'],
    ['*;q=0.5, br;q=0', 'gzip'],
    ['br;q=0, gzip;q=0, *', undefined],
    ['identity;q=1, gzip;q=0.5', undefined],
    ['identity;q=0.5, gzip;q=0.8', 'gzip'],
    ['identity;q=0', undefined], // nothing acceptable: the file as it is rather than nothing
    ['*;q=0', undefined],
    ['*;q=0, gzip', 'gzip'],
    ['BR , GZIP', 'br'],
    ['Gzip;Q=0.9, bR;q=0.8', 'gzip'],
    ['  gzip ; q=0.3 ,\tbr ;\tq=0.2 ', 'gzip'],
    ['gzip;q=0.5, br;q=0.500', 'br'], // a tie: the smaller body
    ['br;q=1.5, gzip', 'gzip'], // not a qvalue: the br element is ignored
    ['br;q=0.0001, gzip;q=0.1', 'gzip'], // four decimals: ignored
    ['br;q=, gzip;q=0.1', 'gzip'],
    ['br;level=5, gzip;q=0.9', 'br'], // other parameters do not matter
    ['br gzip', undefined], // not a list
    [',,, ,gzip,,', 'gzip'],
    ['brotli, gz', undefined],
    ['gzip;q=0.001', 'gzip'],
  ];
  const identity = await get(ui, '/_astro/app.js');
  for (const [accept, coding] of cases) {
    const res = await get(ui, '/_astro/app.js', { 'Accept-Encoding': accept });
    assert.equal(res.status, 200, accept);
    assert.equal(res.headers['content-encoding'], coding, `Accept-Encoding ${JSON.stringify(accept)}`);
    assert.deepEqual(decode(res), identity.body, `Accept-Encoding ${JSON.stringify(accept)}: body`);
    assert.ok(varyOf(res).includes('accept-encoding'), `Accept-Encoding ${JSON.stringify(accept)}: Vary`);
  }
});

test('each variant has its own ETag; If-None-Match is compared with the one the request would get, also in a list or weak', async () => {
  const rel = '/_astro/app.js';
  const [id, br, gz] = await Promise.all([get(ui, rel), get(ui, rel, { 'Accept-Encoding': 'br' }), get(ui, rel, { 'Accept-Encoding': 'gzip' })]);
  const tags = [id.headers.etag, br.headers.etag, gz.headers.etag];
  for (const t of tags) assert.match(t ?? '', /^"[^"]+"$/);
  assert.equal(new Set(tags).size, 3, `distinct ETags: ${tags.join(' ')}`);

  const revalidate = (accept, inm) => get(ui, rel, { ...(accept ? { 'Accept-Encoding': accept } : {}), 'If-None-Match': inm });
  let r = await revalidate('br', br.headers.etag);
  assert.equal(r.status, 304, 'the br ETag with br accepted');
  assert.equal(r.body.length, 0);
  assert.equal(r.headers.etag, br.headers.etag);
  assert.ok(varyOf(r).includes('accept-encoding'), '304: Vary');
  assert.equal(r.headers['cache-control'], br.headers['cache-control'], '304: Cache-Control');
  r = await revalidate(undefined, id.headers.etag);
  assert.equal(r.status, 304, 'the identity ETag without Accept-Encoding');
  r = await revalidate('br', id.headers.etag);
  assert.equal(r.status, 200, 'the identity ETag while br is accepted: another representation');
  assert.equal(r.headers['content-encoding'], 'br');
  r = await revalidate('gzip', `"nope", W/${gz.headers.etag}`);
  assert.equal(r.status, 304, 'a list with the gzip ETag, weak');
  r = await revalidate('gzip', '*');
  assert.equal(r.status, 304, '*');
  r = await revalidate('gzip', '"nope"');
  assert.equal(r.status, 200);
});

test('HEAD answers with the headers of GET for the same encoding, Content-Length of the variant, and no body', async () => {
  for (const accept of ['br', 'gzip', 'identity']) {
    const req = (method) => `${method} /_astro/app.js HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept-Encoding: ${accept}\r\n\r\n`;
    const { responses } = await rawExchange(ui, req('HEAD') + req('GET'), { methods: ['HEAD', 'GET'] });
    assert.equal(responses.length, 2, `${accept}: two responses on one connection`);
    const [head, getRes] = responses;
    assert.equal(head.status, 200);
    assert.equal(head.body, '', `${accept}: HEAD has no body`);
    for (const h of ['content-length', 'content-encoding', 'content-type', 'etag', 'vary', 'cache-control']) {
      assert.equal(head.headers[h], getRes.headers[h], `${accept}: HEAD ${h}`);
    }
    // The raw client frames the GET by its Content-Length: a body after the HEAD would break it.
    const sent = await get(ui, '/_astro/app.js', { 'Accept-Encoding': accept });
    assert.equal(Number(head.headers['content-length']), sent.body.length, `${accept}: length of the GET body`);
  }
});

test('files without variants keep their answers: no Content-Encoding, no Vary', async () => {
  for (const rel of ['/logo.png', '/tiny.txt', '/notes.txt', '/archive.gz']) {
    const plain = await get(ui, rel);
    const res = await get(ui, rel, { 'Accept-Encoding': 'br, gzip' });
    assert.equal(res.status, 200, rel);
    assert.equal(res.headers['content-encoding'], undefined, `${rel}: Content-Encoding`);
    assert.ok(!varyOf(res).includes('accept-encoding'), `${rel}: no Vary: Accept-Encoding`);
    assert.deepEqual(res.body, plain.body, `${rel}: the file`);
    assert.equal(res.headers.etag, plain.headers.etag, `${rel}: ETag`);
  }
  // archive.gz is a file of its own (nothing called "archive" beside it): sent as it is, not as a coding.
  const archive = await get(ui, '/archive.gz', { 'Accept-Encoding': 'gzip' });
  assert.deepEqual(archive.body, UI_FILES['archive.gz']);
  assert.equal(archive.headers['content-type'], 'application/octet-stream');
});

test('a variant is not a path of its own: /app.js.br and /app.js.gz are 404, and so is a variant larger than its file', async () => {
  for (const rel of ['/_astro/app.js.br', '/_astro/app.js.gz', '/index.html.br', '/index.html.gz', '/notes.txt.gz']) {
    const res = await get(ui, rel, { 'Accept-Encoding': 'br, gzip' });
    assert.equal(res.status, 404, rel);
    assert.match(res.headers['content-type'] ?? '', /application\/json/, `${rel}: a JSON error`);
    assert.equal(res.headers['content-encoding'], undefined, `${rel}: no Content-Encoding`);
  }
});

test('the dashboard page and its routes ("/", "/index") get the same negotiation; Cache-Control stays as it was', async () => {
  const page = await get(ui, '/index.html', { 'Accept-Encoding': 'br' });
  for (const rel of ['/', '/index']) {
    const res = await get(ui, rel, { 'Accept-Encoding': 'br' });
    assert.equal(res.status, 200, rel);
    assert.equal(res.headers['content-encoding'], 'br', rel);
    assert.deepEqual(res.body, page.body, rel);
  }
  assert.equal(page.headers['cache-control'], 'no-cache');
  assert.equal((await get(ui, '/_astro/app.js', { 'Accept-Encoding': 'br' })).headers['cache-control'], 'public, max-age=31536000, immutable');
  assert.equal((await get(ui, '/notes.txt', { 'Accept-Encoding': 'br' })).headers['cache-control'], 'public, max-age=3600');
});

test('the Swagger UI and ReDoc assets on the API port are sent compressed too', async () => {
  for (const [rel, content] of [
    ['/docs/swagger-ui-bundle.js', SWAGGER_FILES['swagger-ui-bundle.js']],
    ['/docs/swagger-ui.css', SWAGGER_FILES['swagger-ui.css']],
    ['/redoc/redoc.standalone.js', REDOC_FILES['redoc.standalone.js']],
  ]) {
    for (const [accept, coding] of [['br, gzip', 'br'], ['gzip', 'gzip'], [undefined, undefined]]) {
      const res = await get(stack.port, rel, accept ? { 'Accept-Encoding': accept } : {});
      assert.equal(res.status, 200, rel);
      assert.equal(res.headers['content-encoding'], coding, `${rel} ${accept}`);
      assert.ok(varyOf(res).includes('accept-encoding'), `${rel} ${accept}: Vary`);
      assert.deepEqual(decode(res), Buffer.from(content), `${rel} ${accept}: decodes to the file`);
    }
  }
  const png = await get(stack.port, '/docs/favicon-32x32.png', { 'Accept-Encoding': 'br, gzip' });
  assert.equal(png.status, 200);
  assert.equal(png.headers['content-encoding'], undefined);
  assert.equal((await get(stack.port, '/docs/swagger-ui-bundle.js.br')).status, 404);
});

/** The same-origin assets a page or a stylesheet or a module refers to, as absolute paths. */
function references(from, contentType, body) {
  const found = new Set();
  const add = (ref) => {
    if (!ref || /^(?:[a-z]+:|\/\/|#|data:)/i.test(ref)) return;
    found.add(new URL(ref, `http://x${from}`).pathname);
  };
  const s = body.toString('utf8');
  if (contentType.startsWith('text/html')) {
    for (const m of s.matchAll(/<(?:script|link|img|source)\b[^>]*?\b(?:src|href)\s*=\s*["']([^"']+)["']/gi)) add(m[1]);
  } else if (contentType.startsWith('text/css')) {
    for (const m of s.matchAll(/url\(\s*["']?([^"')]+)["']?\s*\)/g)) add(m[1]);
    for (const m of s.matchAll(/@import\s+["']([^"']+)["']/g)) add(m[1]);
  } else if (contentType.startsWith('text/javascript')) {
    // Static imports load with the page; dynamic import() ones only when used.
    for (const m of s.matchAll(/\bimport\s*(?:[\w*{}\s,$]+\s*from\s*)?["']([^"']+\.m?js)["']/g)) add(m[1]);
  }
  return [...found];
}

test('first view of the built dashboard (web/dist): index.html and every asset it loads, with Accept-Encoding: br, gzip, weigh at most 70 KiB', async (t) => {
  const reason = !fs.existsSync(path.join(WEB_DIST, 'index.html'))
    ? `${WEB_DIST}/index.html is missing: build the dashboard with scripts/build-ui.sh`
    : !fs.existsSync(path.join(WEB_DIST, 'index.html.br'))
      ? `${WEB_DIST}/index.html.br is missing: scripts/build-ui.sh writes the compressed variants`
      : undefined;
  assert.equal(reason, undefined, reason);
  const svc = await stack.restartService({ env: { UI_DIR: WEB_DIST } });
  const rows = [];
  const queue = ['/'];
  const seen = new Set();
  while (queue.length > 0) {
    const rel = queue.shift();
    if (seen.has(rel)) continue;
    seen.add(rel);
    const res = await get(svc.uiPort, rel, { 'Accept-Encoding': 'br, gzip' });
    assert.equal(res.status, 200, `${rel}: ${res.body.toString().slice(0, 200)}`);
    const decoded = decode(res);
    const plain = await get(svc.uiPort, rel);
    assert.deepEqual(decoded, plain.body, `${rel}: the variant decodes to the file`);
    rows.push({ path: rel, encoding: res.headers['content-encoding'] ?? 'identity', bytes: res.body.length, wire: res.wire, file: plain.body.length });
    queue.push(...references(rel === '/' ? '/index.html' : rel, res.headers['content-type'] ?? '', decoded));
  }
  const total = rows.reduce((n, r) => n + r.wire, 0);
  const bodies = rows.reduce((n, r) => n + r.bytes, 0);
  const files = rows.reduce((n, r) => n + r.file, 0);
  t.diagnostic(`first view: ${rows.length} responses, ${total} bytes on the wire (bodies ${bodies}; uncompressed ${files}); limit ${FIRST_VIEW_LIMIT}`);
  for (const r of rows) t.diagnostic(`  ${r.path} ${r.encoding} ${r.bytes} bytes (file ${r.file})`);
  console.log(`first view of web/dist: ${total} bytes transferred (${bodies} in bodies, ${files} uncompressed) in ${rows.length} responses`);
  assert.ok(rows.length >= 2, `index.html refers to its assets: ${rows.map((r) => r.path).join(', ')}`);
  for (const r of rows) {
    if (r.file > 1024 && /\.(?:html|js|css|svg|json)$|\/$/.test(r.path)) assert.notEqual(r.encoding, 'identity', `${r.path} is sent compressed`);
  }
  assert.ok(total <= FIRST_VIEW_LIMIT, `first view: ${total} bytes > ${FIRST_VIEW_LIMIT}`);
});
