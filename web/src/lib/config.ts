// Where the API lives and which admin tools to link to.
//
// Order of precedence for the API base:
//   1. the page's `?api=<url>` query parameter (tests point the page at any service this way);
//   2. `api_base` from /config.json, served by cacheme beside the page (UI_API_BASE);
//   3. the page's own host on the API's port (`api_port` from /config.json, else 8000).
// /config.json may be missing (e.g. `astro dev`); the page then uses the defaults.

export interface Links {
  docs: string | null;
  pgadmin: string | null;
  redis_commander: string | null;
}

export interface DashboardConfig {
  /** Absolute API origin (and optional path), without a trailing slash. */
  apiBase: string;
  /** Where apiBase came from, shown to the user. */
  apiBaseFrom: 'query' | 'config' | 'default';
  links: Links;
}

interface ConfigJson {
  api_base?: unknown;
  api_port?: unknown;
  links?: Record<string, unknown>;
}

function stripSlash(url: string): string {
  return url.replace(/\/+$/, '');
}

/** An http(s) URL as a string, or null when `value` is anything else. */
function httpUrl(value: unknown, relativeTo: string): string | null {
  if (typeof value !== 'string' || value.trim() === '') return null;
  try {
    const u = new URL(value.trim(), relativeTo);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : null;
  } catch {
    return null;
  }
}

async function fetchConfigJson(): Promise<ConfigJson | null> {
  try {
    const res = await fetch('/config.json', { cache: 'no-store', signal: AbortSignal.timeout(3000) });
    if (!res.ok) return null;
    const body: unknown = await res.json();
    return body && typeof body === 'object' ? (body as ConfigJson) : null;
  } catch {
    return null;
  }
}

export async function loadConfig(location: Location = window.location): Promise<DashboardConfig> {
  const json = await fetchConfigJson();
  const fromQuery = httpUrl(new URLSearchParams(location.search).get('api'), location.href);
  const fromConfig = httpUrl(json?.api_base, location.href);
  const port =
    typeof json?.api_port === 'number' && Number.isInteger(json.api_port) && json.api_port > 0
      ? json.api_port
      : 8000;
  const fallback = `${location.protocol}//${location.hostname}:${port}`;

  let apiBase: string;
  let apiBaseFrom: DashboardConfig['apiBaseFrom'];
  if (fromQuery) {
    apiBase = stripSlash(fromQuery);
    apiBaseFrom = 'query';
  } else if (fromConfig) {
    apiBase = stripSlash(fromConfig);
    apiBaseFrom = 'config';
  } else {
    apiBase = fallback;
    apiBaseFrom = 'default';
  }

  const links = json?.links ?? {};
  // The docs are always on the API port. cacheme names them in /config.json only when UI_API_BASE
  // is set (null otherwise), so the link follows the API base the page actually uses unless the
  // configuration names the docs of that same API.
  const configDocs = apiBaseFrom === 'config' ? httpUrl(links.docs, location.href) : null;
  const docs = configDocs ?? `${apiBase}/docs`;
  return {
    apiBase,
    apiBaseFrom,
    links: {
      docs,
      pgadmin: httpUrl(links.pgadmin, location.href),
      redis_commander: httpUrl(links.redis_commander, location.href),
    },
  };
}
