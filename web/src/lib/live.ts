// Live statistics and health: Server-Sent Events from GET /events when the API offers them,
// otherwise polling GET /cache/stats and GET /health every second.
//
// One timer drives everything. While SSE messages arrive (the service sends one a second) the
// feed only listens. When they stop, or the stream cannot be opened at all, it polls; failed polls
// back off (1, 2, 4, then every 5 s) and mark the API unreachable until an answer arrives. A stream
// the browser gave up on (HTTP error, wrong content type) is tried again every 15 s, so a service
// that gains /events, or comes back, is picked up without reloading the page.
//
// The stream also carries `event: invalidation` messages (one per change notification the service
// heard); they go to `invalidations` as they come; `event: topology` messages (a failover, slots
// moved, the read replica's fallback), which go to `topology`; and `event: warm` messages (a cache
// warm's progress, of any instance), which go to `warm`; `event: write` messages (a write through the
// API of any instance), which go to `writes`; and `event: instance` messages (each instance's figures,
// once a second), which go to `instances`. Polling has no equivalent (the warming panel reads GET
// /cache/warm).

import { ApiClient, ApiUnreachableError } from './api';
import type { WarmEvent } from './api';
import type { AppStats, BreakerStats, CacheStats, ComponentStatus, HealthBody, LabSettings, ServerLatency, StatsBody, WriteBehindStats, WriteMode } from './api';
import { isBreakerState } from './breaker';
import { InstanceRegistry, parseInstance } from './instances';
import { InvalidationLog, parseInvalidation } from './invalidations';
import { TopologyLog, parseTopologyEvent } from './topology';
import { parseServerLatency } from './server-latency';
import { Store } from './store';
import { WriteLog, parseWrite } from './writes';

export interface HealthState {
  status: 'healthy' | 'degraded' | 'unhealthy';
  redis: ComponentStatus;
  postgres: ComponentStatus;
}

/** Latencies of the last GET /health (the SSE message carries none); null = not measured. */
export interface Latencies {
  redis: number | null;
  postgres: number | null;
  at: number;
}

/** One observation of the service: its counters, Redis INFO (null when Redis is down), health. */
export interface Snapshot {
  app_stats: AppStats;
  cache_stats: CacheStats | null;
  health: HealthState | null;
  /** CACHE_WRITE_MODE; null from a service without the write endpoints. */
  write_mode: WriteMode | null;
  /** The write-behind queue; null in the other modes. */
  write_behind: WriteBehindStats | null;
  /** The Redis circuit breaker of the event loop that answered; null from a service without one. */
  circuit_breaker: BreakerStats | null;
  /** The lab settings in force (GET /lab/config); null from a service without the lab. */
  protections: LabSettings | null;
  /** GET /products/{id} latency by source, as the service measured it; null from a service without it. */
  latency: ServerLatency | null;
  /** Service time, unix seconds. */
  timestamp: number;
  /** Browser time, ms since the epoch. */
  receivedAt: number;
  via: 'sse' | 'poll';
}

export type FeedMode = 'connecting' | 'sse' | 'polling';

export interface FeedStatus {
  mode: FeedMode;
  /** null until the first answer or failure. */
  reachable: boolean | null;
  /** Why the API is considered unreachable. */
  problem: string | null;
  /** When the next poll is due (ms since the epoch) while unreachable. */
  nextRetryAt: number | null;
  lastUpdateAt: number | null;
}

const SSE_FRESH_MS = 2500; // an SSE message this recent means the stream is alive
const SSE_RETRY_MS = 15000; // re-open a stream the browser gave up on after this long
const POLL_MS = 1000;
const MAX_BACKOFF_MS = 5000;
const TICK_MS = 250;
const LATENCY_MS = 5000; // while the stream is live, /health is asked this often for latencies

interface SseMessage {
  app_stats: AppStats;
  cache_stats: CacheStats | null;
  health?: { status: HealthState['status']; redis: ComponentStatus; postgres: ComponentStatus };
  write_mode?: WriteMode;
  write_behind?: WriteBehindStats;
  circuit_breaker?: BreakerStats;
  protections?: LabSettings;
  latency?: unknown;
  /** INSTANCE_ID of the instance serving the stream. */
  instance?: string;
  timestamp: number;
}

/** The breaker from a stats body, else the state /health reported (keeping the last count). */
function breakerOf(stats: { circuit_breaker?: BreakerStats } | null, health: HealthBody | null, previous: BreakerStats | null): BreakerStats | null {
  const b = stats?.circuit_breaker;
  if (b && isBreakerState(b.state)) return { state: b.state, opened: typeof b.opened === 'number' ? b.opened : 0 };
  const state = health?.components.redis.circuit_breaker;
  if (isBreakerState(state)) return { state, opened: previous?.opened ?? 0 };
  return stats || health ? null : previous;
}

