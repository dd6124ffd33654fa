// Headless Chromium for the browser tests (the dashboard's end-to-end tests, /docs and /redoc):
// Debian's /usr/bin/chromium (or $CHROMIUM_PATH) driven by playwright-core, never a downloaded
// browser, with the flags that keep it off the network. Playwright gives every launch a fresh,
// temporary user-data-dir.

import fs from 'node:fs';
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Launch the browser; fails with the fix when it is not installed. */
export async function launchBrowser() {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: scripts/deps.sh browser installs Debian's chromium`);
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS, timeout: 60000 });
}
