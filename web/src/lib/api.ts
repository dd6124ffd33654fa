// The API client: one function per endpoint the dashboard uses, with the types of the answers
// (field names exactly as the API writes them). Every call measures its browser round trip.
//
// Errors: an answer with any HTTP status resolves (the caller reads `status` and `body`); only a
// request that got no answer at all (refused, reset, timed out, blocked by CORS) rejects, with
// ApiUnreachableError, so that the page can tell "the API said no" from "the API is not there".

/** Where a product answer came from; "stale" = an expired cached copy served because PostgreSQL failed. */
export type Source = 'cache' | 'database' | 'stale';

/** The X-Cache response header of GET /products/{id} (nginx's vocabulary). */
export type XCache = 'HIT' | 'MISS' | 'STALE' | 'BYPASS';

/** State of a Redis circuit breaker of the service ("disabled" when the lab switched it off). */
export type BreakerState = 'closed' | 'open' | 'half-open' | 'disabled';

/** The lab settings of GET/PUT /lab/config (the protections, TTLs and the simulated database latency). */
export interface LabSettings {
  ttl_seconds: number;
  ttl_jitter_percent: number;
  negative_ttl_seconds: number;
  stampede_protection: boolean;
  refresh_ahead: boolean;
  refresh_window_percent: number;
  stale_if_error_seconds: number;
  circuit_breaker: boolean;
  db_delay_ms: number;
}

export type ScenarioName = 'stampede' | 'penetration' | 'avalanche';

/** One run of the stampede or penetration scenario. */
export interface LoadRun {
  db_queries: number;
  errors: number;
  p50_ms: number;
  p95_ms: number;
  p99_ms: number;
  max_ms: number;
  duration_ms: number;
}

/** One run of the avalanche scenario: the Redis TTLs of keys written at the same moment (null: no key). */
export interface TtlRun {
  keys: number;
  ttl_min_seconds: number | null;
  ttl_max_seconds: number | null;
  ttl_spread_seconds: number | null;
}

/** POST /lab/scenarios/{name}: the same scenario with the protection off, then on. */
export interface ScenarioResult {
  scenario: ScenarioName;
  requests: number;
  without_protection: LoadRun | TtlRun;
  with_protection: LoadRun | TtlRun;
}

/** CACHE_WRITE_MODE of the service: what a write does to the cache. */
export type WriteMode = 'invalidate' | 'write-through' | 'write-behind';

/** The writable fields of a product, as PATCH /products/{id} takes them. */
export interface ProductFields {
  name: string;
  description: string | null;
  price: number;
  category: string | null;
}

/** A product as the write endpoints return it (no source, no fetch_time_ms). */
export interface StoredProduct extends ProductFields {
  id: number;
  created_at: string;
  updated_at: string;
}

export interface Product {
  id: number;
  name: string;
  description: string | null;
  price: number;
  category: string | null;
  created_at: string;
  updated_at: string;
  source: Source;
  fetch_time_ms: number;
}

export interface AppStats {
  hits: number;
  misses: number;
  hit_rate: number;
  db_queries: number;
  redis_errors: number;
  db_errors: number;
  /** Committed API writes (services with the write endpoints; absent before). */
  writes?: number;
  /** Cache entries dropped or replaced because of a change (writes or notifications). */
  invalidations?: number;
  /** Change notifications received from PostgreSQL, counted per event loop. */
  notifications?: number;
}

/** A queued write PostgreSQL refused for good, parked in the stream cacheme:writes:dead. */
export interface DeadLetter {
  /** The entry's id in cacheme:writes. */
  stream_id: string;
  /** null when the entry's id is not a product id. */
  product_id: number | null;
  op: string;
  /** PostgreSQL's SQLSTATE; null when the entry never reached PostgreSQL (it could not be read). */
  sqlstate: string | null;
  error: string;
  /** ISO 8601, UTC. */
  failed_at: string;
}

/** The write-behind queue, only in CACHE_WRITE_MODE=write-behind. */
export interface WriteBehindStats {
  pending: number;
  lag: number;
  applied: number;
  retries: number;
  /** Entries this process parked in the dead-letter stream (services with one; absent before). */
  dead_letters?: number;
  /** The newest dead letters, newest first, from any process (absent before). */
  recent_dead_letters?: DeadLetter[];
}

