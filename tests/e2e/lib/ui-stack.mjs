// The end-to-end stack: the shared harness's PostgreSQL + Redis + cacheme (tests/lib/stack.mjs, used
// as it is), with cacheme also serving the built dashboard (web/dist) on a free UI_PORT, as
// `make run` does on port 3000.
//
// The page is opened on the UI port with `?api=<the service's API URL>` (see web/src/lib/config.ts), so the
// dashboard and the API are on different origins, as in production (ports 3000 and 8000).

import fs from 'node:fs';
import path from 'node:path';
import { launchBrowser } from '../../lib/chromium.mjs';
import { REPO_ROOT } from '../../lib/repo.mjs';
import { startStack } from '../../lib/stack.mjs';
import { freePort, request, waitFor } from '../../lib/util.mjs';

export const WEB_DIST = path.join(REPO_ROOT, 'web', 'dist');
export const SWAGGER_UI_DIR = path.join(REPO_ROOT, 'web', 'node_modules', 'swagger-ui-dist');

/** Fails early, with the fix, when the dashboard has not been built. */
export function assertDashboardBuilt() {
  if (!fs.existsSync(path.join(WEB_DIST, 'index.html'))) {
    throw new Error(`${WEB_DIST}/index.html is missing: build the dashboard first (cd web && npm ci && npm run build)`);
  }
}

/**
 * Start PostgreSQL, Redis and cacheme with the dashboard on its own free port. `env` adds or
 * overrides settings (e.g. PGADMIN_URL). Returns { stack, uiPort, uiOrigin, pageUrl(query),
 * restartService(env), teardown() }; `stack` is the harness's Stack (stack.url is the API).
 */
export async function startUiStack({ env = {} } = {}) {
  assertDashboardBuilt();
  const uiPort = await freePort();
  // The dashboard on its port, with no links to admin tools unless `env` gives them.
  const uiEnv = { UI_PORT: uiPort, UI_DIR: WEB_DIST, SWAGGER_UI_DIR, UI_API_BASE: '', PGADMIN_URL: '', REDIS_COMMANDER_URL: '' };
  const stack = await startStack({ env: { ...uiEnv, ...env } });
  const uiOrigin = `http://127.0.0.1:${uiPort}`;
  const waitForUi = async () => {
    try {
      await waitFor(async () => (await request(`${uiOrigin}/`, { timeout: 2000 })).status === 200, {
        timeout: 15000,
        message: `the dashboard on UI_PORT ${uiPort}`,
      });
    } catch (err) {
      throw new Error(`${err.message}\n--- cacheme log ---\n${stack.service.log().slice(-3000)}`);
    }
  };
  try {
    await waitForUi();
  } catch (err) {
    await stack.teardown().catch(() => {});
    throw err;
  }
  return {
    stack,
    uiPort,
    uiOrigin,
    /** The dashboard URL pointed at this stack's API (or at `api`), plus extra query parameters. */
    pageUrl({ api = stack.url, query = {} } = {}) {
      const q = new URLSearchParams({ api, ...query });
      return `${uiOrigin}/?${q}`;
    },
    /**
     * SIGTERM cacheme and start it again with these settings (e.g. another CACHE_WRITE_MODE): the
     * dashboard on the same UI port, the API on a new port (pageUrl() follows it).
     */
    async restartService(extraEnv = {}) {
      await stack.restartService({ env: { ...uiEnv, ...env, ...extraEnv } });
      await waitForUi();
    },
    teardown: () => stack.teardown(),
  };
}

/**
 * A test file's UI stack (startUiStack(opts)) and browser, started side by side. Returns
 * { ui, browser, close() }; close() stops the browser, then the stack. When either fails to start,
 * the other is stopped before the error is thrown, so a failed start leaves nothing running.
 */
export async function startUiAndBrowser(opts) {
  const [ui, browser] = await Promise.allSettled([startUiStack(opts), launchBrowser()]);
  const close = async () => {
    try {
      if (browser.status === 'fulfilled') await browser.value.close();
    } finally {
      if (ui.status === 'fulfilled') await ui.value.teardown();
    }
  };
  const failed = [ui, browser].find((r) => r.status === 'rejected');
  if (failed) {
    await close().catch(() => {});
    throw failed.reason;
  }
  return { ui: ui.value, browser: browser.value, close };
}