function protectionsOf(v: unknown): LabSettings | null {
  return v && typeof v === 'object' && typeof (v as LabSettings).ttl_seconds === 'number' ? (v as LabSettings) : null;
}

function isAppStats(v: unknown): v is AppStats {
  return !!v && typeof v === 'object' && typeof (v as AppStats).hits === 'number' && typeof (v as AppStats).misses === 'number';
}

function healthFromBody(body: HealthBody): HealthState {
  return { status: body.status, redis: body.components.redis.status, postgres: body.components.postgres.status };
}

function isHealthBody(body: unknown): body is HealthBody {
  return !!body && typeof body === 'object' && 'components' in body;
}

export class LiveFeed {
  readonly snapshot = new Store<Snapshot | null>(null);
  readonly status = new Store<FeedStatus>({ mode: 'connecting', reachable: null, problem: null, nextRetryAt: null, lastUpdateAt: null });
  readonly latencies = new Store<Latencies | null>(null);
  /** Change notifications from the stream, newest first. */
  readonly invalidations = new InvalidationLog();
  /** Topology changes (failovers, slot moves, the replica fallback) from the stream, newest first. */
  readonly topology = new TopologyLog();
  /** The last `event: warm` of the stream; null until one comes. */
  readonly warm = new Store<WarmEvent | null>(null);
  /** Writes through the API of any instance, from the stream, newest first. */
  readonly writes = new WriteLog();
  /** The instances heard from on the stream, with their figures. */
  readonly instances = new InstanceRegistry();

  private es: EventSource | null = null;
  private lastSseAt = 0;
  private sseRetryAt = 0;
  private pollInFlight = false;
  private nextPollAt = 0;
  private failures = 0;
  private timer: ReturnType<typeof setInterval> | null = null;
  private latencyInFlight = false;

  constructor(private readonly api: ApiClient) {}

  start(): void {
    this.openStream();
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.tick();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.es?.close();
    this.es = null;
  }

  /** Poll at once (after a clear, or the "Retry now" button). */
  refreshNow(): void {
    this.nextPollAt = 0;
    this.tick();
  }

  /** A lookup got an answer: the API is there, whatever the feed last saw. */
  noteReachable(): void {
    if (this.status.value.reachable !== true) {
      this.failures = 0;
      this.update({ reachable: true, problem: null, nextRetryAt: null });
      this.refreshNow();
    }
  }

  /** A lookup got no answer. */
  noteUnreachable(problem: string): void {
    this.update({ reachable: false, problem });
  }

  private update(patch: Partial<FeedStatus>): void {
    this.status.set({ ...this.status.value, ...patch });
  }

  private sseFresh(): boolean {
    return Date.now() - this.lastSseAt < SSE_FRESH_MS;
  }

  private tick(): void {
    const now = Date.now();
    if (!this.es && now >= this.sseRetryAt) this.openStream();
    if (this.sseFresh()) {
      if (!this.latencyInFlight && now - (this.latencies.value?.at ?? 0) >= LATENCY_MS) void this.measureLatencies();
      return;
    }
    if (this.pollInFlight || now < this.nextPollAt) return;
    void this.poll();
  }

  private noteLatencies(body: HealthBody): void {
    this.latencies.set({ redis: body.components.redis.latency_ms, postgres: body.components.postgres.latency_ms, at: Date.now() });
  }

  private async measureLatencies(): Promise<void> {
    this.latencyInFlight = true;
    try {
      const ans = await this.api.getHealth();
      if (isHealthBody(ans.body)) this.noteLatencies(ans.body);
    } catch {
      /* the stream tells whether the API is there; this only refines the health strip */
    } finally {
      this.latencyInFlight = false;
    }
  }

