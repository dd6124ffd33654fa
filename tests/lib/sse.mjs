// Server-Sent Events: parsing the text/event-stream format, and reading the first events of a live
// stream through fetch without waiting for its end.

/**
 * Parse complete events out of event-stream text: [{ event, data, id }]. Comment lines (": ping")
 * are skipped; an event without an `event:` field is "message"; a trailing incomplete event is ignored.
 */
export function parseSse(text) {
  const events = [];
  const blocks = text.replace(/\r\n?/g, '\n').split('\n\n');
  blocks.pop(); // the text after the last blank line is not a complete event
  for (const block of blocks) {
    let event = 'message';
    let id;
    const data = [];
    let fields = 0;
    for (const line of block.split('\n')) {
      if (line === '' || line.startsWith(':')) continue;
      const i = line.indexOf(':');
      const name = i < 0 ? line : line.slice(0, i);
      let value = i < 0 ? '' : line.slice(i + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      fields++;
      if (name === 'event') event = value;
      else if (name === 'data') data.push(value);
      else if (name === 'id') id = value;
    }
    if (fields > 0 && data.length > 0) events.push({ event, data: data.join('\n'), id });
  }
  return events;
}

/** The data of an event parsed as JSON, or undefined when it is not JSON. */
export function eventData(e) {
  try {
    return JSON.parse(e.data);
  } catch {
    return undefined;
  }
}

/**
 * GET an event stream and read it until `count` events have arrived (or `timeout` ms passed), then
 * abort. Resolves with { status, headers, text, events }; for a non-stream answer, text is the body.
 */
export async function readEvents(url, { count = 1, timeout = 10000, headers = {} } = {}) {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(new Error(`no ${count} events within ${timeout} ms`)), timeout);
  let text = '';
  try {
    const res = await fetch(url, { headers: { Accept: 'text/event-stream', ...headers }, signal: ac.signal });
    if (!/text\/event-stream/.test(res.headers.get('content-type') ?? '')) {
      text = await res.text();
      return { status: res.status, headers: res.headers, text, events: [] };
    }
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
      if (parseSse(text).length >= count) break;
    }
    ac.abort();
    return { status: res.status, headers: res.headers, text, events: parseSse(text) };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Open an event stream and keep reading it in the background, for tests that act while it is open.
 * Resolves once the response headers have arrived with
 *   { status, headers, text, events, next(predicate, timeout, what), close() }
 * where events grows as events arrive, next() resolves with the first event (oldest first, already
 * received or not) for which predicate(event) is true and rejects after `timeout` ms or when the
 * stream ends (naming `what` it waited for), and close() aborts the request and waits for the
 * reader to stop.
 */
export async function openEvents(url, { headers = {}, timeout = 10000 } = {}) {
  const ac = new AbortController();
  const res = await fetch(url, { headers: { Accept: 'text/event-stream', ...headers }, signal: ac.signal });
  const stream = { status: res.status, headers: res.headers, text: '', events: [], ended: false };
  const wakers = new Set();
  const wake = () => {
    for (const w of [...wakers]) w();
  };
  const pump = (async () => {
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        stream.text += decoder.decode(value, { stream: true });
        stream.events = parseSse(stream.text);
        wake();
      }
    } catch {
      /* aborted by close() */
    }
    stream.ended = true;
    wake();
  })();
  stream.next = (predicate, ms = timeout, what = 'the event awaited') =>
    new Promise((resolve, reject) => {
      let timer;
      const finish = () => {
        clearTimeout(timer);
        wakers.delete(check);
      };
      function check() {
        const e = stream.events.find(predicate);
        if (e) {
          finish();
          resolve(e);
        } else if (stream.ended) {
          finish();
          reject(new Error(`the stream ended before ${what} came; got ${JSON.stringify(stream.text.slice(-800))}`));
        }
      }
      timer = setTimeout(() => {
        finish();
        reject(new Error(`${what} did not come within ${ms} ms; the stream so far ends with ${JSON.stringify(stream.text.slice(-800))}`));
      }, ms);
      wakers.add(check);
      check();
    });
  stream.close = async () => {
    ac.abort();
    await pump;
  };
  return stream;
}
