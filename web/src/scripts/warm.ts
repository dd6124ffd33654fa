// The cache warming panel (components/WarmPanel.astro): starts a warm with POST /cache/warm (asking
// for the admin token on a 401) and shows the run's progress, from the stream's `event: warm` and, to
// begin with and when the stream is not there, from GET /cache/warm. The stream relays the warms of
// every instance; the status names the instance that ran the run shown.

import { ApiUnreachableError, detailText } from '../lib/api';
import type { WarmRequest, WarmStatus } from '../lib/api';
import { describe, fromEvent, fromStatus, isLocalRun, percent, replaces } from '../lib/warm';
import type { WarmView } from '../lib/warm';
import { askForToken } from './admin-token';
import type { Dashboard } from './context';
import { byId, setText } from './dom';

const POLL_MS = 1000;

function isStatus(body: unknown): body is WarmStatus {
  return !!body && typeof body === 'object' && typeof (body as WarmStatus).run === 'number' && typeof (body as WarmStatus).state === 'string';
}

export function mountWarm(d: Dashboard): void {
  const form = byId<HTMLFormElement>('warm-form');
  const mode = byId<HTMLSelectElement>('warm-mode');
  const top = byId<HTMLInputElement>('warm-top');
  const rate = byId<HTMLInputElement>('warm-rate');
  const button = byId<HTMLButtonElement>('warm-start');
  const bar = byId('warm-progress');
  const status = byId('warm-status');
  let shown: WarmView | null = null;
  let poller: ReturnType<typeof setTimeout> | null = null;

  const show = (v: WarmView) => {
    const local = d.feed.instances.localName.value;
    if (!replaces(shown, v, local)) return;
    shown = v;
    const ours = isLocalRun(v, local);
    const pct = percent(v);
    bar.style.width = `${pct}%`;
    bar.setAttribute('aria-valuenow', String(pct));
    status.dataset.state = v.run === 0 ? 'idle' : v.running ? 'running' : v.failed ? 'failed' : 'done';
    status.className = `mt-2 text-sm ${v.failed ? 'font-medium text-red-800' : 'text-slate-700'}`;
    if (v.instance !== null) status.dataset.instance = v.instance;
    else delete status.dataset.instance;
    setText(status, describe(v, local));
    // Another instance's run does not stop this one from warming; GET /cache/warm follows ours only.
    button.disabled = v.running && ours;
    if (v.running && ours) schedulePoll();
  };

  const say = (state: string, text: string) => {
    status.dataset.state = state;
    status.className = 'mt-2 text-sm font-medium text-red-800';
    setText(status, text);
  };

  const poll = async () => {
    poller = null;
    try {
      const ans = await d.api.getWarm();
      if (ans.status === 200 && isStatus(ans.body)) show(fromStatus(ans.body));
    } catch (err) {
      if (err instanceof ApiUnreachableError) d.feed.noteUnreachable(err.message);
    }
  };

  // While a run goes on, GET /cache/warm once a second too: the stream may be down (polling mode).
  function schedulePoll(): void {
    if (poller === null) poller = setTimeout(() => void poll(), POLL_MS);
  }

  const start = async () => {
    const body: WarmRequest = { mode: mode.value === 'top' ? `top:${top.value.trim()}` : 'all' };
    const r = Number(rate.value);
    if (rate.value.trim() !== '') body.rate = Number.isInteger(r) ? r : (rate.value as unknown as number);
    button.disabled = true;
    try {
      const ans = await d.api.startWarm(body, d.adminToken.value);
      d.feed.noteReachable();
      if ((ans.status === 202 || ans.status === 200) && isStatus(ans.body)) {
        show(fromStatus(ans.body));
      } else if (ans.status === 409) {
        say('conflict', 'Not started: a warm is already running (started at start-up, by another page or client).');
        void poll();
      } else if (ans.status === 401) {
        say('auth', 'Not started: the service needs its admin token. Enter it in the Lab panel; the warm then starts.');
        askForToken(d, 'warm the cache', () => void start());
      } else {
        say('error', `Not started: ${detailText(ans.body) ?? `HTTP ${ans.status}`}.`);
      }
    } catch (err) {
      if (err instanceof ApiUnreachableError) d.feed.noteUnreachable(err.message);
      say('error', 'Not started: the API did not answer.');
    } finally {
      if (!(shown?.running && isLocalRun(shown, d.feed.instances.localName.value))) button.disabled = false;
    }
  };

  mode.addEventListener('change', () => {
    top.disabled = mode.value !== 'top';
  });
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    void start();
  });
  d.feed.warm.subscribe((e) => {
    if (e) show(fromEvent(e));
  });
  void poll();
}
