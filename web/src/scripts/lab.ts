// The lab panel: reads GET /lab/config into the form, checks the values with the API's rules
// (lib/lab.ts) before anything is sent, and applies with PUT /lab/config carrying only the changed
// settings. The API's 422 entries land next to the same fields; a 401 asks for the admin token.
// Changes made elsewhere (another page, a scenario, which changes the settings while it runs) come
// in through the live statistics (`protections`) and update every field the user has not touched.

import { ApiUnreachableError, detailText } from '../lib/api';
import type { LabSettings } from '../lib/api';
import { formatClock } from '../lib/format';
import { LAB_KEYS, LAB_SETTINGS, changedSettings, isLabSettings, labApiErrors, sameSettings, settingOf, toLabValues, validateLab } from '../lib/lab';
import type { LabErrors, LabKey, LabValues } from '../lib/lab';
import { askForToken } from './admin-token';
import type { Dashboard } from './context';
import { byId, setText } from './dom';

function listOf(changes: Partial<LabSettings>): string {
  return Object.entries(changes)
    .map(([k, v]) => `${k} = ${String(v)}`)
    .join(', ');
}

export function mountLab(d: Dashboard): void {
  const form = byId<HTMLFormElement>('lab-form');
  const status = byId('lab-status');
  const formError = byId('lab-form-error');
  const apply = byId<HTMLButtonElement>('lab-apply');
  const hint = byId('lab-hint');
  const inputs = Object.fromEntries(LAB_KEYS.map((k) => [k, byId<HTMLInputElement>(`lab-${k}`)])) as Record<LabKey, HTMLInputElement>;
  const errors = Object.fromEntries(LAB_KEYS.map((k) => [k, byId(`lab-${k}-error`)])) as Record<LabKey, HTMLElement>;
  byId<HTMLAnchorElement>('lab-docs-link').href = d.config.links.docs ?? `${d.config.apiBase}/docs`;

  /** The settings as the service last reported them (GET, PUT or the live statistics). */
  let current: LabSettings | null = null;
  /** The last `protections` the live statistics carried, to notice changes. */
  let lastLive: LabSettings | null = null;
  let applying = false;
  let loading = false;
  /** The API answered GET /lab/config (with the settings, or a 404 from a service without the lab). */
  let answered = false;
  /**
   * Until then (ms since the epoch) the live statistics are not followed: a message the service
   * sent just before our own GET or PUT answered may arrive after it, with the older settings.
   */
  let quietUntil = 0;
  const QUIET_MS = 2500;

  const values = (): LabValues =>
    Object.fromEntries(LAB_SETTINGS.map((s) => [s.key, s.kind === 'toggle' ? inputs[s.key].checked : inputs[s.key].value])) as LabValues;

  const setValue = (key: LabKey, v: string | boolean) => {
    if (typeof v === 'boolean') inputs[key].checked = v;
    else inputs[key].value = v;
  };

  const fill = (l: LabSettings) => {
    const v = toLabValues(l);
    for (const k of LAB_KEYS) setValue(k, v[k]);
  };

  const showErrors = (found: LabErrors) => {
    for (const k of LAB_KEYS) {
      setText(errors[k], found[k] ?? '');
      inputs[k].setAttribute('aria-invalid', found[k] ? 'true' : 'false');
    }
  };

  const clearMessages = () => {
    showErrors({});
    setText(formError, '');
  };

  /** Field messages, a summary in the live region, and focus on the first field to fix. */
  const reject = (found: LabErrors, other: string[] = []) => {
    showErrors(found);
    const bad = LAB_KEYS.filter((k) => found[k]);
    const parts = [...other];
    if (bad.length) parts.unshift(`Not applied: check ${bad.map((k) => settingOf(k).title.toLowerCase()).join(', ')}.`);
    setText(formError, parts.join(' '));
    if (bad.length) inputs[bad[0]].focus();
  };

  const renderApply = () => {
    apply.disabled = applying || d.scenario.value !== null;
    setText(
      hint,
      d.scenario.value
        ? `The ${d.scenario.value} scenario is running: it changes some of these settings while it runs and puts them back after.`
        : 'Apply sends PUT /lab/config with only the settings you changed; the service applies all of them or none.',
    );
  };

  // ----- reading -----------------------------------------------------------------------------

  const load = async () => {
    if (loading) return;
    loading = true;
    try {
      const ans = await d.api.getLab();
      answered = true;
      if (ans.status === 200 && isLabSettings(ans.body)) {
        current = ans.body;
        quietUntil = Date.now() + QUIET_MS;
        fill(current);
        clearMessages();
        form.hidden = false;
        setText(status, `The settings in force on the service, read at ${formatClock(Date.now()).slice(0, 8)}.`);
      } else if (ans.status === 404) {
        form.hidden = true;
        setText(status, 'This service has no lab (GET /lab/config answered 404).');
      } else {
        setText(status, `Could not read the settings: ${detailText(ans.body) ?? `HTTP ${ans.status}`}.`);
      }
    } catch (err) {
      setText(status, err instanceof ApiUnreachableError ? 'Could not read the settings: the API did not answer. Trying again when it does.' : String(err));
    } finally {
      loading = false;
    }
  };
  // Read once the API answers (and again once it is back, if it did not answer the first read).
  d.feed.status.subscribe((f) => {
    if (f.reachable === true && !answered) void load();
  });
  void load();

  // Changes made elsewhere: take them into every field the user has not changed.
  d.feed.snapshot.subscribe((s) => {
    const live = s?.protections;
    if (!live || Date.now() < quietUntil || (lastLive && sameSettings(lastLive, live))) return;
    lastLive = live;
    if (!current || applying || sameSettings(current, live)) return;
    const before = toLabValues(current);
    const now = values();
    const next = toLabValues(live);
    for (const k of LAB_KEYS) {
      if (now[k] === before[k]) setValue(k, next[k]);
    }
    current = live;
    setText(status, `The settings changed on the service at ${formatClock(Date.now()).slice(0, 8)}${d.scenario.value ? ` (the ${d.scenario.value} scenario is running)` : ''}; the form follows.`);
  });

  // ----- applying ----------------------------------------------------------------------------

  for (const k of LAB_KEYS) {
    inputs[k].addEventListener('input', () => {
      if (inputs[k].getAttribute('aria-invalid') === 'true') {
        inputs[k].setAttribute('aria-invalid', 'false');
        setText(errors[k], '');
      }
    });
  }

  byId('lab-reset').addEventListener('click', () => {
    if (!current) return;
    fill(current);
    clearMessages();
  });

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (!current || apply.disabled) return;
    const v = values();
    const found = validateLab(v);
    if (Object.keys(found).length > 0) return reject(found);
    const changes = changedSettings(current, v);
    if (Object.keys(changes).length === 0) {
      clearMessages();
      setText(formError, 'Nothing to apply: no setting changed.');
      return;
    }
    clearMessages();
    applying = true;
    renderApply();
    try {
      const ans = await d.api.putLab(changes, d.adminToken.value);
      d.feed.noteReachable();
      if (ans.status === 200 && isLabSettings(ans.body)) {
        current = ans.body;
        quietUntil = Date.now() + QUIET_MS;
        fill(current);
        setText(status, `Applied ${listOf(changes)} at ${formatClock(Date.now()).slice(0, 8)}.`);
        d.feed.refreshNow();
        return;
      }
      const detail = (ans.body as { detail?: unknown } | undefined)?.detail;
      if (ans.status === 422) {
        const api = labApiErrors(detail);
        return reject(api.fields, api.other.length ? [`The API said: ${api.other.join('; ')}.`] : []);
      }
      if (ans.status === 401) {
        setText(formError, 'Not applied: the service needs its admin token (above).');
        askForToken(d, 'apply the lab settings', () => form.requestSubmit());
        return;
      }
      setText(formError, `Not applied: ${detailText(ans.body) ?? `HTTP ${ans.status}`}.`);
    } catch (err) {
      if (err instanceof ApiUnreachableError) d.feed.noteUnreachable(err.message);
      setText(formError, err instanceof ApiUnreachableError ? 'Not applied: the API did not answer.' : `Not applied: ${String(err)}`);
    } finally {
      applying = false;
      renderApply();
      // A disabled button loses the focus: give it back unless a field or the token prompt took it.
      if (document.activeElement === document.body) apply.focus();
    }
  });

  d.scenario.subscribe(renderApply);
}
