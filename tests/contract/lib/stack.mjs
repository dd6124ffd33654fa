// A thin layer over the shared harness (tests/lib/stack.mjs) for the contract tests:
// a stack whose cacheme can serve /docs, and the service's route table.
//
// The harness starts cacheme in the stack's temporary directory, so the relative defaults of UI_DIR,
// SWAGGER_UI_DIR and REDOC_DIR would not resolve there; the Swagger UI and ReDoc files are passed as
// absolute paths and the dashboard port is turned off (UI_PORT=0), so that stacks running side by side
// never contend for port 3000.

import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT, cachemeBin } from '../../lib/repo.mjs';
import { startStack, runCacheme } from '../../lib/stack.mjs';
import { LAB_ENV } from '../../lib/lab.mjs';

/**
 * Directory of the swagger-ui-dist package: $SWAGGER_UI_DIR (relative to the current directory) or
 * web/node_modules/swagger-ui-dist in the repository.
 */
export function swaggerUiDir() {
  const dir = process.env.SWAGGER_UI_DIR;
  if (dir) return path.resolve(process.cwd(), dir);
  return path.join(REPO_ROOT, 'web', 'node_modules', 'swagger-ui-dist');
}

/** A reason the /docs assets cannot be served, or undefined when swagger-ui-dist is in place. */
export function swaggerUiMissing() {
  const dir = swaggerUiDir();
  for (const f of ['swagger-ui.css', 'swagger-ui-bundle.js']) {
    if (!fs.existsSync(path.join(dir, f))) {
      return `${path.join(dir, f)} is missing: install swagger-ui-dist (npm ci in web/) or set SWAGGER_UI_DIR`;
    }
  }
  return undefined;
}

/**
 * Directory of the redoc package's standalone bundle: $REDOC_DIR (relative to the current directory)
 * or web/node_modules/redoc/bundles in the repository.
 */
export function redocDir() {
  const dir = process.env.REDOC_DIR;
  if (dir) return path.resolve(process.cwd(), dir);
  return path.join(REPO_ROOT, 'web', 'node_modules', 'redoc', 'bundles');
}

/** A reason the /redoc script cannot be served, or undefined when the redoc package is in place. */
export function redocMissing() {
  const f = path.join(redocDir(), 'redoc.standalone.js');
  if (!fs.existsSync(f)) return `${f} is missing: install redoc (npm ci in web/, scripts/build-ui.sh) or set REDOC_DIR`;
  return undefined;
}

/**
 * The settings every contract-test service gets, before the caller's own. The lab's settings, the
 * admin token and the instance name are removed from the inherited environment (the harness only
 * removes the foundation's settings), so that the service starts from the documented defaults.
 */
export function contractEnv(env = {}) {
  const unset = Object.fromEntries(LAB_ENV.map((k) => [k, undefined]));
  return { ...unset, UI_PORT: '0', SWAGGER_UI_DIR: swaggerUiDir(), REDOC_DIR: redocDir(), ...env };
}

/** startStack() with contractEnv(); restartService/startService callers should use contractEnv too. */
export function startContractStack({ env = {}, ...opts } = {}) {
  return startStack({ ...opts, env: contractEnv(env) });
}

/**
 * `cacheme routes`, parsed: { routes: ["GET /products/{id}", ...], assets: [...], raw }.
 * Lines marked "(assets)" (the /docs/{file} and /redoc/{file} static routes) are returned apart. Throws when the command
 * fails or prints a line that is not `METHOD /pattern`.
 */
export async function serviceRoutes() {
  const r = await runCacheme(['routes'], { timeout: 15000 });
  if (r.code !== 0) {
    throw new Error(`\`${cachemeBin()} routes\` exited with ${r.code ?? r.signal}: ${(r.stderr || r.stdout).trim()}`);
  }
  const routes = [];
  const assets = [];
  for (const line of r.stdout.split('\n').map((l) => l.trim())) {
    if (line === '') continue;
    const m = /^([A-Z]+) (\/\S*)( \(assets\))?$/.exec(line);
    if (!m) throw new Error(`\`cacheme routes\` printed a line that is not "METHOD /pattern": ${JSON.stringify(line)}`);
    (m[3] ? assets : routes).push(`${m[1]} ${m[2]}`);
  }
  return { routes, assets, raw: r.stdout };
}

/** The version number `cacheme --version` prints ("cacheme 0.1.0" -> "0.1.0"). */
export async function serviceVersion() {
  const r = await runCacheme(['--version'], { timeout: 15000 });
  if (r.code !== 0) throw new Error(`cacheme --version exited with ${r.code}: ${r.stderr}`);
  const m = /^cacheme (\S+)\s*$/.exec(r.stdout.trim());
  if (!m) throw new Error(`unexpected --version output: ${JSON.stringify(r.stdout)}`);
  return m[1];
}