/** Redis INFO fields, or null in the API's answer when Redis is down. */
export interface CacheStats {
  keyspace_hits: number;
  keyspace_misses: number;
  used_memory_human: string;
  connected_clients: number;
  total_commands_processed: number;
  total_connections_received: number;
}

/** The circuit breaker of the event loop that answered: its state and how often it opened. */
export interface BreakerStats {
  state: BreakerState;
  opened: number;
}

/** The service's latency figures of one source on GET /products/{id}, from its histograms. */
export interface LatencySummary {
  count: number;
  p50_ms: number;
  p95_ms: number;
  p99_ms: number;
  max_ms: number;
}

/** `latency` of /cache/stats and of the live stream: GET /products/{id} by source, every client, since start. */
export type ServerLatency = Record<Source, LatencySummary>;

export interface StatsBody {
  cache_stats: CacheStats | null;
  app_stats: AppStats;
  write_mode?: WriteMode;
  write_behind?: WriteBehindStats;
  /** Services with the failure-mode protections (absent before). */
  circuit_breaker?: BreakerStats;
  protections?: LabSettings;
  /** Services with the latency histograms (absent before). */
  latency?: ServerLatency;
  timestamp: number;
}

export type ComponentStatus = 'healthy' | 'unhealthy';

export interface HealthBody {
  status: 'healthy' | 'degraded' | 'unhealthy';
  timestamp: number;
  components: {
    redis: { status: ComponentStatus; latency_ms: number | null; circuit_breaker?: BreakerState };
    postgres: { status: ComponentStatus; latency_ms: number | null };
  };
}

export interface ClearBody {
  message: string;
  cleared_keys: number;
  timestamp: number;
}

/** A 422 entry, as FastAPI/pydantic write them. */
export interface ValidationDetail {
  type: string;
  loc: (string | number)[];
  msg: string;
  /** The rejected value: the raw text for path and query parameters, any JSON value for a body. */
  input: unknown;
}

export interface ApiAnswer<T> {
  status: number;
  ok: boolean;
  /** Parsed JSON body: T on success, usually {detail} otherwise; undefined when not JSON. */
  body: T | { detail?: unknown } | undefined;
  roundTripMs: number;
  requestId: string | null;
  /** X-Instance: which cacheme process answered (several can run behind a load balancer). */
  instance: string | null;
  /** The response headers the API lets this page read (CORS Access-Control-Expose-Headers). */
  headers: Headers;
}

/** How a write reached the cache: the X-Cache-Write-Mode and X-Cache-Action response headers. */
export interface WriteHeaders {
  /** invalidate | write-through | write-behind; null when the header cannot be read. */
  writeMode: string | null;
  /** deleted | stored | skipped | failed | queued; null when the header cannot be read. */
  cacheAction: string | null;
}

export function writeHeaders(ans: ApiAnswer<unknown>): WriteHeaders {
  return { writeMode: ans.headers.get('X-Cache-Write-Mode'), cacheAction: ans.headers.get('X-Cache-Action') };
}

export class ApiUnreachableError extends Error {
  constructor(
    readonly url: string,
    readonly roundTripMs: number,
    cause: unknown,
  ) {
    const why = cause instanceof DOMException && cause.name === 'TimeoutError' ? 'timed out' : 'no answer';
    super(`${url}: ${why}`);
    this.name = 'ApiUnreachableError';
  }
}

/**
 * How long the browser's network stack took for the request to `url` that started at or after
 * `since` (Resource Timing: request start to the last byte), or null when the browser has no entry.
 * This leaves out the time the page's own script spent before it got to handle the answer, which
 * would otherwise inflate round trips while the page is busy redrawing.
 */
function networkTime(url: string, since: number): number | null {
  if (typeof performance.getEntriesByName !== 'function') return null;
  const entries = performance.getEntriesByName(url, 'resource').filter((e) => e.startTime >= since - 1);
  const entry = entries[entries.length - 1] as PerformanceResourceTiming | undefined;
  return entry && entry.responseEnd > 0 ? entry.responseEnd - entry.startTime : null;
}

