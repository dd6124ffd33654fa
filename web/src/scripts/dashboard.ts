// The dashboard's entry point: resolves the configuration, creates the API client, the live feed
// and the shared stores, mounts every panel, then starts the feed.

import { loadToken, saveToken } from '../lib/admin-token';
import { ApiClient } from '../lib/api';
import type { ScenarioName } from '../lib/api';
import { loadConfig } from '../lib/config';
import type { Baseline } from '../lib/counters';
import { LookupHistory } from '../lib/history';
import { LiveFeed } from '../lib/live';
import { Store } from '../lib/store';
import { mountBanners } from './banner';
import { mountCharts } from './charts';
import { mountClear } from './clear';
import { mountAdminToken } from './admin-token';
import { mountAnalytics } from './analytics';
import type { Dashboard, Editing, LastLookup, TokenRequest, WriteOutcome } from './context';
import { mountDelete } from './delete';
import { mountEdit } from './edit';
import { mountHammer } from './hammer';
import { mountHealth } from './health';
import { mountInstances } from './instances';
import { mountInvalidations } from './invalidations';
import { mountLab } from './lab';
import { mountLinks } from './links';
import { mountLog } from './log';
import { mountLookup } from './lookup';
import { mountResult } from './result';
import { mountRateLimit } from './rate-limit';
import { mountScenarios } from './scenarios';
import { mountWarm } from './warm';
import { mountSections } from './sections';
import { mountServerLatency } from './server-latency';
import { mountSessions } from './sessions';
import { mountSlowDb } from './slow-db';
import { mountStats } from './stats';
import { mountTopology } from './topology';
import { mountWriteResult } from './write-result';
import { mountWritesFeed } from './writes-feed';

// The baseline survives a reload (per API base), so a clear keeps meaning "from here".
function baselineKey(apiBase: string): string {
  return `cacheme.baseline:${apiBase}`;
}

function loadBaseline(apiBase: string): Baseline | null {
  try {
    const raw = localStorage.getItem(baselineKey(apiBase));
    const b = raw ? (JSON.parse(raw) as Baseline) : null;
    return b && typeof b.at === 'number' && b.app ? b : null;
  } catch {
    return null;
  }
}

function saveBaseline(apiBase: string, b: Baseline | null): void {
  try {
    if (b) localStorage.setItem(baselineKey(apiBase), JSON.stringify(b));
    else localStorage.removeItem(baselineKey(apiBase));
  } catch {
    /* storage disabled: the baseline lasts as long as the page */
  }
}

export async function startDashboard(): Promise<void> {
  // The section first, before anything waits for the network, so the page never shows the wrong one.
  const showSection = mountSections();
  const config = await loadConfig();
  const api = new ApiClient(config.apiBase);
  const d: Dashboard = {
    config,
    api,
    feed: new LiveFeed(api),
    history: new LookupHistory(),
    baseline: new Store<Baseline | null>(loadBaseline(config.apiBase)),
    lastLookup: new Store<LastLookup | null>(null),
    busy: new Store(false),
    editing: new Store<Editing | null>(null),
    lastWrite: new Store<WriteOutcome | null>(null),
    adminToken: new Store<string | null>(loadToken(config.apiBase)),
    tokenRequest: new Store<TokenRequest | null>(null),
    scenario: new Store<ScenarioName | null>(null),
    showSection,
  };
  d.baseline.subscribe((b) => saveBaseline(config.apiBase, b));
  d.adminToken.subscribe((t) => saveToken(config.apiBase, t));

  mountLinks(d);
  mountBanners(d);
  mountHealth(d);
  mountLookup(d);
  mountSlowDb(d);
  mountHammer(d);
  mountResult(d);
  mountStats(d);
  mountCharts(d);
  mountServerLatency(d);
  mountTopology(d);
  mountInstances(d);
  mountLog(d);
  mountClear(d);
  mountEdit(d);
  mountWriteResult(d);
  mountDelete(d);
  mountInvalidations(d);
  mountWritesFeed(d);
  mountAdminToken(d);
  mountLab(d);
  mountScenarios(d);
  mountWarm(d);
  mountAnalytics(d);
  mountRateLimit(d);
  mountSessions(d);
  d.feed.start();
  // For people and tests alike: the page is wired and talking to this API.
  document.body.dataset.ready = 'true';
  document.body.dataset.apiBase = config.apiBase;
}
