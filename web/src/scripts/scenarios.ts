// The scenarios panel: runs POST /lab/scenarios/{name} (one at a time: the buttons wait while one
// runs, and a 409 says another page or client started one), then draws the comparison of its two
// runs — bars for the headline numbers, a table with every number (lib/scenarios.ts).

import { ApiUnreachableError, detailText } from '../lib/api';
import type { ScenarioName, ScenarioResult } from '../lib/api';
import { formatClock } from '../lib/format';
import { barPercents, formatValue, isScenarioName, metricsOf, scenarioInfo, verdict } from '../lib/scenarios';
import type { Metric } from '../lib/scenarios';
import { askForToken } from './admin-token';
import type { Dashboard } from './context';
import { reveal } from './lookup';
import { byId, setText } from './dom';

function isResult(body: unknown): body is ScenarioResult {
  if (!body || typeof body !== 'object') return false;
  const r = body as Partial<ScenarioResult>;
  return isScenarioName(r.scenario) && !!r.without_protection && !!r.with_protection && typeof r.without_protection === 'object' && typeof r.with_protection === 'object';
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, className: string, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

const BAR_COLOUR = { without: 'bg-rose-700', with: 'bg-teal-700' } as const;

/** One measure as two bars (off, on), each with its value written beside it. */
function barGroup(m: Metric): HTMLElement {
  const group = el('div', 'min-w-0');
  group.dataset.metric = m.key;
  group.append(el('p', 'text-sm font-medium text-slate-800', m.label));
  const grid = el('div', 'mt-1 grid grid-cols-[3.5rem_minmax(0,1fr)_auto] items-center gap-x-2 gap-y-1');
  const pct = barPercents(m);
  for (const run of ['without', 'with'] as const) {
    const track = el('div', 'h-3 rounded-sm bg-slate-100');
    const bar = el('div', `h-3 rounded-sm ${BAR_COLOUR[run]}`);
    bar.style.width = `${pct[run]}%`;
    bar.dataset.run = run;
    track.append(bar);
    grid.append(el('span', 'text-xs text-slate-700', run === 'without' ? 'off' : 'on'), track, el('span', 'text-right font-mono text-xs text-slate-900', formatValue(m[run], m.unit)));
  }
  group.append(grid);
  return group;
}

function tableRow(m: Metric): HTMLTableRowElement {
  const tr = el('tr', 'border-b border-slate-100');
  tr.dataset.metric = m.key;
  const th = el('th', 'py-1 pr-3 font-sans font-normal text-slate-800', m.label);
  th.scope = 'row';
  tr.append(th);
  for (const run of ['without', 'with'] as const) {
    const td = el('td', `py-1 text-right text-slate-900 ${run === 'without' ? 'pr-3' : ''}`, formatValue(m[run], m.unit));
    td.dataset.run = run;
    td.dataset.value = m[run] === null ? '' : String(m[run]);
    tr.append(td);
  }
  return tr;
}

export function mountScenarios(d: Dashboard): void {
  const buttons = [...document.querySelectorAll<HTMLButtonElement>('#scenarios [data-scenario]')];
  const status = byId('scenario-status');
  const result = byId('scenario-result');
  const bars = byId('scenario-bars');
  const tbody = byId('scenario-table').querySelector('tbody') as HTMLTableSectionElement;

  const say = (state: string, text: string) => {
    status.dataset.state = state;
    status.className = `mt-3 text-sm ${state === 'done' || state === 'running' ? 'text-slate-700' : 'font-medium text-red-800'}`;
    setText(status, text);
  };

  const render = (r: ScenarioResult) => {
    const info = scenarioInfo(r.scenario);
    const metrics = metricsOf(r);
    result.dataset.result = r.scenario;
    setText(byId('scenario-result-title'), `${info.title}: ${info.protection} off and on`);
    setText(byId('scenario-verdict'), verdict(r));
    setText(byId('scenario-table-caption'), `${info.title}: every measure with ${info.protection} off and on`);
    for (const th of result.querySelectorAll<HTMLElement>('thead [data-run]')) {
      setText(th, `${info.protection} ${th.dataset.run === 'without' ? 'off' : 'on'}`);
    }
    bars.replaceChildren(...metrics.filter((m) => m.charted).map(barGroup));
    tbody.replaceChildren(...metrics.map(tableRow));
    result.hidden = false;
    // The verdict, where the click was (on a phone the result starts below the buttons).
    reveal(byId('scenario-verdict'));
  };

  const run = async (name: ScenarioName, button: HTMLButtonElement | null) => {
    if (d.scenario.value) return;
    d.scenario.set(name);
    say('running', `Running ${name}: protection off, then on… (a few seconds)`);
    result.setAttribute('aria-busy', 'true');
    try {
      const ans = await d.api.runScenario(name, d.adminToken.value);
      d.feed.noteReachable();
      if (ans.status === 200 && isResult(ans.body)) {
        render(ans.body);
        say('done', `${scenarioInfo(name).title} finished at ${formatClock(Date.now()).slice(0, 8)}.`);
      } else if (ans.status === 409) {
        say('conflict', `Not run: another scenario is running (started by another page or client). Try again when it has finished.`);
      } else if (ans.status === 401) {
        say('auth', 'Not run: the service needs its admin token. Enter it in the Lab panel; the scenario then starts.');
        askForToken(d, `run the ${name} scenario`, () => void run(name, button));
      } else {
        say('error', `Not run: ${detailText(ans.body) ?? `HTTP ${ans.status}`}.`);
      }
    } catch (err) {
      if (err instanceof ApiUnreachableError) d.feed.noteUnreachable(err.message);
      say('error', err instanceof ApiUnreachableError ? 'Not run: the API did not answer.' : `Not run: ${String(err)}`);
    } finally {
      result.removeAttribute('aria-busy');
      d.scenario.set(null);
      d.feed.refreshNow();
      // A disabled button loses the focus: give it back unless something else took it.
      if (button && document.activeElement === document.body) button.focus();
    }
  };

  for (const b of buttons) {
    b.addEventListener('click', () => {
      if (isScenarioName(b.dataset.scenario)) void run(b.dataset.scenario, b);
    });
  }
  d.scenario.subscribe((running) => {
    for (const b of buttons) {
      b.disabled = running !== null;
      if (running === b.dataset.scenario) b.setAttribute('aria-busy', 'true');
      else b.removeAttribute('aria-busy');
    }
  });
}