  private openStream(): void {
    if (typeof EventSource === 'undefined') {
      this.sseRetryAt = Number.POSITIVE_INFINITY;
      return;
    }
    const es = new EventSource(this.api.eventsUrl());
    this.es = es;
    es.addEventListener('stats', (ev) => {
      let msg: SseMessage;
      try {
        msg = JSON.parse((ev as MessageEvent<string>).data);
      } catch {
        return;
      }
      if (!isAppStats(msg.app_stats)) return;
      this.lastSseAt = Date.now();
      if (typeof msg.instance === 'string' && msg.instance !== '') this.instances.noteLocal(msg.instance);
      const health: HealthState | null = msg.health
        ? { status: msg.health.status, redis: msg.health.redis, postgres: msg.health.postgres }
        : (this.snapshot.value?.health ?? null);
      this.publish({
        app_stats: msg.app_stats,
        cache_stats: msg.cache_stats ?? null,
        health,
        write_mode: msg.write_mode ?? null,
        write_behind: msg.write_behind ?? null,
        circuit_breaker: breakerOf(msg, null, null),
        protections: protectionsOf(msg.protections),
        latency: parseServerLatency(msg.latency),
        timestamp: msg.timestamp,
        receivedAt: Date.now(),
        via: 'sse',
      });
      this.failures = 0;
      this.update({ mode: 'sse', reachable: true, problem: null, nextRetryAt: null });
    });
    es.addEventListener('invalidation', (ev) => {
      const e = parseInvalidation((ev as MessageEvent<string>).data);
      if (e) this.invalidations.add(e);
    });
    es.addEventListener('write', (ev) => {
      const e = parseWrite((ev as MessageEvent<string>).data);
      if (e) this.writes.add(e);
    });
    es.addEventListener('instance', (ev) => {
      const e = parseInstance((ev as MessageEvent<string>).data);
      if (e) this.instances.add(e);
    });
    es.addEventListener('topology', (ev) => {
      const e = parseTopologyEvent((ev as MessageEvent<string>).data);
      if (e) this.topology.add(e);
    });
    es.addEventListener('warm', (ev) => {
      try {
        const e = JSON.parse((ev as MessageEvent<string>).data) as WarmEvent;
        if (e && typeof e.run === 'number' && typeof e.state === 'string') this.warm.set(e);
      } catch {
        /* not JSON: ignored, as a malformed stats message is */
      }
    });
    es.addEventListener('error', () => {
      // CLOSED: the browser will not retry (not an event stream, HTTP error). CONNECTING: it
      // retries by itself; the timer polls meanwhile because the stream is no longer fresh.
      if (es.readyState === EventSource.CLOSED) {
        es.close();
        if (this.es === es) this.es = null;
        this.sseRetryAt = Date.now() + SSE_RETRY_MS;
      }
    });
  }

  private async poll(): Promise<void> {
    this.pollInFlight = true;
    try {
      const [stats, health] = await Promise.allSettled([this.api.getStats(), this.api.getHealth()]);
      if (this.sseFresh()) return; // the stream came back while we waited
      const statsBody = stats.status === 'fulfilled' && stats.value.ok ? (stats.value.body as StatsBody) : null;
      const healthBody = health.status === 'fulfilled' && isHealthBody(health.value.body) ? health.value.body : null;
      if (healthBody) this.noteLatencies(healthBody);
      if (stats.status === 'rejected' && health.status === 'rejected') {
        const err = stats.reason;
        throw err instanceof ApiUnreachableError ? err : new ApiUnreachableError(this.api.base, 0, err);
      }
      const previous = this.snapshot.value;
      const app = statsBody && isAppStats(statsBody.app_stats) ? statsBody.app_stats : previous?.app_stats;
      if (app) {
        this.publish({
          app_stats: app,
          cache_stats: statsBody ? statsBody.cache_stats : (previous?.cache_stats ?? null),
          health: healthBody ? healthFromBody(healthBody) : (previous?.health ?? null),
          write_mode: statsBody ? (statsBody.write_mode ?? null) : (previous?.write_mode ?? null),
          write_behind: statsBody ? (statsBody.write_behind ?? null) : (previous?.write_behind ?? null),
          circuit_breaker: breakerOf(statsBody, healthBody, previous?.circuit_breaker ?? null),
          protections: statsBody ? protectionsOf(statsBody.protections) : (previous?.protections ?? null),
          latency: statsBody ? parseServerLatency(statsBody.latency) : (previous?.latency ?? null),
          timestamp: statsBody?.timestamp ?? healthBody?.timestamp ?? Date.now() / 1000,
          receivedAt: Date.now(),
          via: 'poll',
        });
      }
      this.failures = 0;
      this.nextPollAt = Date.now() + POLL_MS;
      this.update({ mode: 'polling', reachable: true, problem: null, nextRetryAt: null });
    } catch (err) {
      this.failures += 1;
      const wait = Math.min(POLL_MS * 2 ** (this.failures - 1), MAX_BACKOFF_MS);
      this.nextPollAt = Date.now() + wait;
      const problem = err instanceof Error ? err.message : String(err);
      this.update({ mode: this.sseFresh() ? 'sse' : 'polling', reachable: false, problem, nextRetryAt: this.nextPollAt });
    } finally {
      this.pollInFlight = false;
    }
  }

  private publish(s: Snapshot): void {
    this.snapshot.set(s);
    this.update({ lastUpdateAt: s.receivedAt });
  }
}
