// The rate limiting panel: reads GET /rate-limit/config, switches the algorithm with PUT (asking for
// the admin token on a 401, as the lab does), and runs the rate-limit-boundary scenario, drawing its
// table (lib/rate-limit.ts). A scenario of the scenarios panel running at the same time: 409.

import { ApiUnreachableError, detailText } from '../lib/api';
import type { RateLimitAlgorithm, RateLimitConfig } from '../lib/api';
import { algorithmInfo, boundaryRows, boundaryVerdict, describeLimits, isBoundaryResult, isRateLimitConfig } from '../lib/rate-limit';
import { askForToken } from './admin-token';
import type { Dashboard } from './context';
import { byId, setText } from './dom';

export function mountRateLimit(d: Dashboard): void {
  const status = byId('rate-limit-status');
  const form = byId<HTMLFormElement>('rate-limit-form');
  const select = byId<HTMLSelectElement>('rate-limit-algorithm');
  const what = byId('rate-limit-algorithm-what');
  const apply = byId<HTMLButtonElement>('rate-limit-apply');
  const message = byId('rate-limit-message');
  const runButton = byId<HTMLButtonElement>('rate-limit-run');
  const runStatus = byId('rate-limit-run-status');
  const result = byId('rate-limit-result');
  const tbody = byId('rate-limit-table').querySelector('tbody') as HTMLTableSectionElement;

  const showConfig = (c: RateLimitConfig) => {
    status.dataset.enabled = String(c.enabled);
    status.dataset.algorithm = c.algorithm;
    const title = algorithmInfo(c.algorithm)?.title ?? c.algorithm;
    setText(status, `${c.enabled ? 'On' : 'Off (RATE_LIMIT=false)'}: ${title}; ${describeLimits(c)}.`);
    select.value = c.algorithm;
    setText(what, algorithmInfo(c.algorithm)?.what ?? '');
    form.hidden = false;
  };

  const load = async () => {
    try {
      const ans = await d.api.getRateLimit();
      if (ans.status === 200 && isRateLimitConfig(ans.body)) showConfig(ans.body);
      else setText(status, `The settings could not be read: ${detailText(ans.body) ?? `HTTP ${ans.status}`}.`);
    } catch (err) {
      setText(status, err instanceof ApiUnreachableError ? 'The settings could not be read: the API did not answer.' : String(err));
    }
  };

  select.addEventListener('change', () => setText(what, algorithmInfo(select.value)?.what ?? ''));

  const switchTo = async (algorithm: RateLimitAlgorithm) => {
    apply.disabled = true;
    message.className = 'w-full text-sm text-slate-700';
    setText(message, `Switching to ${algorithm}…`);
    try {
      const ans = await d.api.putRateLimit({ algorithm }, d.adminToken.value);
      if (ans.status === 200 && isRateLimitConfig(ans.body)) {
        showConfig(ans.body);
        message.dataset.state = 'done';
        setText(message, `Switched: every client starts afresh (each algorithm has keys of its own).`);
      } else if (ans.status === 401) {
        message.dataset.state = 'auth';
        setText(message, 'Not switched: the service needs its admin token. Enter it in the Lab panel; the switch is then sent again.');
        askForToken(d, 'switch the rate limiting algorithm', () => void switchTo(algorithm));
      } else {
        message.dataset.state = 'error';
        message.className = 'w-full text-sm font-medium text-red-800';
        setText(message, `Not switched: ${detailText(ans.body) ?? `HTTP ${ans.status}`}.`);
      }
    } catch (err) {
      message.dataset.state = 'error';
      message.className = 'w-full text-sm font-medium text-red-800';
      setText(message, err instanceof ApiUnreachableError ? 'Not switched: the API did not answer.' : String(err));
    } finally {
      apply.disabled = false;
    }
  };

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (algorithmInfo(select.value)) void switchTo(select.value as RateLimitAlgorithm);
  });

  const say = (state: string, text: string) => {
    runStatus.dataset.state = state;
    runStatus.className = `mt-3 text-sm ${state === 'done' || state === 'running' ? 'text-slate-700' : 'font-medium text-red-800'}`;
    setText(runStatus, text);
  };

  const run = async () => {
    runButton.disabled = true;
    runButton.setAttribute('aria-busy', 'true');
    say('running', 'Running the burst against each algorithm…');
    try {
      const ans = await d.api.runRateLimitBoundary(d.adminToken.value);
      if (ans.status === 200 && isBoundaryResult(ans.body)) {
        const r = ans.body;
        setText(byId('rate-limit-verdict'), boundaryVerdict(r));
        tbody.replaceChildren(
          ...boundaryRows(r).map((row) => {
            const tr = document.createElement('tr');
            tr.className = 'border-b border-slate-100';
            tr.dataset.algorithm = row.algorithm;
            const th = document.createElement('th');
            th.scope = 'row';
            th.className = 'py-1 pr-3 font-sans font-normal text-slate-800';
            th.textContent = row.title;
            tr.append(th);
            row.cells.forEach((text, i) => {
              const td = document.createElement('td');
              td.className = `py-1 pr-3 text-right ${i === 2 && row.over ? 'font-semibold text-red-800' : 'text-slate-900'}`;
              td.textContent = text;
              tr.append(td);
            });
            return tr;
          }),
        );
        result.hidden = false;
        say('done', 'Done: the figures depend only on the limit, the window and the burst, so every run gives the same counts.');
      } else if (ans.status === 409) {
        say('conflict', 'Not run: another scenario is running. Try again when it has finished.');
      } else if (ans.status === 401) {
        say('auth', 'Not run: the service needs its admin token. Enter it in the Lab panel; the scenario then starts.');
        askForToken(d, 'run the rate limit scenario', () => void run());
      } else {
        say('error', `Not run: ${detailText(ans.body) ?? `HTTP ${ans.status}`}.`);
      }
    } catch (err) {
      say('error', err instanceof ApiUnreachableError ? 'Not run: the API did not answer.' : `Not run: ${String(err)}`);
    } finally {
      runButton.disabled = false;
      runButton.removeAttribute('aria-busy');
    }
  };
  runButton.addEventListener('click', () => void run());

  void load();
}