export class ApiClient {
  constructor(readonly base: string) {
    // The browser keeps a bounded list of timing entries (250); polling alone would fill it.
    performance.addEventListener?.('resourcetimingbufferfull', () => performance.clearResourceTimings());
  }

  private async call<T>(method: string, path: string, timeoutMs: number, json?: unknown, token?: string | null): Promise<ApiAnswer<T>> {
    const url = `${this.base}${path}`;
    const started = performance.now();
    const init: RequestInit = { method, cache: 'no-store', signal: AbortSignal.timeout(timeoutMs) };
    const headers: Record<string, string> = {};
    if (json !== undefined) {
      init.body = JSON.stringify(json);
      headers['Content-Type'] = 'application/json';
    }
    if (token) headers.Authorization = `Bearer ${token}`;
    if (Object.keys(headers).length > 0) init.headers = headers;
    let res: Response;
    let text: string;
    try {
      res = await fetch(url, init);
      text = await res.text();
    } catch (err) {
      throw new ApiUnreachableError(url, performance.now() - started, err);
    }
    const roundTripMs = networkTime(url, started) ?? performance.now() - started;
    let body: ApiAnswer<T>['body'];
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    return { status: res.status, ok: res.ok, body, roundTripMs, requestId: res.headers.get('X-Request-Id'), instance: res.headers.get('X-Instance'), headers: res.headers };
  }

  /** GET /products/{id}; `id` is sent as typed (the API validates it too). */
  getProduct(id: string): Promise<ApiAnswer<Product>> {
    return this.call<Product>('GET', `/products/${encodeURIComponent(id)}`, 10000);
  }

  getStats(): Promise<ApiAnswer<StatsBody>> {
    return this.call<StatsBody>('GET', '/cache/stats', 3000);
  }

  getHealth(): Promise<ApiAnswer<HealthBody>> {
    return this.call<HealthBody>('GET', '/health', 3000);
  }

  clearCache(): Promise<ApiAnswer<ClearBody>> {
    return this.call<ClearBody>('DELETE', '/cache/clear', 10000);
  }

  /** PATCH /products/{id} with only the given fields (at least one). */
  patchProduct(id: string, fields: Partial<ProductFields>): Promise<ApiAnswer<StoredProduct>> {
    return this.call<StoredProduct>('PATCH', `/products/${encodeURIComponent(id)}`, 10000, fields);
  }

  /** DELETE /products/{id}: 204 (202 in write-behind mode) with no body. */
  deleteProduct(id: string): Promise<ApiAnswer<never>> {
    return this.call<never>('DELETE', `/products/${encodeURIComponent(id)}`, 10000);
  }

  getLab(): Promise<ApiAnswer<LabSettings>> {
    return this.call<LabSettings>('GET', '/lab/config', 5000);
  }

  /** PUT /lab/config with any subset of the settings; `token` is ADMIN_TOKEN when the service needs one. */
  putLab(patch: Partial<LabSettings>, token: string | null): Promise<ApiAnswer<LabSettings>> {
    return this.call<LabSettings>('PUT', '/lab/config', 10000, patch, token);
  }

  /** POST /lab/scenarios/{name}: runs the scenario twice (protection off, then on); a few seconds. */
  runScenario(name: ScenarioName, token: string | null): Promise<ApiAnswer<ScenarioResult>> {
    return this.call<ScenarioResult>('POST', `/lab/scenarios/${name}`, 120000, undefined, token);
  }

  eventsUrl(): string {
    return `${this.base}/events`;
  }
}

/** The human-readable text of an error body: {"detail": "..."} or the first 422 entry's msg. */
export function detailText(body: unknown): string | null {
  if (!body || typeof body !== 'object' || !('detail' in body)) return null;
  const detail = (body as { detail: unknown }).detail;
  if (typeof detail === 'string') return detail;
  if (Array.isArray(detail) && detail.length > 0) {
    const first = detail[0] as Partial<ValidationDetail>;
    if (typeof first.msg === 'string') return first.msg;
  }
  return null;
}
